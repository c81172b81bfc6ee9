import { command } from '../command';
import { ensureEngine, stopBundledEngine } from '../../engine/lifecycle';

export default command('berth.engine.restart', async (berth) => {
  // A VM that was not running restarts too (it simply starts); a native engine Berth did not start is left alone.
  if ((await stopBundledEngine(berth)) || berth.usesVm) await ensureEngine(berth, true);
});
