import { command, pickVolumes } from '../command';

export default command('berth.volume.inspect', async (berth, item) => {
  const [name] = await pickVolumes(berth, item, undefined);
  if (name) await berth.documents.inspect('volume', name, name);
});
