#!/usr/bin/env bash
# Platform packages: one VSIX per VS Code target (vsce package --target), each carrying the static C helpers built
# for its architecture (Debian's cross compiler builds arm64 here) and, for macOS and Windows, where the engine is
# the Linux VM, the guest image of the matching architecture (root tarball too on Windows, for WSL).
#
#   npm run package:platforms                       # all five, into dist/packages/berth-<target>.vsix
#   npm run package:platforms -- darwin-arm64 …     # only these
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
targets=("$@")
((${#targets[@]})) || targets=(linux-x64 linux-arm64 darwin-x64 darwin-arm64 win32-x64)
out=${BERTH_PACKAGES_OUT:-$repo/dist/packages}
mkdir -p "$out"
cache=${BERTH_VM_CACHE:-$HOME/.cache/berth/vm-image}

node scripts/build.mjs >/dev/null
# The guest images the macOS/Windows targets need, built (or found fresh) once per architecture.
declare -A need_image=()
for t in "${targets[@]}"; do
  case $t in
    linux-x64 | linux-arm64) ;;
    darwin-x64 | win32-x64) need_image[x64]=1 ;;
    darwin-arm64) need_image[arm64]=1 ;;
    *) echo "package-platforms: unknown target $t (linux-x64 linux-arm64 darwin-x64 darwin-arm64 win32-x64)" >&2; exit 2 ;;
  esac
done
for a in "${!need_image[@]}"; do
  if [[ $(node -p "try{require('./dist/vm/$a/manifest.json').inputs}catch{''}") != "$(node scripts/vm/inputs-hash.cjs)" ]]; then
    bash scripts/vm-image.sh --arch "$a"
  fi
done

# tini's static build for arm64 (berth-init) comes from Debian's arm64 package, as the arm64 guest's does.
tini_for() {
  local arch=$1
  [[ $arch == "$(node -p process.arch)" ]] && { echo /usr/bin/tini-static; return; }
  local deb dir=$cache/tini-$arch
  if [[ ! -x $dir/usr/bin/tini-static ]]; then
    deb=$(compgen -G "$cache/debs-arm64/tini_*_arm64.deb" | head -1 || true)
    if [[ -z $deb ]]; then
      [[ -f $cache/apt-arm64/apt.conf ]] || bash scripts/vm-image.sh --arch arm64 >/dev/null
      mkdir -p "$cache/debs-arm64"
      (cd "$cache/debs-arm64" && APT_CONFIG=$cache/apt-arm64/apt.conf apt-get download -qq tini)
      deb=$(compgen -G "$cache/debs-arm64/tini_*_arm64.deb" | head -1)
    fi
    mkdir -p "$dir"
    dpkg-deb -x "$deb" "$dir"
  fi
  echo "$dir/usr/bin/tini-static"
}

for t in "${targets[@]}"; do
  arch=${t#*-}
  stage=$(mktemp -d "${TMPDIR:-/tmp}/berth-package-$t.XXXXXX")
  trap 'rm -rf "$stage"' EXIT
  cp package.json README.md .vscodeignore "$stage/"
  [[ -f LICENSE ]] && cp LICENSE "$stage/"
cp THIRD_PARTY_NOTICES.md "$stage/"
  cp -r media engine-bin "$stage/"
  mkdir -p "$stage/dist"
  cp dist/extension.js dist/engine.js dist/cli.js dist/vm.js "$stage/dist/"
  BERTH_TINI_STATIC=$(tini_for "$arch") node scripts/build.mjs --natives-only --arch "$arch" --outdir "$stage/dist" >/dev/null
  case $t in
    darwin-* | win32-*)
      mkdir -p "$stage/dist/vm/$arch"
      files=(manifest.json vmlinuz initrd.img root.img)
      [[ $t == win32-* ]] && files+=(rootfs.tar.gz)
      for f in "${files[@]}"; do ln "dist/vm/$arch/$f" "$stage/dist/vm/$arch/$f" 2>/dev/null || cp "dist/vm/$arch/$f" "$stage/dist/vm/$arch/"; done
      printf '!dist/vm/%s/**\n' "$arch" >>"$stage/.vscodeignore"
      ;;
  esac
  (cd "$stage" && "$repo/node_modules/.bin/vsce" package --target "$t" --no-dependencies --allow-missing-repository \
    --skip-license -o "$out/berth-$t.vsix" >/dev/null)
  echo "package-platforms: $out/berth-$t.vsix ($(($(stat -c %s "$out/berth-$t.vsix") / 1024 / 1024)) MB)"
  rm -rf "$stage"
  trap - EXIT
done
