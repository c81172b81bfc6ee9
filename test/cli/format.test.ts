// The CLI's docker-compatible formatting, checked against what the docker CLI prints (strings taken from
// docker 28 against a real engine, and from docker/cli's own formatter tests).
import * as assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import {
  ContainerContext,
  DEFAULT_PS_FORMAT,
  bytesSize,
  displayablePorts,
  formatG,
  humanDuration,
  humanSize,
  humanSizeWithPrecision,
  imageRows,
  inspectJson,
  normalizeReference,
  renderFormat,
  tabwrite,
  Template,
  DEFAULT_IMAGES_FORMAT,
} from '../../src/cli/format';
import { displayJSONMessages } from '../../src/cli/progress';
import type { ContainerSummary, ImageSummary, JSONMessage } from '../../src/client';

const now = Date.parse('2026-11-23T06:21:31Z');
const container = (over: Partial<ContainerSummary> = {}): ContainerSummary => ({
  Id: 'f3e0d9b3bd85cc5627544737b75801d9208e13dcdab5e20d87b5a963d317594a',
  Names: ['/done'],
  Image: 'busybox',
  ImageID: 'sha256:55df638353a80ca147f93e960af8abbba4f08f91cfaab37ee3b70b9b11a1581e',
  Command: "sh -c 'echo hi; echo err >&2; exit 3'",
  Created: Date.parse('2026-11-23T06:13:31Z') / 1000,
  Ports: [],
  Labels: {},
  State: 'exited',
  Status: 'Exited (3) 8 minutes ago',
  HostConfig: { NetworkMode: 'bridge' },
  NetworkSettings: { Networks: { bridge: {} } },
  Mounts: [],
  ...over,
});

describe('cli format: tables and templates like docker', () => {
  it('lays out tables with Go tabwriter widths (minwidth 10, padding 3)', () => {
    const out = tabwrite('CONTAINER ID\tIMAGE\tCOMMAND\tPORTS\tNAMES\n7a575ebe834b\tbusybox\t"sleep 1000"\t\tweb\n');
    assert.equal(
      out,
      'CONTAINER ID   IMAGE     COMMAND        PORTS     NAMES\n' +
        '7a575ebe834b   busybox   "sleep 1000"             web\n',
    );
    // A line with fewer cells ends the column block, as in Go.
    assert.equal(tabwrite('a\tb\nlonger-cell\n'), 'a         b\nlonger-cell\n');
  });

  it('renders docker ps exactly as docker 28 printed it for the same container', () => {
    const rows = [
      new ContainerContext(container(), true, now),
      new ContainerContext(
        container({
          Id: '7a575ebe834bdc0cfab16430d6145fa45f68aadf7e4371e4365058d1cb4f5fd2',
          Names: ['/web'],
          Command: 'sleep 1000',
          State: 'running',
          Status: 'Up 8 minutes',
        }),
        true,
        now,
      ),
    ];
    assert.equal(
      renderFormat(DEFAULT_PS_FORMAT, rows),
      'CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS                     PORTS     NAMES\n' +
        'f3e0d9b3bd85   busybox   "sh -c \'echo hi; ech…"   8 minutes ago   Exited (3) 8 minutes ago             done\n' +
        '7a575ebe834b   busybox   "sleep 1000"             8 minutes ago   Up 8 minutes                         web\n',
    );
    assert.equal(
      renderFormat('{{json .}}', [rows[1]]),
      '{"Command":"\\"sleep 1000\\"","CreatedAt":"2026-11-23 06:13:31 +0000 UTC","ID":"7a575ebe834b","Image":"busybox","Labels":"",' +
        '"LocalVolumes":"0","Mounts":"","Names":"web","Networks":"bridge","Platform":null,"Ports":"","RunningFor":"8 minutes ago",' +
        '"Size":"0B","State":"running","Status":"Up 8 minutes"}\n',
    );
    assert.equal(renderFormat('{{.ID}}', rows), 'f3e0d9b3bd85\n7a575ebe834b\n');
    assert.equal(
      renderFormat('table {{.Names | upper}}\\t{{.State}}', rows),
      'NAMES     STATE\nDONE      exited\nWEB       running\n',
    );
    assert.equal(
      renderFormat('table {{.Label "a"}}\t{{.Names}}', [
        new ContainerContext(container({ Labels: { a: 'x' } }), true, now),
      ]),
      'a         NAMES\nx         done\n',
    );
  });

  it('fails on unknown fields of a row like docker ("can\'t evaluate field")', () => {
    assert.throws(
      () => renderFormat('{{.Nope}}', [new ContainerContext(container(), true, now)]),
      /can't evaluate field Nope/,
    );
  });

  it('supports the Go template basics people type', () => {
    const data = {
      Name: '/web',
      State: { Status: 'running', Pid: 42 },
      Args: ['a', 'b'],
      Labels: { 'com.x': 'y' },
      Mounts: [{ Source: '/s', Destination: '/d' }],
      Empty: null,
    };
    const t = (s: string) => new Template(s).execute(data);
    assert.equal(t('{{.State.Status}} {{.State.Pid}}'), 'running 42');
    assert.equal(t('{{json .Args}} {{json .State}}'), '["a","b"] {"Status":"running","Pid":42}');
    assert.equal(t('{{.Args}} {{.Labels}}'), '[a b] map[com.x:y]');
    assert.equal(t('{{range .Mounts}}{{.Source}}->{{.Destination}} {{end}}'), '/s->/d ');
    assert.equal(t('{{range $i, $a := .Args}}{{$i}}={{$a}},{{end}}'), '0=a,1=b,');
    assert.equal(t('{{if eq .State.Status "running"}}up{{else}}down{{end}}'), 'up');
    assert.equal(t('{{if .Empty}}x{{else if .Args}}args{{end}}'), 'args');
    assert.equal(t('{{index .Labels "com.x"}} {{join .Args ","}} {{len .Args}}'), 'y a,b 2');
    assert.equal(
      t('{{.Name | printf "%s!"}} {{upper "x"}} {{lower "Y"}} {{title "hello world"}}'),
      '/web! X y Hello World',
    );
    assert.equal(t('{{with .State}}{{.Pid}}{{end}} {{.Missing}}'), '42 <no value>');
    assert.equal(t('a {{- " b " -}} c'), 'a b c');
    assert.equal(t('{{split "a:b" ":"}} {{truncate "abcdef" 3}} {{pad "x" 1 2}}|'), '[a b] abc  x  |');
    assert.throws(() => new Template('{{.A'), /unclosed action/);
    assert.throws(() => t('{{nosuch .A}}'), /function "nosuch" not defined/);
  });

  it('prints sizes and durations with docker/go-units rules', () => {
    assert.equal(humanSizeWithPrecision(1982256, 3), '1.98MB');
    assert.equal(humanSize(1982256), '1.982MB');
    assert.equal(humanSizeWithPrecision(0, 3), '0B');
    assert.equal(humanSizeWithPrecision(187_000_000, 3), '187MB');
    assert.equal(humanSize(2048), '2.048kB');
    assert.equal(bytesSize(332 * 1024), '332KiB');
    assert.equal(bytesSize(25275473920), '23.54GiB');
    assert.equal(formatG(0.00001234, 3), '1.23e-05');
    assert.equal(humanDuration(500), 'Less than a second');
    assert.equal(humanDuration(1000), '1 second');
    assert.equal(humanDuration(5000), '5 seconds');
    assert.equal(humanDuration(61_000), 'About a minute');
    assert.equal(humanDuration(30 * 60_000), '30 minutes');
    assert.equal(humanDuration(60 * 60_000), 'About an hour');
    assert.equal(humanDuration(5 * 3600_000), '5 hours');
    assert.equal(humanDuration(3 * 86400_000), '3 days');
    assert.equal(humanDuration(20 * 86400_000), '2 weeks');
    assert.equal(humanDuration(90 * 86400_000), '3 months');
  });

  it('shows ports like docker ps (ranges grouped, host mappings, IPv6 brackets)', () => {
    assert.equal(displayablePorts([{ PrivatePort: 9988, Type: 'tcp' }]), '9988/tcp');
    assert.equal(
      displayablePorts([
        { IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
        { IP: '::', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
      ]),
      '0.0.0.0:8080->80/tcp, [::]:8080->80/tcp',
    );
    assert.equal(
      displayablePorts([
        { PrivatePort: 9988, Type: 'udp' },
        { PrivatePort: 9989, Type: 'udp' },
        { PrivatePort: 9990, Type: 'udp' },
      ]),
      '9988-9990/udp',
    );
    assert.equal(
      displayablePorts([
        { IP: '4.3.2.1', PrivatePort: 9988, PublicPort: 9988, Type: 'tcp' },
        { IP: '4.3.2.1', PrivatePort: 9989, PublicPort: 9989, Type: 'tcp' },
      ]),
      '4.3.2.1:9988-9989->9988-9989/tcp',
    );
    assert.equal(
      displayablePorts([
        { PrivatePort: 80, Type: 'tcp' },
        { PrivatePort: 1024, Type: 'tcp' },
      ]),
      '80/tcp, 1024/tcp',
    );
  });

  it('lists images one row per repository:tag, <none> for dangling ones, digests on request', () => {
    const img = (over: Partial<ImageSummary>): ImageSummary => ({
      Id: 'sha256:55df638353a80ca147f93e960af8abbba4f08f91cfaab37ee3b70b9b11a1581e',
      ParentId: '',
      RepoTags: [],
      RepoDigests: [],
      Created: Date.parse('2026-11-23T06:13:28Z') / 1000,
      Size: 1982256,
      SharedSize: -1,
      Labels: null,
      Containers: -1,
      ...over,
    });
    const images = [
      img({
        RepoTags: ['busybox:latest', 'busybox:1.36', '127.0.0.1:5000/library/busybox:latest'],
        RepoDigests: ['busybox@sha256:aaa'],
      }),
      img({ Id: 'sha256:1234567890abcdef', RepoTags: null, RepoDigests: null }),
    ];
    const rows = imageRows(images, { digests: false, trunc: true });
    assert.deepEqual(
      rows.map((r) => `${r.Repository}:${r.Tag}:${r.Digest}`),
      [
        'busybox:latest:<none>',
        'busybox:1.36:<none>',
        '127.0.0.1:5000/library/busybox:latest:<none>',
        '<none>:<none>:<none>',
      ],
    );
    assert.equal(rows[0].ID, '55df638353a8');
    assert.equal(rows[0].Size, '1.98MB');
    const table = renderFormat(
      DEFAULT_IMAGES_FORMAT,
      rows.slice(0, 1).map((r) => r),
    );
    assert.match(
      table,
      /^REPOSITORY   TAG       IMAGE ID       CREATED +SIZE\nbusybox      latest    55df638353a8   .+ ago +1\.98MB\n$/,
    );
    const withDigests = imageRows(images, { digests: true, trunc: true });
    assert.equal(withDigests[0].Digest, 'sha256:aaa');
    assert.match(renderFormat('{{json .}}', [withDigests[3]]), /"Digest":"\\u003cnone\\u003e"/);
  });

  it('normalises references like docker (familiar names, default registry)', () => {
    assert.deepEqual(normalizeReference('busybox'), {
      name: 'docker.io/library/busybox',
      tag: undefined,
      digest: undefined,
      familiar: 'busybox',
    });
    assert.equal(normalizeReference('user/app:1').familiar, 'user/app');
    assert.equal(normalizeReference('127.0.0.1:5000/library/busybox:latest').name, '127.0.0.1:5000/library/busybox');
    assert.equal(normalizeReference('localhost/x').name, 'localhost/x');
  });

  it('indents inspect output by four spaces and escapes HTML characters like Go', () => {
    assert.equal(
      inspectJson([{ Cmd: ['sh', '-c', 'a > b && c'], Empty: [] }]),
      '[\n    {\n        "Cmd": [\n            "sh",\n            "-c",\n            "a \\u003e b \\u0026\\u0026 c"\n        ],\n        "Empty": []\n    }\n]\n',
    );
    assert.equal(inspectJson([]), '[]\n');
  });
});

describe('cli format: pull progress like docker jsonmessage', () => {
  const messages: JSONMessage[] = [
    { status: 'Pulling from library/busybox', id: 'latest' },
    { status: 'Pulling fs layer', progressDetail: {}, id: 'a3ed95caeb02' },
    { status: 'Downloading', progressDetail: { current: 500, total: 1000 }, progress: '[=>]', id: 'a3ed95caeb02' },
    { status: 'Download complete', progressDetail: {}, id: 'a3ed95caeb02' },
    { status: 'Pull complete', progressDetail: {}, id: 'a3ed95caeb02' },
    { status: 'Digest: sha256:abc' },
    { status: 'Status: Downloaded newer image for busybox:latest' },
  ];
  async function* gen(list: JSONMessage[]) {
    for (const m of list) yield m;
  }
  const capture = (tty: boolean) => {
    const s = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number };
    s.isTTY = tty;
    s.columns = 120;
    let text = '';
    s.on('data', (d) => (text += d));
    return { s, text: () => text };
  };

  it('prints plain lines without bars off a terminal', async () => {
    const c = capture(false);
    await displayJSONMessages(gen(messages), c.s);
    assert.equal(
      c.text(),
      'latest: Pulling from library/busybox\n' +
        'a3ed95caeb02: Pulling fs layer\n' +
        'a3ed95caeb02: Download complete\n' +
        'a3ed95caeb02: Pull complete\n' +
        'Digest: sha256:abc\n' +
        'Status: Downloaded newer image for busybox:latest\n',
    );
  });

  it('updates each layer line in place on a terminal', async () => {
    const c = capture(true);
    await displayJSONMessages(gen(messages.slice(0, 3)), c.s);
    assert.equal(
      c.text(),
      'latest: Pulling from library/busybox\n' +
        '\n\x1b[1A\x1b[2K\ra3ed95caeb02: Pulling fs layer \r\x1b[1B' +
        '\x1b[1A\x1b[2K\ra3ed95caeb02: Downloading [=========================>                         ]     500B/1kB\r\x1b[1B',
    );
  });

  it('throws the stream error with its message', async () => {
    const c = capture(false);
    await assert.rejects(
      displayJSONMessages(
        gen([{ status: 'x' }, { error: 'manifest unknown', errorDetail: { message: 'manifest unknown' } }]),
        c.s,
      ),
      /manifest unknown/,
    );
  });
});
