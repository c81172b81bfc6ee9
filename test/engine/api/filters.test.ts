// Filter values come from anyone who can reach the API: a label named like an Object.prototype member matches no
// object that lacks it (so a prune with it removes nothing), and no expression can stall the engine.
import * as assert from 'node:assert/strict';
import { goDurationNano, pruneUntil } from '../../../src/engine/api/filters';
import { startEngine, type TestEngine } from '../../helpers/engine';

describe('engine API: hostile filters', function () {
  let engine: TestEngine;
  before(async () => {
    engine = await startEngine();
    for (const name of ['plain-vol', 'a'.repeat(60)])
      await engine.client.json('POST', '/volumes/create', { body: { Name: name } });
  });
  after(async () => engine?.cleanup());

  const filters = (f: Record<string, string[]>) => ({ filters: JSON.stringify(f) });

  it('a prune with label=constructor (or any prototype name) removes nothing', async () => {
    for (const label of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const list = await engine.client.json('GET', '/volumes', { query: filters({ label: [label] }) });
      assert.deepEqual(list.Volumes, [], label);
      const pruned = await engine.client.json('POST', '/volumes/prune', {
        query: filters({ label: [label], all: ['true'] }),
      });
      assert.deepEqual(pruned.VolumesDeleted ?? [], [], label);
    }
    const all = await engine.client.json('GET', '/volumes');
    assert.ok(all.Volumes.some((v: any) => v.Name === 'plain-vol'));
  });

  it('a catastrophic-backtracking name filter is answered at once, and the engine stays responsive', async () => {
    const started = Date.now();
    const list = await engine.client.json('GET', '/volumes', { query: filters({ name: ['^(a|aa)*c$'] }) });
    assert.deepEqual(list.Volumes, []);
    const c = await engine.client.json('GET', '/containers/json', {
      query: { all: '1', ...filters({ name: ['(x+x+)+y'] }) },
    });
    assert.deepEqual(c, []);
    const n = await engine.client.json('GET', '/networks', { query: filters({ name: ['^(b|bb)*c$'] }) });
    assert.deepEqual(n, []);
    const i = await engine.client.json('GET', '/images/json', {
      query: filters({ reference: [`${'*a'.repeat(40)}b`] }),
    });
    assert.deepEqual(i, []);
    assert.ok(Date.now() - started < 3000, `${Date.now() - started} ms`);
  });
});

describe("engine API: a prune's until (GetTimestamp)", () => {
  const at = (until: string[]) => pruneUntil(new Map([['until', until]]));
  it('takes a Go duration before now, a time or Unix seconds', () => {
    // The filter reads the clock itself: 24 h before a moment between these two readings.
    const before = BigInt(Date.now()) * 1_000_000n;
    const day = at(['24h'])!;
    const after = BigInt(Date.now()) * 1_000_000n;
    const dayNano = 86_400n * 1_000_000_000n;
    assert.ok(day >= before - dayNano && day <= after - dayNano, `${before - day} … ${after - day}`);
    assert.equal(goDurationNano('1h30m'), 5_400_000_000_000n);
    assert.equal(goDurationNano('-1.5s'), -1_500_000_000n);
    assert.equal(goDurationNano('10x'), undefined);
    assert.equal(at(['1700000000.5']), 1_700_000_000_500_000_000n);
    assert.equal(at(['2023-11-14T22:13:20Z']), 1_700_000_000_000_000_000n);
    assert.equal(at([]), undefined);
  });
  it('refuses two values, seconds past int64 and anything else', () => {
    assert.throws(() => at(['1h', '2h']), /more than one until filter specified/);
    assert.throws(() => at(['9'.repeat(30)]), /failed to parse value as time or duration/);
    assert.throws(() => at(['not a time']), /failed to parse value as time or duration/);
    assert.throws(() => at(['']), /failed to parse value as time or duration/);
  });
});
