import { command } from '../command';
import { lifecycle } from './lifecycle';

export default command('berth.container.stop', (berth, item, all) =>
  lifecycle(berth, item, all, 'stop', ['running', 'restarting', 'paused'], (id) => berth.client().stopContainer(id)),
);
