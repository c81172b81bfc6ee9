// What a guest image bakes in from this checkout (the engine bundle, the C helpers' sources, the guest's own scripts
// and the script that builds it), as one sha256: recorded in the image's manifest, so tests rebuild an image that no
// longer matches.
// The RHEL-like test host (--flavor rhel) carries no Berth: its inputs are its own files and the initramfs' init.
// Usage: node scripts/vm/inputs-hash.cjs [repo root] [berth|rhel]
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

function inputsHash(root, flavor = 'berth') {
  if (flavor === 'rhel') {
    const files = [path.join(root, 'scripts/vm-image.sh'), path.join(root, 'scripts/vm/guest/init')];
    for (const f of fs.readdirSync(path.join(root, 'scripts/vm/rhel')))
      files.push(path.join(root, 'scripts/vm/rhel', f));
    return hashFiles(root, files);
  }
  // The build script too: what it unpacks and how (a package added to the guest is a new image).
  const files = [path.join(root, 'dist/engine.js'), path.join(root, 'scripts/vm-image.sh')];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      // A helper's sources: native/NAME.c, or native/NAME/*.c and *.h (scripts/build.mjs).
      else if (path.basename(dir) === 'native' || path.basename(path.dirname(dir)) === 'native') files.push(p);
      else if (dir.endsWith(path.join('vm', 'guest'))) files.push(p);
    }
  };
  walk(path.join(root, 'src/engine'));
  walk(path.join(root, 'scripts/vm/guest'));
  return hashFiles(root, files);
}

function hashFiles(root, files) {
  const h = crypto.createHash('sha256');
  for (const f of files.sort()) h.update(`${path.relative(root, f)}\0`).update(fs.readFileSync(f));
  return h.digest('hex');
}

module.exports = { inputsHash };
if (require.main === module)
  process.stdout.write(
    `${inputsHash(path.resolve(process.argv[2] ?? path.join(__dirname, '../..')), process.argv[3] ?? 'berth')}\n`,
  );
