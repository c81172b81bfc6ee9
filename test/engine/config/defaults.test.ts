import * as assert from 'node:assert/strict';
import { defaults } from '../../../src/engine/config';
import type { RootlessInfo } from '../../../src/engine/rootless';

describe('engine config: a rootless engine’s default paths', () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const k of ['HOME', 'XDG_DATA_HOME', 'XDG_CONFIG_HOME', 'XDG_RUNTIME_DIR']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });
  const rootless = {} as RootlessInfo;

  it('data in ~/.local/share/berth, config in ~/.config/berth/daemon.json, socket in $XDG_RUNTIME_DIR/berth', () => {
    process.env.HOME = '/home/ann';
    process.env.XDG_RUNTIME_DIR = '/run/user/1000';
    delete process.env.XDG_DATA_HOME;
    delete process.env.XDG_CONFIG_HOME;
    const d = defaults(rootless);
    assert.equal(d.dataRoot, '/home/ann/.local/share/berth');
    assert.equal(d.configFile, '/home/ann/.config/berth/daemon.json');
    assert.deepEqual(d.hosts, ['unix:///run/user/1000/berth/berth.sock']);
  });

  it('XDG_DATA_HOME and XDG_CONFIG_HOME move them, as rootless dockerd’s; relative values are ignored (XDG spec)', () => {
    process.env.HOME = '/home/ann';
    process.env.XDG_DATA_HOME = '/data/ann';
    process.env.XDG_CONFIG_HOME = '/etc-user/ann';
    let d = defaults(rootless);
    assert.equal(d.dataRoot, '/data/ann/berth');
    assert.equal(d.configFile, '/etc-user/ann/berth/daemon.json');
    process.env.XDG_DATA_HOME = 'relative/data';
    process.env.XDG_CONFIG_HOME = '';
    d = defaults(rootless);
    assert.equal(d.dataRoot, '/home/ann/.local/share/berth');
    assert.equal(d.configFile, '/home/ann/.config/berth/daemon.json');
  });
});
