// dist/vm.js: the VM supervisor's entry (`node dist/vm.js supervise <vm dir>`), spawned detached by startVm().
import { supervise } from './supervisor';

const [cmd, dir] = process.argv.slice(2);
if (cmd !== 'supervise' || !dir) {
  process.stderr.write('usage: vm.js supervise <vm dir>\n');
  process.exit(2);
}
supervise(dir).then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`berth vm supervisor: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
