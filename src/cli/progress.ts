// docker's jsonmessage display: pull/push/load progress as per-layer lines updated in place on a terminal, and
// as plain lines (no bars) otherwise.
import type { JSONMessage } from '../client';
import { goDuration, humanSize } from '../common/docker';

export class JSONMessageError extends Error {
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super(message);
  }
}

function progressString(m: JSONMessage, width: number, now = Date.now()): string {
  const p = m.progressDetail;
  if (!p) return '';
  const current = p.current ?? 0;
  const total = p.total ?? 0;
  if (current <= 0 && total <= 0) return '';
  if (total <= 0) return p.units ? `${current} ${p.units}` : humanSize(current).padStart(8);
  const percentage = Math.min(50, Math.trunc(Math.trunc((current / total) * 100) / 2));
  let bar = '';
  if (width > 110) bar = `[${'='.repeat(percentage)}>${' '.repeat(Math.max(0, 50 - percentage))}] `;
  let numbers = '';
  if (!p.hidecounts) {
    if (!p.units) {
      numbers =
        current > total ? humanSize(current).padStart(8) : `${humanSize(current).padStart(8)}/${humanSize(total)}`;
    } else {
      numbers = current > total ? `${current} ${p.units}` : `${current}/${total} ${p.units}`;
    }
  }
  let left = '';
  if (current > 0 && p.start && p.start > 0 && percentage < 50) {
    const fromStart = now / 1000 - p.start;
    const seconds = Math.trunc((fromStart / current) * (total - current));
    if (width > 50) left = ` ${goDuration(seconds)}`;
  }
  return bar + numbers + left;
}

/**
 * Writes a progress stream like docker's DisplayJSONMessagesStream. Returns the aux messages (e.g. the pushed
 * digest); throws the first error message.
 */
export async function displayJSONMessages(
  messages: AsyncIterable<JSONMessage>,
  out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number },
  opts: { terminal?: boolean; onMessage?: (m: JSONMessage) => void } = {},
): Promise<unknown[]> {
  const terminal = opts.terminal ?? !!out.isTTY;
  const width = terminal ? (out.columns ?? 80) : 200;
  let ids = new Map<string, number>();
  const aux: unknown[] = [];
  for await (const m of messages) {
    opts.onMessage?.(m);
    if (m.aux !== undefined) {
      aux.push(m.aux);
      continue;
    }
    const hasProgress = m.progressDetail !== undefined || !!m.progress;
    let diff = 0;
    if (m.id && hasProgress) {
      let line = ids.get(m.id);
      if (line === undefined) {
        line = ids.size;
        ids.set(m.id, line);
        if (terminal) out.write('\n');
      }
      diff = ids.size - line;
      if (terminal && diff) out.write(`\x1b[${diff}A`);
    } else {
      ids = new Map();
    }
    if (m.error || m.errorDetail) {
      throw new JSONMessageError(m.errorDetail?.message ?? m.error ?? 'unknown error', m.errorDetail?.code);
    }
    let endl = '';
    const bar = progressString(m, width);
    if (terminal && !m.stream && hasProgress) {
      out.write('\x1b[2K\r');
      endl = '\r';
    } else if (hasProgress && bar) {
      // No bars off a terminal: the line is skipped, as docker does.
      if (m.id && terminal && diff) out.write(`\x1b[${diff}B`);
      continue;
    }
    let line = '';
    if (m.id) line += `${m.id}: `;
    if (m.from) line += `(from ${m.from}) `;
    if (hasProgress && terminal) line += `${m.status ?? ''} ${bar}${endl}`;
    else if (m.stream) line += `${m.stream}${endl}`;
    else line += `${m.status ?? ''}${endl}\n`;
    out.write(line);
    if (m.id && terminal && diff) out.write(`\x1b[${diff}B`);
  }
  return aux;
}
