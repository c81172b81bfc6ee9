// The tree provider's lazy folders (a container's files, a registry's repositories) with a minimal fake `vscode`:
// VS Code refuses a second element object under an id it has registered, so an expand racing a refresh must get
// one load and the same objects, and a reload must hand back the same objects for the same ids.
import '../helpers/fake-vscode';
import * as assert from 'node:assert/strict';
import { localFiles } from '../../src/extension/files/rows';
import type { TreeRecord } from '../../src/views/model';
import { RecordTreeProvider } from '../../src/views/provider';

const folder: TreeRecord = {
  id: 'container:abc:files',
  kind: 'files',
  label: 'Files',
  contextValue: 'files.container',
  fileUri: 'berth-container://abc/',
  lazy: true,
  signature: '',
};

describe('views: lazy children of the tree provider', () => {
  it('shares a load under way and keeps the objects of the same ids across reloads', async () => {
    let loads = 0;
    let names = ['a', 'b'];
    const provider = new RecordTreeProvider(
      async () => [folder],
      (err) => {
        throw err;
      },
      {
        loadChildren: async (r) => {
          loads++;
          await new Promise((res) => setTimeout(res, 20));
          return names.map((n) => ({
            id: `${r.id}/${n}`,
            kind: 'file' as const,
            label: n,
            description: `load ${loads}`,
            contextValue: 'file.file',
            signature: `${n}|${loads}`,
          }));
        },
      },
    );
    await provider.refresh();
    const [first, second] = await Promise.all([provider.getChildren(folder), provider.getChildren(folder)]);
    assert.equal(loads, 1, 'one load for two concurrent asks');
    assert.equal(first, second);
    names = ['b', 'c'];
    const again = (await provider.getChildren(folder)) as TreeRecord[];
    assert.equal(loads, 2);
    assert.equal(again[0], (first as TreeRecord[])[1], 'b is the same object');
    assert.equal(again[0].description, 'load 2', 'updated in place');
    assert.equal(again[1].label, 'c');
    assert.equal(provider.getParent(again[1]), folder);
    provider.dispose();
  });
});

describe('extension: files dropped on a folder row', () => {
  it('takes the local files of a text/uri-list and leaves comments and other schemes out', async () => {
    assert.deepEqual(
      localFiles('# from the OS\r\nfile:///home/me/a%20b.txt\r\nhttps://example.com/x\r\nfile:///home/me/dir\r\n\r\n'),
      ['/home/me/a b.txt', '/home/me/dir'],
    );
  });
});
