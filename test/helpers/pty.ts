// Runs a command under a real terminal (a detached tmux session) so -it flows are tested as a user types them.
import { spawnSync } from 'node:child_process';

let counter = 0;

export interface PtySession {
  /** The tmux session name (for resize-window and friends). */
  name: string;
  /** Types keys (tmux send-keys syntax: 'Enter', 'C-p'). */
  send(...keys: string[]): void;
  screen(): string;
  /** Waits until the screen matches. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  /**
   * Types a line (Enter) and waits for the screen to match; types it again, the line cleared first, while it does
   * not. Busybox ash drops keys typed before the terminal answers its cursor-position query, and a resize reaches
   * the TTY a moment after tmux made it: nothing tells from outside when typing would be safe, so retry instead.
   */
  typeUntil(line: string, re: RegExp, timeoutMs?: number): Promise<string>;
  size(): { rows: number; cols: number };
  close(): void;
}

export function startPty(command: string, opts: { cols?: number; rows?: number } = {}): PtySession {
  const name = `berth-test-${process.pid}-${counter++}`;
  const tmux = (...args: string[]) => spawnSync('tmux', args, { encoding: 'utf8' });
  // The shell stays after the command so its exit status can be read from the screen.
  const create = () =>
    tmux(
      'new-session',
      '-d',
      '-s',
      name,
      '-x',
      String(opts.cols ?? 100),
      '-y',
      String(opts.rows ?? 30),
      `bash --norc --noprofile -c '${command.replace(/'/g, `'\\''`)}; echo EXIT=$?; sleep 600'`,
    );
  let r = create();
  // The tmux server exits with its last session (ours or anyone's on this machine): a new session that comes
  // while it is going gets "server exited unexpectedly"; the next attempt starts a new server.
  for (let i = 0; i < 5 && r.status !== 0 && /server exited unexpectedly/.test(r.stderr); i++) r = create();
  if (r.status !== 0) throw new Error(`tmux: ${r.stderr}`);
  tmux('set-option', '-t', name, 'status', 'off');
  const session: PtySession = {
    name,
    send: (...keys) => {
      tmux('send-keys', '-t', name, ...keys);
    },
    screen: () => tmux('capture-pane', '-p', '-J', '-S', '-200', '-t', name).stdout,
    async waitFor(re, timeoutMs = 20000) {
      const deadline = Date.now() + timeoutMs;
      let s = '';
      while (Date.now() < deadline) {
        s = session.screen();
        if (re.test(s)) return s;
        await new Promise((res) => setTimeout(res, 100));
      }
      throw new Error(`screen never matched ${re}:\n${s}`);
    },
    async typeUntil(line, re, timeoutMs = 20000) {
      const deadline = Date.now() + timeoutMs;
      let s = '';
      for (;;) {
        session.send('C-u');
        session.send(line, 'Enter');
        const retry = Math.min(deadline, Date.now() + 1500);
        while (Date.now() < retry) {
          s = session.screen();
          if (re.test(s)) return s;
          await new Promise((res) => setTimeout(res, 100));
        }
        if (Date.now() >= deadline)
          throw new Error(`typed ${JSON.stringify(line)}; the screen never matched ${re}:\n${s}`);
      }
    },
    size() {
      const [rows, cols] = tmux('display-message', '-p', '-t', name, '#{pane_height} #{pane_width}')
        .stdout.trim()
        .split(' ')
        .map(Number);
      return { rows, cols };
    },
    close: () => {
      tmux('kill-session', '-t', name);
    },
  };
  return session;
}
