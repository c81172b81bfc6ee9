// The Dockerfile as the classic builder reads it. dockerfile-ast (the parser of the Dockerfile language server)
// finds the instructions, the parser directives (`escape`, `syntax`) and the here-documents; what it does not
// give, and the build's output and cache depend on, is done here as moby does it: the instruction's "original"
// line (continuations joined, comment lines dropped: what `Step 1/5 : …` prints and what history records),
// builder flags (`--from=…`), and each instruction's own argument rules (JSON or shell form, `parseWords` for
// ENV/LABEL/ARG, whitespace splitting for COPY/EXPOSE/FROM).
import { DockerfileParser } from 'dockerfile-ast';
import { invalidParameter } from '../errdefs';

export interface Heredoc {
  name: string;
  content: string;
  /** Unquoted delimiter: COPY expands variables in the content (RUN leaves that to the shell). */
  expand: boolean;
}

export interface Node {
  /** Lower-case instruction name (`run`). */
  cmd: string;
  /** The instruction as written, continuation lines joined (moby's Node.Original). */
  original: string;
  /** `--name=value` builder flags, as written. */
  flags: string[];
  args: string[];
  /** JSON (exec) form. */
  json: boolean;
  heredocs: Heredoc[];
  /** 1-based line of the instruction. */
  line: number;
  /** ONBUILD's trigger. */
  sub?: Node;
}

export interface ParsedDockerfile {
  nodes: Node[];
  escapeToken: string;
  /** `# syntax=` directive (BuildKit frontends are not used; the builder says so). */
  syntax?: string;
  warnings: string[];
}

const WHITESPACE = /[\t\v\f\r ]+/;

/** Go's json.Decoder on the rest of the line: the first JSON value; anything after it is ignored. */
function firstJsonValue(rest: string): unknown {
  try {
    return JSON.parse(rest);
  } catch {
    let depth = 0;
    let inString = false;
    for (let i = 0; i < rest.length; i++) {
      const ch = rest[i];
      if (inString) {
        if (ch === '\\') i++;
        else if (ch === '"') inString = false;
      } else if (ch === '"') inString = true;
      else if (ch === '[') depth++;
      else if (ch === ']' && --depth === 0) return JSON.parse(rest.slice(0, i + 1));
    }
    throw new Error('unterminated JSON');
  }
}

const NOT_STRINGS = 'when using JSON array syntax, arrays must be comprised of strings only';

function parseJson(rest: string): { args: string[]; json: true } | undefined {
  const trimmed = rest.replace(/^\s+/, '');
  if (!trimmed.startsWith('[')) return undefined;
  let value: unknown;
  try {
    value = firstJsonValue(trimmed);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  if (value.some((v) => typeof v !== 'string')) throw invalidParameter(NOT_STRINGS);
  return { args: value as string[], json: true };
}

/** moby's parseWords: whitespace-separated words, quotes kept (the expander removes them later). */
export function parseWords(rest: string, escapeToken: string): string[] {
  const words: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let word = '';
  let quote = '';
  let blankOK = false;
  const chars = [...rest];
  for (let pos = 0; pos <= chars.length; pos++) {
    const end = pos === chars.length;
    let ch = end ? '' : chars[pos];
    if (phase === 'spaces') {
      if (end) break;
      if (/\s/u.test(ch)) continue;
      phase = 'word';
    }
    if (end) {
      if (blankOK || word.length) words.push(word);
      break;
    }
    if (phase === 'word') {
      if (/\s/u.test(ch)) {
        phase = 'spaces';
        if (blankOK || word.length) words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
      }
      if (ch === escapeToken) {
        if (pos + 1 === chars.length) continue;
        word += ch;
        ch = chars[++pos];
      }
      word += ch;
      continue;
    }
    // in a quote
    if (ch === quote) phase = 'word';
    if (ch === escapeToken && quote !== "'") {
      if (pos + 1 === chars.length) {
        phase = 'word';
        continue;
      }
      word += ch;
      ch = chars[++pos];
    }
    word += ch;
  }
  return words;
}

/** moby's extractBuilderFlags: leading `--flag` words; returns them and the rest of the line. */
function extractBuilderFlags(line: string): { rest: string; flags: string[] } {
  const words: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let word = '';
  let quote = '';
  let blankOK = false;
  for (let pos = 0; pos <= line.length; pos++) {
    const end = pos === line.length;
    let ch = end ? '' : line[pos];
    if (phase === 'spaces') {
      if (end) break;
      if (/\s/.test(ch)) continue;
      if (ch !== '-' || pos + 1 === line.length || line[pos + 1] !== '-')
        return { rest: line.slice(pos), flags: words };
      phase = 'word';
    }
    if (end) {
      if (word !== '--' && (blankOK || word.length)) words.push(word);
      break;
    }
    if (phase === 'word') {
      if (/\s/.test(ch)) {
        phase = 'spaces';
        if (word === '--') return { rest: line.slice(pos), flags: words };
        if (blankOK || word.length) words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
        continue;
      }
      if (ch === '\\') {
        if (pos + 1 === line.length) continue;
        ch = line[++pos];
      }
      word += ch;
      continue;
    }
    if (ch === quote) {
      phase = 'word';
      continue;
    }
    if (ch === '\\') {
      if (pos + 1 === line.length) {
        phase = 'word';
        continue;
      }
      ch = line[++pos];
    }
    word += ch;
  }
  return { rest: '', flags: words };
}

function parseNameVal(rest: string, key: string, escapeToken: string): string[] {
  const words = parseWords(rest, escapeToken);
  if (!words.length) return [];
  if (!words[0].includes('=')) {
    const parts = rest.split(WHITESPACE);
    if (parts.length < 2) throw invalidParameter(`${key} must have two arguments`);
    const first = rest.match(WHITESPACE)!;
    return [parts[0], rest.slice(first.index! + first[0].length)];
  }
  const out: string[] = [];
  for (const w of words) {
    if (!w.includes('='))
      throw invalidParameter(`Syntax error - can't find = in ${JSON.stringify(w)}. Must be of the form: name=value`);
    const i = w.indexOf('=');
    out.push(w.slice(0, i), w.slice(i + 1));
  }
  return out;
}

const HEREDOC_COMMANDS = new Set(['run', 'copy', 'add']);

/** The argument rules of each instruction (moby's parser dispatch table). */
function parseArgs(cmd: string, rest: string, escapeToken: string): { args: string[]; json: boolean; sub?: string } {
  const whitespaceList = () => (rest === '' ? [] : rest.split(WHITESPACE));
  switch (cmd) {
    case 'add':
    case 'copy':
    case 'volume':
      return parseJson(rest) ?? { args: whitespaceList(), json: false };
    case 'cmd':
    case 'entrypoint':
    case 'run':
    case 'shell':
      if (rest === '') return { args: [], json: false };
      return parseJson(rest) ?? { args: [rest], json: false };
    case 'arg':
      return { args: parseWords(rest, escapeToken), json: false };
    case 'env':
    case 'label':
      return { args: parseNameVal(rest, cmd.toUpperCase(), escapeToken), json: false };
    case 'expose':
    case 'from':
      return { args: whitespaceList(), json: false };
    case 'healthcheck': {
      const m = /^(\S+)\s*([\s\S]*)$/.exec(rest);
      if (!m) return { args: [], json: false };
      const inner = m[2] === '' ? { args: [], json: false } : (parseJson(m[2]) ?? { args: [m[2]], json: false });
      return { args: [m[1], ...inner.args], json: inner.json };
    }
    case 'maintainer':
    case 'stopsignal':
    case 'user':
    case 'workdir':
      return { args: rest === '' ? [] : [rest], json: false };
    case 'onbuild':
      return { args: [], json: false, sub: rest };
    default:
      return { args: [], json: false };
  }
}

/** One instruction from its joined line (also ONBUILD triggers and `commit --change` lines). */
export function nodeFromLine(line: string, lineNo: number, escapeToken: string, heredocs: Heredoc[] = []): Node {
  const trimmed = line.trim();
  const m = WHITESPACE.exec(trimmed);
  const cmd = (m ? trimmed.slice(0, m.index) : trimmed).toLowerCase();
  let flags: string[] = [];
  let rest = '';
  if (m) {
    const extracted = extractBuilderFlags(trimmed.slice(m.index + m[0].length));
    flags = extracted.flags;
    rest = extracted.rest.trim();
  }
  const parsed = parseArgs(cmd, rest, escapeToken);
  const node: Node = { cmd, original: line, flags, args: parsed.args, json: parsed.json, heredocs, line: lineNo };
  if (parsed.sub !== undefined && parsed.sub !== '') node.sub = nodeFromLine(parsed.sub, lineNo, escapeToken);
  return node;
}

/** BuildKit's heredoc markers in a shell-form line: `<<EOF`, `<<-EOF` (tabs stripped), `<<"EOF"` (no expansion). */
function heredocMarkers(line: string): { name: string; chomp: boolean; expand: boolean }[] {
  const out: { name: string; chomp: boolean; expand: boolean }[] = [];
  const re = /(?:^|\s)\d*<<(-?)(["']?)([^\s<"']+)\2/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push({ chomp: m[1] === '-', expand: m[2] === '', name: m[3] });
  return out;
}

/** Parses a Dockerfile's text. Errors are InvalidParameter with moby's words. */
export function parseDockerfile(text: string): ParsedDockerfile {
  const source = text.replace(/^\uFEFF/, '');
  const df = DockerfileParser.parse(source);
  const escapeToken = df.getEscapeCharacter() || '\\';
  let syntax: string | undefined;
  for (const d of df.getDirectives()) {
    if (d.getName().toLowerCase() === 'syntax') syntax = d.getValue();
    if (d.getName().toLowerCase() === 'escape' && d.getValue() !== '`' && d.getValue() !== '\\')
      throw invalidParameter(`invalid escape token '${d.getValue()}' does not match \` or \\`);
  }
  const lines = source.split('\n').map((l) => l.replace(/\r$/, ''));
  const e = escapeToken === '`' ? '`' : '\\\\';
  const continuation = new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
  const isComment = (l: string) => /^\s*#/.test(l);
  const warnings: string[] = [];
  const nodes: Node[] = [];
  for (const ins of df.getInstructions()) {
    const start = ins.getRange().start.line;
    // moby's line loop: the first line left-trimmed, continuation lines appended as they are, comment lines and
    // (with a warning) empty lines inside a continuation skipped.
    let line = lines[start].replace(/^\s+/, '');
    let i = start;
    let emptyContinuation = false;
    let more = continuation.test(line);
    if (more) line = line.replace(continuation, '$1');
    while (more && i + 1 < lines.length) {
      const next = lines[++i];
      if (isComment(next)) continue;
      if (next.trim() === '') {
        emptyContinuation = true;
        continue;
      }
      more = continuation.test(next);
      line += more ? next.replace(continuation, '$1') : next;
    }
    if (emptyContinuation) warnings.push(`[WARNING]: Empty continuation line found in:\n    ${line}`);
    const cmd = ins.getKeyword().toLowerCase();
    const heredocs: Heredoc[] = [];
    if (HEREDOC_COMMANDS.has(cmd) && !/^\s*\S+\s*\[/.test(line)) {
      const markers = heredocMarkers(line);
      const bodies = (ins as any).getHeredocs?.() ?? [];
      markers.forEach((mk, n) => {
        const range = bodies[n]?.getContentRange?.();
        let content = '';
        if (range) {
          const body = lines.slice(range.start.line, range.end.line + 1);
          content = `${(mk.chomp ? body.map((l) => l.replace(/^\t+/, '')) : body).join('\n')}\n`;
        }
        heredocs.push({ name: mk.name, content, expand: mk.expand });
      });
    }
    nodes.push(nodeFromLine(line, start + 1, escapeToken, heredocs));
  }
  if (!nodes.length) throw invalidParameter('file with no instructions');
  if (warnings.length) warnings.push('[WARNING]: Empty continuation lines will become errors in a future release.');
  return { nodes, escapeToken, syntax, warnings };
}
