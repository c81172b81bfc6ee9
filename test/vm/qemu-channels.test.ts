// The qemu driver's loopback TCP channels (Windows: src/vm/qemu.ts tcpChannels) against a stand-in QEMU and a
// stranger: any local user (and the guest, through slirp's 10.0.2.2) can connect to a loopback port, so the
// supervisor's listeners must take only the QEMU it started — the one answering query-name with its secret name —
// and close once it is there. (The real QEMU is booted with these channels by qemu-windows.test.ts.)
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { chardevLocalPort, tcpChannels } from '../../src/vm/qemu';

/** A QMP server side on a connection: greets, then answers query-name with `name`, hmp with `hmp` and
 * query-chardev with its control connection as QEMU 7.2 reports it. */
function fakeQmp(port: number, name: string, hmp: string, control?: net.Socket) {
  const s = net.connect(port, '127.0.0.1');
  const closed = new Promise<void>((r) => s.on('close', () => r()));
  s.on('error', () => undefined);
  s.on('connect', () => s.write('{"QMP": {"version": {}, "capabilities": []}}\n'));
  let buf = '';
  s.on('data', (d) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const msg = JSON.parse(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      const chardevs = [
        { 'frontend-open': true, filename: `tcp:127.0.0.1:${s.localPort} <-> 127.0.0.1:${port}`, label: 'qmp' },
        ...(control
          ? [{ filename: `tcp:127.0.0.1:${control.localPort} <-> 127.0.0.1:${control.remotePort}`, label: 'control' }]
          : []),
      ];
      const ret =
        msg.execute === 'query-name'
          ? { name }
          : msg.execute === 'human-monitor-command'
            ? hmp
            : msg.execute === 'query-chardev'
              ? chardevs
              : {};
      s.write(`${JSON.stringify({ return: ret, id: msg.id })}\n`);
    }
  });
  return { socket: s, closed };
}

const connectResult = (port: number) =>
  new Promise<string>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve('connected');
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });

describe('vm: the qemu driver loopback channels (Windows) take only their own QEMU', () => {
  it('a stranger connecting first is not taken for QEMU; the listeners close once QEMU is there', async () => {
    let end!: () => void;
    const ch = await tcpChannels(new Promise<void>((r) => (end = r)));
    assert.equal(ch.args.kind, 'tcp');
    if (ch.args.kind !== 'tcp') return;
    const { qmpPort, controlPort, name } = ch.args;
    assert.match(name, /^berth-[0-9a-f]{32}$/);
    // The stranger comes first on both, pretending to be QEMU with a name of its own.
    const strangerControl = net.connect(controlPort, '127.0.0.1');
    let strangerGot = '';
    strangerControl.on('data', (d) => (strangerGot += d));
    const strangerControlClosed = new Promise((r) => strangerControl.on('close', r));
    const stranger = fakeQmp(qmpPort, 'berth-guessed', 'stranger');
    await new Promise((r) => setTimeout(r, 200));
    // Then QEMU: its control chardev, then its monitor.
    const control = net.connect(controlPort, '127.0.0.1');
    let got = '';
    control.on('data', (d) => (got += d));
    await new Promise((r) => control.on('connect', r));
    const qemu = fakeQmp(qmpPort, name, 'the real one', control);
    const qmp = await ch.qmp();
    assert.equal(await qmp.hmp('info usernet'), 'the real one');
    // Both strangers dropped, both listeners closed.
    await stranger.closed;
    await strangerControlClosed;
    assert.equal(await connectResult(qmpPort), 'ECONNREFUSED');
    assert.equal(await connectResult(controlPort), 'ECONNREFUSED');
    // The control line reaches QEMU's connection only.
    await ch.control('poweroff');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(got, 'poweroff\n');
    assert.equal(strangerGot, '');
    end();
    await qemu.closed;
    strangerControl.destroy();
    control.destroy();
  });

  it('QEMU gone before it connected: the QMP wait fails instead of hanging', async () => {
    let end!: () => void;
    const ch = await tcpChannels(new Promise<void>((r) => (end = r)));
    end();
    await assert.rejects(ch.qmp(), /QEMU exited before its QMP and control connections/);
    await assert.rejects(ch.control('poweroff'), /QEMU exited/);
  });

  it('a QEMU that never connects fails the wait after the timeout', async () => {
    const ch = await tcpChannels(new Promise<void>(() => undefined), 300);
    await assert.rejects(ch.qmp(), /QEMU did not connect its QMP and control channels within 0\.3 s/);
    ch.close();
  });

  it("reads QEMU's port of a TCP chardev from query-chardev (as QEMU 7.2 prints it)", () => {
    const chardevs = [
      { 'frontend-open': true, filename: 'tcp:127.0.0.1:55700 <-> 127.0.0.1:51905', label: 'qmp' },
      { 'frontend-open': false, filename: 'tcp:127.0.0.1:57358 <-> 127.0.0.1:35471', label: 'control' },
      { filename: 'disconnected:tcp:127.0.0.1:1234', label: 'other' },
    ];
    assert.equal(chardevLocalPort(chardevs, 'control'), 57358);
    assert.equal(chardevLocalPort(chardevs, 'other'), undefined);
    assert.equal(chardevLocalPort(chardevs, 'absent'), undefined);
  });
});
