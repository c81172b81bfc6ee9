// The Build Image terminal: streams the context up (POST /build through src/client, no CLI spawned) and the
// builder's messages down, colouring the steps; a failure names the step that failed and its exit code. Free of
// `vscode` (it satisfies `vscode.Pseudoterminal` structurally), so it is unit-tested against a real engine.
import type { EngineClient, JSONMessage } from '../../client';
import { buildContextTar } from '../../client/build-context';
import { Emitter, toTerminal } from '../terminals/emitter';

export interface BuildRequest {
  /** The context folder (absolute). */
  contextDir: string;
  /** The Dockerfile (absolute; may lie outside the context, as with docker build -f). */
  dockerfile: string;
  /** The tag, `name[:tag]`. */
  tag: string;
  buildArgs: Record<string, string>;
}

export type BuildResult =
  | { ok: true; imageId: string; tag: string }
  | {
      ok: false;
      message: string;
      /** `Step 3/5 : RUN make`: the step that was running when the build failed. */
      step?: string;
      /** The failing command's exit code (errorDetail.code). */
      code?: number;
      cancelled?: boolean;
    };

const BOLD_CYAN = '\x1b[1;36m';
const RED = '\x1b[1;31m';
const GREEN = '\x1b[1;32m';
const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

/** A pull inside a build (FROM of an image not here) reports per layer; the terminal shows each status once. */
function pullLine(m: JSONMessage, seen: Map<string, string>): string | undefined {
  if (!m.status) return undefined;
  const key = m.id ?? '';
  if (m.progressDetail?.current !== undefined && seen.get(key) === m.status) return undefined;
  seen.set(key, m.status);
  return `${m.id ? `${m.id}: ` : ''}${m.status}\n`;
}

export class BuildTerminal {
  private readonly writeEmitter = new Emitter<string>();
  private readonly closeEmitter = new Emitter<number | void>();
  readonly onDidWrite = this.writeEmitter.event;
  readonly onDidClose = this.closeEmitter.event;
  private readonly abort = new AbortController();
  private finished = false;
  private resolveDone!: (r: BuildResult) => void;
  /** Settles once with how the build ended (never rejects). */
  readonly done = new Promise<BuildResult>((r) => (this.resolveDone = r));

  constructor(
    private readonly client: () => EngineClient,
    readonly request: BuildRequest,
  ) {}

  open(): void {
    void this.run().then((r) => {
      this.finished = true;
      this.resolveDone(r);
    });
  }

  /** After the build ended, any key closes the terminal (the output stays readable until then). */
  handleInput(): void {
    if (this.finished) this.closeEmitter.fire();
  }

  close(): void {
    this.abort.abort();
  }

  private write(text: string) {
    this.writeEmitter.fire(toTerminal(text));
  }

  private async run(): Promise<BuildResult> {
    const r = this.request;
    this.write(`${DIM}Building ${r.tag} from ${r.dockerfile} (context ${r.contextDir})${RESET}\n`);
    let step: string | undefined;
    let imageId = '';
    let atLineStart = true;
    const seen = new Map<string, string>();
    try {
      const { tar, dockerfile } = buildContextTar({ contextDir: r.contextDir, dockerfile: r.dockerfile });
      const messages = this.client().buildImage(tar, {
        dockerfile,
        tags: [r.tag],
        buildArgs: r.buildArgs,
        remove: true,
        // A failed step's container is removed too (docker build keeps it unless --force-rm): the user's
        // Containers view should not fill with the leftovers of failed builds.
        forceRemove: true,
        signal: this.abort.signal,
      });
      for await (const m of messages) {
        if (m.error || m.errorDetail) {
          const message = m.errorDetail?.message ?? m.error ?? 'build failed';
          if (!atLineStart) this.write('\n');
          this.write(`${RED}✗ ${step ? `${step} failed` : 'build failed'}: ${message}${RESET}\n`);
          this.write(`${DIM}Press any key to close.${RESET}\n`);
          return { ok: false, message, step, code: m.errorDetail?.code };
        }
        const aux = m.aux as { ID?: string } | undefined;
        if (aux?.ID) imageId = aux.ID;
        if (m.stream !== undefined) {
          let text = m.stream;
          const stepLine = /^Step \d+\/\d+ : .*/m.exec(text);
          if (stepLine) {
            step = stepLine[0].trim();
            text = text.replace(stepLine[0], `${BOLD_CYAN}${stepLine[0]}${RESET}`);
          }
          const built = /^Successfully built ([0-9a-f]+)/m.exec(m.stream);
          if (built && !imageId) imageId = built[1];
          text = text.replace(/^(Successfully (?:built|tagged) .*)$/gm, `${GREEN}$1${RESET}`);
          this.write(text);
          if (text.length) atLineStart = text.endsWith('\n');
        } else {
          const line = pullLine(m, seen);
          if (line) this.write(`${DIM}${line}${RESET}`);
        }
      }
    } catch (err) {
      const cancelled = this.abort.signal.aborted;
      const message = cancelled ? 'build cancelled' : ((err as Error)?.message ?? String(err));
      if (!cancelled) this.write(`\n${RED}✗ ${message}${RESET}\n${DIM}Press any key to close.${RESET}\n`);
      return { ok: false, message, step, cancelled };
    }
    if (!imageId) {
      this.write(`${RED}✗ the engine ended the build without an image${RESET}\n`);
      return { ok: false, message: 'the engine ended the build without an image', step };
    }
    this.write(`${DIM}Press any key to close.${RESET}\n`);
    return { ok: true, imageId, tag: r.tag };
  }
}
