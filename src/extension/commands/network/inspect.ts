import { command } from '../command';
import { pickNetworks } from './pick';

export default command('berth.network.inspect', async (berth, item) => {
  const [n] = await pickNetworks(berth, item, undefined);
  if (n) await berth.documents.inspect('network', n.id, n.name);
});
