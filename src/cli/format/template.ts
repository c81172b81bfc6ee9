// The part of Go's text/template that docker users type in --format: {{.Field.Sub}}, pipelines with
// functions ({{.Names | upper}}, {{json .}}, {{join .Args " "}}), if/else/range/with, variables, and docker's
// extra functions (json, split, join, title, lower, upper, pad, truncate). Values print like Go's fmt %v.

type Value = unknown;

interface Pipe {
  decl: string[];
  cmds: Arg[][];
}
type Arg =
  | { k: 'field'; base: Arg | null; names: string[] } // base null = dot
  | { k: 'var'; name: string; names: string[] }
  | { k: 'ident'; name: string }
  | { k: 'lit'; v: Value }
  | { k: 'dot' }
  | { k: 'pipe'; p: Pipe; names: string[] };
type Node =
  | { k: 'text'; s: string }
  | { k: 'action'; p: Pipe }
  | { k: 'if' | 'with'; p: Pipe; list: Node[]; elseList: Node[] | null }
  | { k: 'range'; p: Pipe; list: Node[]; elseList: Node[] | null };

export class TemplateError extends Error {}

const NO_VALUE = Symbol('no value');

// ---- lexing ----
interface Tok {
  t: 'str' | 'num' | 'ident' | 'field' | 'var' | 'pipe' | 'lp' | 'rp' | 'decl' | 'dot' | 'bool' | 'nil';
  v: string;
}

function lexAction(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '|') {
      toks.push({ t: 'pipe', v: c });
      i++;
      continue;
    }
    if (c === '(') {
      toks.push({ t: 'lp', v: c });
      i++;
      continue;
    }
    if (c === ')') {
      toks.push({ t: 'rp', v: c });
      i++;
      continue;
    }
    if (c === ',') {
      i++;
      continue;
    }
    if (src.startsWith(':=', i)) {
      toks.push({ t: 'decl', v: ':=' });
      i += 2;
      continue;
    }
    if (c === '=') {
      toks.push({ t: 'decl', v: '=' });
      i++;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== '"') j += src[j] === '\\' ? 2 : 1;
      toks.push({ t: 'str', v: JSON.parse(src.slice(i, j + 1)) });
      i = j + 1;
      continue;
    }
    if (c === '`') {
      const j = src.indexOf('`', i + 1);
      if (j < 0) throw new TemplateError('unterminated raw quoted string');
      toks.push({ t: 'str', v: src.slice(i + 1, j) });
      i = j + 1;
      continue;
    }
    const m = /^(?:\.[A-Za-z_]\w*)+|^\.|^\$[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*|^\$|^-?\d+(?:\.\d+)?|^[A-Za-z_]\w*/.exec(
      src.slice(i),
    );
    if (!m) throw new TemplateError(`unexpected "${c}" in command`);
    const w = m[0];
    if (w === '.') toks.push({ t: 'dot', v: w });
    else if (w.startsWith('.')) toks.push({ t: 'field', v: w });
    else if (w.startsWith('$')) toks.push({ t: 'var', v: w });
    else if (/^-?\d/.test(w)) toks.push({ t: 'num', v: w });
    else if (w === 'true' || w === 'false') toks.push({ t: 'bool', v: w });
    else if (w === 'nil') toks.push({ t: 'nil', v: w });
    else toks.push({ t: 'ident', v: w });
    i += w.length;
    // A field chain may follow a closing parenthesis: (index . 0).Name
    if (src[i] === '.' && /[A-Za-z_]/.test(src[i + 1] ?? '') && toks[toks.length - 1].t === 'rp') continue;
  }
  return toks;
}

function parsePipe(toks: Tok[]): Pipe {
  let pos = 0;
  const decl: string[] = [];
  // $x := pipeline  /  $i, $e := pipeline
  const declAt = toks.findIndex((t) => t.t === 'decl');
  if (declAt > 0 && toks.slice(0, declAt).every((t) => t.t === 'var')) {
    decl.push(...toks.slice(0, declAt).map((t) => t.v));
    pos = declAt + 1;
  }
  const parseCmds = (): Arg[][] => {
    const cmds: Arg[][] = [];
    let cur: Arg[] = [];
    while (pos < toks.length) {
      const t = toks[pos];
      if (t.t === 'rp') break;
      pos++;
      if (t.t === 'pipe') {
        if (!cur.length) throw new TemplateError('missing command before |');
        cmds.push(cur);
        cur = [];
        continue;
      }
      cur.push(parseOperand(t));
    }
    if (cur.length) cmds.push(cur);
    return cmds;
  };
  const parseOperand = (t: Tok): Arg => {
    switch (t.t) {
      case 'str':
        return { k: 'lit', v: t.v };
      case 'num':
        return { k: 'lit', v: Number(t.v) };
      case 'bool':
        return { k: 'lit', v: t.v === 'true' };
      case 'nil':
        return { k: 'lit', v: null };
      case 'dot':
        return { k: 'dot' };
      case 'field':
        return { k: 'field', base: null, names: t.v.slice(1).split('.') };
      case 'var': {
        const [name, ...names] = t.v.split('.');
        return { k: 'var', name, names };
      }
      case 'ident':
        return { k: 'ident', name: t.v };
      case 'lp': {
        const cmds = parseCmds();
        if (toks[pos]?.t !== 'rp') throw new TemplateError('unclosed left paren');
        pos++;
        const names: string[] = [];
        while (toks[pos]?.t === 'field' && pos > 0) {
          names.push(...toks[pos].v.slice(1).split('.'));
          pos++;
          break;
        }
        return { k: 'pipe', p: { decl: [], cmds }, names };
      }
      default:
        throw new TemplateError(`unexpected "${t.v}" in operand`);
    }
  };
  const cmds = parseCmds();
  if (pos < toks.length) throw new TemplateError(`unexpected "${toks[pos].v}" in command`);
  if (!cmds.length) throw new TemplateError('missing value for command');
  return { decl, cmds };
}

export function parseTemplate(src: string): Node[] {
  // Split into text and actions, honouring {{- and -}} trim markers and {{/* comments */}}.
  const parts: ({ text: string } | { action: string })[] = [];
  let i = 0;
  let trimNext = false;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = src.slice(i, open < 0 ? src.length : open);
    if (trimNext) text = text.replace(/^\s+/, '');
    trimNext = false;
    if (open < 0) {
      parts.push({ text });
      break;
    }
    let inner = open + 2;
    if (src[inner] === '-' && /\s/.test(src[inner + 1] ?? '')) {
      text = text.replace(/\s+$/, '');
      inner += 2;
    }
    parts.push({ text });
    // Find the closing braces outside string literals.
    let j = inner;
    let quote = '';
    for (; j < src.length; j++) {
      const c = src[j];
      if (quote) {
        if (c === '\\' && quote === '"') j++;
        else if (c === quote) quote = '';
        continue;
      }
      if (c === '"' || c === '`') {
        quote = c;
        continue;
      }
      if (src.startsWith('}}', j)) break;
    }
    if (j >= src.length) throw new TemplateError('unclosed action');
    let body = src.slice(inner, j);
    if (/\s-$/.test(body)) {
      body = body.slice(0, -2);
      trimNext = true;
    }
    parts.push({ action: body.trim() });
    i = j + 2;
  }

  let pos = 0;
  const parseList = (stopAt: string[]): { list: Node[]; stop: string; rest: string } => {
    const list: Node[] = [];
    while (pos < parts.length) {
      const p = parts[pos++];
      if ('text' in p) {
        if (p.text) list.push({ k: 'text', s: p.text });
        continue;
      }
      const a = p.action;
      if (a.startsWith('/*')) continue;
      const word = /^[a-z]+\b/.exec(a)?.[0] ?? '';
      if (stopAt.includes(word)) return { list, stop: word, rest: a.slice(word.length).trim() };
      if (word === 'if' || word === 'with' || word === 'range')
        list.push(parseBlock(word, a.slice(word.length).trim()));
      else if (word === 'end' || word === 'else') throw new TemplateError(`unexpected {{${word}}}`);
      else if (word === 'define' || word === 'template' || word === 'block')
        throw new TemplateError(`{{${word}}} is not supported`);
      else list.push({ k: 'action', p: parsePipe(lexAction(a)) });
    }
    if (stopAt.length) throw new TemplateError('unexpected EOF');
    return { list, stop: '', rest: '' };
  };
  const parseBlock = (kind: 'if' | 'with' | 'range', pipeSrc: string): Node => {
    const p = parsePipe(lexAction(pipeSrc));
    const body = parseList(['else', 'end']);
    let elseList: Node[] | null = null;
    if (body.stop === 'else') {
      if (body.rest.startsWith('if ') && kind === 'if') {
        // {{else if x}} is an if nested in the else branch sharing the one {{end}}.
        elseList = [parseBlock('if', body.rest.slice(3).trim())];
      } else {
        const e = parseList(['end']);
        elseList = e.list;
      }
    }
    return { k: kind, p, list: body.list, elseList };
  };
  return parseList([]).list;
}

// ---- evaluation ----

/** Go's fmt %v for the values JSON and the format contexts hold. */
export function printValue(v: Value): string {
  if (v === NO_VALUE || v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return `[${v.map(printValue).join(' ')}]`;
  if (typeof v === 'function') return '<func>';
  if (typeof v === 'object') {
    const o = v as Record<string, Value>;
    if (
      typeof (o as { toString?: unknown }).toString === 'function' &&
      (o as object).toString !== Object.prototype.toString
    )
      return String(o);
    return `map[${Object.keys(o)
      .sort()
      .map((k) => `${k}:${printValue(o[k])}`)
      .join(' ')}]`;
  }
  return String(v);
}

function truth(v: Value): boolean {
  if (v === NO_VALUE || v === undefined || v === null) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v as object).length > 0;
  return !!v;
}

/** JSON as Go's encoding/json writes it (compact; HTML characters escaped unless told not to). */
export function goJson(v: Value, escapeHtml = true): string {
  const s = JSON.stringify(v === undefined || v === NO_VALUE ? null : v) ?? 'null';
  return escapeHtml ? s.replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026') : s;
}

type Fn = (...args: Value[]) => Value;

const str = (v: Value) => (typeof v === 'string' ? v : printValue(v));

function sprintf(format: string, args: Value[]): string {
  let i = 0;
  return format.replace(
    /%([-+ 0#]*)(\d*)(?:\.(\d+))?([svdqft%])/g,
    (_m, flags: string, width: string, prec: string, verb: string) => {
      if (verb === '%') return '%';
      const a = args[i++];
      let s: string;
      switch (verb) {
        case 'q':
          s = JSON.stringify(str(a));
          break;
        case 'd':
          s = String(Math.trunc(Number(a)));
          break;
        case 'f':
          s = Number(a).toFixed(prec ? Number(prec) : 6);
          break;
        case 't':
          s = String(!!a);
          break;
        default:
          s = str(a);
          if (prec && verb === 's') s = s.slice(0, Number(prec));
      }
      if (width)
        s = flags.includes('-') ? s.padEnd(Number(width)) : s.padStart(Number(width), flags.includes('0') ? '0' : ' ');
      return s;
    },
  );
}

function cmp(a: Value, b: Value): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return str(a) < str(b) ? -1 : str(a) > str(b) ? 1 : 0;
}

export const FUNCTIONS: Record<string, Fn> = {
  json: (v) => (v && typeof v === 'object' && 'toJSON' in (v as object) ? goJson(v, true) : goJson(v, false)),
  split: (s, sep) => str(s).split(str(sep)),
  join: (a, sep) => (Array.isArray(a) ? a.map(str) : [str(a)]).join(str(sep)),
  title: (s) => str(s).replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_m, p, c) => p + c.toUpperCase()),
  lower: (s) => str(s).toLowerCase(),
  upper: (s) => str(s).toUpperCase(),
  pad: (s, l, r) => ' '.repeat(Number(l)) + str(s) + ' '.repeat(Number(r)),
  truncate: (s, n) => [...str(s)].slice(0, Number(n)).join(''),
  println: (...a) => a.map(str).join(' ') + '\n',
  print: (...a) =>
    a.map((x, i) => (i > 0 && typeof x !== 'string' && typeof a[i - 1] !== 'string' ? ' ' : '') + str(x)).join(''),
  printf: (f, ...a) => sprintf(str(f), a),
  index: (m, ...keys) =>
    keys.reduce<Value>((acc, k) => (acc == null ? undefined : (acc as Record<string, Value>)[k as string]), m),
  len: (v) =>
    Array.isArray(v) || typeof v === 'string' ? v.length : v && typeof v === 'object' ? Object.keys(v).length : 0,
  eq: (a, ...bs) => bs.some((b) => a === b || (a != null && b != null && str(a) === str(b) && typeof a === typeof b)),
  ne: (a, b) => !(a === b),
  lt: (a, b) => cmp(a, b) < 0,
  le: (a, b) => cmp(a, b) <= 0,
  gt: (a, b) => cmp(a, b) > 0,
  ge: (a, b) => cmp(a, b) >= 0,
  and: (...a) => a.find((x) => !truth(x)) ?? a[a.length - 1],
  or: (...a) => a.find((x) => truth(x)) ?? a[a.length - 1],
  not: (a) => !truth(a),
};

/** docker's header functions: the table header row runs the same template with these, which pass text through. */
const HEADER_FUNCTIONS: Record<string, Fn> = Object.fromEntries(
  ['split', 'join', 'title', 'lower', 'upper', 'pad', 'truncate'].map((n) => [n, (v: Value) => str(v)]),
);
HEADER_FUNCTIONS.json = () => '';

class Exec {
  private vars: Map<string, Value>[] = [];
  constructor(
    private funcs: Record<string, Fn>,
    root: Value,
  ) {
    this.vars.push(new Map([['$', root]]));
  }

  private lookupVar(name: string): Value {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i].has(name)) return this.vars[i].get(name);
    throw new TemplateError(`undefined variable: ${name}`);
  }

  private field(base: Value, names: string[], args: Value[], final: Value[] = []): Value {
    let v = base;
    names.forEach((name, i) => {
      if (v === null || v === undefined || v === NO_VALUE) {
        v = NO_VALUE;
        return;
      }
      if (typeof v !== 'object') throw new TemplateError(`can't evaluate field ${name} in type ${typeof v}`);
      const o = v as Record<string, Value>;
      const next = o[name];
      if (typeof next === 'function') {
        const last = i === names.length - 1;
        v = (next as Fn).call(o, ...(last ? [...args, ...final] : []));
      } else if (next === undefined && !Object.hasOwn(o, name) && o.constructor !== Object && !Array.isArray(o)) {
        throw new TemplateError(`can't evaluate field ${name}`);
      } else v = next === undefined ? NO_VALUE : next;
    });
    return v;
  }

  private arg(a: Arg, dot: Value): Value {
    switch (a.k) {
      case 'lit':
        return a.v;
      case 'dot':
        return dot;
      case 'field':
        return this.field(dot, a.names, []);
      case 'var':
        return this.field(this.lookupVar(a.name), a.names, []);
      case 'pipe':
        return this.field(this.pipe(a.p, dot), a.names, []);
      case 'ident': {
        const f = this.funcs[a.name];
        if (!f) throw new TemplateError(`function "${a.name}" not defined`);
        return f();
      }
    }
  }

  private command(cmd: Arg[], dot: Value, final: Value[]): Value {
    const [head, ...rest] = cmd;
    const args = () => rest.map((r) => this.arg(r, dot));
    if (head.k === 'ident') {
      const f = this.funcs[head.name];
      if (!f) throw new TemplateError(`function "${head.name}" not defined`);
      return f(...args(), ...final);
    }
    if (head.k === 'field') return this.field(dot, head.names, args(), final);
    if (head.k === 'var' && head.names.length) return this.field(this.lookupVar(head.name), head.names, args(), final);
    if (rest.length || final.length)
      throw new TemplateError(`can't give argument to non-function ${printValue(this.arg(head, dot))}`);
    return this.arg(head, dot);
  }

  pipe(p: Pipe, dot: Value): Value {
    let v: Value;
    p.cmds.forEach((cmd, i) => {
      v = this.command(cmd, dot, i === 0 ? [] : [v]);
    });
    if (p.decl.length === 1) this.vars[this.vars.length - 1].set(p.decl[0], v);
    return v;
  }

  run(nodes: Node[], dot: Value): string {
    let out = '';
    for (const n of nodes) {
      switch (n.k) {
        case 'text':
          out += n.s;
          break;
        case 'action': {
          const v = this.pipe(n.p, dot);
          if (!n.p.decl.length) out += printValue(v);
          break;
        }
        case 'if':
        case 'with': {
          this.vars.push(new Map());
          const v = this.pipe(n.p, dot);
          if (truth(v)) out += this.run(n.list, n.k === 'with' ? v : dot);
          else if (n.elseList) out += this.run(n.elseList, dot);
          this.vars.pop();
          break;
        }
        case 'range': {
          const decl = n.p.decl;
          const v = this.pipe({ decl: [], cmds: n.p.cmds }, dot);
          const entries: [Value, Value][] = Array.isArray(v)
            ? v.map((x, i) => [i, x])
            : v && typeof v === 'object'
              ? Object.keys(v)
                  .sort()
                  .map((k) => [k, (v as Record<string, Value>)[k]])
              : typeof v === 'number'
                ? Array.from({ length: v }, (_x, i) => [i, i])
                : [];
          if (!entries.length) {
            if (n.elseList) out += this.run(n.elseList, dot);
            break;
          }
          for (const [k, x] of entries) {
            const scope = new Map<string, Value>();
            if (decl.length === 1) scope.set(decl[0], x);
            if (decl.length === 2) {
              scope.set(decl[0], k);
              scope.set(decl[1], x);
            }
            this.vars.push(scope);
            out += this.run(n.list, x);
            this.vars.pop();
          }
          break;
        }
      }
    }
    return out;
  }
}

export class Template {
  private nodes: Node[];
  constructor(readonly source: string) {
    this.nodes = parseTemplate(source);
  }
  execute(data: Value): string {
    return new Exec(FUNCTIONS, data).run(this.nodes, data);
  }
  executeHeader(header: Value): string {
    return new Exec(HEADER_FUNCTIONS, header).run(this.nodes, header);
  }
}
