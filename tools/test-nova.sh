#!/usr/bin/env bash
# npm run test:nova: the Python driver's tests against real Nova 26.2.2 (Debian 12 packages).
#   tools/test-nova.sh [--real] [unittest names…] | --bench
#   unit: python/tests/unit (nova.test.NoDBTestCase, fake_instance, fake_block_device)
#   functional: python/tests/functional (Nova's _IntegratedTestBase, the service on the
#   simulator; with --real also the real host, as root)
# Never skips: a machine without the packages gets the install command and exit 1.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=/usr/bin/python3   # another python3 earlier on PATH cannot import Debian's packages
PACKAGES="python3-nova python3-oslotest python3-placement python3-wsgi-intercept"
missing=()
for pkg in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ! -x "$PY" ] || [ "${#missing[@]}" -gt 0 ]; then
  echo "test:nova needs Debian 12's Nova test dependencies: missing ${missing[*]:-/usr/bin/python3}" >&2
  echo "install them with: apt-get install --no-install-recommends $PACKAGES" >&2
  exit 1
fi

real=0
bench=0
selected=()
for arg in "$@"; do
  case "$arg" in
    --real) real=1 ;;
    --bench) bench=1 ;;
    *) selected+=("$arg") ;;
  esac
done

# api-paste.ini is in nova-common, not python3-nova: extract it, never install or commit it.
work=$(mktemp -d /tmp/nova-lxc-test-nova.XXXXXX)
trap 'rm -rf "$work"' EXIT
paste=/usr/share/nova-common/api-paste.ini
if [ ! -f "$paste" ]; then
  (cd "$work" && apt-get download nova-common >/dev/null 2>&1) || {
    echo "cannot fetch nova-common for api-paste.ini (apt-get download nova-common failed)" >&2
    exit 1
  }
  dpkg-deb -x "$work"/nova-common_*.deb "$work/nova-common"
  paste="$work/nova-common/usr/share/nova-common/api-paste.ini"
fi
export NOVA_LXC_API_PASTE="$paste"

# The service runs from dist/ (bin/nova-lxc.js); build it when it is missing or stale.
if [ ! -f dist/tools/cli.js ] || [ -n "$(find driver service tools harness simulator -name '*.ts' -newer dist/tools/cli.js 2>/dev/null | head -1)" ]; then
  npm run --silent build
fi

cd python
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ "$bench" = 1 ]; then
  # npm run bench (tools/bench/nova.bench.ts): timings as JSON in $NOVA_LXC_BENCH_OUT.
  "$PY" -m tests.bench_nova
  exit
fi
# No exec below: the EXIT trap must still remove $work.
if [ "${#selected[@]}" -gt 0 ]; then
  "$PY" -m unittest -v "${selected[@]}"
  exit
fi
tests=(tests.unit.test_driver tests.unit.test_distribution tests.unit.test_runner_script
  tests.unit.test_logged_tracebacks tests.unit.test_green_transactions
  tests.functional.test_servers_sim)
if [ "$real" = 1 ]; then tests+=(tests.functional.test_servers_real); fi
"$PY" -m unittest -v "${tests[@]}"
