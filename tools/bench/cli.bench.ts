/** CLI start time against a bare node process. */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { compare, ratioFigure, type Figure } from './measure.js';
import type { BenchContext, BenchSection } from './section.js';

const ROOT = join(import.meta.dirname, '..', '..');

async function run(ctx: BenchContext): Promise<Figure[]> {
  const node = process.execPath;
  const cli = join(ROOT, 'bin', 'nova-lxc.js');
  const spawn = (args: string[]) => () => {
    execFileSync(node, args, { cwd: ROOT, stdio: 'ignore' });
  };
  const result = await compare(
    { label: 'cli', run: spawn([cli, '--version']) },
    { label: 'node', run: spawn(['-e', '0']) },
    { runs: ctx.runs(11), warmup: 1 },
  );
  return [
    {
      ...ratioFigure('CLI start: node bin/nova-lxc.js --version', 'node -e 0', 'ms', result),
      target: '< 200 ms',
      met: result.a.median < 200,
    },
  ];
}

export const section: BenchSection = { name: 'cli', title: 'Command line', order: 20, run };
