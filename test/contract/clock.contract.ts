import { describe, expect, it } from 'vitest';
import type { HarnessFactory } from '../../harness/harness.js';
import { useHarness } from './contract-helpers.js';

/** The Clock port's documented semantics, for every backend. */
export function describeClockContract(makeHarness: HarnessFactory): void {
  describe('Clock contract', () => {
    const harness = useHarness(makeHarness);

    it('advances by at least the time slept', async () => {
      const h = harness();
      const before = h.host.clock.now();
      await h.host.clock.sleep(20);
      expect(h.host.clock.now() - before).toBeGreaterThanOrEqual(19);
    });
  });
}
