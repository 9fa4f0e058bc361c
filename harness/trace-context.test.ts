import { afterEach, describe, expect, it, vi } from 'vitest';

afterEach(() => {
  vi.doUnmock('node:async_hooks');
  vi.resetModules();
});

/** Loads trace.ts with AsyncLocalStorage counted: how many exist, how many are enabled. */
async function countedTrace() {
  const real = await vi.importActual<typeof import('node:async_hooks')>('node:async_hooks');
  const made: InstanceType<typeof real.AsyncLocalStorage>[] = [];
  const enabled = new Set<unknown>();
  class Counted<T> extends real.AsyncLocalStorage<T> {
    constructor() {
      super();
      made.push(this);
    }
    override run<R>(store: T, callback: () => R): R {
      enabled.add(this);
      return super.run(store, callback);
    }
    override disable(): void {
      enabled.delete(this);
      super.disable();
    }
  }
  vi.resetModules();
  vi.doMock('node:async_hooks', () => ({ ...real, AsyncLocalStorage: Counted }));
  const trace = await import('./trace.js');
  return { trace, made, enabled };
}

describe('trace contexts', () => {
  it('leaves no AsyncLocalStorage enabled between runs, however many runs a process makes', async () => {
    const { trace, made, enabled } = await countedTrace();
    for (let run = 0; run < 50; run++) {
      const recorder = new trace.TraceRecorder();
      await recorder.within({ step: `s${run}` }, async () => {
        recorder.record({ op: 'x', args: [] });
      });
      expect(recorder.entries.map((e) => e.step)).toEqual([`s${run}`]);
    }
    expect(made.length).toBeLessThanOrEqual(1);
    expect(enabled.size).toBe(0);
    expect(trace.activeTraceContexts()).toBe(0);
  });

  it('keeps concurrent branches and concurrent recorders apart', async () => {
    const { TraceRecorder } = await import('./trace.js');
    const a = new TraceRecorder();
    const b = new TraceRecorder();
    const tick = () => new Promise((resolve) => setTimeout(resolve, 1));
    await Promise.all(
      [a, b].flatMap((recorder, r) =>
        [0, 1].map((branch) =>
          recorder.within({ step: `r${r}`, branch }, async () => {
            await tick();
            recorder.record({ op: `op${branch}`, args: [] });
            await tick();
            b.record({ op: 'foreign', args: [] });
          }),
        ),
      ),
    );
    a.record({ op: 'late', args: [] });
    expect(a.entries.map((e) => [e.step, e.branch, e.op]).sort()).toEqual(
      [
        ['r0', 0, 'op0'],
        ['r0', 1, 'op1'],
        ['(outside steps)', undefined, 'late'],
      ].sort(),
    );
    // b's records made inside a's steps are b's, but outside any step of b.
    expect(
      b.entries
        .filter((e) => e.op === 'foreign')
        .map((e) => e.step)
        .sort(),
    ).toEqual(['(outside steps)', '(outside steps)', 'r1', 'r1']);
  });
});
