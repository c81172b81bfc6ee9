// berth info (and system info): the engine's /info as docker prints it.
import type { Command } from 'commander';
import { CLI_VERSION } from './version';
import type { Cli } from '../../cli';
import { Template, bytesSize } from '../../format';

export function defineInfo(cmd: Command, cli: Cli) {
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
