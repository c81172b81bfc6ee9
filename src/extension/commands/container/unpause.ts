import { command } from '../command';
import { lifecycle } from './lifecycle';

export default command('berth.container.unpause', (berth, item, all) =>
  lifecycle(berth, item, all, 'unpause', ['paused'], (id) => berth.client().unpauseContainer(id)),
);
