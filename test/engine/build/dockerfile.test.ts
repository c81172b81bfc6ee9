// The Dockerfile as the classic builder reads it: moby's original lines, argument rules and errors, BuildKit's
// word expansion and heredocs, .dockerignore's Go patterns, and Go's formatting of the history strings.
import * as assert from 'node:assert/strict';
import { parseDockerfile } from '../../../src/engine/build/dockerfile';
import { parseStages } from '../../../src/engine/build/instructions';
import { envMap, processWord, processWords } from '../../../src/engine/build/lex';
import { goDuration, goQuoteHealth, goQuoteSlice, parseGoDuration } from '../../../src/engine/build/runconfig';
import { ignored, PatternMatcher, pathMatch, readDockerignore } from '../../../src/common/docker';

describe('build: Dockerfile parsing', () => {
  it('joins continuation lines as moby does (comments and empty lines skipped, leading space kept)', () => {
    const df = parseDockerfile(
      ['FROM busybox', 'RUN echo a \\', '  # a comment', '', '    && echo b', '  ENV A=1 \\', 'B=2'].join('\n'),
    );
    assert.deepEqual(
      df.nodes.map((n) => n.original),
      ['FROM busybox', 'RUN echo a     && echo b', 'ENV A=1 B=2'],
    );
    assert.equal(df.warnings.length, 2);
    assert.match(df.warnings[0], /Empty continuation line found in:\n {4}RUN echo a/);
  });

  it('takes the escape directive (backtick), ignores syntax, and keeps JSON and shell forms apart', () => {
    const df = parseDockerfile(
      '# syntax=docker/dockerfile:1\n# escape=`\nFROM busybox\nRUN echo a `\n  b\nCOPY x c:\\dir\\\n',
    );
    assert.equal(df.escapeToken, '`');
    assert.equal(df.syntax, 'docker/dockerfile:1');
    assert.equal(df.nodes[1].original, 'RUN echo a   b');
    const forms = parseDockerfile('FROM x\nRUN ["a", "b c"]\nRUN a b\nCMD ["x"] trailing\nENTRYPOINT [bad json\n');
    assert.deepEqual(
      forms.nodes.slice(1).map((n) => [n.args, n.json]),
      [
        [['a', 'b c'], true],
        [['a b'], false],
        [['x'], true],
        [['[bad json'], false],
      ],
    );
    assert.throws(() => parseDockerfile('FROM x\nRUN ["a", 1]\n'), /arrays must be comprised of strings only/);
  });

  it('splits ENV/LABEL/ARG words keeping quotes for expansion, and flags before the arguments', () => {
    const df = parseDockerfile(
      'FROM x\nENV A=1 B="two words" C=three\\ four\nENV OLD form value\nCOPY --chown="a b" --from=st s d\n',
    );
    assert.deepEqual(df.nodes[1].args, ['A', '1', 'B', '"two words"', 'C', 'three\\ four']);
    assert.deepEqual(df.nodes[2].args, ['OLD', 'form value']);
    assert.deepEqual(df.nodes[3].flags, ['--chown=a b', '--from=st']);
    assert.deepEqual(df.nodes[3].args, ['s', 'd']);
  });

  it('reads heredocs (RUN and COPY, <<- strips tabs, a quoted name is not expanded)', () => {
    const df = parseDockerfile(
      'FROM x\nRUN <<EOF\necho 1\necho 2\nEOF\nCOPY <<-"DOC" /f\n\tliteral $X\n\tDOC\nRUN echo after\n',
    );
    assert.deepEqual(df.nodes[1].heredocs, [{ name: 'EOF', content: 'echo 1\necho 2\n', expand: true }]);
    assert.deepEqual(df.nodes[2].heredocs, [{ name: 'DOC', content: 'literal $X\n', expand: false }]);
    assert.equal(df.nodes[3].original, 'RUN echo after');
  });

  it('stages and instruction errors carry dockerd’s words and the line', () => {
    const { metaArgs, stages } = parseStages(
      parseDockerfile('ARG V=1\nFROM busybox:$V AS Base\nRUN a\nFROM base\nCMD b\n').nodes,
    );
    assert.equal(metaArgs.length, 1);
    assert.deepEqual(
      stages.map((s) => [s.name, s.baseName, s.commands.length]),
      [
        ['base', 'busybox:$V', 1],
        ['', 'base', 1],
      ],
    );
    assert.throws(() => parseStages(parseDockerfile('FROM x\nFOO bar\n').nodes), {
      message: 'dockerfile parse error line 2: unknown instruction: FOO',
    });
    assert.throws(() => parseStages(parseDockerfile('FROM x AS 1bad\n').nodes), /invalid name for build stage/);
    assert.throws(
      () => parseStages(parseDockerfile('FROM x\nWORKDIR\n').nodes),
      /WORKDIR requires exactly one argument/,
    );
    assert.throws(() => parseStages(parseDockerfile('FROM x\nCOPY --nope=1 a b\n').nodes), /Unknown flag: nope/);
    assert.throws(
      () => parseStages(parseDockerfile('FROM x\nONBUILD FROM y\n').nodes),
      /FROM isn't allowed as an ONBUILD trigger/,
    );
    assert.throws(
      () => parseStages(parseDockerfile('FROM x\nSHELL sh -c\n').nodes),
      /SHELL requires the arguments to be in JSON form/,
    );
    assert.throws(
      () => parseStages(parseDockerfile('FROM x\nHEALTHCHECK --retries=0 CMD true\n').nodes),
      /--retries must be at least 1/,
    );
    assert.throws(
      () => parseStages(parseDockerfile('FROM x\nHEALTHCHECK --interval=1ns CMD true\n').nodes),
      /cannot be less than 1ms/,
    );
  });
});

describe('build: word expansion (BuildKit shell.Lex)', () => {
  const env = envMap(['A=1', 'EMPTY=', 'B=two words']);
  it('substitutes and removes quotes the way the classic builder does', () => {
    const cases: [string, string][] = [
      ['$A', '1'],
      ['${A}x', '1x'],
      ['${NOPE:-dflt}', 'dflt'],
      ['${EMPTY:-dflt}', 'dflt'],
      ['${A:+alt}', 'alt'],
      ['${NOPE:+alt}', ''],
      ['"q $A" \'s $A\'', 'q 1 s $A'],
      ['a\\ b', 'a b'],
      ['\\$A', '$A'],
      ['$', '$'],
      ['x${A}y$B', 'x1ytwo words'],
    ];
    for (const [word, want] of cases) assert.equal(processWord(word, env), want, word);
    assert.deepEqual(processWords('$B "c d"', env), ['two', 'words', 'c d']);
    assert.throws(() => processWord('${NOPE?must be set}', env), /NOPE: must be set/);
    assert.throws(() => processWord('${A', env), /missing ':' in substitution/); // as moby says it
    assert.throws(() => processWord('"open', env), /matching double-quote/);
    assert.equal(processWord('`$A', env, '`'), '$A');
  });
});

describe('build: .dockerignore (moby fileutils patterns)', () => {
  it('reads the file as BuildKit does', () => {
    assert.deepEqual(readDockerignore('\uFEFF# c\n  *.log \n!keep.log\n/abs/x\n\n./rel/../y\n!\n'), [
      '*.log',
      '!keep.log',
      'abs/x',
      'y',
      '!',
    ]);
  });
  it('matches like Go: *, ?, **, classes, exceptions, parent directories', () => {
    const p = ['*.log', '!keep.log', 'node_modules', '**/secret*', 'a/?/c', 'docs/[a-c]*', 'build/'];
    const pm = new PatternMatcher(p);
    const cases: [string, boolean][] = [
      ['x.log', true],
      ['keep.log', false],
      ['sub/x.log', false],
      ['node_modules/m/index.js', true],
      ['deep/er/secret.key', true],
      ['secret', true],
      ['a/b/c', true],
      ['a/bb/c', false],
      ['docs/apple', true],
      ['docs/zebra', false],
      ['build/out/x', true],
      ['src/main.ts', false],
    ];
    for (const [f, want] of cases) assert.equal(pm.matches(f), want, f);
    assert.equal(pm.exclusions, true);
    assert.equal(ignored('.', ['*']), false);
    assert.throws(() => new PatternMatcher(['!']), /illegal exclusion pattern/);
  });
  it('keeps regexp metacharacters literal, honours escapes, ** prefixes/suffixes and any parent directory', () => {
    const cases: [string, string[], boolean][] = [
      ['(a+)+b', ['(a+)+b'], true],
      ['aab', ['(a+)+b'], false],
      ['a|b', ['a|b'], true],
      ['a', ['a|b'], false],
      ['x{2}', ['x{2}'], true],
      ['xx', ['x{2}'], false],
      ['f*o', ['f\\*o'], true],
      ['fxo', ['f\\*o'], false],
      ['barfoo', ['**foo'], true],
      ['x/y/foo', ['**/foo'], true],
      ['foo', ['**/foo'], true],
      ['lib/a/b', ['lib/**'], true],
      ['x/y/b/c', ['**/b'], true],
      ['x/ab/c', ['a*'], false],
      ['abs/x', readDockerignore('/abs/x'), true],
      ['build/out', readDockerignore('build/'), true],
      ['keep/me', ['keep', '!keep/me'], false],
    ];
    for (const [f, p, want] of cases) assert.equal(ignored(f, p), want, `${f} against ${p}`);
    assert.throws(() => new PatternMatcher(['a[']), /syntax error in pattern/);
  });
  it("matches in linear time whatever the patterns (the context is the client's)", () => {
    const start = process.hrtime.bigint();
    assert.equal(ignored(`${'a'.repeat(28)}c`, ['(a+)+b']), false);
    assert.equal(ignored(`${'a'.repeat(5000)}c`, [`${'*a'.repeat(50)}b`]), false);
    assert.equal(ignored(`${'a/'.repeat(2000)}c`, [`${'**/a'.repeat(30)}/b`]), false);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    assert.ok(ms < 2000, `took ${ms} ms`);
  });
  it("COPY's wildcards are Go's path.Match (no /)", () => {
    assert.equal(pathMatch('src/*.txt', 'src/a.txt'), true);
    assert.equal(pathMatch('*.txt', 'src/a.txt'), false);
    assert.equal(pathMatch('f[0-9]?', 'f1x'), true);
    assert.equal(pathMatch('f[^0-9]', 'f1'), false);
    // A Dockerfile's COPY pattern against a context's 255-byte name: linear (RE2), not backtracking for minutes.
    const start = Date.now();
    assert.equal(pathMatch(`${'*a'.repeat(12)}b`, `${'a'.repeat(254)}c`), false);
    assert.ok(Date.now() - start < 1000);
  });
});

describe("build: Go's formatting in history", () => {
  it('formats slices, durations and a HealthConfig as fmt does', () => {
    assert.equal(goQuoteSlice(['/bin/sh', '-c', 'echo "hi"\t']), '["/bin/sh" "-c" "echo \\"hi\\"\\t"]');
    assert.equal(goDuration(5e9), '5s');
    assert.equal(goDuration(90e9), '1m30s');
    assert.equal(goDuration(1.5e9), '1.5s');
    assert.equal(goDuration(500e6), '500ms');
    assert.equal(goDuration(3.6e12 + 1e9), '1h0m1s');
    assert.equal(parseGoDuration('1m30s'), 90e9);
    assert.equal(parseGoDuration('1.5h'), 5.4e12);
    assert.equal(parseGoDuration('10'), undefined);
    assert.equal(
      goQuoteHealth({ Test: ['CMD-SHELL', 'wget -q localhost || exit 1'], Interval: 5e9, Retries: 2 }),
      `&{["CMD-SHELL" "wget -q localhost || exit 1"] "5s" "0s" "0s" '\\x02'}`,
    );
    assert.equal(goQuoteHealth({ Test: ['NONE'] }), `&{["NONE"] "0s" "0s" "0s" '\\x00'}`);
    assert.equal(goQuoteHealth({ Test: ['CMD', 'x'], Retries: 65 }), `&{["CMD" "x"] "0s" "0s" "0s" 'A'}`);
  });
});
