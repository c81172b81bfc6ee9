// version, info, events, inspect (any object), login/logout, system df | prune | info | events.
import type { Command } from 'commander';
import { goArch } from '../../common/docker';
import { EngineApiError } from '../../client';
import { DOCKER_HUB, removeAuth, serverKey, storeAuth } from '../auth';
import { type Cli, StatusError, collect, confirm, describeError, isNotFound, parseFilters } from '../cli';
import {
  ContainerContext,
  FormatContext,
  ImageContext,
  Template,
  VolumeContext,
  familiarName,
  normalizeReference,
  splitReference,
  bytesSize,
  humanSize,
  parseTimestamp,
  pickFormat,
  renderFormat,
  rfc3339NanoFixed,
  tabwrite,
} from '../format';
import { prunedImageLines } from './image';
import { writeDeleted, writeInspect, writeReclaimedSpace } from './shared';

const CLI_VERSION = process.env.BERTH_VERSION ?? '0.1.0';

// docker's version template, run through the same tabwriter settings (minwidth 20, padding 1).
const VERSION_TEMPLATE = `Client:{{if ne .Client.Platform.Name ""}} {{.Client.Platform.Name}}{{end}}
 Version:\t{{.Client.Version}}
 API version:\t{{.Client.APIVersion}}{{if ne .Client.APIVersion .Client.DefaultAPIVersion}} (downgraded from {{.Client.DefaultAPIVersion}}){{end}}
 Node version:\t{{.Client.GoVersion}}
 OS/Arch:\t{{.Client.Os}}/{{.Client.Arch}}
 Context:\t{{.Client.Context}}
{{- if .ServerOK}}{{with .Server}}

Server:{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}
 {{- range $component := .Components}}
 {{$component.Name}}:
  {{- if eq $component.Name "Engine" }}
  Version:\t{{.Version}}
  API version:\t{{index .Details "ApiVersion"}} (minimum version {{index .Details "MinAPIVersion"}})
  Go version:\t{{index .Details "GoVersion"}}
  Git commit:\t{{index .Details "GitCommit"}}
  Built:\t{{index .Details "BuildTime"}}
  OS/Arch:\t{{index .Details "Os"}}/{{index .Details "Arch"}}
  Experimental:\t{{index .Details "Experimental"}}
  {{- else }}
  Version:\t{{$component.Version}}
  {{- range $key, $value := $component.Details}}
  {{$key}}:\t{{$value}}
  {{- end}}
  {{- end}}
 {{- end}}
{{- end}}{{- end}}
`;

/** Go's time.ANSIC ("Mon Jan _2 15:04:05 2006") for an RFC 3339 time, in UTC like docker prints it; as-is otherwise. */
function ansic(rfc3339: string): string {
  const t = new Date(rfc3339);
  if (Number.isNaN(t.getTime())) return rfc3339;
  const [wd, mon, day, time, year] = [
    t.toUTCString().slice(0, 3),
    t.toUTCString().slice(8, 11),
    t.getUTCDate(),
    t.toISOString().slice(11, 19),
    t.getUTCFullYear(),
  ];
  return `${wd} ${mon} ${String(day).padStart(2, ' ')} ${time} ${year}`;
}

function defineVersion(cmd: Command, cli: Cli) {
  cmd
    .description('Show the Berth version information')
    .option('-f, --format <format>', 'Format output using a custom template')
    .action(async (o: { format?: string }) => {
      const data: Record<string, unknown> = {
        Client: {
          Platform: { Name: 'Berth' },
          Version: CLI_VERSION,
          APIVersion: '1.45',
          DefaultAPIVersion: '1.45',
          GoVersion: process.version,
          Os: process.platform,
          Arch: goArch(),
          Context: 'default',
        },
        ServerOK: false,
      };
      let serverErr: unknown;
      try {
        const client = await cli.client();
        (data.Client as Record<string, unknown>).APIVersion = client.apiVersion;
        const v = await client.version();
        // docker's templates name these by the Go fields (.Server.APIVersion); the API's JSON says ApiVersion.
        data.Server = { ...v, APIVersion: v.ApiVersion, MinAPIVersion: v.MinAPIVersion };
        // docker shows build times as time.ANSIC.
        for (const c of v.Components ?? []) if (c.Details?.BuildTime) c.Details.BuildTime = ansic(c.Details.BuildTime);
        data.ServerOK = true;
      } catch (err) {
        serverErr = err;
      }
      if (o.format) cli.out.write(new Template(o.format === 'json' ? '{{json .}}' : o.format).execute(data) + '\n');
      else cli.out.write(tabwrite(new Template(VERSION_TEMPLATE).execute(data), { minwidth: 20, padding: 1 }));
      if (serverErr) throw new StatusError(1, describeError(serverErr, cli.host()));
    });
}

function defineInfo(cmd: Command, cli: Cli) {
  cmd
    .description('Display system-wide information')
    .option('-f, --format <format>', 'Format output using a custom template')
    .action(async (o: { format?: string }) => {
      const client = await cli.client();
      const info = await client.info();
      if (o.format) {
        cli.out.write(new Template(o.format === 'json' ? '{{json .}}' : o.format).execute(info) + '\n');
        return;
      }
      const lines: string[] = [
        'Client:',
        ` Version:    ${CLI_VERSION}`,
        ' Context:    default',
        ' Debug Mode: false',
        '',
        'Server:',
      ];
      const add = (s: string) => lines.push(s);
      add(` Containers: ${info.Containers}`);
      add(`  Running: ${info.ContainersRunning}`);
      add(`  Paused: ${info.ContainersPaused}`);
      add(`  Stopped: ${info.ContainersStopped}`);
      add(` Images: ${info.Images}`);
      add(` Server Version: ${info.ServerVersion ?? ''}`);
      add(` Storage Driver: ${info.Driver}`);
      for (const [k, v] of (info.DriverStatus ?? []) as [string, string][]) add(`  ${k}: ${v}`);
      add(` Logging Driver: ${info.LoggingDriver}`);
      add(` Cgroup Driver: ${info.CgroupDriver}`);
      add(` Cgroup Version: ${info.CgroupVersion}`);
      add(' Plugins:');
      add(`  Volume: ${(info.Plugins?.Volume ?? []).join(' ')}`);
      add(`  Network: ${(info.Plugins?.Network ?? []).join(' ')}`);
      add(`  Log: ${(info.Plugins?.Log ?? []).join(' ')}`);
      add(` Swarm: ${info.Swarm?.LocalNodeState ?? 'inactive'}`);
      add(
        ` Runtimes: ${Object.keys(info.Runtimes ?? {})
          .sort()
          .join(' ')}`,
      );
      add(` Default Runtime: ${info.DefaultRuntime}`);
      if (info.RuncCommit?.ID) add(` runc version: ${info.RuncCommit.ID}`);
      if (info.SecurityOptions?.length) {
        add(' Security Options:');
        for (const s of info.SecurityOptions as string[]) {
          const parts = s.split(',').map((kv) => kv.split('='));
          const name = parts.find(([k]) => k === 'name')?.[1] ?? s;
          add(`  ${name}`);
          for (const [k, v] of parts) if (k !== 'name') add(`   ${k[0].toUpperCase()}${k.slice(1)}: ${v}`);
        }
      }
      add(` Kernel Version: ${info.KernelVersion}`);
      add(` Operating System: ${info.OperatingSystem}`);
      add(` OSType: ${info.OSType}`);
      add(` Architecture: ${info.Architecture}`);
      add(` CPUs: ${info.NCPU}`);
      add(` Total Memory: ${bytesSize(info.MemTotal ?? 0)}`);
      add(` Name: ${info.Name}`);
      add(` ID: ${info.ID}`);
      add(` Docker Root Dir: ${info.DockerRootDir}`);
      add(` Debug Mode: ${info.Debug}`);
      add(` Experimental: ${info.ExperimentalBuild ?? false}`);
      const reg = info.RegistryConfig ?? {};
      const insecure = [
        ...(reg.InsecureRegistryCIDRs ?? []),
        ...Object.values((reg.IndexConfigs ?? {}) as Record<string, { Name: string; Secure: boolean }>)
          .filter((c) => !c.Secure)
          .map((c) => c.Name),
      ];
      if (insecure.length) {
        add(' Insecure Registries:');
        for (const r of insecure) add(`  ${r}`);
      }
      if (reg.Mirrors?.length) {
        add(' Registry Mirrors:');
        for (const m of reg.Mirrors) add(`  ${m}`);
      }
      add(` Live Restore Enabled: ${info.LiveRestoreEnabled ?? false}`);
      cli.out.write(lines.join('\n') + '\n');
      for (const w of (info.Warnings ?? []) as string[]) cli.err.write(`${w}\n`);
    });
}

function defineEvents(cmd: Command, cli: Cli) {
  cmd
    .description('Get real time events from the server')
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
    .option('--format <format>', 'Format output using a custom template')
    .option('--since <time>', 'Show all events created since timestamp')
    .option('--until <time>', 'Stream events until this timestamp')
    .action(async (o: { filter?: string[]; format?: string; since?: string; until?: string }) => {
      const client = await cli.client();
      const tmpl = o.format ? new Template(o.format === 'json' ? '{{json .}}' : o.format) : undefined;
      const abort = new AbortController();
      process.once('SIGINT', () => abort.abort());
      const filters = parseFilters(o.filter);
      const lines = client.lines('GET', '/events', {
        query: {
          since: o.since ? parseTimestamp(o.since) : undefined,
          until: o.until ? parseTimestamp(o.until) : undefined,
          filters: Object.keys(filters).length ? filters : undefined,
        },
        signal: abort.signal,
      });
      const print = (line: string) => {
        const e = JSON.parse(line);
        if (tmpl) {
          cli.out.write(tmpl.execute(e) + '\n');
          return;
        }
        // timeNano exceeds a double's precision: read it from the text.
        const nano = /"timeNano":(\d+)/.exec(line)?.[1];
        let s = nano
          ? `${rfc3339NanoFixed(BigInt(nano))} `
          : e.time
            ? `${rfc3339NanoFixed(BigInt(e.time) * 1_000_000_000n)} `
            : '';
        s += `${e.Type} ${e.Action} ${e.Actor?.ID ?? ''}`;
        const attrs = e.Actor?.Attributes ?? {};
        const keys = Object.keys(attrs).sort();
        if (keys.length) s += ` (${keys.map((k) => `${k}=${attrs[k]}`).join(', ')})`;
        cli.out.write(`${s}\n`);
      };
      try {
        for await (const line of lines) print(line);
      } catch (err) {
        if (!abort.signal.aborted) throw err;
      }
    });
}

/** inspect: containers, then images, volumes and networks, as docker tries each type in turn. */
function defineInspect(cmd: Command, cli: Cli) {
  cmd
    .description('Return low-level information on Berth objects')
    .argument('<name...>', 'NAME|ID')
    .option('-f, --format <format>', 'Format output using a custom template')
    .option('-s, --size', 'Display total file sizes if the type is container')
    .option('--type <type>', 'Return JSON for specified type')
    .action(async (names: string[], o: { format?: string; size?: boolean; type?: string }) => {
      const client = await cli.client();
      const kinds: Record<string, (n: string) => Promise<unknown>> = {
        container: (n) => client.inspectContainer(n, { size: o.size }),
        image: (n) => client.inspectImage(n),
        volume: (n) => client.inspectVolume(n),
        network: (n) => client.inspectNetwork(n),
      };
      if (o.type && !kinds[o.type]) throw new StatusError(1, `"${o.type}" is not a valid value for --type`);
      const order = o.type ? [o.type] : Object.keys(kinds);
      const found: unknown[] = [];
      const errors: string[] = [];
      for (const n of names) {
        let hit: unknown;
        for (const k of order) {
          try {
            hit = await kinds[k](n);
            break;
          } catch (err) {
            if (!isNotFound(err) && !(err instanceof EngineApiError && (err.status === 400 || err.status === 501)))
              throw err;
          }
        }
        if (hit) found.push(hit);
        else errors.push(`Error: No such ${o.type ?? 'object'}: ${n}`);
      }
      writeInspect(cli, found, o.format);
      if (errors.length) throw new StatusError(1, errors.join('\n'));
    });
}

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

function defineLogin(cmd: Command, cli: Cli) {
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

function defineLogout(cmd: Command, cli: Cli) {
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

class DiskUsageContext extends FormatContext {
  constructor(
    readonly Type: string,
    readonly TotalCount: string,
    readonly Active: string,
    readonly Size: string,
    readonly Reclaimable: string,
  ) {
    super();
  }
  headers() {
    return { Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' };
  }
  jsonFields() {
    return ['Active', 'Reclaimable', 'Size', 'TotalCount', 'Type'];
  }
}

function defineDf(cmd: Command, cli: Cli) {
  cmd
    .description('Show docker disk usage')
    .option('--format <format>', 'Format output using a custom template')
    .option('-v, --verbose', 'Show detailed information on space usage')
    .action(async (o: { format?: string; verbose?: boolean }) => {
      const client = await cli.client();
      const df = await client.systemDf();
      const pct = (part: number, total: number) => (total > 0 ? ` (${Math.trunc((part * 100) / total)}%)` : '');
      const images = df.Images ?? [];
      const imgTotal = df.LayersSize ?? 0;
      let used = 0;
      for (const i of images)
        if (i.Containers !== 0 && i.Size !== -1 && i.SharedSize !== -1) used += i.Size - (i.SharedSize ?? 0);
      const containers = df.Containers ?? [];
      const active = (s: string) => s === 'running' || s === 'paused' || s === 'restarting';
      const cTotal = containers.reduce((a, c) => a + (c.SizeRw ?? 0), 0);
      const cReclaim = containers.filter((c) => !active(c.State)).reduce((a, c) => a + (c.SizeRw ?? 0), 0);
      const volumes = df.Volumes ?? [];
      const vSize = volumes.reduce((a, v) => a + (v.UsageData && v.UsageData.Size > 0 ? v.UsageData.Size : 0), 0);
      const vReclaim = volumes
        .filter((v) => (v.UsageData?.RefCount ?? 0) === 0)
        .reduce((a, v) => a + (v.UsageData && v.UsageData.Size > 0 ? v.UsageData.Size : 0), 0);
      const cache = df.BuildCache ?? [];
      const bSize = cache.reduce((a, b) => a + b.Size, 0);
      const bReclaim = cache.filter((b) => !b.InUse && !b.Shared).reduce((a, b) => a + b.Size, 0);
      const rows = [
        new DiskUsageContext(
          'Images',
          String(images.length),
          String(images.filter((i) => i.Containers > 0).length),
          humanSize(imgTotal),
          `${humanSize(imgTotal - used)}${pct(imgTotal - used, imgTotal)}`,
        ),
        new DiskUsageContext(
          'Containers',
          String(containers.length),
          String(containers.filter((c) => active(c.State)).length),
          humanSize(cTotal),
          `${humanSize(cReclaim)}${pct(cReclaim, cTotal)}`,
        ),
        new DiskUsageContext(
          'Local Volumes',
          String(volumes.length),
          String(volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length),
          humanSize(vSize),
          `${humanSize(vReclaim)}${pct(vReclaim, vSize)}`,
        ),
        new DiskUsageContext(
          'Build Cache',
          String(cache.length),
          String(cache.filter((b) => b.InUse).length),
          humanSize(bSize),
          humanSize(bReclaim),
        ),
      ];
      if (!o.verbose) {
        cli.out.write(
          renderFormat(
            pickFormat(o.format, 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}'),
            rows,
          ),
        );
        return;
      }
      // docker system df -v: a table per kind, in docker's layout.
      const imageSample = new ImageContext({ Id: '', Created: 0, Size: 0 } as never, '', '', '');
      cli.out.write('Images space usage:\n\n');
      cli.out.write(
        renderFormat(
          'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}',
          // One row per image, named by its first tag, as docker's verbose df does.
          images.map((i) => {
            const first = (i.RepoTags ?? []).find((t) => t !== '<none>:<none>');
            const ref = first ? splitReference(first) : undefined;
            return new ImageContext(
              i,
              ref ? familiarName(normalizeReference(ref.repo).name) : '<none>',
              ref?.tag ?? '<none>',
              '',
            );
          }),
          imageSample,
        ),
      );
      cli.out.write('\nContainers space usage:\n\n');
      cli.out.write(
        renderFormat(
          'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}',
          containers.map((c) => new ContainerContext({ ...c, SizeRootFs: 0 })),
          new ContainerContext({} as never),
        ),
      );
      cli.out.write('\nLocal Volumes space usage:\n\n');
      cli.out.write(
        renderFormat(
          'table {{.Name}}\t{{.Links}}\t{{.Size}}',
          volumes.map((v) => new VolumeContext(v)),
          new VolumeContext({} as never),
        ),
      );
      cli.out.write(`\nBuild cache usage: ${humanSize(bSize)}\n\n`);
      cli.out.write(tabwrite('CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED\n'));
    });
}

function definePrune(cmd: Command, cli: Cli) {
  cmd
    .description('Remove unused data')
    .option('-a, --all', 'Remove all unused images not just dangling ones')
    .option('--filter <filter>', 'Provide filter values (e.g. "label=<key>=<value>")', collect)
    .option('-f, --force', 'Do not prompt for confirmation')
    .option('--volumes', 'Prune anonymous volumes')
    .action(async (o: { all?: boolean; filter?: string[]; force?: boolean; volumes?: boolean }) => {
      const items = ['all stopped containers', 'all networks not used by at least one container'];
      if (o.volumes) items.push('all anonymous volumes not used by at least one container');
      items.push(o.all ? 'all images without at least one container associated to them' : 'all dangling images');
      items.push(o.all ? 'all build cache' : 'unused build cache');
      const warning = `WARNING! This will remove:\n${items.map((i) => `  - ${i}\n`).join('')}`;
      if (!o.force && !(await confirm(cli, warning))) return;
      const client = await cli.client();
      const filters = parseFilters(o.filter);
      let reclaimed = 0;
      const c = await client.pruneContainers(filters);
      writeDeleted(cli, 'Deleted Containers', c.ContainersDeleted ?? []);
      reclaimed += c.SpaceReclaimed ?? 0;
      try {
        const n = await client.pruneNetworks(filters);
        writeDeleted(cli, 'Deleted Networks', n.NetworksDeleted ?? []);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      if (o.volumes) {
        const v = await client.pruneVolumes(filters);
        writeDeleted(cli, 'Deleted Volumes', v.VolumesDeleted ?? []);
        reclaimed += v.SpaceReclaimed ?? 0;
      }
      const i = await client.pruneImages({ ...filters, dangling: [o.all ? 'false' : 'true'] });
      writeDeleted(cli, 'Deleted Images', prunedImageLines(i.ImagesDeleted ?? []));
      reclaimed += i.SpaceReclaimed ?? 0;
      writeReclaimedSpace(cli, reclaimed);
    });
}

export function registerSystemCommands(program: Command, cli: Cli): void {
  defineVersion(program.command('version'), cli);
  defineInfo(program.command('info'), cli);
  defineEvents(program.command('events'), cli);
  defineInspect(program.command('inspect'), cli);
  defineLogin(program.command('login'), cli);
  defineLogout(program.command('logout'), cli);
  const system = program.command('system').description('Manage Berth');
  defineDf(system.command('df'), cli);
  definePrune(system.command('prune'), cli);
  defineInfo(system.command('info'), cli);
  defineEvents(system.command('events'), cli);
}
