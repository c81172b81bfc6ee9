import { command } from '../command';

export default command('berth.container.refresh', (berth) => berth.containers.refresh());
