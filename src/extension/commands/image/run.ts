import { command } from '../command';
import { runContainer } from '../../run/run';

export default command('berth.image.run', (berth, item) => runContainer(berth, item?.imageRef));
