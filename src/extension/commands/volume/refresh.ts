import { command } from '../command';

export default command('berth.volume.refresh', (berth) => berth.volumes.refresh());
