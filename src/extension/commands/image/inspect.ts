import { command, pickImages } from '../command';

export default command('berth.image.inspect', async (berth, item) => {
  const [ref] = await pickImages(berth, item, undefined, 'Choose an image to inspect');
  if (ref) await berth.documents.inspect('image', item?.imageId ?? ref, ref);
});
