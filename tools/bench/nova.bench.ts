/**
 * A whole server create (POST /servers until ACTIVE) and delete through real Nova 26.2.2's
 * functional harness (_IntegratedTestBase: API, conductor, scheduler, compute manager,
 * placement) with compute_driver=novalxc.driver.NovaLxcDriver and the service on the
 * simulator. The timing is python/tests/bench_nova.py, run by `tools/test-nova.sh --bench`.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stats, type Figure } from './measure.js';
import type { BenchContext, BenchSection } from './section.js';

interface Timings {
  create_ms: number[];
  delete_ms: number[];
  setup_ms: number;
}

async function run(ctx: BenchContext): Promise<Figure[]> {
  const dir = await mkdtemp(join(tmpdir(), 'nova-lxc-bench-nova-'));
  const out = join(dir, 'timings.json');
  try {
    ctx.progress('nova: server create+delete through Nova (python)');
    await promisify(execFile)('bash', ['tools/test-nova.sh', '--bench'], {
      env: { ...process.env, NOVA_LXC_BENCH_OUT: out, NOVA_LXC_BENCH_RUNS: String(ctx.runs(8)) },
      maxBuffer: 64 * 1024 * 1024,
    });
    const t = JSON.parse(await readFile(out, 'utf8')) as Timings;
    const total = t.create_ms.map((c, i) => c + (t.delete_ms[i] ?? 0));
    const what = 'through Nova 26.2.2 (functional harness, simulator)';
    return [
      {
        what: `server create, POST /servers to ACTIVE, ${what}`,
        unit: 'ms',
        a: stats(t.create_ms),
      },
      { what: `server delete, to 404, ${what}`, unit: 'ms', a: stats(t.delete_ms) },
      { what: `server create+delete, ${what}`, unit: 'ms', a: stats(total) },
      {
        what: 'harness start: sqlite, placement, conductor, scheduler, compute, nova-lxc serve',
        unit: 'ms',
        a: stats([t.setup_ms]),
      },
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export const section: BenchSection = {
  name: 'nova',
  title: 'Nova compute driver (python/, simulator)',
  order: 50,
  skipReason: async () =>
    existsSync('/usr/lib/python3/dist-packages/nova/tests/functional/integrated_helpers.py')
      ? null
      : 'python3-nova is not installed (npm run test:nova says what to install)',
  run,
};
