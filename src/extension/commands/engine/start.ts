import { command } from '../command';
import { ensureEngine } from '../../engine/lifecycle';

export default command('berth.engine.start', (berth) => ensureEngine(berth, true));
