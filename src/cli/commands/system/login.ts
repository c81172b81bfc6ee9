// berth login and logout: credentials checked by the registry and kept as docker keeps them.
import type { Command } from 'commander';
import { DOCKER_HUB, removeAuth, serverKey, storeAuth } from '../../auth';
import { type Cli, StatusError, describeError } from '../../cli';

async function readLine(prompt: string, secret: boolean): Promise<string> {
  process.stderr.write(prompt);
  const stdin = process.stdin;
  const raw = secret && stdin.isTTY;
  if (raw) stdin.setRawMode(true);
  return await new Promise((resolve) => {
    let buf = '';
    const onData = (d: Buffer) => {
      for (const ch of d.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') {
          if (raw) stdin.setRawMode(false);
          process.exit(130);
        }
        if (ch === '\u007f') buf = buf.slice(0, -1);
        else buf += ch;
      }
    };
    const done = () => {
      stdin.off('data', onData);
      stdin.off('end', done);
      stdin.pause();
      if (raw) {
        stdin.setRawMode(false);
        process.stderr.write('\n');
      }
      resolve(buf);
    };
    stdin.on('data', onData);
    stdin.once('end', done);
    stdin.resume();
  });
}

async function readAllStdin(): Promise<string> {
  let s = '';
  for await (const chunk of process.stdin) s += chunk.toString();
  return s;
}

export function defineLogin(cmd: Command, cli: Cli) {
  cmd
    .description('Authenticate to a registry')
    .argument('[server]')
    .option('-p, --password <password>', 'Password or Personal Access Token (PAT)')
    .option('--password-stdin', 'Take the Password or Personal Access Token (PAT) from stdin')
    .option('-u, --username <username>', 'Username')
    .action(
      async (server: string | undefined, o: { password?: string; passwordStdin?: boolean; username?: string }) => {
        if (o.password && o.passwordStdin)
          throw new StatusError(1, '--password and --password-stdin are mutually exclusive');
        if (o.passwordStdin && !o.username) throw new StatusError(1, 'Must provide --username with --password-stdin');
        if (o.password) cli.err.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
        const key = serverKey(server);
        let username = o.username;
        let password = o.password;
        if (o.passwordStdin) password = (await readAllStdin()).replace(/\r?\n$/, '');
        if (!username) username = (await readLine('Username: ', false)).trim();
        if (!username) throw new StatusError(1, 'Error: Non-null Username Required');
        if (password === undefined) password = await readLine('Password: ', true);
        if (!password) throw new StatusError(1, 'Error: Password Required');
        const client = await cli.client();
        let token: string | undefined;
        try {
          const r = await client.checkAuth({
            username,
            password,
            serveraddress: key === DOCKER_HUB ? DOCKER_HUB : key,
          });
          token = r.IdentityToken || undefined;
        } catch (err) {
          throw new StatusError(1, describeError(err, cli.host()));
        }
        const file = storeAuth(key, username, password, token);
        cli.err.write(`WARNING! Your credentials are stored unencrypted in '${file}'.\n`);
        cli.out.write('Login Succeeded\n');
      },
    );
}

export function defineLogout(cmd: Command, cli: Cli) {
  cmd
    .description('Log out from a registry')
    .argument('[server]')
    .action(async (server: string | undefined) => {
      const key = serverKey(server);
      if (!removeAuth(key)) {
        cli.out.write(`Not logged in to ${key}\n`);
        return;
      }
      cli.out.write(`Removing login credentials for ${key}\n`);
    });
}
