#!/usr/bin/env bash
# Builds Berth's Linux guest from Debian packages, offline from everything but the Debian mirror, without emulation
# and without loop mounts: the packages are only unpacked (dpkg-deb -x, no maintainer scripts run), so an arm64
# guest builds on an x86_64 host like an x86_64 one.
#
#   npm run vm-image                 # the host's architecture
#   npm run vm-image -- --arch arm64 # or x64, or "all"
#   npm run vm-image -- --flavor rhel # the RHEL-like test host instead (scripts/vm/rhel/flavor.sh): systemd,
#                                     # firewalld on nftables, sshd, sudo, a user; no Berth inside, in dist/vm/rhel-<arch>
#
# Output, per architecture, in dist/vm/<arch>/ (node's names: x64, arm64):
#   vmlinuz       Debian's kernel, booted directly (no firmware, no boot loader, no cloud-init)
#   vmlinux       x64: the same kernel unpacked (an ELF QEMU boots through its PVH entry): under TCG the kernel's own
#                 xz decompression costs ~5 s of emulated CPU, and the platform packages leave it out
#   initrd.img    busybox-static, the modules needed to reach the root disk, and an init that mounts the root image
#                 read-only under a tmpfs overlay and switch_roots into it (runc cannot pivot_root out of an initramfs)
#   root.img      ext4 made with mkfs.ext4 -d: node, runc, iptables, iproute2, the CNI plugins, berthd
#   rootfs.tar.gz the same root for WSL (x64 only)
#   manifest.json sizes and sha256 of the above, the kernel and package versions
# Downloads are cached in ${BERTH_VM_CACHE:-~/.cache/berth/vm-image} (Debian's package lists for a day). The cache is
# shared by every checkout on the machine, so builds may run at once: its apt state and downloads are used under a
# lock, each build unpacks in a work directory of its own, and every output file appears by an atomic rename (a
# checkout's dist/vm/<arch> is locked for the whole build of that architecture).
# BERTH_VM_OUT puts the output in $BERTH_VM_OUT/<arch>/ instead of dist/vm/<arch>/.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

archs=()
flavor=berth
while (($#)); do
  case $1 in
    --arch) shift; [[ $1 == all ]] && archs+=(x64 arm64) || archs+=("$1") ;;
    --arch=*) v=${1#--arch=}; [[ $v == all ]] && archs+=(x64 arm64) || archs+=("$v") ;;
    --flavor) shift; flavor=$1 ;;
    --flavor=*) flavor=${1#--flavor=} ;;
    *) echo "usage: $0 [--arch x64|arm64|all] [--flavor berth|rhel]" >&2; exit 2 ;;
  esac
  shift
done
if ((${#archs[@]} == 0)); then
  case $(uname -m) in x86_64) archs=(x64) ;; aarch64) archs=(arm64) ;; *) echo "unsupported host $(uname -m)" >&2; exit 1 ;; esac
fi

need() { command -v "$1" >/dev/null || { echo "vm-image: $1 is missing (bash scripts/install-deps.sh --vm installs it)" >&2; exit 1; }; }
for t in apt-get dpkg-deb mkfs.ext4 cpio gzip xz depmod sha256sum flock; do need "$t"; done

cache=${BERTH_VM_CACHE:-$HOME/.cache/berth/vm-image}
outroot=${BERTH_VM_OUT:-$repo/dist/vm}
mkdir -p "$cache" "$outroot"
# Work directories of this invocation, removed however it ends.
works=()
trap 'for w in "${works[@]}"; do rm -rf "$w"; done' EXIT
mirror=${BERTH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${BERTH_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
suite=bookworm
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -r $keyring ]] || { echo "vm-image: $keyring is missing (apt-get install debian-archive-keyring)" >&2; exit 1; }

# What the guest runs. Recommends are never installed; maintainer scripts never run.
# crun: the runtime RHEL 10 ships instead of runc; berthd's containers run on both in the guest's tests (crun
# refuses the hybrid cgroup v1 hosts CI runs on).
packages=(nodejs runc crun iptables iproute2 containernetworking-plugins busybox-static kmod e2fsprogs procps tar)
# tini's static build is the guest engine's berth-init (docker run --init), for either architecture.
packages+=(tini)
# Rootless berthd in the guest (its cgroup v2 tests): newuidmap/newgidmap (setuid, kept by dpkg-deb -x and mkfs -d)
# and slirp4netns.
packages+=(uidmap slirp4netns)
# Dependencies the guest never needs because nothing configures it at run time (dpkg, debconf, perl, PAM, udev,
# initramfs-tools for the kernel) or busybox stands in (coreutils): apt is told they are installed already.
# (libsystemd0 is unpacked: crun links it.)
provided=(dpkg perl-base perl debconf usrmerge init-system-helpers coreutils passwd adduser udev libudev1
  initramfs-tools initramfs-tools-core linux-base cpio klibc-utils libklibc)
# What the guest never reads (besides docs and the like); the RHEL-like flavor keeps systemd's files.
strip=(etc/systemd usr/lib/systemd usr/lib/udev)
# The output folder's prefix: dist/vm/<prefix><arch>.
prefix=
[[ $flavor == berth ]] || { [[ $flavor == rhel ]] && source "$repo/scripts/vm/rhel/flavor.sh"; } ||
  { echo "vm-image: unknown flavor $flavor (berth or rhel)" >&2; exit 2; }

# Modules the initramfs loads, in this order (with their dependencies first) to reach and mount the root disk: a
# virtio disk, or (QEMU on Linux and macOS) virtio-pmem, whose pages the guest maps directly (DAX) from the host's
# page cache of root.img instead of copying them into its own memory.
initrd_modules=(virtio_pci virtio_mmio virtio_blk virtio_pmem nd_pmem crc32c_generic crc32c-intel ext4 overlay)
# Modules the root carries for modprobe (the kernel loads most of them on demand): devices, 9p, overlay, bridges,
# veth, netfilter for iptables (nft and legacy), vsock for vfkit.
root_module_dirs=(kernel/net/netfilter kernel/net/ipv4/netfilter kernel/net/ipv6/netfilter kernel/net/bridge
  kernel/net/9p kernel/fs/9p kernel/fs/overlayfs kernel/fs/fuse kernel/net/vmw_vsock)
root_modules=(virtio_net virtio_console virtio_rng virtio_balloon qemu_fw_cfg veth tun dummy crc32c_generic crc32c-intel)

debarch() { case $1 in x64) echo amd64 ;; arm64) echo arm64 ;; *) echo "unknown arch $1" >&2; exit 2 ;; esac; }

# A private apt state per architecture: the host's apt configuration and package database stay untouched.
apt_setup() {
  local darch=$1 d=$cache/apt-$1
  mkdir -p "$d/lists/partial" "$d/archives/partial" "$d/etc/apt.conf.d" "$d/etc/preferences.d"
  cat >"$d/sources.list" <<EOF
deb [signed-by=$keyring] $mirror $suite main
deb [signed-by=$keyring] $mirror $suite-updates main
deb [signed-by=$keyring] $security $suite-security main
EOF
  cat >"$d/apt.conf" <<EOF
APT::Architecture "$darch";
APT::Architectures { "$darch"; };
APT::Install-Recommends "false";
APT::Sandbox::User "root";
Acquire::Languages "none";
Dir::State "$d";
Dir::State::status "$d/status";
Dir::State::Lists "$d/lists";
Dir::Cache "$d/cache";
Dir::Cache::archives "$d/archives";
Dir::Etc::SourceList "$d/sources.list";
Dir::Etc::SourceParts "/nonexistent";
Dir::Etc::Parts "$d/etc/apt.conf.d";
Dir::Etc::PreferencesParts "$d/etc/preferences.d";
EOF
  : >"$d/status"
  for p in "${provided[@]}"; do
    printf 'Package: %s\nStatus: install ok installed\nVersion: 999\nArchitecture: %s\nMaintainer: berth\nDescription: not needed in the guest\n\n' "$p" "$darch" >>"$d/status"
  done
  if [[ -z $(find "$d/lists" -name '*Packages*' -mmin -1440 2>/dev/null | head -1) ]]; then
    echo "vm-image: apt-get update ($darch)"
    APT_CONFIG=$d/apt.conf apt-get update -qq
  fi
}

build_arch() {
  local arch=$1 darch
  darch=$(debarch "$arch")
  local aptc=$cache/apt-$darch/apt.conf debs=$cache/debs-$darch out=$outroot/$prefix$arch work
  local t0=$SECONDS
  # One build of an architecture at a time per output folder (fd 8); the shared apt state and downloads under the
  # cache's lock (fd 9) until every package is here; the unpacking in a work directory of this build's own.
  exec 8>"$outroot/.$prefix$arch.lock"
  flock 8
  exec 9>"$cache/apt-$darch.lock"
  flock 9
  apt_setup "$darch"
  export APT_CONFIG=$aptc

  # The kernel: the newest versioned image the meta package points at (generic flavour: the cloud one lacks 9p).
  local kpkg
  kpkg=$(apt-cache depends "linux-image-$darch" | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  [[ -n $kpkg ]] || { echo "vm-image: no kernel package found for $darch" >&2; exit 1; }

  # Everything to unpack: the packages and their dependencies as apt resolves them from nothing — except an upgrade of
  # a provided package ("Inst passwd [999] (…)": a Breaks on its real version, as libpam-modules has), never unpacked.
  mapfile -t wanted < <(apt-get install -s -qq "${packages[@]}" "$kpkg" | awk '/^Inst / && $3 !~ /^\[/ {gsub(/[()]/, "", $3); print $2 "=" $3}')
  mkdir -p "$debs/partial"
  local missing=()
  for pv in "${wanted[@]}"; do
    local p=${pv%%=*} v=${pv#*=}
    compgen -G "$debs/${p}_${v//:/%3a}_*.deb" >/dev/null || missing+=("$pv")
  done
  if ((${#missing[@]})); then
    echo "vm-image: downloading ${#missing[@]} packages ($darch)"
    (cd "$debs" && apt-get download -qq "${missing[@]}")
  fi
  # Every .deb this build needs is complete now, and nothing rewrites a downloaded version: the cache is free again.
  exec 9>&-

  work=$(mktemp -d "$cache/work-$prefix$arch.XXXXXX")
  works+=("$work")
  mkdir -p "$work/root" "$work/kernel" "$work/initrd"
  local versions=()
  for pv in "${wanted[@]}"; do
    local p=${pv%%=*} v=${pv#*=} deb
    deb=$(compgen -G "$debs/${p}_${v//:/%3a}_*.deb" | head -1)
    versions+=("$p $v")
    if [[ $p == "$kpkg" ]]; then dpkg-deb -x "$deb" "$work/kernel"; else dpkg-deb -x "$deb" "$work/root"; fi
  done
  local root=$work/root kver
  kver=$(ls "$work/kernel/lib/modules")

  # /usr merge as Debian 12 has it (the packages still ship /bin, /lib …; debootstrap makes these links).
  for d in bin sbin lib lib32 lib64 libx32; do
    if [[ -d $root/$d && ! -L $root/$d ]]; then
      mkdir -p "$root/usr/$d"
      cp -a "$root/$d/." "$root/usr/$d/"
      rm -rf "${root:?}/$d"
    fi
  done
  for d in bin sbin lib; do ln -sfn "usr/$d" "$root/$d"; done
  [[ -d $root/usr/lib64 ]] && ln -sfn usr/lib64 "$root/lib64"

  # What the guest never reads.
  rm -rf "$root"/usr/share/{doc,man,info,locale,lintian,bug,bash-completion,zsh,fish,gcc,gdb,common-licenses} \
    "$root"/usr/lib/*/gconv "$root"/etc/{cron.*,logrotate.d,init.d,rc?.d} "${strip[@]/#/$root/}" \
    "$root"/var/cache/* "$root"/var/lib/dpkg
  find "$root" -name '*.a' -delete
  # The CNI plugins berthd runs (src/engine/network/cni.ts); the package has 20 more.
  find "$root/usr/lib/cni" -type f ! -name bridge ! -name host-local ! -name portmap ! -name firewall ! -name loopback -delete

  # Commands the packages would get from alternatives or from essential packages we do not unpack.
  local bb=$root/usr/bin/busybox
  local applets
  applets=$(busybox --list 2>/dev/null || true)
  [[ -n $applets ]] || applets="sh ash cat cp mv rm ln ls mkdir rmdir chmod chown mount umount sleep echo printf grep sed awk head tail cut tr wc sort uniq find xargs env id hostname sysctl dmesg uname date kill killall pidof ps free df du stat touch sync poweroff reboot halt init switch_root modprobe insmod lsmod readlink realpath basename dirname test [ true false seq tee timeout cmp md5sum sha256sum gzip gunzip zcat less vi nc wget ping nslookup setsid nsenter unshare"
  for a in $applets; do
    [[ -e $root/usr/bin/$a || -e $root/usr/sbin/$a || -L $root/usr/bin/$a || -L $root/usr/sbin/$a ]] || ln -s busybox "$root/usr/bin/$a"
  done
  [[ -x $bb ]] || { echo "vm-image: busybox missing from the root" >&2; exit 1; }
  for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -sfn "xtables-nft-multi" "$root/usr/sbin/$t"
  done
  ln -sfn /usr/bin/busybox "$root/usr/sbin/init"

  # The guest's own files.
  if [[ $flavor == rhel ]]; then
    rhel_root
  else
    install -d "$root/usr/lib/berth/bin" "$root/etc/berth" "$root/var/lib/berth" "$root/run" "$root/tmp" "$root/proc" \
      "$root/sys" "$root/dev" "$root/root" "$root/mnt" "$root/home" "$root/var/log" "$root/etc/cni/net.d" "$root/opt"
    chmod 1777 "$root/tmp"
    cp "$repo/dist/engine.js" "$root/usr/lib/berth/engine.js"
    BERTH_TINI_STATIC=$root/usr/bin/tini-static node "$repo/scripts/build.mjs" --natives-only --arch "$arch" \
      --outdir "$work/natives" >/dev/null
    cp "$work/natives/bin/"* "$root/usr/lib/berth/bin/"
    cp "$repo"/scripts/vm/guest/{inittab,rc.sysinit,rc.shutdown,berthd.run,control.run,udhcpc.script,wsl-init} "$root/etc/berth/"
    chmod 0755 "$root"/etc/berth/{rc.sysinit,rc.shutdown,berthd.run,control.run,udhcpc.script,wsl-init}
    mv "$root/etc/berth/inittab" "$root/etc/inittab"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$root/etc/passwd"
    printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' >"$root/etc/group"
    printf 'root:*:19000:0:99999:7:::\n' >"$root/etc/shadow"
    chmod 0640 "$root/etc/shadow"
    printf 'hosts: files dns\npasswd: files\ngroup: files\n' >"$root/etc/nsswitch.conf"
    printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\tberth\n' >"$root/etc/hosts"
    echo berth >"$root/etc/hostname"
    ln -sfn /run/resolv.conf "$root/etc/resolv.conf"
    : >"$root/etc/fstab"
    printf 'PRETTY_NAME="Berth VM (Debian %s)"\nNAME="Berth VM"\nID=berth\nID_LIKE=debian\nVERSION_ID="%s"\n' \
      "$(cat "$root/etc/debian_version" 2>/dev/null || echo 12)" "$(node -p "require('$repo/package.json').version")" >"$root/etc/os-release"
  fi

  # Modules: the directories and names above with everything they depend on, indexed for modprobe.
  local kmods=$work/kernel/lib/modules/$kver
  depmod -b "$work/kernel" "$kver"
  closure() { # module names or paths relative to $kmods → the paths of them and their dependencies
    local want=("$@")
    awk -v want="$(printf '%s\n' "${want[@]}")" '
      BEGIN { n = split(want, w, "\n"); for (i = 1; i <= n; i++) if (w[i] != "") wanted[w[i]] = 1 }
      { sub(/:$/, "", $1); path = $1; sub(/:.*/, "", path); deps[path] = ""; for (i = 2; i <= NF; i++) deps[path] = deps[path] " " $i
        name = path; sub(/.*\//, "", name); sub(/\.ko$/, "", name); byname[name] = path; gsub(/-/, "_", name); byname[name] = path }
      END {
        for (k in wanted) { p = (k in deps) ? k : byname[k]; if (p == "") { gsub(/-/, "_", k); p = byname[k] } if (p != "") add(p) }
        for (i = 1; i <= cnt; i++) print order[i]
      }
      function add(p,   d, m, j) { if (p in seen) return; seen[p] = 1; m = split(deps[p], d, " "); for (j = 1; j <= m; j++) add(d[j]); order[++cnt] = p }
    ' "$kmods/modules.dep"
  }
  local dirmods=()
  for d in "${root_module_dirs[@]}"; do
    [[ -d $kmods/$d ]] && while IFS= read -r f; do dirmods+=("${f#"$kmods"/}"); done < <(find "$kmods/$d" -name '*.ko*')
  done
  local m
  while IFS= read -r m; do
    install -D -m 0644 "$kmods/$m" "$root/lib/modules/$kver/$m"
  done < <(closure "${dirmods[@]}" "${root_modules[@]}" "${initrd_modules[@]}")
  cp "$kmods"/modules.{order,builtin,builtin.modinfo} "$root/lib/modules/$kver/"
  depmod -b "$root" "$kver"

  # The initramfs: busybox, its modules in load order, the init.
  local ird=$work/initrd
  install -d "$ird"/{bin,dev,proc,sys,ro,rw,newroot,lib/modules}
  cp "$bb" "$ird/bin/busybox"
  ln -s busybox "$ird/bin/sh"
  mknod -m 0600 "$ird/dev/console" c 5 1
  : >"$ird/modules"
  while IFS= read -r m; do
    cp "$kmods/$m" "$ird/lib/modules/"
    basename "$m" >>"$ird/modules"
  done < <(closure "${initrd_modules[@]}")
  install -m 0755 "$repo/scripts/vm/guest/init" "$ird/init"
  # Everything is made in a staging folder beside the output and renamed into it, the manifest last: a reader sees
  # the old image or the new one, never half of each.
  mkdir -p "$out"
  local stage
  stage=$(mktemp -d "$out/.build.XXXXXX")
  works+=("$stage")
  (cd "$ird" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) | gzip -9 >"$stage/initrd.img"
  cp "$work/kernel/boot/vmlinuz-$kver" "$stage/vmlinuz"
  # x64: the ELF inside the bzImage (Debian compresses it with xz), for QEMU's PVH boot without the decompressor.
  if [[ $arch == x64 ]]; then
    local at
    at=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$stage/vmlinuz" | head -1 | cut -d: -f1)
    [[ -n $at ]] || { echo "vm-image: the x64 kernel is not xz-compressed; cannot unpack it" >&2; exit 1; }
    tail -c +$((at + 1)) "$stage/vmlinuz" | xz -dcq >"$stage/vmlinux" 2>/dev/null || true
    [[ $(head -c 4 "$stage/vmlinux" | od -An -tx1 | tr -d ' ') == 7f454c46 ]] ||
      { echo "vm-image: unpacking the x64 kernel gave no ELF" >&2; exit 1; }
  fi

  # The root image: ext4 without a journal (the guest mounts it read-only), sized to its content plus a margin. DAX
  # (the guest mapping its files from the host's page cache through virtio-pmem) needs blocks of the page size, and
  # the pmem device a size in whole 2 MiB (the guest maps device memory in sections of that).
  local kb
  kb=$(du -sk --apparent-size "$root" | cut -f1)
  local files
  files=$(find "$root" | wc -l)
  mkfs.ext4 -q -F -L berth-root -b 4096 -O ^has_journal,^resize_inode -m 0 -N $((files + 2048)) -E root_owner=0:0 \
    -d "$root" "$stage/root.img" "$((((kb * 115 / 100 + 32768) / 1024 + 1) / 2 * 2))M" >/dev/null
  if [[ $arch == x64 && $flavor == berth ]]; then tar --numeric-owner -C "$root" -cf - . | gzip -6 >"$stage/rootfs.tar.gz"; fi

  # The manifest the host checks before booting (a missing or corrupt file is an error, not a hung boot).
  node - "$stage" "$arch" "$kver" "$(node "$repo/scripts/vm/inputs-hash.cjs" "$repo" "$flavor")" \
    "$(node -p "require('$repo/package.json').version")" "${versions[@]}" <<'EOF'
const fs = require('fs'), path = require('path'), crypto = require('crypto');
const [out, arch, kernel, inputs, berth, ...pkgs] = process.argv.slice(2);
const files = {};
for (const f of ['vmlinuz', 'vmlinux', 'initrd.img', 'root.img', 'rootfs.tar.gz']) {
  const p = path.join(out, f);
  if (!fs.existsSync(p)) continue;
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(p, 'r'); const buf = Buffer.alloc(1 << 20); let n;
  while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
  fs.closeSync(fd);
  files[f] = { size: fs.statSync(p).size, sha256: h.digest('hex') };
}
fs.writeFileSync(path.join(out, 'manifest.json'), JSON.stringify({ arch, kernel, berth, inputs, built: new Date().toISOString(),
  files, packages: Object.fromEntries(pkgs.map((p) => p.split(' '))) }, null, 2) + '\n');
EOF
  rm -f "$out/manifest.json"
  for f in vmlinuz vmlinux initrd.img root.img rootfs.tar.gz; do
    if [[ -f $stage/$f ]]; then mv -f "$stage/$f" "$out/$f"; else rm -f "$out/$f"; fi
  done
  mv -f "$stage/manifest.json" "$out/manifest.json"
  local mb=$((1024 * 1024))
  printf 'vm-image %s (kernel %s, %d packages) in %ds:\n' "$arch" "$kver" "${#wanted[@]}" $((SECONDS - t0))
  printf '  vmlinuz %s MB (vmlinux %s MB), initrd.img %s MB, root.img %s MB (%s MB used, %s MB gzipped), rootfs.tar.gz %s MB\n' \
    $(($(stat -c %s "$out/vmlinuz") / mb)) "$([[ -f $out/vmlinux ]] && echo $(($(stat -c %s "$out/vmlinux") / mb)) || echo -)" \
    "$(awk "BEGIN{printf \"%.1f\", $(stat -c %s "$out/initrd.img") / $mb}")" \
    $(($(stat -c %s "$out/root.img") / mb)) $((kb / 1024)) $(($(gzip -1 -c "$out/root.img" | wc -c) / mb)) \
    "$([[ -f $out/rootfs.tar.gz ]] && echo $(($(stat -c %s "$out/rootfs.tar.gz") / mb)) || echo -)"
  unset APT_CONFIG
}

[[ -f dist/engine.js ]] || npm run build --silent
for a in "${archs[@]}"; do build_arch "$a"; done
