// A layer tar of the changes in an overlayfs upper directory (native/berth-diff.c does the walk): what a commit
// and each build step store as their new layer.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';

/** sha256 of an empty layer (a tar of nothing: 1024 zero bytes), which Docker records as an empty_layer step. */
export const EMPTY_LAYER_DIFF_ID = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';

function helperPath(): string {
  return process.env.BERTH_DIFF_HELPER ?? path.join(__dirname, 'bin', 'berth-diff');
}

export interface DiffOptions {
  /** The layers below `upperDir`, topmost first. */
  lowerDirs: string[];
  /** Mount points the engine made (etc/hosts…): left out when empty and absent below (Docker's init layer). */
  engineMade?: string[];
}

/** The tar stream; it errors (with the helper's message) if the walk fails. */
export function diffTar(upperDir: string, o: DiffOptions): Readable {
  const args = [upperDir];
  for (const l of o.lowerDirs) args.push('-l', l);
  for (const s of o.engineMade ?? []) args.push('-s', s.replace(/^\/+/, ''));
  const child = spawn(helperPath(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  let stderr = '';
  child.stderr!.on('data', (d) => {
    if (stderr.length < 4096) stderr += d;
  });
  child.stdout!.pipe(out, { end: false });
  let exited = false;
  // 'close' comes after stdout has ended: everything the helper wrote has been passed on.
  child.once('close', (code) => {
    exited = true;
    if (code === 0) out.end();
    else out.destroy(new Error(`reading the layer's changes: ${stderr.trim() || `helper exited with ${code}`}`));
  });
  child.once('error', (err) => out.destroy(err));
  out.once('close', () => {
    if (!exited) child.kill('SIGKILL');
  });
  return out;
}
