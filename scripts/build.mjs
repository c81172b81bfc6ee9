// Bundles the extension, the engine and the CLI with esbuild, and compiles the engine's small C helper.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const watch = process.argv.includes('--watch');
// --outdir DIR (or BERTH_DIST) builds elsewhere than dist/, so parallel work does not share one output folder.
const outIdx = process.argv.indexOf('--outdir');
const outdir = path.resolve(root, outIdx > 0 ? process.argv[outIdx + 1] : process.env.BERTH_DIST || 'dist');
const common = {
  bundle: true,
  platform: 'node',
  target: 'node18',
  sourcemap: 'linked',
  logLevel: 'warning',
  absWorkingDir: root,
};
const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
const define = { 'process.env.BERTH_VERSION': JSON.stringify(version) };

// The extension loads a slim undici (src/client/undici-lite.ts): its activation must not pay for fetch & co.
const undiciLite = {
  name: 'undici-lite',
  setup(b) {
    b.onResolve({ filter: /^undici$/ }, () => ({ path: path.join(root, 'src/client/undici-lite.ts') }));
  },
};

// The engine loads what only some requests need on first use, not at start (idle memory, issue 4): the registry
// client's undici (the same slim undici as the extension: Agent and request() are all the engine uses),
// tar-stream (save/load, unpack), fzstd (zstd layers) and dns-packet (the embedded DNS server). Each import becomes a module of getters that requires
// the real one the first time an export is read.
const lazyEngineDeps = {
  name: 'lazy-engine-deps',
  setup(b) {
    const real = {
      undici: path.join(root, 'src/client/undici-lite.ts'),
      'tar-stream': 'tar-stream',
      fzstd: 'fzstd',
      'dns-packet': 'dns-packet',
    };
    const req = createRequire(path.join(root, 'package.json'));
    const exportsOf = {
      undici: ['Agent', 'Dispatcher', 'request', 'buildConnector'],
      'tar-stream': Object.keys(req('tar-stream')),
      fzstd: Object.keys(req('fzstd')),
      'dns-packet': Object.keys(req('dns-packet')),
    };
    b.onResolve({ filter: /^(undici|tar-stream|fzstd|dns-packet)$/ }, (args) =>
      args.namespace === 'lazy' ? undefined : { path: args.path, namespace: 'lazy' },
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, (args) => ({
      resolveDir: root,
      loader: 'js',
      contents:
        `let real;\nconst load = () => real || (real = require(${JSON.stringify(real[args.path])}));\n` +
        `for (const k of ${JSON.stringify(exportsOf[args.path])}) Object.defineProperty(exports, k, { enumerable: true, get: () => load()[k] });\n`,
    }));
  },
};

const nativesOnly = process.argv.includes('--natives-only');
if (!nativesOnly) await bundle();

async function bundle() {
  await Promise.all([
    build({
      ...common,
      entryPoints: ['src/extension/extension.ts'],
      outfile: path.join(outdir, 'extension.js'),
      format: 'cjs',
      external: ['vscode', '@lydell/node-pty'],
      define,
      // The extension reports its activation time including the bundle's own load.
      banner: {
        js: 'globalThis.__berthLoadStart = performance.now(); globalThis.__berthLoadCpu = process.cpuUsage();',
      },
      plugins: [undiciLite],
      minify: true,
    }),
    build({
      ...common,
      entryPoints: ['src/engine/main.ts'],
      outfile: path.join(outdir, 'engine.js'),
      format: 'cjs',
      external: ['@lydell/node-pty'],
      define,
      plugins: [lazyEngineDeps],
    }),
    build({ ...common, entryPoints: ['src/cli/main.ts'], outfile: path.join(outdir, 'cli.js'), format: 'cjs', define }),
    // The VM supervisor (src/vm), a detached process per running VM; the CLI and the extension start it.
    build({
      ...common,
      entryPoints: ['src/vm/main.ts'],
      outfile: path.join(outdir, 'vm.js'),
      format: 'cjs',
      define,
      plugins: [undiciLite],
    }),
  ]);

  // V8 keeps a script's source in memory for its whole life, two bytes a character as soon as one character is
  // outside Latin-1. esbuild escapes strings, regexps and templates (charset ascii) but copies comments as they are,
  // so one '→' in a comment doubled the engine's resident source. What is left non-ASCII can only sit in comments:
  // escape it there too.
  //
  // esbuild turns each `import * as fs from 'node:fs'` into its own copy of the module: an object with a getter
  // closure per export (19 copies of fs, 19 of path, 8 of crypto…). Besides the heap, the copying runs hot enough at
  // start that V8 optimizes it with TurboFan, which alone maps some 4 MB more of node's binary. ESM has one
  // namespace object per module, so the engine keeps one per module as well. The build fails if esbuild's helper
  // ever reads differently, rather than quietly losing this.
  const enginePath = path.join(outdir, 'engine.js');
  let engineText = fs.readFileSync(enginePath, 'utf8');
  const toEsm = 'var __toESM = (mod, isNodeMode, target) => ';
  if (!engineText.includes(toEsm))
    throw new Error(`esbuild's __toESM helper changed: update the one-namespace-per-module memo in scripts/build.mjs`);
  engineText = engineText.replace(
    toEsm,
    'var __toESMMemo = [new WeakMap(), new WeakMap()], __toESM = (mod, isNodeMode) => {\n' +
      '  if (mod === null || typeof mod !== "object" && typeof mod !== "function") return __toESMCopy(mod, isNodeMode);\n' +
      '  const memo = __toESMMemo[isNodeMode ? 1 : 0];\n' +
      '  let ns = memo.get(mod);\n' +
      '  if (!ns) memo.set(mod, ns = __toESMCopy(mod, isNodeMode));\n' +
      '  return ns;\n' +
      '}, __toESMCopy = (mod, isNodeMode, target) => ',
  );
  // eslint-disable-next-line no-control-regex
  fs.writeFileSync(
    enginePath,
    engineText.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
  );
}

// The engine's per-container helpers are static binaries in dist/bin, built from C under src/engine/**/native/:
// a file native/NAME.c is the helper NAME on its own; a folder native/NAME/ is the helper NAME made of all its .c
// files (berth-shim: one file per part). Headers next to the sources are inputs too: any of them changing
// rebuilds the helper. A file native/NAME.node.c is a Node-API addon instead (dist/bin/NAME.node, linked against
// the host's glibc, loaded by the engine itself), built with the headers of the node that runs this build.
// `--natives-only --arch arm64 --outdir DIR` builds only those, for another architecture (Debian's cross compiler
// aarch64-linux-gnu-gcc): the arm64 guest image and the linux-arm64 package carry them.
const natives = []; // { name, sources, inputs }
const cFiles = (dir, ext) =>
  fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(ext))
    .map((f) => path.join(dir, f));
const walk = (dir) => {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (path.basename(dir) === 'native') {
      if (e.isDirectory()) {
        const sources = cFiles(p, '.c');
        natives.push({ name: e.name, sources, inputs: [...sources, ...cFiles(p, '.h')] });
      } else if (e.name.endsWith('.node.c')) {
        natives.push({ name: path.basename(e.name, '.c'), sources: [p], inputs: [p], addon: true });
      } else if (e.name.endsWith('.c')) {
        natives.push({ name: path.basename(e.name, '.c'), sources: [p], inputs: [p, ...cFiles(dir, '.h')] });
      }
    } else if (e.isDirectory()) walk(p);
  }
};
walk(path.join(root, 'src/engine'));
const archIdx = process.argv.indexOf('--arch');
const arch = archIdx > 0 ? process.argv[archIdx + 1] : process.arch;
const compilers = { x64: 'x86_64-linux-gnu-gcc', arm64: 'aarch64-linux-gnu-gcc' };
if (!compilers[arch]) throw new Error(`no compiler known for --arch ${arch} (x64 or arm64)`);
// The host's own cc for the host's architecture (any distribution), the cross compiler otherwise.
const cc = arch === process.arch ? 'cc' : compilers[arch];
fs.mkdirSync(path.join(outdir, 'bin'), { recursive: true });
// berth-shim links libseccomp statically where this architecture's libseccomp.a is installed (libseccomp-dev, from
// scripts/install-deps.sh): its rootless fast exec compiles filters with it; without it those execs use runc exec.
const libseccomp = execFileSync(cc, ['-print-file-name=libseccomp.a'], { encoding: 'utf8' }).trim();
const seccompArgs = path.isAbsolute(libseccomp) ? ['-DBERTH_LIBSECCOMP'] : [];
// Node's headers: next to its binary in both the official builds (bin/../include/node) and distributions' packages.
const nodeHeaders = path.resolve(path.dirname(process.execPath), '..', 'include', 'node');
for (const { name, sources, inputs, addon } of natives) {
  const out = path.join(outdir, 'bin', name);
  const fresh = fs.existsSync(out) && inputs.every((f) => fs.statSync(out).mtimeMs >= fs.statSync(f).mtimeMs);
  const extra = name === 'berth-shim' && seccompArgs.length ? { flags: seccompArgs, libs: ['-lseccomp'] } : undefined;
  const link = addon ? ['-shared', '-fPIC', `-I${nodeHeaders}`] : ['-static'];
  if (!fresh)
    execFileSync(
      cc,
      ['-O2', ...link, '-Wall', '-Werror', ...(extra?.flags ?? []), '-o', out, ...sources, ...(extra?.libs ?? [])],
      { stdio: 'inherit' },
    );
}
// --init's init: Docker bundles tini as docker-init; Berth bundles Debian's static tini (package tini, from
// scripts/install-deps.sh) as bin/berth-init, which runs inside containers of any distribution. Another
// architecture's comes from its own package (dpkg -x of tini:arm64) given as BERTH_TINI_STATIC.
const tiniStatic = arch === process.arch ? '/usr/bin/tini-static' : process.env.BERTH_TINI_STATIC;
const initOut = path.join(outdir, 'bin', 'berth-init');
if (tiniStatic && fs.existsSync(tiniStatic)) {
  if (!fs.existsSync(initOut) || fs.statSync(initOut).mtimeMs < fs.statSync(tiniStatic).mtimeMs)
    fs.copyFileSync(tiniStatic, initOut);
} else
  console.warn(
    `no static tini for ${arch} (${tiniStatic ?? 'BERTH_TINI_STATIC unset'}): --init will fail; install tini`,
  );
if (watch) console.log('watch mode is not implemented; rerun npm run build');
