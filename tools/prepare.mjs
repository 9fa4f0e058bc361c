// `prepare`: builds dist/ on `npm ci` and `npm install`, but not on `npm ci --dry-run`, which
// runs lifecycle scripts while installing nothing (tsc would be missing, and a check of the lock
// file would fail on the build instead).
import { execFileSync } from 'node:child_process';
import process from 'node:process';

if (process.env['npm_config_dry_run'] === 'true') {
  process.stdout.write('prepare: dry run, dist/ not built\n');
} else {
  execFileSync('npm', ['run', 'build'], { stdio: 'inherit' });
}
