/**
 * Records every port call a run makes (harness/instrument.ts feeds the recorder), and
 * normalises the record so that the simulator and a real host produce the same trace for the
 * same scenario.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** Which step (and which branch of a concurrent group) a call belongs to. */
export interface TraceContext {
  step: string;
  /** Index inside a concurrent group; absent outside one. */
  branch?: number;
}

/** One port call as it happened (before normalisation). */
export interface RawTraceEntry {
  step: string;
  branch?: number;
  op: string;
  args: unknown[];
  result?: unknown;
  error?: { code: string; message: string };
}

/** One port call after normalisation. */
export interface TraceEntry {
  step: string;
  op: string;
  args: unknown;
  result?: unknown;
  error?: { code: string; message: string };
}

/** A recorder and the step context of the code running inside its `within`. */
interface ActiveStep {
  recorder: TraceRecorder;
  context: TraceContext;
}

// One storage for every recorder, enabled only while some `within` runs: Node visits each
// enabled AsyncLocalStorage on every promise it creates, so one per run, never disabled, made
// every later run in the process (vitest workers, scenario compare, the service) slower.
const ACTIVE = new AsyncLocalStorage<ActiveStep>();
let activeRuns = 0;

/** The calls of one run, and the context the runner sets around each step. */
export class TraceRecorder {
  readonly entries: RawTraceEntry[] = [];

  /** Runs `fn` with every port call inside it attributed to `context`. */
  async within<T>(context: TraceContext, fn: () => Promise<T>): Promise<T> {
    activeRuns += 1;
    try {
      return await ACTIVE.run({ recorder: this, context }, fn);
    } finally {
      activeRuns -= 1;
      if (activeRuns === 0) ACTIVE.disable();
    }
  }

  record(entry: Omit<RawTraceEntry, 'step' | 'branch'>): void {
    const active = ACTIVE.getStore();
    const ctx = active?.recorder === this ? active.context : { step: '(outside steps)' };
    this.entries.push({
      step: ctx.step,
      ...(ctx.branch === undefined ? {} : { branch: ctx.branch }),
      ...entry,
    });
  }
}

/** How many AsyncLocalStorage contexts trace recording holds enabled now (0 between runs). */
export function activeTraceContexts(): number {
  return activeRuns;
}

/** What the runner knows about a run, to turn host-specific strings into placeholders. */
export interface NormaliseContext {
  /** Literal strings to replace, longest first is applied automatically: path → `<volume:vol1>`. */
  replacements: Map<string, string>;
  /** Names of the scenario's domains; list results keep only these. */
  domainNames: Set<string>;
}

const PLACEHOLDER = /^</;

/**
 * Normalises a run's calls: known paths, uuids and names become placeholders, device numbers
 * become `<loop#1>` by first appearance, host-wide lists keep only the scenario's entries, and
 * calls in a concurrent group are ordered by branch (their interleaving is not part of the contract).
 */
export function normaliseTrace(raw: RawTraceEntry[], ctx: NormaliseContext): TraceEntry[] {
  const ordered = orderConcurrent(raw);
  const replace = replacer(ctx.replacements);
  const devices = new Map<string, string>();
  const counters = { loop: 0, nbd: 0 };
  const device = (text: string): string =>
    text.replace(
      /\/dev\/(loop|nbd)(\d+)(p\d+)?/g,
      (_whole, kind: 'loop' | 'nbd', number: string, part: string | undefined) => {
        const base = `${kind}${number}`;
        let name = devices.get(base);
        if (!name) {
          counters[kind] += 1;
          name = `<${kind}#${counters[kind]}>`;
          devices.set(base, name);
        }
        return part ? `${name}${part}` : name;
      },
    );
  // The kernel's diskseq numbers are the host's own: which ones are equal is what counts.
  const seqs = new Map<number, string>();
  const seq = (n: number): string => {
    let name = seqs.get(n);
    if (!name) {
      name = `<diskseq#${seqs.size + 1}>`;
      seqs.set(n, name);
    }
    return name;
  };
  const walk = (value: unknown): unknown => {
    if (typeof value === 'string') {
      // Also inside JSON text (a journal record as written).
      const seqd = value.replace(
        /"diskseq":(\d+)/g,
        (_m, n: string) => `"diskseq":"${seq(Number(n))}"`,
      );
      return device(replace(seqd));
    }
    // A file identity's device and inode numbers are the host's own: only that it is one counts.
    if (isIdentity(value)) return '<identity>';
    if (Array.isArray(value)) return value.map(walk);
    if (typeof value === 'object' && value !== null) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        out[k] = k === 'diskseq' && typeof v === 'number' ? seq(v) : walk(v);
      }
      return out;
    }
    return value;
  };
  const entries: TraceEntry[] = [];
  for (const entry of ordered) {
    const out: TraceEntry = { step: entry.step, op: entry.op, args: walk(entry.args) };
    if (entry.error) {
      out.error = { code: entry.error.code, message: device(replace(entry.error.message)) };
    } else if (entry.branch !== undefined && isHostList(entry.op)) {
      // Another branch's devices show up at random in a list taken mid-group.
      out.result = '<concurrent>';
    } else {
      out.result = walk(keepOurs(entry.op, entry.result, ctx, replace));
    }
    entries.push(out);
  }
  return entries;
}

function isIdentity(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value).sort();
  return (
    keys.length === 2 &&
    keys[0] === 'device' &&
    keys[1] === 'inode' &&
    typeof (value as Record<string, unknown>)['inode'] === 'number'
  );
}

function isHostList(op: string): boolean {
  return [
    'blockDevices.listLoops',
    'blockDevices.loopsOver',
    'blockDevices.loopsUnder',
    'nbd.list',
    'mounts.list',
    'hypervisor.list',
  ].includes(op);
}

/** Drops entries of host-wide lists that belong to someone else on a shared real host. */
function keepOurs(
  op: string,
  result: unknown,
  ctx: NormaliseContext,
  replace: (s: string) => string,
): unknown {
  if (!isHostList(op) || !Array.isArray(result)) return result;
  const ours = (path: unknown) =>
    typeof path === 'string' && (PLACEHOLDER.test(replace(path)) || /^\/dev\/nbd\d+$/.test(path));
  return result.filter((item: Record<string, unknown>) => {
    switch (op) {
      case 'blockDevices.listLoops':
      case 'blockDevices.loopsOver':
      case 'blockDevices.loopsUnder':
        return ours(item['backingFile']);
      case 'nbd.list':
        return ours(item['file']);
      case 'mounts.list':
        return ours(item['target']);
      default:
        return ctx.domainNames.has(String(item['name']));
    }
  });
}

function replacer(replacements: Map<string, string>): (s: string) => string {
  const keys = [...replacements.keys()].filter((k) => k !== '').sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const key of keys) {
      if (out.includes(key)) out = out.split(key).join(replacements.get(key)!);
    }
    return out;
  };
}

function orderConcurrent(raw: RawTraceEntry[]): RawTraceEntry[] {
  const out: RawTraceEntry[] = [];
  let group: RawTraceEntry[] = [];
  const flush = () => {
    // A stable sort keeps each branch's own call order.
    out.push(...group.sort((a, b) => (a.branch ?? 0) - (b.branch ?? 0)));
    group = [];
  };
  for (const entry of raw) {
    if (entry.branch === undefined) {
      flush();
      out.push(entry);
    } else {
      if (group.length > 0 && group[0]!.step !== entry.step) flush();
      group.push(entry);
    }
  }
  flush();
  return out;
}

/** The first place two normalised traces differ, or null when they are the same. */
export function firstTraceDifference(
  a: TraceEntry[],
  b: TraceEntry[],
): { index: number; left?: TraceEntry; right?: TraceEntry } | null {
  const length = Math.max(a.length, b.length);
  for (let i = 0; i < length; i++) {
    if (JSON.stringify(a[i]) !== JSON.stringify(b[i])) {
      return { index: i, ...(a[i] ? { left: a[i] } : {}), ...(b[i] ? { right: b[i] } : {}) };
    }
  }
  return null;
}
