/**
 * The crash matrix (issue 9 item 14): for every disk layout the process dies after every port
 * call k of spawn and of destroy; a new process (a new driver over the same host, with only the
 * journal and Nova's record saved before the operation) then cleans up completely.
 */
import { describe, expect, it } from 'vitest';
import { reclaim } from '../../driver/reclaim.js';
import {
  LAYOUTS,
  combinationCounter,
  countCalls,
  crashAfter,
  leftovers,
  prepare,
  problems,
} from '../helpers/fault-matrix.js';

const count = combinationCounter('crash matrix');

describe.each(Object.keys(LAYOUTS))('crash matrix, %s', { timeout: 120_000 }, (layout) => {
  it.each(['reclaim', 'destroy from the saved record'] as const)(
    'a crash after every call k of spawn is cleaned up by %s in a new process',
    async (how) => {
      const base = await prepare(layout);
      const calls = await countCalls(base, base.spawn);
      const found = problems();
      for (let k = 0; k < calls - 1; k++) {
        count(`spawn crash + ${how}`);
        const run = await prepare(layout);
        crashAfter(run, k);
        await run.spawn();
        run.h.faults.clear();
        // A new process: a new driver over the same host; only the journal and Nova's saved
        // record (from before the spawn) survive.
        const fresh = run.driver();
        const error =
          how === 'reclaim'
            ? await reclaim(run.h.host, { instancesPath: run.h.instancesPath }).then(
                (actions) => actions.find((a) => a.outcome === 'failed')?.reason,
              )
            : await fresh
                .destroy({}, run.saved.instance, null, run.saved.bdi)
                .then(() => undefined, String);
        found.check(`crash after call ${k}`, [
          ...(error === undefined ? [] : [`${how} failed: ${error}`]),
          ...(await leftovers(run)),
        ]);
      }
      expect(found.lines).toEqual([]);
    },
  );

  it('a crash after every call k of destroy is cleaned up by reclaim in a new process', async () => {
    const base = await prepare(layout);
    expect(await base.spawn()).toBeUndefined();
    const calls = await countCalls(base, base.destroy);
    const found = problems();
    for (let k = 0; k < calls - 1; k++) {
      count('destroy crash + reclaim');
      const run = await prepare(layout);
      expect(await run.spawn()).toBeUndefined();
      crashAfter(run, k);
      await run.destroy();
      run.h.faults.clear();
      const actions = await reclaim(run.h.host, { instancesPath: run.h.instancesPath });
      const failed = actions.filter((a) => a.outcome === 'failed');
      if (actions.some((a) => a.reason === 'its last operation finished: a live instance')) {
        // It died before the destroy was journalled, so before it changed anything: the
        // instance is live and untouched, and Nova's retry of the delete removes it.
        const retry = await run
          .driver()
          .destroy({}, run.saved.instance, null, run.saved.bdi)
          .then(() => undefined, String);
        if (retry !== undefined)
          failed.push({ instance: '', what: '', outcome: 'failed', reason: retry });
      }
      found.check(`destroy crash after call ${k}`, [
        ...failed.map((a) => `reclaim failed: ${a.reason ?? ''}`),
        ...(await leftovers(run)),
      ]);
    }
    expect(found.lines).toEqual([]);
  });
});
