#!/usr/bin/env bash
# Installs nova-lxc as another project would (npm pack, then npm install of the tarball into an
# empty project) and checks what such a user meets first:
#   - the package holds only what a user needs (no tests, no CI scripts),
#   - every export imports in plain Node and has type declarations that tsc accepts,
#   - `nova-lxc scenario new x && nova-lxc scenario run scenarios/x.yaml` writes and runs the
#     user's own scenario in the user's folder.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/nova-lxc-package.XXXXXX)"
trap 'rm -rf "$work"' EXIT

cd "$repo"
tarball="$(npm pack --silent --pack-destination "$work" | tail -n 1)"
echo "check-package: packed $tarball"
listing="$(tar -tzf "$work/$tarball")"
for unwanted in 'package/test/' 'package/.ci/' 'package/tools/' '\.test\.' 'package/coverage/'; do
  if grep -qE "$unwanted" <<<"$listing"; then
    echo "check-package: the package holds files a user does not need ($unwanted):" >&2
    grep -E "$unwanted" <<<"$listing" | head -5 >&2
    exit 1
  fi
done
for wanted in package/LICENSE package/dist/driver/index.js package/dist/driver/index.d.ts package/bin/nova-lxc.js; do
  grep -qxF "$wanted" <<<"$listing" || { echo "check-package: $wanted is missing from the package" >&2; exit 1; }
done

mkdir "$work/user"
cd "$work/user"
npm init -y >/dev/null
npm install --no-audit --no-fund --silent "$work/$tarball"

node -e "
  const names = ['nova-lxc', 'nova-lxc/simulator', 'nova-lxc/scenarios', 'nova-lxc/real'];
  Promise.all(names.map((n) => import(n).then((m) => [n, Object.keys(m).length]))).then((all) => {
    for (const [n, count] of all) {
      if (count === 0) throw new Error(n + ' exports nothing');
      console.log('check-package: import(' + JSON.stringify(n) + ') gives ' + count + ' exports');
    }
  });
"

cat > types.ts <<'TS'
import { LxcDriver, type LxcDriverOptions } from 'nova-lxc';
import { createSimulatedHost } from 'nova-lxc/simulator';
import { loadScenarios } from 'nova-lxc/scenarios';
import { createRealHost } from 'nova-lxc/real';
const options: LxcDriverOptions = { instancesPath: '/var/lib/nova/instances' };
export const driver = new LxcDriver(createSimulatedHost(), options);
export const uses = [loadScenarios, createRealHost];
TS
"$repo/node_modules/.bin/tsc" --strict --noEmit --module nodenext --moduleResolution nodenext \
  --target es2022 --skipLibCheck false --types node --typeRoots "$repo/node_modules/@types" types.ts
echo "check-package: the type declarations compile in a user's strict TypeScript project"

npx --no-install nova-lxc scenario new x
npx --no-install nova-lxc scenario run --reporter json scenarios/x.yaml >run.json
grep -q '"x"' run.json || { echo "check-package: the user's scenario did not run:" >&2; cat run.json >&2; exit 1; }
echo "check-package: scenario new + run worked in $work/user"
