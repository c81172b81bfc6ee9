// Dockerfile nodes → typed instructions and stages, with the classic builder's checks and error texts
// (BuildKit's `instructions.Parse`, which dockerd uses): what each instruction takes, its flags, and the
// "dockerfile parse error line N: …" a bad one gets before anything runs.
import { invalidParameter } from '../errdefs';
import type { Heredoc, Node } from './dockerfile';
import { type HealthConfig, parseGoDuration } from './runconfig';

export interface KeyValue {
  key: string;
  value: string;
}

export interface ArgPair {
  key: string;
  value?: string;
}

interface Base {
  /** What `Step n/m :` prints (moby's String(): the trimmed original line). */
  code: string;
  line: number;
}

export type Instruction = Base &
  (
    | { kind: 'env'; env: KeyValue[] }
    | { kind: 'label'; labels: KeyValue[]; noExpand?: boolean }
    | { kind: 'maintainer'; maintainer: string }
    | {
        kind: 'copy' | 'add';
        sources: string[];
        dest: string;
        from: string;
        chown: string;
        chmod: string;
        heredocs: Heredoc[];
      }
    | { kind: 'onbuild'; expression: string }
    | { kind: 'workdir'; path: string }
    | { kind: 'run'; cmdLine: string[]; prependShell: boolean; flagsUsed: string[]; heredocs: Heredoc[] }
    | { kind: 'cmd' | 'entrypoint'; cmdLine: string[] | null; prependShell: boolean }
    | { kind: 'healthcheck'; health: HealthConfig }
    | { kind: 'expose'; ports: string[] }
    | { kind: 'user'; user: string }
    | { kind: 'volume'; volumes: string[] }
    | { kind: 'stopsignal'; signal: string }
    | { kind: 'arg'; args: ArgPair[] }
    | { kind: 'shell'; shell: string[] }
  );

export interface Stage {
  name: string;
  baseName: string;
  platform: string;
  /** `FROM …` as written. */
  code: string;
  line: number;
  commands: Instruction[];
}

/** Builder flags (`--name=value`) of one instruction, checked against the ones it allows. */
class Flags {
  private values = new Map<string, string>();
  readonly used: string[] = [];
  constructor(raw: string[], allowed: string[] | 'any') {
    for (const arg of raw) {
      if (!arg.startsWith('--')) throw new Error(`Arg should start with -- : ${arg}`);
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      if (allowed !== 'any' && !allowed.includes(name)) throw new Error(`Unknown flag: ${name}`);
      if (this.values.has(name)) throw new Error(`Duplicate flag specified: ${name}`);
      if (eq < 0 && allowed !== 'any') throw new Error(`Missing a value on flag: ${name}`);
      this.values.set(name, eq < 0 ? '' : arg.slice(eq + 1));
      this.used.push(name);
    }
  }
  get(name: string): string {
    return this.values.get(name) ?? '';
  }
}

const atLeastOne = (cmd: string) => new Error(`${cmd} requires at least one argument`);
const exactlyOne = (cmd: string) => new Error(`${cmd} requires exactly one argument`);
const noDestination = (cmd: string) =>
  new Error(`${cmd} requires at least two arguments, but only one was provided. Destination could not be determined`);
const blankNames = (cmd: string) => new Error(`${cmd} names can not be blank`);

function kvps(args: string[], cmd: string): KeyValue[] {
  if (!args.length) throw atLeastOne(cmd);
  if (args.length % 2) throw new Error(`Bad input to ${cmd}, too many arguments`);
  const out: KeyValue[] = [];
  for (let i = 0; i < args.length; i += 2) {
    if (!args[i]) throw blankNames(cmd);
    out.push({ key: args[i], value: args[i + 1] });
  }
  return out;
}

/** handleJSONArgs: the exec form's words, or the shell form as one string. */
function cmdLineOf(node: Node): string[] {
  if (!node.args.length) return [];
  return node.json ? node.args : [node.args.join(' ')];
}

function parseInterval(flag: string, value: string): number {
  if (value === '') return 0;
  const ns = parseGoDuration(value);
  if (ns === undefined) throw new Error(`time: invalid duration ${JSON.stringify(value)}`);
  if (ns < 1e6) throw new Error(`Interval "${flag}" cannot be less than 1ms`);
  return ns;
}

function healthcheck(node: Node, flagsRaw: string[]): HealthConfig {
  if (!node.args.length) throw atLeastOne('HEALTHCHECK');
  const typ = node.args[0].toUpperCase();
  const rest = node.args.slice(1);
  if (typ === 'NONE') {
    if (rest.length) throw new Error('HEALTHCHECK NONE takes no arguments');
    return { Test: ['NONE'] };
  }
  const flags = new Flags(flagsRaw, ['interval', 'timeout', 'start-period', 'retries']);
  if (typ !== 'CMD') throw new Error(`Unknown type ${JSON.stringify(typ)} in HEALTHCHECK (try CMD)`);
  const cmd = node.json ? rest : rest.length ? [rest.join(' ')] : [];
  if (!cmd.length) throw new Error('Missing command after HEALTHCHECK CMD');
  const h: HealthConfig = { Test: [node.json ? 'CMD' : 'CMD-SHELL', ...cmd] };
  const interval = parseInterval('interval', flags.get('interval'));
  const timeout = parseInterval('timeout', flags.get('timeout'));
  const startPeriod = parseInterval('start-period', flags.get('start-period'));
  if (interval) h.Interval = interval;
  if (timeout) h.Timeout = timeout;
  if (startPeriod) h.StartPeriod = startPeriod;
  const retries = flags.get('retries');
  if (retries !== '') {
    if (!/^[-+]?\d+$/.test(retries))
      throw new Error(`strconv.ParseInt: parsing ${JSON.stringify(retries)}: invalid syntax`);
    const n = Number(retries);
    if (n < 1) throw new Error(`--retries must be at least 1 (not ${n})`);
    h.Retries = n;
  }
  return h;
}

/** One instruction (not FROM). Errors carry moby's words; the caller adds the line. */
export function parseInstruction(node: Node): Instruction {
  const base: Base = { code: node.original.trim(), line: node.line };
  const noFlags = () => new Flags(node.flags, []);
  switch (node.cmd) {
    case 'env':
      noFlags();
      return { ...base, kind: 'env', env: kvps(node.args, 'ENV') };
    case 'label':
      noFlags();
      return { ...base, kind: 'label', labels: kvps(node.args, 'LABEL') };
    case 'maintainer':
      if (node.args.length !== 1) throw exactlyOne('MAINTAINER');
      noFlags();
      return { ...base, kind: 'maintainer', maintainer: node.args[0] };
    case 'add':
    case 'copy': {
      const words = node.args;
      if (words.length < 2) throw noDestination(node.cmd.toUpperCase());
      const flags = new Flags(node.flags, node.cmd === 'copy' ? ['chown', 'chmod', 'from'] : ['chown', 'chmod']);
      return {
        ...base,
        kind: node.cmd,
        sources: words.slice(0, -1),
        dest: words[words.length - 1],
        from: flags.get('from'),
        chown: flags.get('chown'),
        chmod: flags.get('chmod'),
        heredocs: node.heredocs,
      };
    }
    case 'onbuild': {
      if (!node.sub) throw atLeastOne('ONBUILD');
      noFlags();
      const trigger = node.sub.cmd.toUpperCase();
      if (trigger === 'ONBUILD') throw new Error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (trigger === 'MAINTAINER' || trigger === 'FROM')
        throw new Error(`${trigger} isn't allowed as an ONBUILD trigger`);
      return { ...base, kind: 'onbuild', expression: node.original.replace(/^\s*ONBUILD\s*/i, '') };
    }
    case 'workdir':
      if (node.args.length !== 1) throw exactlyOne('WORKDIR');
      noFlags();
      return { ...base, kind: 'workdir', path: node.args[0] };
    case 'run': {
      const flags = new Flags(node.flags, 'any');
      return {
        ...base,
        kind: 'run',
        cmdLine: cmdLineOf(node),
        prependShell: !node.json,
        flagsUsed: flags.used,
        heredocs: node.heredocs,
      };
    }
    case 'cmd':
      noFlags();
      return { ...base, kind: 'cmd', cmdLine: cmdLineOf(node), prependShell: !node.json };
    case 'entrypoint': {
      noFlags();
      const cl = cmdLineOf(node);
      return { ...base, kind: 'entrypoint', cmdLine: cl.length ? cl : null, prependShell: !node.json };
    }
    case 'healthcheck':
      return { ...base, kind: 'healthcheck', health: healthcheck(node, node.flags) };
    case 'expose':
      if (!node.args.length) throw atLeastOne('EXPOSE');
      noFlags();
      return { ...base, kind: 'expose', ports: [...node.args].sort() };
    case 'user':
      if (node.args.length !== 1) throw exactlyOne('USER');
      noFlags();
      return { ...base, kind: 'user', user: node.args[0] };
    case 'volume': {
      if (!node.args.length) throw atLeastOne('VOLUME');
      noFlags();
      const volumes = node.args.map((v) => v.trim());
      if (volumes.some((v) => v === '')) throw new Error('VOLUME specified can not be an empty string');
      return { ...base, kind: 'volume', volumes };
    }
    case 'stopsignal':
      if (node.args.length !== 1) throw exactlyOne('STOPSIGNAL');
      return { ...base, kind: 'stopsignal', signal: node.args[0] };
    case 'arg': {
      if (!node.args.length) throw atLeastOne('ARG');
      const args = node.args.map((a) => {
        const eq = a.indexOf('=');
        if (eq < 0) return { key: a };
        if (eq === 0) throw blankNames('ARG');
        return { key: a.slice(0, eq), value: a.slice(eq + 1) };
      });
      return { ...base, kind: 'arg', args };
    }
    case 'shell': {
      noFlags();
      if (!node.args.length) throw atLeastOne('SHELL');
      if (!node.json) throw new Error(`SHELL requires the arguments to be in JSON form`);
      return { ...base, kind: 'shell', shell: node.args };
    }
    default:
      throw new Error(`unknown instruction: ${node.cmd.toUpperCase()}`);
  }
}

function stageOf(node: Node): Stage {
  const flags = new Flags(node.flags, ['platform']);
  const args = node.args;
  let name = '';
  if (args.length === 3 && args[1].toLowerCase() === 'as') {
    name = args[2].toLowerCase();
    if (!/^[a-z][a-z0-9-_.]*$/.test(name))
      throw new Error(
        `invalid name for build stage: ${JSON.stringify(args[2])}, name can't start with a number or contain symbols`,
      );
  } else if (args.length !== 1) throw new Error('FROM requires either one or three arguments');
  return {
    name,
    baseName: args[0],
    platform: flags.get('platform'),
    code: node.original.trim(),
    line: node.line,
    commands: [],
  };
}

const withLine = (node: Node, err: unknown) =>
  invalidParameter(`dockerfile parse error line ${node.line}: ${(err as Error).message}`);

/** instructions.Parse: ARGs before the first FROM, then the stages. */
export function parseStages(nodes: Node[]): { metaArgs: Instruction[]; stages: Stage[] } {
  const metaArgs: Instruction[] = [];
  const stages: Stage[] = [];
  for (const node of nodes) {
    try {
      if (node.cmd === 'from') {
        stages.push(stageOf(node));
        continue;
      }
      const ins = parseInstruction(node);
      if (!stages.length) {
        if (ins.kind === 'arg') {
          metaArgs.push(ins);
          continue;
        }
        throw new Error('no build stage in current context');
      }
      stages[stages.length - 1].commands.push(ins);
    } catch (err) {
      throw withLine(node, err);
    }
  }
  return { metaArgs, stages };
}
