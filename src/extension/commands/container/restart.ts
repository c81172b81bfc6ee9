import { command } from '../command';
import { lifecycle } from './lifecycle';

export default command('berth.container.restart', (berth, item, all) =>
  lifecycle(berth, item, all, 'restart', ['running', 'exited', 'created', 'paused'], (id) =>
    berth.client().restartContainer(id),
  ),
);
