// berth: the docker commands people type, as a client of the engine API (src/client).
import { Command, CommanderError } from 'commander';
import { createCli, describeError, StatusError } from './cli';
import { registerBuildCommands } from './commands/build';
import { registerContainerCommands } from './commands/container';
import { registerImageCommands } from './commands/image';
import { registerNetworkCommands } from './commands/network';
import { registerSystemCommands } from './commands/system';
import { registerVmCommands } from './commands/vm';
import { registerVolumeCommands } from './commands/volume';

const program = new Command('berth')
  .description('Berth: run containers with the Berth engine (Docker-compatible)')
  .option('-H, --host <host>', 'Daemon socket to connect to (BERTH_HOST, DOCKER_HOST)')
  .option('--tls', 'Use TLS; implied by --tlsverify')
  .option('--tlscacert <path>', 'Trust certs signed only by this CA (default ~/.docker/ca.pem)')
  .option('--tlscert <path>', 'Path to TLS certificate file (default ~/.docker/cert.pem)')
  .option('--tlskey <path>', 'Path to TLS key file (default ~/.docker/key.pem)')
  .option('--tlsverify', 'Use TLS and verify the remote (DOCKER_TLS_VERIFY)')
  .version(
    `Berth version ${process.env.BERTH_VERSION ?? '0.1.0'}`,
    '-v, --version',
    'Print version information and quit',
  )
  .enablePositionalOptions()
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

const cli = createCli(program);
registerContainerCommands(program, cli);
registerImageCommands(program, cli);
registerVolumeCommands(program, cli);
registerNetworkCommands(program, cli);
registerSystemCommands(program, cli);
registerVmCommands(program, cli);
registerBuildCommands(program, cli);
// Every subcommand reports usage errors like docker (exit 125 via exitOverride below).
const applyExitOverride = (cmd: Command) => {
  cmd.exitOverride();
  cmd.commands.forEach(applyExitOverride);
};
applyExitOverride(program);

/** Exits once stdout has drained, so piped output is never cut short. */
function exit(code: number): void {
  process.stdout.write('', () => process.exit(code));
}

program.parseAsync(process.argv).then(
  async () => {
    await cli.close();
    exit(0);
  },
  async (err: unknown) => {
    await cli.close();
    if (err instanceof CommanderError) {
      // Help (also for a bare group like `berth container`) and --version exit 0; an unknown command 1; flag and
      // argument errors are docker's 125. Commander already printed the message.
      if (
        err.exitCode === 0 ||
        err.code === 'commander.help' ||
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.version'
      )
        exit(0);
      else exit(err.code === 'commander.unknownCommand' ? 1 : 125);
      return;
    }
    if (err instanceof StatusError) {
      if (err.message) process.stderr.write(`${err.message}\n`);
      exit(err.status);
      return;
    }
    process.stderr.write(`${describeError(err, cli.host())}\n`);
    exit(1);
  },
);
