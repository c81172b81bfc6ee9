// berthd: the engine's command line, flags named like dockerd's.
import { Command, Option } from 'commander';
import { resolveConfig } from './config';
import { startDaemon } from './daemon';
import { isEngineError } from './errdefs';
import { ENGINE_VERSION } from './api';
import { crunRefusal } from './host';
import { prepareRootlessChild, rootlessInfo, runRootlessParent, watchParent } from './rootless';

const collect = (value: string, previous: string[] = []) => [...previous, value];

const program = new Command('berthd')
  .description('Berth engine: a Docker Engine API daemon running containers with runc')
  .version(`Berth version ${ENGINE_VERSION}`, '-v, --version')
  .option('-H, --host <socket>', 'daemon socket(s) to listen on (unix:///path, tcp://host:port)', collect)
  .option('--tls', 'use TLS; implied by --tlsverify')
  .option('--tlsverify', 'use TLS and verify the remote')
  .option('--tlscacert <file>', 'trust certs signed only by this CA')
  .option('--tlscert <file>', 'path to TLS certificate file')
  .option('--tlskey <file>', 'path to TLS key file')
  .option('--data-root <dir>', 'root directory of persistent Berth state (default /var/lib/berth)')
  .option('--exec-root <dir>', 'root directory for execution state files (default /run/berth)')
  .option('--config-file <file>', 'daemon configuration file (default /etc/berth/daemon.json)')
  .option('-G, --group <name>', 'group for the unix socket (default berth)')
  .option('-p, --pidfile <file>', 'path to use for the daemon PID file')
  .addOption(
    new Option('-l, --log-level <level>', 'logging level').choices(['debug', 'info', 'warn', 'error', 'fatal']),
  )
  .option('-D, --debug', 'enable debug mode')
  .option('--registry-mirror <url>', 'preferred registry mirror', collect)
  .option('--insecure-registry <registry>', 'enable insecure registry communication', collect)
  .option('--live-restore', 'keep containers running while the daemon is down')
  .option('--exec-opt <opt>', 'runtime execution options (native.cgroupdriver=systemd|cgroupfs)', collect)
  .option('--default-runtime <name>', 'default OCI runtime for containers (runc, crun, or one of daemon.json runtimes)')
  .action(async (opts) => {
    // Not root: the engine runs rootless, in namespaces this process makes and then only watches.
    const rootless = rootlessInfo();
    if (process.getuid?.() !== 0 && !rootless) {
      process.exit(await runRootlessParent(process.argv.slice(2)));
    }
    try {
      if (rootless) prepareRootlessChild(rootless, { coverUnifiedCgroup: !!crunRefusal() });
      const cfg = resolveConfig(opts, opts.configFile !== undefined);
      const daemon = await startDaemon(cfg);
      // The first signal stops in order (bounded); a second one means "now".
      let signalled = false;
      const shutdown = () => {
        if (signalled) {
          daemon.stopNow();
          process.exit(1);
        }
        signalled = true;
        void daemon.stop().then((clean) => process.exit(clean ? 0 : 1));
      };
      process.on('SIGTERM', shutdown);
      process.on('SIGINT', shutdown);
      process.on('SIGHUP', () => daemon.reload());
      // Rootless: the parent outside holds the namespace's link out (slirp4netns); if it dies, so does this engine.
      if (rootless) watchParent(shutdown);
    } catch (err: any) {
      const msg = isEngineError(err) ? err.message : (err?.message ?? String(err));
      process.stderr.write(`berthd: failed to start daemon: ${msg}\n`);
      process.exit(1);
    }
  });

program.parseAsync(process.argv);
