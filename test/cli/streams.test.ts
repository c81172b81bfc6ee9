// Docker's stream framing on the client side: multiplexed frames split anywhere, the systemerr stream, and
// detach-key parsing.
import * as assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { demux, parseDetachKeys } from '../../src/cli/streams';

function frame(kind: number, text: string): Buffer {
  const payload = Buffer.from(text);
  const h = Buffer.alloc(8);
  h[0] = kind;
  h.writeUInt32BE(payload.length, 4);
  return Buffer.concat([h, payload]);
}

function sink() {
  const s = new PassThrough();
  let text = '';
  s.on('data', (d) => (text += d));
  return { s, text: () => text };
}

describe('cli streams', () => {
  it('demultiplexes stdout and stderr frames however the bytes are split', async () => {
    const all = Buffer.concat([frame(1, 'out one\n'), frame(2, 'err one\n'), frame(1, ''), frame(1, 'out two\n')]);
    for (const step of [1, 3, 7, 8, 9, all.length]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < all.length; i += step) chunks.push(all.subarray(i, i + step));
      const out = sink();
      const err = sink();
      await demux(Readable.from(chunks), out.s, err.s);
      assert.equal(out.text(), 'out one\nout two\n', `split every ${step}`);
      assert.equal(err.text(), 'err one\n', `split every ${step}`);
    }
  });

  it('turns a systemerr frame into an error', async () => {
    const out = sink();
    await assert.rejects(
      demux(Readable.from([frame(1, 'partial\n'), frame(3, 'exec failed: boom\n')]), out.s, sink().s),
      /exec failed: boom/,
    );
    assert.equal(out.text(), 'partial\n');
  });

  it('parses --detach-keys like docker', () => {
    assert.deepEqual([...parseDetachKeys('ctrl-p,ctrl-q')], [16, 17]);
    assert.deepEqual([...parseDetachKeys('ctrl-a,x,ctrl-@,ctrl-[')], [1, 120, 0, 27]);
    assert.throws(() => parseDetachKeys('ctrl-p,notakey'), /Invalid detach keys/);
  });

  it("reads --detach-keys by the engine's grammar: no trimming, and an empty value is no keys", () => {
    assert.deepEqual([...parseDetachKeys('')], []);
    assert.throws(() => parseDetachKeys('ctrl-p, ctrl-q'), /Invalid detach keys \( ctrl-q\) provided/);
  });
});
