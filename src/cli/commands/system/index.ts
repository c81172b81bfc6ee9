// The engine-wide commands — version, info, events, inspect (any object), login/logout, system df | prune | info |
// events — one file each (login.ts holds logout, df.ts system prune).
import type { Command } from 'commander';
import type { Cli } from '../../cli';
import { defineVersion } from './version';
import { defineInfo } from './info';
import { defineEvents } from './events';
import { defineInspect } from './inspect';
import { defineLogin, defineLogout } from './login';
import { defineDf, definePrune } from './df';

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
