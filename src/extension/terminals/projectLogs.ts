// One logs terminal for a whole Compose project, as `docker compose logs -f` shows it: each container followed by
// its own LogsTerminal (which keeps following across restarts), every line prefixed with the service name in the
// service's colour, names padded to one width. Containers the project creates later join when the engine says so.
import type { EngineClient, EngineEventMessage } from '../../client';
import { Emitter } from './emitter';
import { LogsTerminal, type LogsOptions } from './logs';

// compose's palette order: cyan, yellow, green, magenta, blue, then the bright ones.
const COLOURS = [36, 33, 32, 35, 34, 96, 93, 92, 95, 94];

export interface ProjectLogsOptions extends LogsOptions {
  /** Given an engine event, the name of a container that joins the project (or undefined). */
  joins?: (e: EngineEventMessage) => string | undefined;
}

interface Member {
  name: string;
  colour: number;
  pending: string;
  terminal: LogsTerminal;
}

export class ProjectLogsTerminal {
  private readonly writeEmitter = new Emitter<string>();
  private readonly closeEmitter = new Emitter<number | void>();
  readonly onDidWrite = this.writeEmitter.event;
  readonly onDidClose = this.closeEmitter.event;
  private readonly members = new Map<string, Member>();
  private width = 0;
  private eventSub?: { dispose(): void };
  private opened = false;

  constructor(
    private readonly client: () => EngineClient,
    readonly project: string,
    containers: { id: string; name: string }[],
    private readonly opts: ProjectLogsOptions,
  ) {
    for (const c of [...containers].sort((a, b) => a.name.localeCompare(b.name))) this.add(c.id, c.name);
  }

  /** Container ids followed (tests watch joins through it). */
  get followed(): string[] {
    return [...this.members.keys()];
  }

  private add(id: string, name: string): Member | undefined {
    if (this.members.has(id)) return undefined;
    const m: Member = {
      name,
      colour: COLOURS[this.members.size % COLOURS.length],
      pending: '',
      terminal: new LogsTerminal(this.client, id, name, this.opts),
    };
    this.members.set(id, m);
    this.width = Math.max(this.width, name.length);
    m.terminal.onDidWrite((text) => this.write(m, text));
    if (this.opened) m.terminal.open();
    return m;
  }

  private prefix(m: Member): string {
    return `\x1b[${m.colour}m${m.name.padEnd(this.width)} |\x1b[0m `;
  }

  /** Whole lines go out prefixed; a partial line waits for its end (so two services never share a line). */
  private write(m: Member, text: string): void {
    const all = m.pending + text;
    const lines = all.split('\n');
    m.pending = lines.pop() ?? '';
    if (!lines.length) return;
    this.writeEmitter.fire(lines.map((l) => `${this.prefix(m)}${l.replace(/\r$/, '')}\r\n`).join(''));
  }

  open(): void {
    this.opened = true;
    if (!this.members.size) this.writeEmitter.fire(`\x1b[2m[${this.project} has no containers yet]\x1b[0m\r\n`);
    this.eventSub = this.opts.onEvent((e) => {
      const name = this.opts.joins?.(e);
      if (name) this.add(e.Actor.ID, name);
    });
    for (const m of this.members.values()) m.terminal.open();
  }

  handleInput(data: string): void {
    if (data === '\x03') this.closeEmitter.fire();
  }

  close(): void {
    this.eventSub?.dispose();
    for (const m of this.members.values()) m.terminal.close();
    this.writeEmitter.dispose();
  }
}
