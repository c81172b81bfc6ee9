// A QMP client (QEMU's JSON machine protocol over the unix socket the VM's QEMU listens on, or over the connection a
// QEMU made to the supervisor's loopback listener): answers matched by id. Small enough not to need a library (the
// npm ones wrap the same 60 lines).
import * as net from 'node:net';

export class QmpClient {
  private buffer = '';
  private nextId = 1;
  private waiting = new Map<string, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  private greeted: Promise<void>;
  private closed = false;

  private constructor(private readonly socket: net.Socket) {
    let greet!: () => void;
    this.greeted = new Promise((r) => (greet = r));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
        const line = this.buffer.slice(0, nl).trim();
        this.buffer = this.buffer.slice(nl + 1);
        if (!line) continue;
        let msg: any;
        try {
          msg = JSON.parse(line);
        } catch {
          continue;
        }
        if (msg.QMP) greet();
        else if (msg.id !== undefined) {
          const w = this.waiting.get(String(msg.id));
          this.waiting.delete(String(msg.id));
          if (!w) continue;
          if (msg.error) w.reject(new Error(`QMP: ${msg.error.desc ?? msg.error.class}`));
          else w.resolve(msg.return);
        }
      }
    });
    const fail = () => {
      this.closed = true;
      for (const w of this.waiting.values()) w.reject(new Error('QMP connection closed'));
      this.waiting.clear();
    };
    socket.on('close', fail);
    socket.on('error', fail);
  }

  static async connect(socketPath: string, timeoutMs = 5000): Promise<QmpClient> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(socketPath);
      const t = setTimeout(() => {
        s.destroy();
        reject(new Error(`QMP: no answer on ${socketPath}`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(t);
        resolve(s);
      });
      s.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
    return QmpClient.over(socket, timeoutMs);
  }

  /** QMP on a connected socket: the greeting, then the capabilities negotiation (the socket is closed on failure). */
  static async over(socket: net.Socket, timeoutMs = 5000): Promise<QmpClient> {
    const c = new QmpClient(socket);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        c.greeted,
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('QMP: no greeting')), timeoutMs))),
      ]);
      await c.execute('qmp_capabilities');
      return c;
    } catch (err) {
      c.close();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  execute(command: string, args?: Record<string, unknown>): Promise<any> {
    if (this.closed) return Promise.reject(new Error('QMP connection closed'));
    const id = String(this.nextId++);
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.socket.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\n`);
    });
  }

  /** An HMP command (hostfwd_add has no QMP form); its text output, which carries errors too. */
  async hmp(commandLine: string): Promise<string> {
    return String((await this.execute('human-monitor-command', { 'command-line': commandLine })) ?? '');
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }
}
