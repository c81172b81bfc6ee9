// Build tests' helpers: contexts made in memory (or streamed), POST /build over the engine's socket, the JSON
// stream read back as dockerd's messages.
import * as http from 'node:http';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';

export interface ContextEntry {
  name: string;
  content?: string | Buffer;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  linkname?: string;
  mode?: number;
}

/** A context tar from entries (a string value is a file's content). */
export function contextTar(files: Record<string, string | ContextEntry>): Readable {
  const pack = tar.pack();
  for (const [name, v] of Object.entries(files)) {
    const e: ContextEntry = typeof v === 'string' ? { name, content: v } : { ...v, name };
    const type = e.type ?? 'file';
    const header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      linkname: e.linkname,
      mtime: new Date('2024-01-01T00:00:00Z'),
    };
    if (type === 'file') pack.entry(header, e.content ?? '');
    else pack.entry(header);
  }
  pack.finalize();
  return pack as unknown as Readable;
}

export interface BuildResult {
  status: number;
  /** The raw response body. */
  raw: string;
  messages: any[];
  /** The concatenated "stream" texts. */
  text: string;
  /** The last aux ID. */
  id?: string;
  error?: { code?: number; message: string };
}

/** POST /build with `body` (a tar stream) and `query`. */
export function postBuild(
  socket: string,
  body: Readable,
  query: Record<string, string | string[]> = {},
  headers: Record<string, string> = {},
): Promise<BuildResult> {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) for (const x of Array.isArray(v) ? v : [v]) p.append(k, x);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath: socket,
        method: 'POST',
        path: `/v1.41/build?${p}`,
        headers: { 'Content-Type': 'application/x-tar', ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          const messages: any[] = [];
          if (res.statusCode === 200)
            for (const line of raw.split('\r\n')) if (line.trim()) messages.push(JSON.parse(line));
          const ids = messages.filter((m) => m.aux?.ID).map((m) => m.aux.ID);
          const err = messages.find((m) => m.errorDetail);
          resolve({
            status: res.statusCode ?? 0,
            raw,
            messages,
            text: messages
              .filter((m) => m.stream !== undefined)
              .map((m) => m.stream)
              .join(''),
            id: ids[ids.length - 1],
            error: err?.errorDetail ?? (res.statusCode !== 200 ? { message: safeMessage(raw) } : undefined),
          });
        });
      },
    );
    req.on('error', reject);
    body.pipe(req);
  });
}

function safeMessage(raw: string): string {
  try {
    return JSON.parse(raw).message;
  } catch {
    return raw;
  }
}

/** A build from in-memory files. */
export function build(
  socket: string,
  files: Record<string, string | ContextEntry>,
  query: Record<string, string | string[]> = {},
): Promise<BuildResult> {
  return postBuild(socket, contextTar(files), query);
}

/** Step lines and cache markers only, IDs masked: the shape of a build's output. */
export function outline(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => /^Step |Using cache|Running in/.test(l))
    .map((l) => l.replace(/[0-9a-f]{12}/g, 'ID'));
}
