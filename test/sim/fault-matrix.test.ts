/**
 * The fault matrix (issue 9 item 14): for every disk layout, every port call k of spawn and of
 * destroy fails (once, and from then on always), and a second fault hits every call of spawn's
 * rollback. Each combination runs on a fresh simulated host and must end with nothing left (no
 * loop or nbd device, mount, domain, instance directory or journal record) and the volume bytes
 * unchanged. Layouts and checks: test/helpers/fault-matrix.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  LAYOUTS,
  combinationCounter,
  countCalls,
  failAt,
  injected,
  leftovers,
  prepare,
  problems,
} from '../helpers/fault-matrix.js';

const count = combinationCounter('fault matrix');

describe.each(Object.keys(LAYOUTS))('fault matrix, %s', { timeout: 120_000 }, (layout) => {
  it('spawn with call k failing once or always leaves nothing, after destroy at worst', async () => {
    const base = await prepare(layout);
    const calls = await countCalls(base, async () => expect(await base.spawn()).toBeUndefined());
    expect(calls).toBeGreaterThan(10);
    const found = problems();
    for (let k = 0; k < calls; k++) {
      for (const mode of ['once', 'always'] as const) {
        count(`spawn ${mode}`);
        const run = await prepare(layout);
        const fault = failAt(run, k, mode);
        const error = await run.spawn();
        run.h.faults.clear();
        const label = `call ${k} (${fault.fired() ?? 'none'}) ${mode}`;
        if (error === undefined) {
          // A tolerated fault: spawn went on and the instance runs; destroy must clean it.
          found.check(`${label}, destroy after success`, [
            ...[await run.destroy()].filter(Boolean).map(String),
            ...(await leftovers(run)),
          ]);
          continue;
        }
        if (mode === 'once') {
          // One failure and nothing else wrong: the rollback alone must leave nothing.
          found.check(`${label}, after the failed spawn`, await leftovers(run));
        }
        const again = await run.destroy();
        found.check(`${label}, after destroy`, [
          ...(again === undefined ? [] : [`destroy failed: ${String(again)}`]),
          ...(await leftovers(run)),
        ]);
      }
    }
    expect(found.lines).toEqual([]);
  });

  it('spawn with a second fault during the rollback leaves nothing once destroyed', async () => {
    const base = await prepare(layout);
    const calls = await countCalls(base, base.spawn);
    const found = problems();
    for (let k = 0; k < calls; k++) {
      // How many calls the rollback of a failure at k makes.
      const probe = await prepare(layout);
      failAt(probe, k, 'once');
      const start = probe.h.faults.calls;
      const failed = await probe.spawn();
      if (failed === undefined) continue;
      const rollbackCalls = probe.h.faults.calls - start - k - 1;
      for (let j = 0; j < rollbackCalls; j++) {
        count('spawn + rollback fault');
        const run = await prepare(layout);
        const from = run.h.faults.calls;
        run.h.faults.gate = ({ name, index }) => {
          const i = index - from;
          if (i === k || i === k + 1 + j) throw injected(name);
        };
        await run.spawn();
        run.h.faults.clear();
        const again = await run.destroy();
        found.check(`fault at ${k}, rollback fault at ${j}`, [
          ...(again === undefined ? [] : [`destroy failed: ${String(again)}`]),
          ...(await leftovers(run)),
        ]);
      }
    }
    expect(found.lines).toEqual([]);
  });

  it('destroy with call k failing once or always, then destroyed again, leaves nothing', async () => {
    const base = await prepare(layout);
    expect(await base.spawn()).toBeUndefined();
    const calls = await countCalls(base, base.destroy);
    const found = problems();
    for (let k = 0; k < calls; k++) {
      for (const mode of ['once', 'always'] as const) {
        count(`destroy ${mode}`);
        const run = await prepare(layout);
        expect(await run.spawn()).toBeUndefined();
        failAt(run, k, mode);
        await run.destroy();
        run.h.faults.clear();
        const again = await run.destroy();
        found.check(`destroy call ${k} ${mode}`, [
          ...(again === undefined ? [] : [`second destroy failed: ${String(again)}`]),
          ...(await leftovers(run)),
        ]);
      }
    }
    expect(found.lines).toEqual([]);
  });
});
