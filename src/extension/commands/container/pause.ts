import { command } from '../command';
import { lifecycle } from './lifecycle';

export default command('berth.container.pause', (berth, item, all) =>
  lifecycle(berth, item, all, 'pause', ['running'], (id) => berth.client().pauseContainer(id)),
);
