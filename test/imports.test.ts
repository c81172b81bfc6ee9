// The house's import rules, checked on the source tree (README, "Architecture"):
//  - berthd's subsystems stand on floors: a subsystem imports only subsystems on lower floors, never one above it
//    (nothing reaches back up: no subsystem imports the API, the API does not import the daemon's wiring);
//  - a subsystem's index.ts is its only door: from outside, only `<subsystem>` (its index.ts) is imported, never
//    one of its files; log.ts (one file) and util/ (small file-system helpers) are libraries, not subsystems;
//  - the parts of the product keep apart: the extension and its views never import the engine; the engine never
//    imports the extension, views, CLI, client or VM code; src/common imports none of them; outside src, only the
//    JSON data of third_party/ may be imported.
// The checker is tried on made-up trees too, so the test is seen to fail when a rule is broken.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const SRC = path.join(__dirname, '../src');

/** berthd's subsystems (folders of src/engine, and main.ts), from the ground floor up. */
const FLOORS: string[][] = [
  ['errdefs', 'log', 'util', 'events'],
  ['rootless', 'content', 'registry', 'runtime', 'logs'],
  ['config', 'snapshots', 'host'],
  ['network', 'volumes'],
  ['images'],
  ['containers'],
  ['build'],
  ['api'],
  ['daemon'],
  ['main'],
];
/** Imported through any of their files: a library of helpers (util/) and a one-file module (log.ts). */
const LIBRARIES = new Set(['util', 'log']);

/** The parts of the product (folders of src) and those each may import. */
const PARTS: Record<string, string[]> = {
  common: [],
  engine: ['common'],
  client: ['common'],
  vm: ['common', 'client'],
  cli: ['common', 'client', 'vm'],
  views: ['common', 'client'],
  extension: ['common', 'client', 'views', 'vm'],
};

/** Relative imports of a TypeScript file: static, type-only, re-exports, dynamic import() and require(). */
function importsOf(text: string): string[] {
  const out: string[] = [];
  const re = /(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"](\.[^'"]*)['"]/gm;
  for (const m of text.matchAll(re)) out.push(m[1]);
  return out;
}

/** Where a file stands: its part of src, and within the engine its subsystem. */
function placeOf(rel: string): { part: string; subsystem?: string; door: boolean } {
  const parts = rel.split('/');
  if (parts[0] !== 'engine') return { part: parts[0], door: false };
  const subsystem = parts.length === 2 ? parts[1].replace(/\.ts$/, '') : parts[1];
  // A subsystem's door: its index.ts (or the one file that is the whole module, as main.ts and log.ts).
  const door = parts.length === 2 || (parts.length === 3 && parts[2] === 'index.ts');
  return { part: 'engine', subsystem, door };
}

/** The file an import names (`.ts`, or a folder's index.ts), relative to src. */
function resolve(fromRel: string, spec: string, exists: (rel: string) => boolean): string {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(fromRel), spec));
  for (const c of [`${base}.ts`, `${base}/index.ts`, base]) if (exists(c)) return c;
  return `${base}.ts`;
}

/** Every broken rule in a tree: files (relative to src) and their text. */
function violations(files: Map<string, string>): string[] {
  const floorOf = new Map<string, number>();
  FLOORS.forEach((names, i) => {
    for (const n of names) floorOf.set(n, i);
  });
  const found: string[] = [];
  for (const [from, text] of files) {
    const a = placeOf(from);
    if (!(a.part in PARTS)) {
      found.push(`${from}: src/${a.part} is not a known part of the product`);
      continue;
    }
    if (a.part === 'engine' && !floorOf.has(a.subsystem ?? '')) {
      found.push(`${from}: engine subsystem '${a.subsystem}' has no floor (test/imports.test.ts FLOORS)`);
      continue;
    }
    for (const spec of importsOf(text)) {
      const to = resolve(from, spec, (rel) => files.has(rel));
      // Data kept as other projects publish it (third_party/, each with its provenance and licence): any part may.
      if (to.startsWith('../third_party/') && spec.endsWith('.json')) continue;
      const b = placeOf(to);
      const what = `${from} imports ${spec} (${to})`;
      if (a.part !== b.part) {
        if (!PARTS[a.part].includes(b.part)) found.push(`${what}: src/${a.part} may not import src/${b.part}`);
        continue;
      }
      if (a.part !== 'engine' || a.subsystem === b.subsystem) continue;
      const fa = floorOf.get(a.subsystem ?? '') ?? -1;
      const fb = floorOf.get(b.subsystem ?? '') ?? Number.MAX_SAFE_INTEGER;
      if (fb >= fa)
        found.push(`${what}: ${a.subsystem} (floor ${fa}) reaches ${b.subsystem} (floor ${fb}), not below it`);
      else if (!b.door && !LIBRARIES.has(b.subsystem ?? ''))
        found.push(`${what}: only ${b.subsystem}'s index.ts is its door`);
    }
  }
  return found;
}

function sourceTree(): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts'))
        files.set(path.relative(SRC, p).split(path.sep).join('/'), fs.readFileSync(p, 'utf8'));
    }
  };
  walk(SRC);
  return files;
}

describe('imports: the house rules', () => {
  it('hold for the whole source tree', () => {
    const tree = sourceTree();
    assert.ok(tree.size > 100 && tree.has('engine/api/index.ts'), 'the source tree was read');
    assert.deepEqual(violations(tree), []);
  });

  it('the API layer imports the subsystems only through their index.ts', () => {
    const tree = sourceTree();
    let doors = 0;
    for (const [from, text] of tree) {
      if (!from.startsWith('engine/api/')) continue;
      for (const spec of importsOf(text)) {
        const to = resolve(from, spec, (rel) => tree.has(rel));
        if (to.startsWith('engine/api/') || to.startsWith('common/')) continue;
        // util is a library (LIBRARIES), not a subsystem: its files are doors of their own.
        assert.match(to, /^engine\/(([a-z]+\/index|log)|util\/[a-z-]+)\.ts$/, `${from} imports ${spec}`);
        doors++;
      }
    }
    assert.ok(doors > 10, `the API was seen importing subsystems (${doors} imports)`);
  });

  it('are broken by a file of a subsystem imported from outside it', () => {
    const tree = new Map([
      ['engine/api/routes/images.ts', "import { unpack } from '../../images/archive';"],
      ['engine/images/index.ts', "export * from './archive';"],
      ['engine/images/archive.ts', 'export const unpack = 1;'],
    ]);
    assert.deepEqual(violations(tree), [
      "engine/api/routes/images.ts imports ../../images/archive (engine/images/archive.ts): only images's index.ts is its door",
    ]);
    tree.set('engine/api/routes/images.ts', "import type { Unpack } from '../../images';");
    assert.deepEqual(violations(tree), []);
  });

  it('are broken by a subsystem reaching up or sideways', () => {
    const tree = new Map([
      ['engine/runtime/index.ts', "import { createRouter } from '../api';"],
      ['engine/api/index.ts', "export const createRouter = () => import('../daemon');"],
      ['engine/daemon/index.ts', "import { x } from '../runtime';"],
      ['engine/images/index.ts', "const v = require('../volumes');"],
      ['engine/volumes/index.ts', ''],
      ['engine/network/index.ts', "import { z } from '../volumes';"],
    ]);
    assert.deepEqual(violations(tree), [
      'engine/runtime/index.ts imports ../api (engine/api/index.ts): runtime (floor 1) reaches api (floor 7), not below it',
      'engine/api/index.ts imports ../daemon (engine/daemon/index.ts): api (floor 7) reaches daemon (floor 8), not below it',
      'engine/network/index.ts imports ../volumes (engine/volumes/index.ts): network (floor 3) reaches volumes (floor 3), not below it',
    ]);
    tree.delete('engine/network/index.ts');
    tree.set('engine/volumes/index.ts', "export { y } from '../images';");
    assert.deepEqual(violations(tree).slice(2), [
      'engine/volumes/index.ts imports ../images (engine/images/index.ts): volumes (floor 3) reaches images (floor 4), not below it',
    ]);
  });

  it('are broken by the extension importing the engine, or common importing anything of the product', () => {
    const tree = new Map([
      ['extension/commands/image/pull.ts', "import { humanSize } from '../../../common/docker';"],
      ['common/docker/index.ts', ''],
      ['views/model.ts', "import type { ContainerService } from '../engine/containers';"],
      ['common/docker/units.ts', "import { API_VERSION } from '../../client';"],
      ['engine/containers/index.ts', ''],
      ['client/index.ts', ''],
      ['engine/gadgets/index.ts', ''],
      ['engine/runtime/index.ts', "import profile from '../../../third_party/x/profile.json';"],
      ['engine/errdefs/index.ts', "import { y } from '../../../scripts/lib';"],
    ]);
    assert.deepEqual(violations(tree), [
      'views/model.ts imports ../engine/containers (engine/containers/index.ts): src/views may not import src/engine',
      'common/docker/units.ts imports ../../client (client/index.ts): src/common may not import src/client',
      "engine/gadgets/index.ts: engine subsystem 'gadgets' has no floor (test/imports.test.ts FLOORS)",
      'engine/errdefs/index.ts imports ../../../scripts/lib (../scripts/lib.ts): src/engine may not import src/..',
    ]);
  });
});
