// Exec, attach streams and TTY sizes: /containers/{id}/exec, /exec/{id}/start|json|resize, /containers/{id}/attach
// (hijacked, or plain 200), /containers/{id}/attach/ws (WebSocket) and /containers/{id}/resize.
import * as crypto from 'node:crypto';
import { Duplex } from 'node:stream';
import type { EngineServices } from '../services';
import { invalidParameter } from '../../errdefs';
import { compareVersions, type RequestContext, type Router } from '../router';
import { frame, queryBool } from '../../../common/docker';
import { DEFAULT_DETACH_KEYS, parseDetachKeys, pump } from '../stdio';
import { EXEC_CREATE, EXEC_START } from '../bodies';
import { decodeGoJson } from '../gojson';

const streamType = (ctx: RequestContext, tty: boolean) =>
  tty
    ? 'application/vnd.docker.raw-stream'
    : compareVersions(ctx.apiVersion, '1.42') >= 0
      ? 'application/vnd.docker.multiplexed-stream'
      : 'application/vnd.docker.raw-stream';

function size(ctx: RequestContext): { rows: number; cols: number } {
  const h = Number(ctx.query.get('h'));
  const w = Number(ctx.query.get('w'));
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 0 || w < 0 || h > 65535 || w > 65535) {
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
    const body = decodeGoJson<Record<string, any>>(await ctx.json(), EXEC_START);
    const e = s.containers.inspectExec(ctx.params.id);
    // [0, 0] is what the CLI sends when it has no terminal: no size (runc ignores zeros too).
    const consoleSize =
      Array.isArray(body.ConsoleSize) &&
      body.ConsoleSize.length === 2 &&
      body.ConsoleSize.every((n: unknown) => Number(n) > 0)
        ? body.ConsoleSize.map(Number)
        : undefined;
    if (body.Detach) {
      const started = await s.containers.startExec(e.id, true);
      void started.exited;
      if (consoleSize && e.tty) await s.containers.resizeExec(e.id, consoleSize[0], consoleSize[1]).catch(() => {});
      ctx.send(200, undefined);
      return;
    }
    // Whether the output is framed follows the start request's Tty, not the exec's (moby's rule): an exec made
    // with a TTY and started without one sends its TTY's bytes as stdout frames; the other way round, stdout raw
    // and stderr nowhere.
    const rawOutput = !!body.Tty;
    // Docker hijacks first and reports a process that cannot start on the stream; the CLI then asks for ExitCode.
    const conn = ctx.hijack(streamType(ctx, rawOutput));
    let started;
    try {
      started = await s.containers.startExec(e.id, false);
    } catch (err: any) {
      const text = Buffer.from(`${err?.message ?? err}\r\n`);
      conn.end(rawOutput ? text : frame(1, text));
      return;
    }
    if (consoleSize && e.tty) await s.containers.resizeExec(e.id, consoleSize[0], consoleSize[1]).catch(() => {});
    await pump(conn, started.session!, {
      tty: e.tty,
      frames: !rawOutput,
      dropStderr: rawOutput && !e.tty,
      stdin: e.attachStdin,
      detachKeys: parseDetachKeys(e.detachKeys || DEFAULT_DETACH_KEYS),
      onClientGone: 'drain',
    });
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
  const attach = async (ctx: RequestContext, open: () => Duplex, framed: boolean) => {
    const c = s.containers.get(ctx.params.id);
    const stdin = queryBool(ctx.query.get('stdin'));
    const stdout = queryBool(ctx.query.get('stdout'));
    const stderr = queryBool(ctx.query.get('stderr'));
    const logs = queryBool(ctx.query.get('logs'));
    const stream = queryBool(ctx.query.get('stream'));
    const keysParam = ctx.query.get('detachKeys');
    const detachKeys = parseDetachKeys(keysParam ?? DEFAULT_DETACH_KEYS);
    const tty = c.config.tty || !framed;
    const conn = open();
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

/**
 * A minimal RFC 6455 server side for /attach/ws: binary frames out (raw output, no stdcopy header, as Docker),
 * masked client frames in as stdin; close and ping handled. Written here because it is ~60 lines and the API
 * needs nothing else of a WebSocket library.
 */
function websocket(ctx: RequestContext): Duplex {
  const key = ctx.req.headers['sec-websocket-key'];
  if (!ctx.wantsUpgrade || String(ctx.req.headers.upgrade).toLowerCase() !== 'websocket' || typeof key !== 'string') {
    throw invalidParameter('attach/ws needs a WebSocket upgrade request');
  }
  const accept = crypto
    .createHash('sha1')
    .update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC11B3A')
    .digest('base64');
  const socket = ctx.takeSocket();
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
  );
  socket.setNoDelay(true);

  const encode = (opcode: number, payload: Buffer) => {
    const len = payload.length;
    const head =
      len < 126
        ? Buffer.from([0x80 | opcode, len])
        : len < 65536
          ? Buffer.from([0x80 | opcode, 126, len >> 8, len & 255])
          : (() => {
              const h = Buffer.alloc(10);
              h[0] = 0x80 | opcode;
              h[1] = 127;
              h.writeBigUInt64BE(BigInt(len), 2);
              return h;
            })();
    return Buffer.concat([head, payload]);
  };

  let pending = Buffer.alloc(0);
  const duplex = new Duplex({
    write(chunk: Buffer, _enc, cb) {
      if (socket.destroyed) return cb();
      if (socket.write(encode(2, chunk))) cb();
      else socket.once('drain', () => cb());
    },
    final(cb) {
      if (!socket.destroyed) socket.end(encode(8, Buffer.from([3, 232])));
      cb();
    },
    read() {
      socket.resume();
    },
  });
  socket.on('data', (d: Buffer) => {
    pending = Buffer.concat([pending, d]);
    for (;;) {
      if (pending.length < 2) return;
      const opcode = pending[0] & 15;
      const masked = (pending[1] & 128) !== 0;
      let len = pending[1] & 127;
      let off = 2;
      if (len === 126) {
        if (pending.length < 4) return;
        len = pending.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (pending.length < 10) return;
        len = Number(pending.readBigUInt64BE(2));
        off = 10;
      }
      const maskAt = off;
      if (masked) off += 4;
      if (pending.length < off + len) return;
      const payload = Buffer.from(pending.subarray(off, off + len));
      if (masked) for (let i = 0; i < payload.length; i++) payload[i] ^= pending[maskAt + (i & 3)];
      pending = pending.subarray(off + len);
      if (opcode === 8) {
        duplex.push(null);
        socket.end(encode(8, Buffer.alloc(0)));
        return;
      }
      if (opcode === 9) {
        socket.write(encode(10, payload));
        continue;
      }
      if (opcode === 0 || opcode === 1 || opcode === 2) {
        if (!duplex.push(payload)) socket.pause();
      }
    }
  });
  socket.on('end', () => duplex.push(null));
  socket.on('close', () => duplex.destroy());
  socket.on('error', () => {
    /* close follows */
  });
  return duplex;
}
