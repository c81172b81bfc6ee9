import { command } from '../command';

export default command('berth.system.refresh', (berth) => berth.diskUsage.refresh());
