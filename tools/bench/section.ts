/**
 * Benchmark sections. `npm run bench` runs every `tools/bench/*.bench.ts` file that exports
 * `section`: to add one, drop a file there (no other file to edit), e.g.
 *
 *   export const section: BenchSection = {
 *     name: 'service',
 *     title: 'nova-lxc serve',
 *     skipReason: async () => null,           // or why it cannot run here
 *     run: async (ctx) => [ratioFigure(...)], // figures; compare() alternates A B A B
 *   };
 */
import type { Figure } from './measure.js';

/** What the runner hands each section. */
export interface BenchContext {
  /** Scales run counts (`--quick` makes it 0.2); sections multiply their own counts by it. */
  runsFactor: number;
  /** Runs counts scaled by runsFactor, at least 3. */
  runs(n: number): number;
  /** Progress lines go to stderr, so stdout stays the table. */
  progress(text: string): void;
}

/** One part of the benchmark. */
export interface BenchSection {
  /** Short name for `--only NAME`. */
  name: string;
  /** Heading in the output. */
  title: string;
  /** Order in the output; lower first (sim 10, cli 20, real 30; add yours at 40+). */
  order?: number;
  /** Why the section cannot run on this machine, or null when it can. */
  skipReason?: () => Promise<string | null>;
  run(ctx: BenchContext): Promise<Figure[]>;
}
