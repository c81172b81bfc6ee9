import { command } from '../command';
import { isFolderRow, redrawRow } from '../../files/rows';

/** Lists a folder row again (file changes inside a container send no events). */
export default command('berth.file.refresh', (berth, item) => {
  if (item && isFolderRow(item)) redrawRow(berth, item);
});
