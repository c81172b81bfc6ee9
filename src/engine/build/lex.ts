// Dockerfile word expansion, as BuildKit's shell.Lex (what the classic builder uses): `$VAR`, `${VAR}`,
// `${VAR:-default}`, `${VAR:+alt}`, `${VAR?msg}`/`${VAR:?msg}`, single and double quotes (removed), and the escapeToken
// token (`\` or the `escapeToken` directive's). Written here because no npm package has moby's exact rules, and the
// difference shows in every expanded COPY path, ENV value and WORKDIR.
import { invalidParameter } from '../errdefs';

const EOF = '';

/** `KEY=value` strings as a map; a later entry wins (the image's ENV comes after build args). */
export function envMap(env: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of env) {
    const i = e.indexOf('=');
    if (i < 0) m.set(e, '');
    else m.set(e.slice(0, i), e.slice(i + 1));
  }
  return m;
}

const isSpace = (ch: string) => /\s/u.test(ch);
const isDigit = (ch: string) => /\p{Nd}/u.test(ch);
const isLetter = (ch: string) => /\p{L}/u.test(ch);
const SPECIAL = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);

class Words {
  word = '';
  words: string[] = [];
  inWord = false;
  addChar(ch: string) {
    if (isSpace(ch) && this.inWord) {
      if (this.word.length) {
        this.words.push(this.word);
        this.word = '';
        this.inWord = false;
      }
    } else if (!isSpace(ch)) this.addRawChar(ch);
  }
  addRawChar(ch: string) {
    this.word += ch;
    this.inWord = true;
  }
  addString(s: string) {
    for (const ch of s) this.addChar(ch);
  }
  addRawString(s: string) {
    this.word += s;
    this.inWord = true;
  }
  get(): string[] {
    if (this.word.length) {
      this.words.push(this.word);
      this.word = '';
      this.inWord = false;
    }
    return this.words;
  }
}

class ShellWord {
  private chars: string[];
  private pos = 0;
  constructor(
    source: string,
    private env: Map<string, string>,
    private escapeToken: string,
  ) {
    this.chars = [...source];
  }
  private peek(): string {
    return this.pos < this.chars.length ? this.chars[this.pos] : EOF;
  }
  private next(): string {
    return this.pos < this.chars.length ? this.chars[this.pos++] : EOF;
  }

  processStopOn(stop: string): { word: string; words: string[] } {
    let result = '';
    const words = new Words();
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (stop !== EOF && ch === stop) {
        this.next();
        return { word: result, words: words.get() };
      }
      if (ch === "'" || ch === '"' || ch === '$') {
        const tmp = ch === "'" ? this.singleQuote() : ch === '"' ? this.doubleQuote() : this.dollar();
        result += tmp;
        if (ch === '$') words.addString(tmp);
        else words.addRawString(tmp);
        continue;
      }
      let c = this.next();
      if (c === this.escapeToken) {
        c = this.next();
        if (c === EOF) break;
        words.addRawChar(c);
      } else words.addChar(c);
      result += c;
    }
    if (stop !== EOF) throw new Error(`unexpected end of statement while looking for matching ${stop}`);
    return { word: result, words: words.get() };
  }

  private singleQuote(): string {
    let result = '';
    this.next();
    for (;;) {
      const ch = this.next();
      if (ch === EOF) throw new Error('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") return result;
      result += ch;
    }
  }

  private doubleQuote(): string {
    let result = '';
    this.next();
    for (;;) {
      const p = this.peek();
      if (p === EOF) throw new Error('unexpected end of statement while looking for matching double-quote');
      if (p === '"') {
        this.next();
        return result;
      }
      if (p === '$') {
        result += this.dollar();
        continue;
      }
      let ch = this.next();
      if (ch === this.escapeToken) {
        const n = this.peek();
        if (n === EOF) continue;
        if (n === '"' || n === '$' || n === this.escapeToken) ch = this.next();
      }
      result += ch;
    }
  }

  private getEnv(name: string): string | undefined {
    return this.env.get(name);
  }

  private dollar(): string {
    this.next();
    if (this.peek() !== '{') {
      const name = this.name();
      if (name === '') return '$';
      return this.getEnv(name) ?? '';
    }
    this.next();
    const p = this.peek();
    if (p === EOF) throw new Error("syntax error: missing '}'");
    if (p === '{' || p === '}' || p === ':') throw new Error('syntax error: bad substitution');
    const name = this.name();
    const ch = this.next();
    if (ch === '}') return this.getEnv(name) ?? '';
    if (ch === '?') {
      const word = this.stopOnBrace();
      const v = this.getEnv(name);
      if (v === undefined) throw new Error(`${name}: ${word || 'is not allowed to be unset'}`);
      return v;
    }
    if (ch === ':') {
      const modifier = this.next();
      const word = this.stopOnBrace();
      const v = this.getEnv(name);
      switch (modifier) {
        case '+':
          return v ? word : (v ?? '');
        case '-':
          return v ? v : word;
        case '?':
          if (v === undefined) throw new Error(`${name}: ${word || 'is not allowed to be unset'}`);
          if (v === '') throw new Error(`${name}: ${word || 'is not allowed to be empty'}`);
          return v;
        default:
          throw new Error(`unsupported modifier (${modifier}) in substitution`);
      }
    }
    throw new Error("missing ':' in substitution");
  }

  private stopOnBrace(): string {
    try {
      return this.processStopOn('}').word;
    } catch (err) {
      if (this.peek() === EOF) throw new Error("syntax error: missing '}'");
      throw err;
    }
  }

  private name(): string {
    let name = '';
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (name === '' && isDigit(ch)) {
        while (this.peek() !== EOF && isDigit(this.peek())) name += this.next();
        return name;
      }
      if (name === '' && SPECIAL.has(ch)) return this.next();
      if (!isLetter(ch) && !isDigit(ch) && ch !== '_') break;
      name += this.next();
    }
    return name;
  }
}

function run(source: string, env: Map<string, string>, escapeToken: string) {
  try {
    return new ShellWord(source, env, escapeToken).processStopOn(EOF);
  } catch (err: any) {
    throw invalidParameter(`failed to process ${JSON.stringify(source)}: ${err.message}`);
  }
}

/** ProcessWord: one word, quotes removed, variables substituted. */
export function processWord(word: string, env: Map<string, string>, escapeToken = '\\'): string {
  return run(word, env, escapeToken).word;
}

/** ProcessWords: the words after substitution, split on unquoted whitespace (EXPOSE's `$PORTS`). */
export function processWords(word: string, env: Map<string, string>, escapeToken = '\\'): string[] {
  return run(word, env, escapeToken).words;
}
