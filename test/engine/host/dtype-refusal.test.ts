// dockerd's refusal of a data root without d_type (moby's overlayutils.ErrDTypeNotSupported), word for word.
import * as assert from 'node:assert/strict';
import { dTypeRefusal } from '../../../src/engine/host';

describe('host: d_type refusal', () => {
  it('names xfs and how to reformat it; other file systems without the advice; nothing when d_type works', () => {
    assert.equal(
      dTypeRefusal({ backingFilesystem: 'xfs', dType: false })?.message,
      'overlay2: the backing xfs filesystem is formatted without d_type support, which leads to incorrect behavior. Reformat the filesystem with ftype=1 to enable d_type support. Running without d_type is not supported.',
    );
    assert.equal(
      dTypeRefusal({ backingFilesystem: 'nfs', dType: false })?.message,
      'overlay2: the backing nfs filesystem is formatted without d_type support, which leads to incorrect behavior. Running without d_type is not supported.',
    );
    assert.equal(dTypeRefusal({ backingFilesystem: 'xfs', dType: true }), undefined);
    assert.equal(dTypeRefusal({ backingFilesystem: 'extfs' }), undefined);
  });
});
