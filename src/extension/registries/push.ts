// Push with a progress notification (layer bytes from the engine's push stream), the stored credentials sent as
// X-Registry-Auth.
import * as vscode from 'vscode';
import type { Berth } from '../berth';
import { PullProgress } from '../run/progress';

/** Pushes `ref`; resolves the pushed digest, or undefined when cancelled; throws the engine's error. */
export function pushImage(berth: Berth, ref: string): Thenable<string | undefined> {
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Pushing ${ref}`, cancellable: true },
    async (progress, token) => {
      const auth = await berth.registryStore.authFor(ref);
      const at = ref.lastIndexOf(':');
      const [name, tag] = at > ref.lastIndexOf('/') ? [ref.slice(0, at), ref.slice(at + 1)] : [ref, 'latest'];
      const p = new PullProgress('preparing the layers…');
      let reported = 0;
      let digest = '';
      const messages = berth.client().pushImage(name, tag, { auth });
      for await (const m of messages) {
        if (token.isCancellationRequested) {
          await messages.return(undefined);
          return undefined;
        }
        if (m.error) throw new Error(m.errorDetail?.message ?? m.error);
        const d = /digest: (sha256:[0-9a-f]{64})/.exec(m.status ?? '');
        if (d) digest = d[1];
        p.add(m);
        const f = p.fraction * 100;
        progress.report({ message: p.text, increment: f - reported });
        reported = f;
      }
      return digest;
    },
  );
}
