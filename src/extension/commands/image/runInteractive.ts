import { command } from '../command';
import { runContainer } from '../../run/run';

export default command('berth.image.runInteractive', (berth, item) => runContainer(berth, item?.imageRef, true));
