import { command } from '../command';

export default command('berth.network.refresh', (berth) => berth.networks.refresh());
