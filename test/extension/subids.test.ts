// The extension's notice when it started the rootless engine for a user without sub-ids: once, with the usermod
// command (copied on request), and nothing for a user who has them. The host is a fake one read by the real probe.
import '../helpers/fake-vscode';
import * as assert from 'node:assert/strict';
import type { Berth } from '../../src/extension/berth';
import { noSubidsNotice, showNoSubidsOnce } from '../../src/extension/engine/subids';
import { probeRootlessHost } from '../../src/common/host/rootless';
import { recorded } from '../helpers/fake-vscode';

const host = (subuid: string) =>
  probeRootlessHost({
    read: (f) => ({ '/etc/subuid': subuid, '/etc/subgid': subuid, '/proc/sys/kernel/osrelease': '6.8.0' })[f],
    onPath: () => true,
    openable: () => true,
    user: { name: 'alice', uid: 1000 },
  });

const fakeBerth = () => {
  const state = new Map<string, unknown>();
  return {
    state,
    berth: {
      context: {
        globalState: {
          get: (k: string) => state.get(k),
          update: async (k: string, v: unknown) => void state.set(k, v),
        },
      },
    } as unknown as Berth,
  };
};

// bob has 100000-165535: alice's are the next free ones, never bob's.
const COMMAND = 'sudo usermod --add-subuids 165536-231071 --add-subgids 165536-231071 alice';

describe('extension: the no-sub-ids notice of a rootless engine it started', () => {
  beforeEach(() => {
    recorded.messages.length = 0;
    recorded.clipboard.length = 0;
    recorded.commands.length = 0;
  });

  it('says what is missing and the command that adds it, once; Copy Command copies it', async () => {
    const { berth } = fakeBerth();
    recorded.quickPickAnswers.push('Copy Command');
    await showNoSubidsOnce(berth, host('bob:100000:65536\n'));
    assert.deepEqual(recorded.messages, [
      'Berth: the rootless engine runs with a single id — alice has no lines in /etc/subuid and /etc/subgid — so ' +
        `images with files of other users fail to run. An administrator adds them with: ${COMMAND} (then restart the engine).`,
    ]);
    assert.deepEqual(recorded.clipboard, [COMMAND]);
    await showNoSubidsOnce(berth, host(''));
    assert.equal(recorded.messages.length, 1, 'not again');
  });

  it('Diagnose opens the diagnosis; a user with sub-ids sees nothing', async () => {
    const { berth, state } = fakeBerth();
    await showNoSubidsOnce(berth, host('alice:100000:65536\n'));
    assert.deepEqual(recorded.messages, []);
    assert.equal(state.size, 0, 'a user who has them still gets the notice if they lose them');
    assert.equal(noSubidsNotice(host('1000:200000:65536\n')), undefined, 'a line by uid counts');
    recorded.quickPickAnswers.push('Diagnose');
    await showNoSubidsOnce(berth, host(''));
    assert.deepEqual(recorded.commands, ['berth.engine.diagnose']);
  });
});
