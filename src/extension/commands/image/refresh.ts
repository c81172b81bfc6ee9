import { command } from '../command';

export default command('berth.image.refresh', (berth) => berth.images.refresh());
