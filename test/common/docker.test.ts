// Docker's formats and rules shared by the engine, the CLI and the extension (src/common/docker).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  DEFAULT_DETACH_KEYS,
  filterBool,
  frame,
  frameHeader,
  fuzzyMatch,
  goArch,
  humanDuration,
  humanSize,
  matchLabel,
  matchLabels,
  parseDetachKeys,
  parseGoBool,
  pathMatch,
  queryBool,
  splitFrames,
} from '../../src/common/docker';

const HOUR = 3600_000;

describe('common/docker: Docker formats and rules', () => {
  it('imports nothing of the engine, the CLI or the extension (only Node, re2js and itself)', () => {
    const dir = path.join(__dirname, '../../src/common/docker');
    for (const f of fs.readdirSync(dir)) {
      const text = fs.readFileSync(path.join(dir, f), 'utf8');
      for (const m of text.matchAll(/^(?:import|export)[^'"]*from\s+'([^']+)'/gm))
        assert.match(m[1], /^(node:|\.\/|re2js$)/, `${f} imports ${m[1]}`);
    }
  });

  it("prints durations by go-units' HumanDuration", () => {
    assert.equal(humanDuration(999), 'Less than a second');
    assert.equal(humanDuration(59_999), '59 seconds');
    assert.equal(humanDuration(90 * 60_000 - 1), 'About an hour'); // hours round: 1.49…+0.5
    assert.equal(humanDuration(90 * 60_000), '2 hours');
    assert.equal(humanDuration(47 * HOUR), '47 hours');
    assert.equal(humanDuration(48 * HOUR), '2 days');
    // Years come from the whole hours, not the rounded ones (Go: int(d.Hours())/24/365).
    assert.equal(humanDuration(2 * 8760 * HOUR - HOUR / 4), '1 years');
    assert.equal(humanDuration(3 * 8760 * HOUR), '3 years');
  });

  it("prints sizes by go-units' HumanSize (decimal, 4 significant digits)", () => {
    assert.equal(humanSize(0), '0B');
    assert.equal(humanSize(999), '999B');
    assert.equal(humanSize(1000), '1kB');
    assert.equal(humanSize(1_234_567), '1.235MB');
    assert.equal(humanSize(5e18), '5EB');
  });

  it('frames and splits the stdcopy stream, keeping a partial frame', () => {
    assert.deepEqual([...frameHeader(2, 258)], [2, 0, 0, 0, 0, 0, 1, 2]);
    const bytes = Buffer.concat([
      frame(1, Buffer.from('out')),
      frame(2, Buffer.alloc(0)),
      frame(2, Buffer.from('err')),
    ]);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const first = splitFrames(bytes.subarray(0, cut));
      const second = splitFrames(Buffer.concat([first.rest, bytes.subarray(cut)]));
      const all = [...first.frames, ...second.frames].map((f) => `${f.stream}:${f.payload}`);
      assert.deepEqual(all, ['1:out', '2:', '2:err'], `cut at ${cut}`);
      assert.equal(second.rest.length, 0);
    }
  });

  it('reads detach keys by Docker grammar', () => {
    assert.deepEqual(parseDetachKeys(DEFAULT_DETACH_KEYS), [16, 17]);
    assert.deepEqual(parseDetachKeys('ctrl-a,x,ctrl-@,ctrl-[,ctrl-\\,ctrl-_'), [1, 120, 0, 27, 28, 31]);
    assert.deepEqual(parseDetachKeys(''), []);
    assert.throws(() => parseDetachKeys('ctrl-p,notakey'), /^Error: Invalid detach keys \(notakey\) provided$/);
  });

  it('matches labels and names as Docker filters do', () => {
    const labels = { a: '1', b: '' };
    assert.ok(matchLabel('a', labels) && matchLabel('a=1', labels) && matchLabel('b=', labels));
    assert.ok(!matchLabel('a=2', labels) && !matchLabel('c', labels) && !matchLabel('a=', labels));
    assert.ok(matchLabels(undefined, null) && matchLabels(['a', 'b'], labels) && !matchLabels(['a', 'c'], labels));
    assert.ok(fuzzyMatch('^we', 'web') && !fuzzyMatch('^eb', 'web'));
    // Go's filters.Match: an expression that does not compile matches only the exact value.
    assert.ok(!fuzzyMatch('a(', 'xa(y') && fuzzyMatch('a(', 'a('));
  });

  it('finds no label an object lacks, whatever Object.prototype holds', () => {
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
      assert.equal(matchLabel(name, {}), false, name);
      assert.equal(matchLabels([name], { a: '1' }), false, name);
    }
    assert.equal(matchLabel('__proto__=x', JSON.parse('{"__proto__":"x"}')), true, 'a real label of that name');
  });

  it('matches expressions in linear time (RE2), with Go syntax', () => {
    const started = Date.now();
    // Exponential for a backtracking engine (minutes for JavaScript's RegExp); linear for RE2.
    assert.equal(fuzzyMatch('^(a|aa)*c$', 'a'.repeat(5000)), false);
    assert.equal(fuzzyMatch('(x+x+)+y', 'x'.repeat(5000)), false);
    assert.ok(Date.now() - started < 2000, `${Date.now() - started} ms`);
    assert.ok(fuzzyMatch('(?i)WEB', 'my-web-1'), "Go's inline flags");
  });

  it("matches image references as Go's path.Match does, in linear time", () => {
    assert.ok(pathMatch('busy*', 'busybox') && pathMatch('busybox:*', 'busybox:latest'));
    assert.ok(!pathMatch('busy*', 'library/busybox') && !pathMatch('*', 'a/b'));
    assert.ok(
      pathMatch('b?sybox', 'busybox') && pathMatch('[ab]usybox', 'busybox') && !pathMatch('[^b]usybox', 'busybox'),
    );
    assert.ok(pathMatch('a.b', 'a.b') && !pathMatch('a.b', 'axb'), 'dots are literal');
    const started = Date.now();
    assert.equal(pathMatch(`${'*a'.repeat(50)}b`, 'a'.repeat(5000)), false);
    assert.ok(Date.now() - started < 2000, `${Date.now() - started} ms`);
  });

  it('reads booleans as dockerd does: query parameters, strconv.ParseBool and boolean filters', () => {
    for (const v of [null, '', '0', 'no', 'false', 'FALSE', 'None', ' 0 '])
      assert.equal(queryBool(v), false, String(v));
    for (const v of ['1', 'true', 'yes', 'on', 'anything']) assert.equal(queryBool(v), true, v);
    assert.deepEqual(['t', 'TRUE', 'False', '0', 'yes', 'tRUE'].map(parseGoBool), [
      true,
      true,
      false,
      false,
      undefined,
      undefined,
    ]);
    assert.deepEqual([['TRUE'], ['0'], ['False'], ['yes'], [], ['true', 'false']].map(filterBool), [
      true,
      false,
      false,
      undefined,
      undefined,
      undefined,
    ]);
  });

  it("names the host's architecture as GOARCH does", () => {
    assert.equal(goArch('x64'), 'amd64');
    assert.equal(goArch('ia32'), '386');
    assert.equal(goArch('ppc64'), 'ppc64le');
    assert.equal(goArch('mips'), 'mips');
  });
});
