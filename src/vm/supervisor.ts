// The VM's supervisor: a small detached host process per running VM (started by `berth vm start` or the extension,
// outliving both). It launches the hypervisor, writes the console to console.log and the boot stages to state.json,
// serves the engine API on the VM's 0600 unix socket (relayed over mutual TLS), keeps published ports forwarded, and
// stops the guest cleanly when asked on its control socket (or on SIGTERM). When the hypervisor ends, so does it,
// removing its sockets: nothing of a stopped VM keeps running.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import { EngineClient } from '../client';
import { readVmTls, TLS_FILES } from './certs';
import type { DriverName, Hypervisor, Share, VmConfig } from './driver';
import { loadImage } from './image';
import { driverFor } from './drivers';
import { VmPaths } from './paths';
import { GuestPortService } from './ports';
import { SLIRP } from './qemu';
import { GVPROXY, vfkitNetworkKind } from './vfkit';
import { type BootStage, readJson, type VmState, writeJsonAtomic } from './state';
import * as path from 'node:path';

const MiB = 1024 * 1024;

/** The seed the guest mounts read-only: its certificates, the user's daemon.json and, with QEMU and vfkit, where the
 * host's port service listens as the guest reaches it ("10.0.2.2:PORT TOKEN"). */
export function writeSeed(paths: VmPaths, hostPorts?: string): void {
  const tls = path.join(paths.seedDir, 'tls');
  fs.mkdirSync(tls, { recursive: true, mode: 0o700 });
  for (const f of [TLS_FILES.ca, TLS_FILES.serverCert, TLS_FILES.serverKey])
    fs.copyFileSync(path.join(paths.tlsDir, f), path.join(tls, f));
  const daemon = readJson<Record<string, unknown>>(paths.daemonJson) ?? {};
  fs.writeFileSync(path.join(paths.seedDir, 'daemon.json'), `${JSON.stringify(daemon, null, 2)}\n`, { mode: 0o600 });
  const hostPortsFile = path.join(paths.seedDir, 'host-ports');
  if (hostPorts) fs.writeFileSync(hostPortsFile, `${hostPorts}\n`, { mode: 0o600 });
  else fs.rmSync(hostPortsFile, { force: true });
}

/**
 * Where the guest reaches the host's loopback, so its engine asks the supervisor's port service for each port before
 * a start answers (a busy one fails it): 10.0.2.2 on QEMU's user network, gvproxy's host address with vfkit (whose
 * bundle dir decides whether gvproxy is there), and on vfkit's own NAT `gateway` — the guest's default gateway, which
 * is the host there (the service also listens on that address once the guest has it). None with WSL, which forwards
 * the guest's ports to the host's localhost itself.
 */
export function hostLoopbackFor(driver: DriverName, bundleDir = __dirname): string | undefined {
  if (driver === 'vfkit') return vfkitNetworkKind(bundleDir) === 'gvproxy' ? GVPROXY.host : 'gateway';
  return { qemu: SLIRP.host, wsl: undefined }[driver];
}

/** The sparse data disk: made at first start, grown (never shrunk) when the configured size grew. */
export function ensureDataDisk(file: string, gib: number): void {
  const want = gib * 1024 * MiB;
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  try {
    if (fs.fstatSync(fd).size < want) fs.ftruncateSync(fd, want);
  } finally {
    fs.closeSync(fd);
  }
}

/** The host directories the guest sees at the same paths: the user's home (for -v ~/src:/src). */
export function defaultShares(paths: VmPaths, home = os.homedir()): Share[] {
  return [
    { tag: 'berth-seed', hostPath: paths.seedDir, guestPath: '/run/berth-seed', readonly: true },
    { tag: 'berth-home', hostPath: home, guestPath: home },
  ];
}

export async function supervise(dir: string): Promise<void> {
  const name = path.basename(dir);
  const paths = new VmPaths(name, path.dirname(path.dirname(dir)));
  const config = readJson<VmConfig>(paths.config);
  if (!config) throw new Error(`no VM configuration in ${paths.config}`);
  const t0 = Date.now();
  const consoleOut = fs.createWriteStream(paths.consoleLog, { flags: 'w', mode: 0o600 });
  const log = (line: string) => consoleOut.write(`${line}\n`);
  const state: VmState = {
    name,
    phase: 'starting',
    driver: config.driver,
    supervisorPid: process.pid,
    startedAt: new Date(t0).toISOString(),
    stages: [{ name: 'supervisor', atMs: 0 }],
    ports: [],
  };
  const save = () => writeJsonAtomic(paths.state, state);
  const stage = (n: string) => {
    const s: BootStage = { name: n, atMs: Date.now() - t0 };
    state.stages.push(s);
    save();
  };
  fs.writeFileSync(paths.lock, String(process.pid));
  save();

  let hv: Hypervisor | undefined;
  let relayClose: (() => Promise<void>) | undefined;
  let control: net.Server | undefined;
  let guestPorts: GuestPortService | undefined;
  let guestPortsPort = 0;
  let stopping: Promise<void> | undefined;
  let consoleError: string | undefined;

  const cleanup = async () => {
    guestPorts?.close();
    await relayClose?.().catch(() => undefined);
    control?.close();
    for (const s of [paths.controlSocket, paths.qmpSocket, paths.guestControlSocket])
      if (process.platform !== 'win32') fs.rmSync(s, { force: true });
    fs.rmSync(paths.lock, { force: true });
  };

  const stop = (why: string): Promise<void> => {
    if (stopping) return stopping;
    stopping = (async () => {
      log(`berth: stopping the VM (${why})`);
      if (state.phase !== 'failed') state.phase = 'stopping';
      save();
      if (hv) {
        await hv.requestPoweroff().catch((err) => log(`berth: clean shutdown request failed: ${err.message}`));
        const ended = await Promise.race([hv.exited.then(() => true), sleep(30_000).then(() => false)]);
        if (!ended) {
          log('berth: the guest did not power off within 30 s; ending it');
          hv.kill();
          await hv.exited;
        }
      }
    })();
    return stopping;
  };

  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGHUP', () => undefined);

  try {
    const driver = driverFor(config.driver);
    const image = loadImage(process.env.BERTH_VM_IMAGE_DIR ?? '', { verify: false });
    const hostLoopback = hostLoopbackFor(config.driver);
    if (hostLoopback) {
      guestPorts = new GuestPortService(
        () => hv,
        log,
        (p) => {
          state.ports = p;
          save();
        },
      );
      guestPortsPort = await guestPorts.listen();
      writeSeed(paths, `${hostLoopback}:${guestPortsPort} ${guestPorts.token}`);
    } else writeSeed(paths);
    if (config.driver !== 'wsl') ensureDataDisk(paths.dataDisk, config.diskGiB);

    // The control socket first: a stop may come while the guest still boots.
    control = await listenControl(paths.controlSocket, async (req) => {
      if (req.op === 'stop') {
        await stop('requested');
        return { ok: true };
      }
      return { ok: true, state };
    });

    hv = await driver.launch({ paths, bundleDir: __dirname, config, image, shares: defaultShares(paths), log });
    state.hypervisorPid = hv.pid;
    state.accel = hv.accel;
    if (hv.notes?.length) state.notes = hv.notes;
    stage('hypervisor');
    const hvExit = hv.exited.then((code) => {
      log(`berth: the hypervisor exited (${code})`);
      return code;
    });
    // The console: to the log as it is, boot stages and errors into the state.
    let pending = '';
    hv.console.on('data', (chunk: Buffer) => {
      consoleOut.write(chunk);
      pending += chunk.toString('utf8');
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const line = pending.slice(0, nl).replace(/\r$/, '');
        pending = pending.slice(nl + 1);
        const st = /^berth-stage: (\S+)/.exec(line);
        if (st) stage(st[1]);
        // berthd's own start-up done (the rest until "ready" is the first _ping through the relay).
        else if (/ msg="API listen on"/.test(line) && state.phase === 'starting') stage('listening');
        const er = /^berth-error: (.*)$/.exec(line);
        if (er && state.phase === 'starting') consoleError = er[1];
      }
    });

    const material = readVmTls(paths.tlsDir);
    const target = await Promise.race([hv.apiAddress(), hvExit.then(() => undefined)]);
    if (!target) throw new Error(consoleError ?? 'the hypervisor exited at start; see the console log');
    if (guestPorts && hv.guestSideHost) {
      const host = await hv.guestSideHost();
      await guestPorts.listen(host, guestPortsPort);
      log(`berth: the port service listens on ${host}:${guestPortsPort} for the guest`);
    }
    state.apiPort = target.port;
    save();
    const { startRelay } = await import('./relay');
    // Cuts while the guest boots are its engine not listening yet: only those of a running VM go to the console log.
    const relay = await startRelay(paths.apiSocket, target, material, (line) => {
      if (state.phase === 'running') log(line);
    });
    relayClose = () => relay.close();

    // Up when the engine answers through the relay.
    const client = new EngineClient(`unix://${paths.apiSocket}`);
    const deadline =
      t0 + Number(process.env.BERTH_VM_BOOT_TIMEOUT_MS ?? (config.arch === process.arch ? 180_000 : 600_000));
    let up = false;
    while (!up && !stopping && Date.now() < deadline) {
      const exited = await Promise.race([hvExit.then(() => true), sleep(250).then(() => false)]);
      if (exited) break;
      up = await Promise.race([
        client.ping().then(
          () => true,
          () => false,
        ),
        sleep(2000).then(() => false),
      ]);
    }
    if (!up) {
      if (!stopping) {
        const why = consoleError ?? `the guest's engine did not answer within ${Math.round((deadline - t0) / 1000)} s`;
        state.phase = 'failed';
        state.error = why;
        save();
        await stop('boot failed');
      }
    } else {
      state.phase = 'running';
      state.bootMs = Date.now() - t0;
      stage('ready');
      log(`berth: engine ready after ${(state.bootMs / 1000).toFixed(1)} s`);
    }
    await hvExit;
    await client.close().catch(() => undefined);
    if (state.phase !== 'failed') {
      state.phase = stopping ? 'stopped' : 'failed';
      if (!stopping) state.error = consoleError ?? 'the VM ended unexpectedly; see the console log';
    }
  } catch (err) {
    state.phase = 'failed';
    state.error = (err as Error).message;
    log(`berth-error: ${state.error}`);
    hv?.kill();
    await hv?.exited;
  } finally {
    state.ports = [];
    save();
    await cleanup();
    await new Promise<void>((r) => consoleOut.end(r));
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

interface ControlRequest {
  op: 'stop' | 'status';
}

/** JSON lines on a 0600 unix socket (a named pipe on Windows): {"op":"stop"} answers once the VM is down. */
async function listenControl(
  socketPath: string,
  handle: (req: ControlRequest) => Promise<unknown>,
): Promise<net.Server> {
  if (process.platform !== 'win32') fs.rmSync(socketPath, { force: true });
  const server = net.createServer((c) => {
    let buf = '';
    c.setEncoding('utf8');
    c.on('error', () => undefined);
    c.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      buf = '';
      let req: ControlRequest;
      try {
        req = JSON.parse(line);
      } catch {
        c.end('{"ok":false,"error":"bad request"}\n');
        return;
      }
      handle(req).then(
        (res) => c.end(`${JSON.stringify(res)}\n`),
        (err) => c.end(`${JSON.stringify({ ok: false, error: err.message })}\n`),
      );
    });
  });
  const oldMask = process.platform !== 'win32' ? process.umask(0o177) : 0;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
  } finally {
    if (process.platform !== 'win32') process.umask(oldMask);
  }
  return server;
}
