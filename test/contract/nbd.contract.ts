import { describe, expect, it } from 'vitest';
import type { HarnessFactory } from '../../harness/harness.js';
import { rootfsDisk, useHarness } from './contract-helpers.js';

/** The Nbd port's documented semantics, for every backend; cases needing nbd skip with the reason. */
export function describeNbdContract(makeHarness: HarnessFactory): void {
  describe('Nbd contract', () => {
    const harness = useHarness(makeHarness);

    it('reports availability consistently with the capability', async () => {
      const h = harness();
      const available = await h.host.nbd.available();
      expect(available.ok).toBe(h.capabilities.nbd === true);
      if (!available.ok) expect(available.reason).toBeTruthy();
    });

    it('connects a qcow2 image, lists and disconnects it', async (context) => {
      const h = harness();
      context.skip(h.capabilities.nbd !== true, `nbd unavailable: ${String(h.capabilities.nbd)}`);
      context.skip(h.capabilities.qcow2 !== true, `qcow2: ${String(h.capabilities.qcow2)}`);
      const file = await h.makeQcow2(await h.makeDiskFile(rootfsDisk()));
      const connection = await h.host.nbd.connect(file, 'qcow2');
      expect(connection).toMatchObject({ device: expect.stringMatching(/^\/dev\/nbd\d+$/), file });
      expect(await h.host.nbd.list()).toContainEqual(connection);
      await h.host.nbd.disconnect(connection.device);
      expect(await h.host.nbd.list()).toEqual([]);
      await expect(h.host.nbd.disconnect(connection.device)).rejects.toMatchObject({
        code: 'NotFound',
      });
    });

    it('fails at once with Unsupported where nbd cannot work, never waiting', async (context) => {
      const h = harness();
      context.skip(h.capabilities.nbd === true, 'nbd works on this backend');
      const file = await h.makeDiskFile(rootfsDisk());
      const started = h.host.clock.now();
      await expect(h.host.nbd.connect(file, 'qcow2')).rejects.toMatchObject({
        code: 'Unsupported',
      });
      expect(h.host.clock.now() - started).toBeLessThan(1000);
      expect(await h.host.nbd.list()).toEqual([]);
    });
  });
}
