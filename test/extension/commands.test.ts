// Tree providers and commands with a minimal fake `vscode`: rows become TreeItems with stable ids and the menus'
// contextValue; a refresh redraws only changed rows; commands act on the clicked row or the whole multi-selection
// with the right engine calls and arguments, and ask before removing.
import '../helpers/fake-vscode';
import * as assert from 'node:assert/strict';
import { recorded, TreeItemCollapsibleState } from '../helpers/fake-vscode';
import type { ContainerSummary } from '../../src/client/types';
import { buildContainerTree, type TreeRecord } from '../../src/views/model';
import { RecordTreeProvider } from '../../src/views/provider';
import { selected } from '../../src/extension/commands/command';
import stop from '../../src/extension/commands/container/stop';
import remove from '../../src/extension/commands/container/remove';
import start from '../../src/extension/commands/container/start';

function ctr(i: number, over: Partial<ContainerSummary> = {}): ContainerSummary {
  return {
    Id: `${i}`.padStart(64, '0'),
    Names: [`/c${i}`],
    Image: 'busybox',
    ImageID: '',
    Command: 'sleep 9',
    Created: 0,
    Ports: [{ IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8000 + i, Type: 'tcp' }],
    Labels: {},
    State: 'running',
    Status: 'Up 1 second',
    Mounts: [],
    ...over,
  };
}

/** A Berth stand-in: a client that records calls, and the container list it answers. */
function fakeBerth(list: ContainerSummary[]) {
  const calls: string[] = [];
  const client = new Proxy(
    {},
    {
      get:
        (_t, method: string) =>
        async (...args: unknown[]) => {
          calls.push(`${method}(${args.map((a) => JSON.stringify(a)).join(', ')})`);
          return method === 'listContainers' ? list : undefined;
        },
    },
  );
  return {
    calls,
    berth: { client: () => client, fail: (what: string, err: unknown) => calls.push(`fail ${what}: ${err}`) } as any,
  };
}

describe('extension: tree provider (fake vscode)', () => {
  it('renders records as TreeItems with stable ids, contextValue, icon and collapsible children', async () => {
    let list = [ctr(1), ctr(2, { State: 'exited', Status: 'Exited (0) 1 minute ago', Ports: [] })];
    const p = new RecordTreeProvider(
      async () => buildContainerTree(list),
      (e) => {
        throw e;
      },
    );
    const fired: unknown[] = [];
    p.onDidChangeTreeData((e) => fired.push(e));
    await p.refresh();
    assert.deepEqual(fired, [undefined], 'the first load redraws the tree');
    const [running, exited] = p.getChildren() as TreeRecord[];
    const item = p.getTreeItem(running);
    assert.equal(item.id, `container:${ctr(1).Id}`);
    assert.equal(item.contextValue, 'container.running.web');
    assert.equal((item.iconPath as any).id, 'debug-start');
    assert.equal(item.collapsibleState, TreeItemCollapsibleState.Collapsed);
    assert.equal(p.getTreeItem(exited).collapsibleState, TreeItemCollapsibleState.None);
    assert.equal(p.getTreeItem((p.getChildren(running) as TreeRecord[])[0]).label, '8001→80/tcp');

    // Uptime changes on one row: only that row is redrawn, and it is the same object the view holds.
    list = [ctr(1, { Status: 'Up 2 minutes' }), list[1]];
    await p.refresh();
    assert.equal(fired.length, 2);
    assert.deepEqual(fired[1], [running]);
    assert.match(p.getTreeItem(running).description as string, /Up 2 minutes/);

    // Nothing changed: nothing redrawn.
    await p.refresh();
    assert.equal(fired.length, 2);

    p.clear();
    assert.deepEqual(p.getChildren(), []);
  });

  it('coalesces refreshes that arrive while one is loading', async () => {
    let loads = 0;
    const p = new RecordTreeProvider(
      async () => {
        loads++;
        await new Promise((r) => setTimeout(r, 20));
        return [];
      },
      () => undefined,
    );
    await Promise.all([p.refresh(), p.refresh(), p.refresh(), p.refresh()]);
    assert.equal(loads, 2, 'one load, and one more for everything that came during it');
  });
});

describe('extension: commands (fake vscode)', () => {
  beforeEach(() => {
    recorded.messages = [];
    recorded.quickPickAnswers = [];
  });
  const rows = buildContainerTree([ctr(1), ctr(2), ctr(3)]);

  it('acts on the whole multi-selection when the clicked row is part of it, else on the clicked row', () => {
    assert.deepEqual(
      selected(rows[0], [rows[0], rows[2]]).map((r) => r.label),
      ['c1', 'c3'],
    );
    assert.deepEqual(
      selected(rows[1], [rows[0], rows[2]]).map((r) => r.label),
      ['c2'],
    );
    assert.deepEqual(selected(undefined, undefined), []);
  });

  it('stop: calls the engine for each selected container', async () => {
    const { berth, calls } = fakeBerth([]);
    await stop.run(berth, rows[0], [rows[0], rows[1]]);
    assert.deepEqual(calls.sort(), [`stopContainer("${ctr(1).Id}")`, `stopContainer("${ctr(2).Id}")`]);
  });

  it('start from the palette: offers only startable containers and starts the one picked', async () => {
    const { berth, calls } = fakeBerth([ctr(1), ctr(2, { State: 'exited' }), ctr(3, { State: 'created' })]);
    recorded.quickPickAnswers.push('c3');
    await start.run(berth, undefined, undefined);
    assert.deepEqual(calls, ['listContainers({"all":true})', `startContainer("${ctr(3).Id}")`]);
  });

  it('remove: asks first (saying running ones will be stopped), and does nothing when declined', async () => {
    const { berth, calls } = fakeBerth([]);
    recorded.quickPickAnswers.push(undefined);
    await remove.run(berth, rows[0], undefined);
    assert.deepEqual(calls, []);
    assert.match(recorded.messages[0], /Remove container c1\? It is running and will be stopped\./);
    recorded.quickPickAnswers.push('Remove');
    await remove.run(berth, rows[0], undefined);
    assert.deepEqual(calls, [`removeContainer("${ctr(1).Id}", {"force":true})`]);
    assert.match(recorded.messages.at(-1)!, /removed 1 container/);
  });
});
