import { command } from '../command';
import { lifecycle } from './lifecycle';

export default command('berth.container.start', (berth, item, all) =>
  lifecycle(berth, item, all, 'start', ['created', 'exited', 'dead'], (id) => berth.client().startContainer(id)),
);
