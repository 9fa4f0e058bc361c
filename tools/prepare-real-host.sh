#!/usr/bin/env bash
# Prepares this machine for the real backend (root, loop devices, libvirt LXC), idempotently.
#
#   tools/prepare-real-host.sh           install what is missing, apply the host workarounds
#                                        that are detected as needed, start libvirt, wait for it
#   tools/prepare-real-host.sh --check   only decide whether the real backend can run here
#
# Exit codes: 0 ready; 3 the machine genuinely cannot run the real backend (prints one line
# "REAL BACKEND SKIPPED: <reason>"); anything else is a failure to be investigated.
# The workarounds are for our CI machines (QEMU driver system users, hybrid cgroups, mount
# propagation): a real compute node (libvirtd under systemd) needs none of them, so each is
# applied only when its symptom is present.
set -euo pipefail

SCRATCH_ROOT="${NOVA_LXC_REAL_ROOT:-/var/tmp/nova-lxc-real}"
URI="${NOVA_LXC_CONNECTION_URI:-lxc:///}"
SKIP_CODE=3
MODE="${1:-prepare}"

say() { printf 'prepare-real-host: %s\n' "$*"; }
skip() {
  printf 'REAL BACKEND SKIPPED: %s\n' "$*"
  exit "$SKIP_CODE"
}

# --- can this machine run the real backend at all? (skip, not failure)
check_machine() {
  [ "$(id -u)" = 0 ] || skip "not running as root (uid $(id -u)); loop devices, mounts and libvirt LXC need root"
  [ -e /dev/loop-control ] || skip "no /dev/loop-control: this kernel or container has no loop device support"
  [ "$(uname -s)" = Linux ] || skip "not Linux"
}

check_machine
if [ "$MODE" = --check ]; then
  say "machine can run the real backend (root, /dev/loop-control present)"
  exit 0
fi

# --- packages
PACKAGES=(libvirt-daemon-driver-lxc libvirt-daemon libvirt-clients fdisk e2fsprogs busybox-static qemu-utils)
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || { say "missing packages ${missing[*]} and no apt-get"; exit 1; }
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "packages already installed: ${PACKAGES[*]}"
fi

# --- workaround 1: system users the QEMU driver insists on (libvirt-daemon-system would make them)
if ! getent group kvm >/dev/null; then groupadd -r kvm; say "created group kvm"; fi
if ! getent passwd libvirt-qemu >/dev/null; then
  getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
  useradd -r -g libvirt-qemu -G kvm libvirt-qemu
  say "created user libvirt-qemu"
fi
mkdir -p /var/log/libvirt /var/run/libvirt /var/lib/libvirt "$SCRATCH_ROOT"

# --- workaround 3: mounts made under the scratch root must reach a libvirtd in its own namespace
if awk -v d="$SCRATCH_ROOT" '$5 == d && / shared:/ { found = 1 } END { exit !found }' /proc/self/mountinfo; then
  say "$SCRATCH_ROOT is already a shared mount"
else
  mount --bind "$SCRATCH_ROOT" "$SCRATCH_ROOT"
  mount --make-shared "$SCRATCH_ROOT"
  say "made $SCRATCH_ROOT a shared bind mount (mount propagation into libvirtd's namespace)"
fi

answering() { timeout 10 virsh -c "$URI" list >/dev/null 2>&1; }

if answering; then
  say "libvirt already answers on $URI; not starting anything"
  pid="$(cat /run/libvirtd.pid 2>/dev/null || true)"
  if [ -n "$pid" ] && [ "$(readlink "/proc/$pid/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] &&
    ! awk -v d="$SCRATCH_ROOT" '$5 == d && / master:/ { found = 1 } END { exit !found }' "/proc/$pid/mountinfo"; then
    say "WARNING: libvirtd ($pid) runs in another mount namespace that does not receive mounts under $SCRATCH_ROOT;"
    say "         stop it and run this script again"
    exit 1
  fi
else
  if pgrep -x virtlogd >/dev/null; then
    say "virtlogd already running"
  else
    virtlogd -d
    say "started virtlogd"
  fi
  if pgrep -x libvirtd >/dev/null; then
    say "libvirtd runs but does not answer on $URI"
    exit 1
  fi
  # --- workaround 2: hybrid cgroups make every LXC start fail on /sys/fs/cgroup/unified
  if awk '$5 == "/sys/fs/cgroup/unified" { found = 1 } END { exit !found }' /proc/self/mountinfo; then
    unshare -m --propagation slave sh -c 'umount /sys/fs/cgroup/unified && exec libvirtd -d'
    say "started libvirtd in its own mount namespace without /sys/fs/cgroup/unified (hybrid cgroups)"
  else
    unshare -m --propagation slave libvirtd -d
    say "started libvirtd in its own mount namespace (slave propagation)"
  fi
  for _ in $(seq 1 50); do
    answering && break
    sleep 0.2
  done
  answering || { say "libvirt does not answer on $URI after 10 s"; exit 1; }
  say "libvirt answers on $URI"
fi
say "ready: scratch root $SCRATCH_ROOT, connection $URI"
