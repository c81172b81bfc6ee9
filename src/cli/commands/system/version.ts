// berth version: the client's and the engine's versions, in docker's template.
import type { Command } from 'commander';
import { goArch } from '../../../common/docker';
import { type Cli, StatusError, describeError } from '../../cli';
import { Template, tabwrite } from '../../format';

export const CLI_VERSION = process.env.BERTH_VERSION ?? '0.1.0';

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

export function defineVersion(cmd: Command, cli: Cli) {
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
