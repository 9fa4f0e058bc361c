import { describe, expect, it } from 'vitest';
import { expandScenario, loadScenarios, runScenario } from '../../scenarios/index.js';
import { BACKEND, makeHarness } from '../helpers/backend.js';

const runs = (await loadScenarios()).flatMap(expandScenario);

describe(`scenarios on the ${BACKEND} backend`, () => {
  it.for(runs.map((run) => [run.id, run] as const))('%s', async ([, run], ctx) => {
    const result = await runScenario(run, { backend: BACKEND, harness: makeHarness });
    if (result.status === 'skipped') {
      ctx.skip(result.error);
    }
    expect(result.error ?? '').toBe('');
    expect(result.status).toBe('passed');
  });
});
