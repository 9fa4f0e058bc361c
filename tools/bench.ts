/**
 * `npm run bench`: prints speed and memory figures, asserts nothing (speed is never asserted in a
 * test). Every `tools/bench/*.bench.ts` exporting `section` is a part of it (see
 * tools/bench/section.ts to add one). For each figure: what ran, how many runs, min / median /
 * max, and the ratio against a reference measured in the same run, alternating A B A B.
 *
 *   npm run bench                      # every section that can run here
 *   npm run bench -- --only sim,cli    # some sections
 *   npm run bench -- --quick           # fewer runs (a smoke test of the benchmark itself)
 *   npm run bench -- --json FILE       # also write the figures as JSON
 */
import { readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { arch, cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import type { Figure, Stats } from './bench/measure.js';
import type { BenchContext, BenchSection } from './bench/section.js';

const BENCH_DIR = join(import.meta.dirname, 'bench');

/** Every section under tools/bench/, in output order. */
export async function loadSections(dir = BENCH_DIR): Promise<BenchSection[]> {
  const sections: BenchSection[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.bench.ts'))
    .sort()) {
    const module = (await import(pathToFileURL(join(dir, file)).href)) as {
      section?: BenchSection;
    };
    if (module.section) sections.push(module.section);
  }
  return sections.sort((a, b) => (a.order ?? 50) - (b.order ?? 50));
}

function fmt(value: number): string {
  if (!Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  return abs >= 100 ? value.toFixed(0) : abs >= 10 ? value.toFixed(1) : value.toFixed(2);
}

function range(s: Stats, unit: string): string {
  return `${fmt(s.min)} / **${fmt(s.median)}** / ${fmt(s.max)} ${unit}`;
}

/** The figures of a section as a Markdown table (what README's performance section shows). */
export function renderTable(figures: Figure[]): string {
  const rows = [
    '| what ran | runs | min / median / max | reference (same run) | ratio | target |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const f of figures) {
    const reference = f.b && f.reference ? `${f.reference}: ${range(f.b, f.unit)}` : '';
    const ratio = f.ratio === undefined ? '' : `${f.ratio.toFixed(2)}×`;
    const target = f.target ? `${f.target} ${f.met ? '✓' : '✗'}` : '';
    const what = f.note ? `${f.what} (${f.note})` : f.what;
    rows.push(
      `| ${what} | ${f.a.runs} | ${range(f.a, f.unit)} | ${reference} | ${ratio} | ${target} |`,
    );
  }
  return rows.join('\n');
}

/** One line about the machine, for the README table. */
export function machineLine(): string {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  return `${cpus().length} × ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()} ${arch()}, Node ${process.version}`;
}

async function main(argv: string[]): Promise<number> {
  const program = new Command('bench')
    .option('--only <names>', 'comma-separated section names')
    .option('--quick', 'fewer runs')
    .option('--json <file>', 'also write the figures as JSON')
    .parse(argv);
  const opts = program.opts<{ only?: string; quick?: boolean; json?: string }>();
  const only = opts.only?.split(',').map((s) => s.trim());
  const factor = opts.quick ? 0.2 : 1;
  const ctx: BenchContext = {
    runsFactor: factor,
    runs: (n) => Math.max(3, Math.round(n * factor)),
    progress: (text) => process.stderr.write(`  … ${text}\n`),
  };
  const sections = await loadSections();
  const unknown = (only ?? []).filter((n) => !sections.some((s) => s.name === n));
  if (unknown.length > 0) {
    console.error(
      `bench: no section ${unknown.join(', ')}; there are ${sections.map((s) => s.name).join(', ')}`,
    );
    return 2;
  }
  console.log(`Machine: ${machineLine()}\n`);
  const out: Record<string, unknown> = { machine: machineLine(), sections: {} };
  for (const section of sections) {
    if (only && !only.includes(section.name)) continue;
    const skip = (await section.skipReason?.()) ?? null;
    if (skip !== null) {
      console.log(`## ${section.title}\n\nSKIPPED: ${skip}\n`);
      (out['sections'] as Record<string, unknown>)[section.name] = { skipped: skip };
      continue;
    }
    process.stderr.write(`${section.title}\n`);
    const figures = await section.run(ctx);
    console.log(`## ${section.title}\n\n${renderTable(figures)}\n`);
    (out['sections'] as Record<string, unknown>)[section.name] = figures;
  }
  if (opts.json) await writeFile(opts.json, `${JSON.stringify(out, null, 2)}\n`);
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv);
}
