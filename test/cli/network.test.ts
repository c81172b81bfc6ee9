// berth network … against a live berthd, compared with the docker CLI's output for the same engine.
import * as assert from 'node:assert/strict';
import { dockerCliComparable, startEngine, type TestEngine } from '../helpers/engine';
import { berth, normalizeTimes } from '../helpers/cli';

describe('berth CLI: networks', function () {
  this.timeout(60000);
  let engine: TestEngine;
  const run = (args: string[]) => berth(engine, args);
  const same = (args: string[]) => {
    const mine = run(args);
    if (dockerCliComparable()) {
      const theirs = engine.docker(args);
      assert.equal(mine.code, theirs.code, `${args.join(' ')}: ${mine.stderr} / docker: ${theirs.stderr}`);
      assert.equal(normalizeTimes(mine.stdout), normalizeTimes(theirs.stdout), `berth ${args.join(' ')}`);
      assert.equal(mine.stderr, theirs.stderr);
    }
    return mine;
  };
  before(async () => {
    engine = await startEngine();
  });
  after(async () => engine?.cleanup());

  it('lists the default networks like docker network ls', () => {
    const ls = same(['network', 'ls']);
    assert.match(ls.stdout, /^NETWORK ID     NAME      DRIVER    SCOPE\n/);
    for (const n of ['bridge', 'host', 'none'])
      assert.match(ls.stdout, new RegExp(`^[0-9a-f]{12}   ${n} +\\w+ +local$`, 'm'));
    same(['network', 'ls', '-q']);
    same(['network', 'ls', '--no-trunc']);
    same(['network', 'ls', '--format', '{{json .}}']);
    same([
      'network',
      'ls',
      '--filter',
      'driver=bridge',
      '--format',
      'table {{.Name}}\t{{.Driver}}\t{{.IPv6}}\t{{.Internal}}',
    ]);
  });

  it('creates, inspects, connects nothing, and removes a user network', () => {
    const name = `clinet${process.pid}`;
    // A subnet of its own: engines of other test runs on this host may still hold a bridge for a fixed one.
    const subnet = `10.${200 + (process.pid % 50)}.${process.pid % 250}.0/24`;
    const created = run(['network', 'create', '--subnet', subnet, '--label', 'team=cli', name]);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^[0-9a-f]{64}\n$/);
    const id = created.stdout.trim();
    same(['network', 'inspect', name]);
    assert.equal(
      run(['network', 'inspect', '-f', '{{.Id}} {{(index .IPAM.Config 0).Subnet}} {{.Labels.team}}', name]).stdout,
      `${id} ${subnet} cli\n`,
    );
    same(['network', 'inspect', '-f', '{{.Name}} {{.Driver}} {{.Scope}} {{json .Labels}}', name]);
    same(['network', 'ls', '--filter', `name=${name}`]);
    same(['inspect', '--type', 'network', '-f', '{{.Name}}', name]);
    const dup = same(['network', 'create', name]);
    assert.equal(dup.code, 1);
    assert.deepEqual(run(['network', 'rm', name]), { code: 0, stdout: `${name}\n`, stderr: '' });
    // (docker adds a stray "exit status 1" line here; the message itself is the engine's.)
    const again = run(['network', 'rm', name]);
    assert.equal(again.code, 1);
    if (dockerCliComparable()) assert.ok(engine.docker(['network', 'rm', name]).stderr.startsWith(again.stderr));
    assert.match(again.stderr, /^Error response from daemon: /);
  });

  it('prunes unused user networks', () => {
    const name = `cliprune${process.pid}`;
    assert.equal(run(['network', 'create', name]).code, 0);
    const r = run(['network', 'prune', '-f']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `Deleted Networks:\n${name}\n`);
    assert.doesNotMatch(run(['network', 'ls']).stdout, new RegExp(name));
  });

  it('reports network create/destroy in berth events exactly as docker events does', async () => {
    const since = String(Math.floor(Date.now() / 1000) - 1);
    const name = `clievents${process.pid}`;
    assert.equal(run(['network', 'create', name]).code, 0);
    assert.equal(run(['network', 'rm', name]).code, 0);
    const until = (Date.now() / 1000).toFixed(3); // now, to the millisecond: both events are before it
    const args = ['events', '--since', since, '--until', until, '--filter', 'type=network'];
    const mine = run(args);
    assert.equal(mine.code, 0, mine.stderr);
    assert.match(mine.stdout, new RegExp(`^\\S+ network create [0-9a-f]{64} \\(.*name=${name}.*\\)\\n`, 'm'));
    assert.match(mine.stdout, new RegExp(`^\\S+ network destroy [0-9a-f]{64} \\(.*name=${name}.*\\)\\n`, 'm'));
    if (dockerCliComparable()) assert.equal(mine.stdout, engine.docker(args).stdout);
    const json = run([...args, '--format', '{{json .}}'])
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.ok(json.some((e) => e.Type === 'network' && e.Action === 'create' && e.Actor.Attributes.name === name));
  });
});
