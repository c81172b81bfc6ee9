#!/usr/bin/env bash
# Installs what Berth's engine and tests need on Debian/Ubuntu, as root: system packages and npm dependencies.
# Idempotent: a second run only checks. Usage: scripts/install-deps.sh [--test] [--vm] [--ui] [--bench] [--system-only]
# (--system-only: the Debian packages alone, leaving node_modules as it is)
set -euo pipefail
cd "$(dirname "$0")/.."

want=(runc iptables iproute2 containernetworking-plugins ca-certificates curl openssl gcc libc6-dev)
# tini: its static build is bundled as bin/berth-init, the init of `docker run --init` (scripts/build.mjs).
want+=(tini)
# libseccomp's static library, linked into berth-shim: a rootless engine's fast exec compiles the container's filter
# with it as runc does (native/berth-shim/enter_seccomp.c); without it rootless execs go through runc exec.
want+=(libseccomp-dev)
if [[ " $* " == *" --test "* || " $* " == *" --demo "* ]]; then
  # The tests' own registry and images: Debian's docker-registry, a static busybox, htpasswd for auth tests.
  # attr: setfattr/getfattr for the volume copy-up test (xattrs must survive).
  # skopeo cross-checks what the fixtures push; file(1) checks the hello-world binary is static; zstd writes zstd layers.
  want+=(docker-registry busybox-static apache2-utils skopeo file zstd tmux attr)
  # The clients people already have, as a user installs them, for the compatibility scenarios in test/clients
  # (dockerode, the third, is an npm dev dependency).
  want+=(docker-compose python3-docker)
  # Rootless Berth (issue 14): newuidmap/newgidmap, the namespace's link out, overlay's fallback; rootless podman
  # is the bench's anchor.
  want+=(uidmap slirp4netns passt fuse-overlayfs podman)
  # crun: RHEL 10's only runtime; scripts/test.sh runs the container suites a second time on it.
  want+=(crun)
fi
if [[ " $* " == *" --test "* || " $* " == *" --vm "* ]]; then
  # Berth's Linux VM: QEMU boots the guest in the tests (TCG where KVM is unusable); building the guest image needs
  # dpkg-deb, mkfs.ext4 -d, cpio, depmod, xz (the x64 kernel unpacked for QEMU's PVH boot) and Debian's keyring
  # (scripts/vm-image.sh), and the arm64 guest's and package's C helpers Debian's cross compiler. Never a kernel or
  # firewall on the host itself.
  want+=(qemu-system-x86 qemu-system-arm e2fsprogs cpio kmod xz-utils debian-archive-keyring gcc-aarch64-linux-gnu
    libc6-dev-arm64-cross)
  # The RHEL-like test host (--flavor rhel): its sshd's host key is made at build time, the tests log in over SSH,
  # and firewalld's Python is compiled at build time by the host's python3 (Debian 12's, the guest's version).
  want+=(openssh-client python3)
fi
if [[ " $* " == *" --bench "* ]] && ! command -v dockerd >/dev/null; then
  # npm run bench's reference engine (scripts/ref-dockerd.sh): Debian's dockerd, its services held back.
  want+=(docker.io)
  hold_services=1
fi
if [[ " $* " == *" --test "* ]] && ! command -v docker >/dev/null; then
  # The tests drive the real docker CLI against berthd, whichever version is installed (Debian's is 20.10).
  # docker.io also carries dockerd and containerd: they must not start here (dockerd's bridge and iptables rules
  # would sit beside the tests' engines), so services are held back while it installs.
  want+=(docker.io)
  hold_services=1
fi
if [[ " $* " == *" --ui "* ]]; then
  # A real VS Code (code-server) driven by headless Chromium, and what its native modules build against.
  want+=(chromium ripgrep libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev pkg-config python3 make g++)
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  if [[ -n "${hold_services:-}" && ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # …nor at the next boot: only the CLI is wanted.
  if [[ -n "${hold_services:-}" ]] && command -v systemctl >/dev/null; then
    systemctl disable docker.service docker.socket >/dev/null 2>&1 || true
  fi
fi

# npm ci only when the lock file changed since the last install (a stamp of its hash), and never through a
# node_modules link (a developer's shared install): npm ci would empty the folder it points to.
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ " $* " == *" --system-only "* ]]; then
  :
elif [[ -L node_modules ]]; then
  echo "node_modules is a link; not reinstalling through it"
elif [[ ! -d node_modules/.bin || "$(cat node_modules/.berth-lock-hash 2>/dev/null)" != "$lock_hash" ]]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.berth-lock-hash
fi
