// The rows of a container's folder: folders first then files (Explorer order), links with their targets, folder
// rows lazy with a trailing-slash URI, file rows opening their berth-container: URI, ids stable below the parent.
import * as assert from 'node:assert/strict';
import { buildFileRecords, type FileRowEntry } from '../../src/views/files';
import type { TreeRecord } from '../../src/views/model';

const parent: TreeRecord = {
  id: 'container:abc:files',
  kind: 'files',
  label: 'Files',
  contextValue: 'files.container',
  containerId: 'abc',
  containerName: 'web',
  fileUri: 'berth-container://abc/',
  lazy: true,
  signature: '',
};

const e = (name: string, kind: FileRowEntry['kind'], extra: Partial<FileRowEntry> = {}): FileRowEntry => ({
  name,
  kind,
  size: 0,
  mode: 0o644,
  ...extra,
});

describe('views: container file rows', () => {
  it('sorts folders first, links show their targets, folders are lazy and files open', () => {
    const rows = buildFileRecords(parent, [
      e('zeta.txt', 'file', { size: 2048, uid: 1000, gid: 1000 }),
      e('etc', 'directory', { mode: 0o755 }),
      e('lib', 'symlink', { linkTarget: '/usr/lib', targetKind: 'directory' }),
      e('a b#c', 'file', { size: 3 }),
      e('sh', 'symlink', { linkTarget: '/bin/busybox', targetKind: 'file' }),
      e('null', 'other'),
    ]);
    assert.deepEqual(
      rows.map((r) => r.label),
      ['etc', 'lib', 'a b#c', 'null', 'sh', 'zeta.txt'],
    );
    const [etc, lib, spaced, dev, sh, zeta] = rows;
    assert.equal(etc.lazy, true);
    assert.equal(etc.fileUri, 'berth-container://abc/etc/');
    assert.equal(etc.contextValue, 'file.directory');
    assert.equal(etc.id, 'container:abc:files/etc');
    assert.equal(lib.description, '→ /usr/lib');
    assert.equal(lib.icon?.id, 'file-symlink-directory');
    assert.equal(spaced.fileUri, 'berth-container://abc/a%20b%23c');
    assert.deepEqual(spaced.open, { command: 'vscode.open', title: 'Open' });
    assert.equal(dev.open, undefined, 'devices do not open');
    assert.equal(sh.contextValue, 'file.file');
    assert.equal(zeta.description, '2.05 kB');
    assert.match(zeta.tooltip!, /\/zeta\.txt\nMode: 0644\nOwner: 1000:1000/);
    assert.equal(zeta.containerId, 'abc');
    // Below a folder row, ids and URIs extend the folder's.
    const below = buildFileRecords(etc, [e('passwd', 'file')]);
    assert.equal(below[0].fileUri, 'berth-container://abc/etc/passwd');
    assert.equal(below[0].id, 'container:abc:files/etc/passwd');
  });
});
