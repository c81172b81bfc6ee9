import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type ContentStore, createContentStore, DigestMismatchError, sha256 } from '../../../src/engine/content';

describe('content store', () => {
  let dir: string;
  let store: ContentStore;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-content-'));
    store = createContentStore(dir);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('stores a streamed blob under its digest after checking it', async () => {
    const data = Buffer.alloc(3 * 1024 * 1024, 42);
    const digest = sha256(data);
    const w = store.writer({ digest, size: data.length });
    await pipeline(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), w.stream);
    assert.equal(await w.commit(), digest);
    assert.ok(store.has(digest));
    assert.equal(store.size(digest), data.length);
    assert.deepEqual(store.list(), [digest]);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'ingest')), []);
  });

  it('refuses wrong bytes and keeps nothing', async () => {
    const expected = sha256('right');
    const w = store.writer({ digest: expected });
    await pipeline(Readable.from([Buffer.from('wrong')]), w.stream);
    await assert.rejects(w.commit(), (e) => e instanceof DigestMismatchError && /verification failed/.test(e.message));
    assert.equal(store.has(expected), false);
    assert.deepEqual(store.list(), []);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'ingest')), []);
  });

  it('refuses a short blob even when the prefix hashes fine', async () => {
    const data = Buffer.from('abc');
    const w = store.writer({ size: 10 });
    await pipeline(Readable.from([data]), w.stream);
    await assert.rejects(w.commit(), DigestMismatchError);
    assert.deepEqual(store.list(), []);
  });

  it('put() checks an expected digest and is idempotent', async () => {
    const d = await store.put(Buffer.from('{}'));
    assert.equal(d, sha256('{}'));
    assert.equal(await store.put(Buffer.from('{}'), d), d);
    await assert.rejects(store.put(Buffer.from('{ }'), d), DigestMismatchError);
    assert.equal((await store.read(d)).toString(), '{}');
  });

  it('abort() removes the partial file', async () => {
    const w = store.writer();
    w.stream.write(Buffer.alloc(100));
    await w.abort();
    assert.deepEqual(fs.readdirSync(path.join(dir, 'ingest')), []);
  });
});
