// Bundles the extension, the engine and the CLI with esbuild, and compiles the engine's small C helper.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const watch = process.argv.includes('--watch');
// --outdir DIR (or BERTH_DIST) builds elsewhere than dist/, so parallel work does not share one output folder.
const outIdx = process.argv.indexOf('--outdir');
const outdir = path.resolve(root, outIdx > 0 ? process.argv[outIdx + 1] : process.env.BERTH_DIST || 'dist');
const common = { bundle: true, platform: 'node', target: 'node18', sourcemap: 'linked', logLevel: 'warning', absWorkingDir: root };
const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
const define = { 'process.env.BERTH_VERSION': JSON.stringify(version) };

// The extension loads a slim undici (src/client/undici-lite.ts): its activation must not pay for fetch & co.
const undiciLite = {
  name: 'undici-lite',
  setup(b) { b.onResolve({ filter: /^undici$/ }, () => ({ path: path.join(root, 'src/client/undici-lite.ts') })); },
};

await Promise.all([
  build({ ...common, entryPoints: ['src/extension/extension.ts'], outfile: path.join(outdir, 'extension.js'), format: 'cjs', external: ['vscode', '@lydell/node-pty'], define,
    // The extension reports its activation time including the bundle's own load.
    banner: { js: 'globalThis.__berthLoadStart = performance.now(); globalThis.__berthLoadCpu = process.cpuUsage();' }, plugins: [undiciLite], minify: true }),
  build({ ...common, entryPoints: ['src/engine/main.ts'], outfile: path.join(outdir, 'engine.js'), format: 'cjs', external: ['@lydell/node-pty'], define }),
  build({ ...common, entryPoints: ['src/cli/main.ts'], outfile: path.join(outdir, 'cli.js'), format: 'cjs', define }),
]);

// C sources under src/engine/**/native/*.c become static binaries in dist/bin (the engine's per-container helper).
const natives = [];
const walk = (dir) => {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.c') && path.basename(dir) === 'native') natives.push(p);
  }
};
walk(path.join(root, 'src/engine'));
fs.mkdirSync(path.join(outdir, 'bin'), { recursive: true });
for (const src of natives) {
  const out = path.join(outdir, 'bin', path.basename(src, '.c'));
  const fresh = fs.existsSync(out) && fs.statSync(out).mtimeMs >= fs.statSync(src).mtimeMs;
  if (!fresh) execFileSync('cc', ['-O2', '-static', '-Wall', '-Werror', '-o', out, src], { stdio: 'inherit' });
}
if (watch) console.log('watch mode is not implemented; rerun npm run build');
