# The RHEL-like test host (sourced by scripts/vm-image.sh --flavor rhel): what a CentOS Stream / RHEL 9 host has
# below Berth's API and Berth's own guest lacks — systemd as PID 1 (cgroup v2 unified, systemd owning the tree),
# D-Bus, firewalld on its nftables backend (active, default zone public), iptables-nft, nftables, sshd, sudo and a
# non-root user — from Debian 12 packages, unpacked as the Berth guest is (no maintainer scripts). What those scripts
# would have done is done here, and only that: system users and groups, a machine-id, PAM's common files, sshd's
# config and host key, .pyc files, the units enabled (symlinks, as `systemctl enable` makes them). No Berth inside:
# test/vm/rhel-host.test.ts installs it over SSH as a user does. Not RHEL: Debian's kernel and no SELinux.
prefix=rhel-
packages=(systemd dbus firewalld nftables iptables sudo openssh-server passwd login coreutils bash libc-bin
  util-linux libstdc++6 libudev1 runc crun iproute2 containernetworking-plugins kmod e2fsprogs procps tar busybox-static)
# What rootless containers need and RHEL 9 has (shadow-utils' newuidmap/newgidmap, container-tools' slirp4netns).
packages+=(uidmap slirp4netns)
# The Berth guest's list, less what this host needs unpacked (coreutils, passwd's useradd/groupadd, libudev).
provided=(dpkg perl-base perl debconf usrmerge init-system-helpers adduser udev initramfs-tools
  initramfs-tools-core linux-base cpio klibc-utils libklibc)
strip=(usr/lib/udev)

# Called by build_arch for the root in $root (its locals are visible here).
rhel_root() {
  local r=$root here=$repo/scripts/vm/rhel
  install -d "$r"/{run,tmp,proc,sys,dev,mnt,home,opt,var/log,var/lib/berth,etc/cni/net.d,usr/libexec,usr/lib/berth-guest}
  install -d -m 0700 "$r/root"
  chmod 1777 "$r/tmp"
  # base-files' links (GDBus, polkitd among its users, finds the system bus at /var/run/dbus).
  rm -rf "$r/var/run" "$r/var/lock"
  ln -s /run "$r/var/run"
  ln -s /run/lock "$r/var/lock"
  # RHEL's containernetworking-plugins live in /usr/libexec/cni.
  mv "$r/usr/lib/cni" "$r/usr/libexec/cni"
  # systemd as PID 1 and the commands systemd-sysv would link to it (not busybox's, linked above for lack of them).
  rm -f "$r"/usr/bin/{init,poweroff,reboot,halt,shutdown}
  ln -sfn /lib/systemd/systemd "$r/usr/sbin/init"
  for c in poweroff reboot halt shutdown; do ln -sfn /bin/systemctl "$r/usr/sbin/$c"; done

  # Users and groups the maintainer scripts (adduser) or systemd-sysusers would make; the user a cloud image has,
  # with its password-less sudo (RHEL's cloud-init writes the same line for cloud-user).
  cat >"$r/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/bash
messagebus:x:100:101::/nonexistent:/usr/sbin/nologin
polkitd:x:101:102:polkit:/nonexistent:/usr/sbin/nologin
sshd:x:102:65534::/run/sshd:/usr/sbin/nologin
cloud-user:x:1000:1000:Cloud User:/home/cloud-user:/bin/bash
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
P
  cat >"$r/etc/group" <<'G'
root:x:0:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:cloud-user
shadow:x:42:
utmp:x:43:
messagebus:x:101:
polkitd:x:102:
systemd-journal:x:103:
cloud-user:x:1000:
nogroup:x:65534:
G
  printf 'root:*:19000:0:99999:7:::\ncloud-user:*:19000:0:99999:7:::\n' >"$r/etc/shadow"
  # The sub-ids RHEL's useradd gives every new user (SUB_UID_MIN 100000, SUB_UID_COUNT 65536 in login.defs).
  echo 'cloud-user:100000:65536' >"$r/etc/subuid"
  echo 'cloud-user:100000:65536' >"$r/etc/subgid"
  chmod 0640 "$r/etc/shadow"
  chgrp 42 "$r/etc/shadow"
  install -d -m 0700 -o 1000 -g 1000 "$r/home/cloud-user" "$r/home/cloud-user/.ssh"
  printf 'cloud-user ALL=(ALL) NOPASSWD:ALL\n' >"$r/etc/sudoers.d/90-cloud-init-users"
  chmod 0440 "$r/etc/sudoers.d/90-cloud-init-users"
  printf '/bin/sh\n/bin/bash\n/usr/bin/bash\n' >"$r/etc/shells"
  # PAM's common files (pam-auth-update writes them on Debian): sshd and sudo include them.
  printf 'auth [success=1 default=ignore] pam_unix.so nullok\nauth requisite pam_deny.so\nauth required pam_permit.so\n' \
    >"$r/etc/pam.d/common-auth"
  printf 'account [success=1 new_authtok_reqd=done default=ignore] pam_unix.so\naccount requisite pam_deny.so\naccount required pam_permit.so\n' \
    >"$r/etc/pam.d/common-account"
  printf 'password [success=1 default=ignore] pam_unix.so obscure yescrypt\npassword requisite pam_deny.so\npassword required pam_permit.so\n' \
    >"$r/etc/pam.d/common-password"
  # pam_systemd: an SSH login gets a logind session and the user's systemd (user@UID.service), as on RHEL.
  printf 'session required pam_unix.so\nsession optional pam_systemd.so\n' >"$r/etc/pam.d/common-session"
  printf 'session required pam_unix.so\n' >"$r/etc/pam.d/common-session-noninteractive"

  # sshd: its config (ucf writes it from /usr/share/openssh on Debian) and a host key made per image.
  cat >"$r/etc/ssh/sshd_config" <<'S'
HostKey /etc/ssh/ssh_host_ed25519_key
UsePAM yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
S
  rm -f "$r"/etc/ssh/ssh_host_*
  ssh-keygen -q -t ed25519 -N '' -C rhel-guest -f "$r/etc/ssh/ssh_host_ed25519_key"

  # D-Bus and systemd: one machine-id per image (its absence would make the boot a "first boot" with presets).
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$r/etc/machine-id"
  echo >>"$r/etc/machine-id"
  install -d "$r/var/lib/dbus"
  ln -sfn /etc/machine-id "$r/var/lib/dbus/machine-id"

  # The units: the host's own set-up (network, data disk, shares from the kernel command line, like the Berth
  # guest's rc.sysinit), the host's control channel (poweroff), and what `systemctl enable` would link.
  install -m 0755 "$here/setup" "$r/usr/lib/berth-guest/setup"
  install -m 0755 "$repo/scripts/vm/guest/control.run" "$r/usr/lib/berth-guest/control"
  install -m 0644 "$here"/berth-guest{,-control}.service "$r/etc/systemd/system/"
  printf '%s\n' virtio_net virtio_console virtio_rng virtio_balloon 9pnet_virtio 9p >"$r/etc/modules-load.d/berth-guest.conf"
  local s=$r/etc/systemd/system
  install -d "$s/multi-user.target.wants" "$s/sysinit.target.wants" "$s/sockets.target.wants"
  ln -sfn /lib/systemd/system/multi-user.target "$s/default.target"
  ln -sfn /etc/systemd/system/berth-guest.service "$s/sysinit.target.wants/berth-guest.service"
  ln -sfn /etc/systemd/system/berth-guest-control.service "$s/multi-user.target.wants/berth-guest-control.service"
  ln -sfn /lib/systemd/system/firewalld.service "$s/multi-user.target.wants/firewalld.service"
  ln -sfn /lib/systemd/system/firewalld.service "$s/dbus-org.fedoraproject.FirewallD1.service"
  ln -sfn /lib/systemd/system/ssh.service "$s/multi-user.target.wants/ssh.service"
  ln -sfn /lib/systemd/system/ssh.service "$s/sshd.service"
  [[ -e $r/lib/systemd/system/sockets.target.wants/dbus.socket ]] ||
    ln -sfn /lib/systemd/system/dbus.socket "$s/sockets.target.wants/dbus.socket"
  # firewalld's polkit actions: its postinst picks the server set through update-alternatives (root only, as RHEL).
  local actions=$r/usr/share/polkit-1/actions
  ln -sfn org.fedoraproject.FirewallD1.server.policy.choice "$actions/org.fedoraproject.FirewallD1.policy"
  grep -q '^FirewallBackend=nftables' "$r/etc/firewalld/firewalld.conf" ||
    { echo "vm-image: firewalld.conf does not choose the nftables backend" >&2; exit 1; }
  grep -q '^DefaultZone=public' "$r/etc/firewalld/firewalld.conf" ||
    { echo "vm-image: firewalld.conf's default zone is not public" >&2; exit 1; }

  # firewalld and firewall-cmd are Python: compiled once here (py3compile would have), not at every start under TCG.
  local py=/usr/bin/python3.11
  [[ -x $py ]] || py=python3
  "$py" -m compileall -q -j 0 --invalidation-mode unchecked-hash -s "$r" -p / \
    "$r/usr/lib/python3.11" "$r/usr/lib/python3/dist-packages" >/dev/null || true

  printf 'hosts: files dns\npasswd: files systemd\ngroup: files systemd\nshadow: files\n' >"$r/etc/nsswitch.conf"
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\trhel-guest\n' >"$r/etc/hosts"
  echo rhel-guest >"$r/etc/hostname"
  : >"$r/etc/fstab"
  printf 'PRETTY_NAME="Berth RHEL-like test host (Debian %s, systemd, firewalld)"\nNAME="Berth RHEL-like test host"\nID=berth-rhel\nID_LIKE="rhel centos fedora"\nVERSION_ID="9"\n' \
    "$(cat "$r/etc/debian_version" 2>/dev/null || echo 12)" >"$r/etc/os-release"
}
