// Pull progress: per-layer bytes from Docker's JSON messages summed into one fraction and a readable line.
import * as assert from 'node:assert/strict';
import { PullProgress } from '../../src/extension/run/progress';

describe('extension: pull progress', () => {
  it('sums layer bytes and counts finished layers', () => {
    const p = new PullProgress();
    p.add({ status: 'Pulling from library/busybox', id: '1.36' });
    p.add({ status: 'Pulling fs layer', id: 'a' });
    p.add({ status: 'Pulling fs layer', id: 'b' });
    assert.equal(p.fraction, 0);
    assert.equal(p.text, '0/2 layers');
    p.add({ status: 'Downloading', id: 'a', progressDetail: { current: 500_000, total: 1_000_000 } });
    p.add({ status: 'Already exists', id: 'b' });
    assert.equal(p.fraction, 0.75);
    assert.equal(p.text, '1/2 layers, 500.0 kB of 1.0 MB');
    p.add({ status: 'Pull complete', id: 'a' });
    assert.equal(p.fraction, 1);
    assert.equal(p.text, '2/2 layers, 1.0 MB of 1.0 MB');
  });
});
