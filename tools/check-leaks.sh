#!/usr/bin/env bash
# Post-run leak check for the real backend: fails, listing them, when a test run left behind
#   - a loop device whose backing file is under the scratch root,
#   - a mount below the scratch root (instances, fixtures; the root's own shared bind excluded),
#   - a libvirt domain named with our test prefix or whose XML points under the scratch root,
#   - a cgroup directory libvirt made for one of our test domains (lxc-<pid>-<name>.libvirt-lxc,
#     names nlt-*, nova-lxc-ft-* or the prefix): libvirt's paused destroy path leaves them, and
#     the driver's destroy removes its own.
# Scoped on purpose: other loop devices, mounts and domains on the machine are not ours.
#
#   tools/check-leaks.sh            env: NOVA_LXC_REAL_ROOT (default /var/tmp/nova-lxc-real),
#                                        NOVA_LXC_CONNECTION_URI (default lxc:///),
#                                        NOVA_LXC_DOMAIN_PREFIX (default nlxc-)
set -euo pipefail

ROOT="${NOVA_LXC_REAL_ROOT:-/var/tmp/nova-lxc-real}"
URI="${NOVA_LXC_CONNECTION_URI:-lxc:///}"
PREFIX="${NOVA_LXC_DOMAIN_PREFIX:-nlxc-}"
leaks=()

while read -r dev backing; do
  [ -n "${dev:-}" ] || continue
  case "$backing" in "$ROOT"/*) leaks+=("loop device $dev backed by $backing") ;; esac
done < <(losetup --list --noheadings --output NAME,BACK-FILE 2>/dev/null || true)

# mountinfo field 5 is the mount point with octal escapes; \040 etc. stay escaped in the report.
root_escaped="$(printf '%s' "$ROOT" | sed 's/ /\\040/g')"
while read -r target source; do
  leaks+=("mount $source on $target")
done < <(awk -v r="$root_escaped" '{ for (i = 7; $i != "-"; i++); if (index($5, r "/") == 1) print $5, $(i + 2) }' /proc/self/mountinfo)

if command -v virsh >/dev/null && timeout 10 virsh -c "$URI" list >/dev/null 2>&1; then
  while read -r name; do
    [ -n "$name" ] || continue
    if [[ "$name" == "$PREFIX"* ]] || virsh -c "$URI" dumpxml "$name" 2>/dev/null | grep -qF "$ROOT/"; then
      leaks+=("domain $name ($(virsh -c "$URI" domstate "$name" 2>/dev/null | head -1))")
    fi
  done < <(virsh -c "$URI" list --all --name)
else
  echo "check-leaks: libvirt does not answer on $URI; domains not checked"
fi

while read -r dir; do
  [ -n "$dir" ] && leaks+=("cgroup directory $dir")
done < <(find /sys/fs/cgroup -maxdepth 4 -type d \( -name 'lxc-*-nlt-*.libvirt-lxc' \
  -o -name 'lxc-*-nova-lxc-ft-*.libvirt-lxc' -o -name "lxc-*-${PREFIX}*.libvirt-lxc" \) 2>/dev/null)

if [ "${#leaks[@]}" -gt 0 ]; then
  echo "check-leaks: the test run left behind ${#leaks[@]} thing(s):"
  printf '  %s\n' "${leaks[@]}"
  exit 1
fi
echo "check-leaks: nothing left under $ROOT (loop devices, mounts), no test domains on $URI, no cgroups of test domains"
