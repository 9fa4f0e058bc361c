/**
 * The scenarios' `clean` check: what a scenario made and the host still holds. A loop device
 * whose backing file was deleted under it shows `PATH (deleted)` (the kernel's form, which the
 * simulator copies) and must still count as left behind.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BACKEND, makeHarness } from '../../harness/backend.js';
import type { BackendHarness } from '../../harness/harness.js';
import { leftovers } from '../../scenarios/expectations.js';
import { prepareFixtures } from '../../scenarios/fixtures.js';
import { RunState } from '../../scenarios/run-state.js';
import { parseScenarioText } from '../../scenarios/load.js';

const DOC = `
name: clean-check
volumes:
  vol1:
    disk: { size: 8M, table: none }
steps:
  - host_action: { attach_loop: vol1 }
`;

let harness: BackendHarness;
/** Loop devices this test attached; detached after it. */
let attached: string[];

beforeEach(async () => {
  harness = await makeHarness();
  attached = [];
});

afterEach(async () => {
  for (const device of attached) {
    await harness.bare.blockDevices.detachLoop(device).catch(() => undefined);
  }
  await harness.cleanup();
});

describe(`the clean check on the ${BACKEND} backend`, () => {
  it('counts a loop device over a volume as left behind, also once the file is deleted', async () => {
    const state = new RunState(
      { id: 'clean-check', scenario: parseScenarioText(DOC, 'c.yaml') },
      harness,
    );
    await prepareFixtures(state);
    expect(await leftovers(state)).toEqual([]);
    const volume = state.volumes.get('vol1')!;
    const loop = await harness.bare.blockDevices.attachLoop(volume);
    attached.push(loop.device);
    expect(await leftovers(state)).toEqual(['loop device over volume:vol1']);

    await harness.bare.files.removeTree(volume);
    const shown = (await harness.bare.blockDevices.listLoops()).find(
      (l) => l.device === loop.device,
    );
    expect(shown?.backingFile).toBe(`${volume} (deleted)`);
    expect(await leftovers(state)).toEqual(['loop device over volume:vol1']);

    await harness.bare.blockDevices.detachLoop(loop.device);
    expect(await leftovers(state)).toEqual([]);
  });
});
