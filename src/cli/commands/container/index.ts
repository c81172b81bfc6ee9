// Container commands — the docker flags, output and exit codes — one file per group: list.ts (ps, port,
// container inspect/prune), run.ts (create, run, start), lifecycle.ts (stop, restart, kill, rm, pause, unpause,
// rename, wait), io.ts (logs, exec, attach), cp.ts, resources.ts (update, top, stats).
import type { Command } from 'commander';
import type { Cli } from '../../cli';
import { defineContainerInspect, defineContainerPrune, definePort, definePs } from './list';
import { defineCreate, defineRun, defineStart } from './run';
import { defineKill, defineRename, defineRm, defineSimple, defineStop, defineWait } from './lifecycle';
import { defineAttach, defineExec, defineLogs } from './io';
import { defineCp } from './cp';
import { defineStats, defineTop, defineUpdate } from './resources';

export function registerContainerCommands(program: Command, cli: Cli): void {
  const container = program.command('container').description('Manage containers');
  const both = (name: string, define: (cmd: Command) => void, alias?: string) => {
    define(program.command(name));
    const sub = container.command(name === 'ps' ? 'ls' : name);
    if (name === 'ps') sub.alias('list').alias('ps');
    if (alias) sub.alias(alias);
    define(sub);
  };
  both('ps', (c) => definePs(c, cli));
  both('create', (c) => defineCreate(c, cli));
  both('run', (c) => defineRun(c, cli));
  both('start', (c) => defineStart(c, cli));
  both('stop', (c) => defineStop(c, cli, 'stop'));
  both('restart', (c) => defineStop(c, cli, 'restart'));
  both('kill', (c) => defineKill(c, cli));
  both('rm', (c) => defineRm(c, cli), 'remove');
  both('pause', (c) =>
    defineSimple(c, cli, 'Pause all processes within one or more containers', (cl, n) => cl.pauseContainer(n)),
  );
  both('unpause', (c) =>
    defineSimple(c, cli, 'Unpause all processes within one or more containers', (cl, n) => cl.unpauseContainer(n)),
  );
  both('rename', (c) => defineRename(c, cli));
  both('wait', (c) => defineWait(c, cli));
  both('logs', (c) => defineLogs(c, cli));
  both('exec', (c) => defineExec(c, cli));
  both('attach', (c) => defineAttach(c, cli));
  both('cp', (c) => defineCp(c, cli));
  both('update', (c) => defineUpdate(c, cli));
  both('top', (c) => defineTop(c, cli));
  both('stats', (c) => defineStats(c, cli));
  both('port', (c) => definePort(c, cli));
  defineContainerInspect(container.command('inspect'), cli);
  defineContainerPrune(container.command('prune'), cli);
}
