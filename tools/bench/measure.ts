/**
 * Timing helpers of `npm run bench`: every figure is a set of runs, and a figure with a
 * reference runs the two alternately (A B A B ...), so a machine that drifts (other load,
 * frequency scaling, a warming cache) moves both sides and not the ratio.
 */
import { performance } from 'node:perf_hooks';

/** min / median / max of a set of samples, in the figure's unit. */
export interface Stats {
  runs: number;
  min: number;
  median: number;
  max: number;
}

/** One line of the benchmark table. */
export interface Figure {
  /** What ran. */
  what: string;
  /** What the ratio is measured against, when there is a reference. */
  reference?: string;
  unit: string;
  a: Stats;
  b?: Stats;
  /** a.median / b.median. */
  ratio?: number;
  /** The target in words, e.g. `≤ 1.3×` or `< 200 ms`. */
  target?: string;
  /** Whether the target is met by this run (undefined: no target). */
  met?: boolean;
  note?: string;
}

/** Summarises samples. */
export function stats(samples: readonly number[]): Stats {
  const sorted = [...samples].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return {
    runs: sorted.length,
    min: sorted[0] ?? Number.NaN,
    median,
    max: sorted.at(-1) ?? Number.NaN,
  };
}

/** Milliseconds one call of `fn` takes. */
export async function timeOnce(fn: () => Promise<unknown> | unknown): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/**
 * What one side of a comparison runs; `repeat` calls per sample, reported per call. A run that
 * returns a number reports its own milliseconds (it timed only its part, e.g. a destroy after
 * an untimed spawn); otherwise the whole call is timed.
 */
export interface Side {
  label: string;
  run: () => Promise<unknown> | unknown;
}

/** How many samples, after how many unrecorded warm-up rounds, with how many calls each. */
export interface Plan {
  runs: number;
  warmup?: number;
  /** Calls per sample (for sub-millisecond work); the sample is the mean of one call. */
  repeat?: number;
  /** Multiplies each sample into the figure's unit (default 1: milliseconds). */
  scale?: number;
}

async function sample(side: Side, repeat: number): Promise<number> {
  // Each sample starts from a collected heap (npm run bench runs node --expose-gc), so no
  // sample pays for the garbage of the one before it, whichever side made it.
  globalThis.gc?.();
  let total = 0;
  for (let i = 0; i < repeat; i++) {
    const start = performance.now();
    const own = await side.run();
    total += typeof own === 'number' ? own : performance.now() - start;
  }
  return total / repeat;
}

/** Runs A and B alternately and returns both sets of samples and their median ratio. */
export async function compare(
  a: Side,
  b: Side,
  plan: Plan,
): Promise<{ a: Stats; b: Stats; ratio: number }> {
  const repeat = plan.repeat ?? 1;
  const scale = plan.scale ?? 1;
  for (let i = 0; i < (plan.warmup ?? 2); i++) {
    await sample(a, repeat);
    await sample(b, repeat);
  }
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < plan.runs; i++) {
    // Alternate which side goes first too, so neither always runs right after the other.
    if (i % 2 === 0) {
      as.push((await sample(a, repeat)) * scale);
      bs.push((await sample(b, repeat)) * scale);
    } else {
      bs.push((await sample(b, repeat)) * scale);
      as.push((await sample(a, repeat)) * scale);
    }
  }
  const sa = stats(as);
  const sb = stats(bs);
  return { a: sa, b: sb, ratio: sa.median / sb.median };
}

/** Runs one side alone. */
export async function measure(side: Side, plan: Plan): Promise<Stats> {
  const repeat = plan.repeat ?? 1;
  const scale = plan.scale ?? 1;
  for (let i = 0; i < (plan.warmup ?? 2); i++) await sample(side, repeat);
  const out: number[] = [];
  for (let i = 0; i < plan.runs; i++) out.push((await sample(side, repeat)) * scale);
  return stats(out);
}

/** A figure from a comparison, with its ratio target (`ratio ≤ max`). */
export function ratioFigure(
  what: string,
  reference: string,
  unit: string,
  result: { a: Stats; b: Stats; ratio: number },
  maxRatio?: number,
  note?: string,
): Figure {
  return {
    what,
    reference,
    unit,
    a: result.a,
    b: result.b,
    ratio: result.ratio,
    ...(maxRatio === undefined ? {} : { target: `≤ ${maxRatio}×`, met: result.ratio <= maxRatio }),
    ...(note === undefined ? {} : { note }),
  };
}
