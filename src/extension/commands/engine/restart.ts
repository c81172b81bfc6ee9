import { command } from '../command';
import { ensureEngine, stopBundledEngine } from '../../engine/lifecycle';

export default command('berth.engine.restart', async (berth) => {
  if (await stopBundledEngine(berth)) await ensureEngine(berth, true);
});
