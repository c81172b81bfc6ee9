// Exec, attach streams and TTY sizes: /containers/{id}/exec, /exec/{id}/start|json|resize, /containers/{id}/attach
// (hijacked, or plain 200), /containers/{id}/attach/ws (WebSocket) and /containers/{id}/resize.
import type { Duplex } from 'node:stream';
import type { EngineServices } from '../services';
import { invalidParameter } from '../../errdefs';
import { log } from '../../log';
import { phaseTimer } from '../../util/phases';
import { compareVersions, type RequestContext, type Router } from '../router';
import { frame, queryBool } from '../../../common/docker';
import { DEFAULT_DETACH_KEYS, parseDetachKeys, pump } from '../stdio';
import { EXEC_CREATE, EXEC_START } from '../bodies';
import { decodeGoJson } from '../gojson';
import { createWebSocketStream, type WebSocket, WebSocketServer } from 'ws';

const streamType = (ctx: RequestContext, tty: boolean) =>
  tty
    ? 'application/vnd.docker.raw-stream'
    : compareVersions(ctx.apiVersion, '1.42') >= 0
      ? 'application/vnd.docker.multiplexed-stream'
      : 'application/vnd.docker.raw-stream';

/** strconv.Atoi with its errors (a query parameter dockerd reads as an int). */
function atoi(raw: string | null): number {
  const text = raw ?? '';
  if (!/^[-+]?\d+$/.test(text)) throw invalidParameter(`strconv.Atoi: parsing ${JSON.stringify(text)}: invalid syntax`);
  const n = Number(text);
  if (!Number.isSafeInteger(n))
    throw invalidParameter(`strconv.Atoi: parsing ${JSON.stringify(text)}: value out of range`);
  return n;
}

function size(ctx: RequestContext): { rows: number; cols: number } {
  const h = atoi(ctx.query.get('h'));
  const w = atoi(ctx.query.get('w'));
  if (h < 0 || w < 0 || h > 65535 || w > 65535) {
    throw invalidParameter(`invalid resize value h=${ctx.query.get('h')} w=${ctx.query.get('w')}`);
  }
  return { rows: h, cols: w };
}

export function registerExecRoutes(router: Router, s: EngineServices): void {
  router.post('/containers/:id/exec', async (ctx) => {
    const body = decodeGoJson<Record<string, any>>(await ctx.json(), EXEC_CREATE);
    const cmd = body.Cmd;
    if (!Array.isArray(cmd) || cmd.length === 0 || cmd.some((a) => typeof a !== 'string'))
      throw invalidParameter('No exec command specified');
    const detachKeys = typeof body.DetachKeys === 'string' ? body.DetachKeys : '';
    parseDetachKeys(detachKeys);
    const id = s.containers.createExec(ctx.params.id, {
      cmd,
      env: Array.isArray(body.Env) ? body.Env.filter((e: unknown) => typeof e === 'string') : [],
      user: typeof body.User === 'string' ? body.User : '',
      workingDir: typeof body.WorkingDir === 'string' ? body.WorkingDir : '',
      privileged: !!body.Privileged,
      tty: !!body.Tty,
      attachStdin: !!body.AttachStdin,
      attachStdout: !!body.AttachStdout,
      attachStderr: !!body.AttachStderr,
      detachKeys,
    });
    ctx.send(201, { Id: id });
  });

  router.post('/exec/:id/start', async (ctx) => {
    // Debug log: where an exec spends its time (scripts/bench/exec-breakdown.ts reads these lines).
    const phases = log.isDebug() ? phaseTimer() : undefined;
    const body = decodeGoJson<Record<string, any>>(await ctx.json(), EXEC_START);
    const e = s.containers.inspectExec(ctx.params.id);
    // [0, 0] is what the CLI sends when it has no terminal: no size (runc ignores zeros too).
    const consoleSize =
      Array.isArray(body.ConsoleSize) &&
      body.ConsoleSize.length === 2 &&
      body.ConsoleSize.every((n: unknown) => Number(n) > 0)
        ? body.ConsoleSize.map(Number)
        : undefined;
    const size = consoleSize && e.tty ? { rows: consoleSize[0], cols: consoleSize[1] } : undefined;
    if (body.Detach) {
      const started = await s.containers.startExec(e.id, true, size);
      void started.exited;
      if (size && !started.sized) await s.containers.resizeExec(e.id, size.rows, size.cols).catch(() => {});
      ctx.send(200, undefined);
      return;
    }
    // Whether the output is framed follows the start request's Tty, not the exec's (moby's rule): an exec made
    // with a TTY and started without one sends its TTY's bytes as stdout frames; the other way round, stdout raw
    // and stderr nowhere.
    const rawOutput = !!body.Tty;
    // Docker hijacks first and reports a process that cannot start on the stream; the CLI then asks for ExitCode.
    phases?.mark('request');
    const conn = ctx.hijack(streamType(ctx, rawOutput));
    phases?.mark('hijack');
    let started;
    try {
      started = await s.containers.startExec(e.id, false, size);
      phases?.mark('start');
    } catch (err: any) {
      const text = Buffer.from(`${err?.message ?? err}\r\n`);
      conn.end(rawOutput ? text : frame(1, text));
      return;
    }
    if (size && !started.sized) await s.containers.resizeExec(e.id, size.rows, size.cols).catch(() => {});
    if (phases) void started.session!.done.then(() => phases.mark('exit'));
    await pump(conn, started.session!, {
      tty: e.tty,
      frames: !rawOutput,
      dropStderr: rawOutput && !e.tty,
      stdin: e.attachStdin,
      detachKeys: parseDetachKeys(e.detachKeys || DEFAULT_DETACH_KEYS),
      onClientGone: 'drain',
    });
    if (phases) log.debug('exec phases', { exec: e.id.slice(0, 12), ...phases.done('end') });
  });

  router.get('/exec/:id/json', async (ctx) => {
    const e = s.containers.inspectExec(ctx.params.id);
    ctx.send(200, {
      ID: e.id,
      Running: e.running,
      ExitCode: e.exitCode,
      ProcessConfig: {
        tty: e.tty,
        entrypoint: e.cmd[0],
        arguments: e.cmd.slice(1),
        privileged: e.privileged,
        user: e.user || undefined,
      },
      OpenStdin: e.attachStdin,
      OpenStderr: e.attachStderr,
      OpenStdout: e.attachStdout,
      CanRemove: !e.running && e.exitCode !== null,
      ContainerID: e.containerId,
      DetachKeys: e.detachKeys,
      Pid: e.pid,
    });
  });

  router.post('/exec/:id/resize', async (ctx) => {
    const { rows, cols } = size(ctx);
    await s.containers.resizeExec(ctx.params.id, rows, cols);
    ctx.send(200, undefined);
  });

  router.post('/containers/:id/resize', async (ctx) => {
    const { rows, cols } = size(ctx);
    await s.containers.resize(ctx.params.id, rows, cols);
    ctx.send(200, undefined);
  });

  /** Attach over a hijacked connection (or a WebSocket adapted to look like one). */
  const attach = async (ctx: RequestContext, open: () => Duplex | Promise<Duplex>, framed: boolean) => {
    const c = s.containers.get(ctx.params.id);
    const stdin = queryBool(ctx.query.get('stdin'));
    const stdout = queryBool(ctx.query.get('stdout'));
    const stderr = queryBool(ctx.query.get('stderr'));
    const logs = queryBool(ctx.query.get('logs'));
    const stream = queryBool(ctx.query.get('stream'));
    const keysParam = ctx.query.get('detachKeys');
    const detachKeys = parseDetachKeys(keysParam ?? DEFAULT_DETACH_KEYS);
    const tty = c.config.tty || !framed;
    const conn = await open();
    const abort = new AbortController();
    ctx.closed.then(() => abort.abort());
    if (logs && (stdout || stderr)) {
      // The past output first, from the log (written with the TTY's raw bytes or as separate streams).
      await s.containers.attachOutput(c.id, { stdout, stderr, logs: true, stream: false }, conn, abort.signal);
    }
    if (!stream || abort.signal.aborted) {
      conn.end();
      return;
    }
    const session = await s.containers.attach(
      c.id,
      { stdin: stdin && c.config.openStdin, stdout, stderr },
      abort.signal,
    );
    if (!session) {
      conn.end();
      return;
    }
    await pump(conn, session, { tty, stdin: stdin && c.config.openStdin, detachKeys, onClientGone: 'detach' });
  };

  router.post('/containers/:id/attach', async (ctx) => {
    const c = s.containers.get(ctx.params.id);
    await attach(ctx, () => ctx.hijack(streamType(ctx, c.config.tty)), true);
  });

  router.get('/containers/:id/attach/ws', async (ctx) => {
    s.containers.get(ctx.params.id);
    await attach(ctx, () => websocket(ctx), false);
  });
}

/** The largest stdin message a WebSocket client may send in one frame; larger ones close it with 1009. */
export const WS_MAX_PAYLOAD = 1 << 20;

/** One server for every /attach/ws upgrade: the `ws` package does the handshake, masking and framing rules. */
const wsServer = new WebSocketServer({ noServer: true, maxPayload: WS_MAX_PAYLOAD, perMessageDeflate: false });

/**
 * /attach/ws: the WebSocket upgrade answered by `ws`, the connection as a stream — output goes out as binary
 * frames (raw, no stdcopy header, as Docker), each client message is stdin. `ws` refuses what RFC 6455 forbids
 * (unmasked client frames, oversized or malformed ones) by closing the connection.
 */
async function websocket(ctx: RequestContext): Promise<Duplex> {
  if (!ctx.wantsUpgrade || String(ctx.req.headers.upgrade).toLowerCase() !== 'websocket') {
    throw invalidParameter('attach/ws needs a WebSocket upgrade request');
  }
  // Taken and handed over in the same tick: no byte of the client's can arrive in between and be lost.
  const socket = ctx.takeSocket();
  const ws = await new Promise<WebSocket>((resolve, reject) => {
    socket.once('close', () => reject(new Error('the WebSocket handshake failed')));
    wsServer.handleUpgrade(ctx.req, socket, Buffer.alloc(0), resolve);
  });
  socket.setNoDelay(true);
  return createWebSocketStream(ws);
}
