import { command } from '../command';

/** Lists the registries again (repositories and tags are asked of each registry when expanded). */
export default command('berth.registry.refresh', async (berth, item) => {
  if (item?.registry) berth.registries.redraw(item);
  else {
    await berth.registries.refresh();
    berth.registries.redraw();
  }
});
