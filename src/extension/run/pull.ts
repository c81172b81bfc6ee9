// Pull with a cancellable progress notification showing layer bytes from the engine's pull stream.
import * as vscode from 'vscode';
import type { Berth } from '../berth';
import { pullArgs } from './options';
import { PullProgress } from './progress';

/** Pulls `ref`; resolves true when it finished, false when cancelled; throws the engine's error. */
export function pullImage(berth: Berth, ref: string): Thenable<boolean> {
  // Credentials of a registry the user logged in to go along (X-Registry-Auth).
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Pulling ${ref}`, cancellable: true },
    async (progress, token) => {
      const abort = new AbortController();
      token.onCancellationRequested(() => abort.abort());
      const { fromImage, tag } = pullArgs(ref);
      const auth = await berth.registryStore.authFor(ref);
      const p = new PullProgress();
      let reported = 0;
      try {
        for await (const m of berth.client().pullImage(fromImage, tag, { auth, signal: abort.signal })) {
          if (m.error) throw new Error(m.error);
          p.add(m);
          const f = p.fraction * 100;
          progress.report({ message: p.text, increment: f - reported });
          reported = f;
        }
      } catch (err) {
        if (abort.signal.aborted) {
          vscode.window.setStatusBarMessage(`Berth: pull of ${ref} cancelled`, 4000);
          return false;
        }
        throw err;
      }
      return true;
    },
  );
}
