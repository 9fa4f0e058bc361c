import { describe, expect, it } from 'vitest';
import type { HarnessFactory } from '../../harness/harness.js';
import { BLANK_DISK, rootfsDisk, useHarness } from './contract-helpers.js';

/** The Mounts port's documented semantics, for every backend. */
export function describeMountsContract(makeHarness: HarnessFactory): void {
  describe('Mounts contract', () => {
    const harness = useHarness(makeHarness);

    it('mounts, lists and unmounts on a target with a space in its path', async () => {
      const h = harness();
      const loop = await h.host.blockDevices.attachLoop(await h.makeDiskFile(rootfsDisk()));
      const target = `${await h.makeDir('with space')}/a b`;
      await h.host.files.ensureDir(target);
      await h.host.mounts.mount(loop.device, target, { fstype: 'ext4' });
      expect(await h.host.mounts.list()).toContainEqual(
        expect.objectContaining({ source: loop.device, target, fstype: 'ext4' }),
      );
      expect(await h.host.files.exists(`${target}/sbin/init`)).toBe(true);
      await h.host.mounts.unmount(target);
      expect((await h.host.mounts.list()).map((m) => m.target)).not.toContain(target);
      await h.host.blockDevices.detachLoop(loop.device);
    });

    it('mounts read-only when asked', async () => {
      const h = harness();
      const loop = await h.host.blockDevices.attachLoop(await h.makeDiskFile(rootfsDisk()));
      const target = await h.makeDir('ro');
      await h.host.mounts.mount(loop.device, target, { fstype: 'ext4', readOnly: true });
      const entry = (await h.host.mounts.list()).find((m) => m.target === target);
      expect(entry?.options).toContain('ro');
      await h.host.mounts.unmount(target);
      await h.host.blockDevices.detachLoop(loop.device);
    });

    it('refuses a second mount on the same target with Busy', async () => {
      const h = harness();
      const loop = await h.host.blockDevices.attachLoop(await h.makeDiskFile(rootfsDisk()));
      const target = await h.makeDir('twice');
      await h.host.mounts.mount(loop.device, target, { fstype: 'ext4' });
      await expect(
        h.host.mounts.mount(loop.device, target, { fstype: 'ext4' }),
      ).rejects.toMatchObject({ code: 'Busy' });
      await h.host.mounts.unmount(target);
      await h.host.blockDevices.detachLoop(loop.device);
    });

    it('fails to unmount where nothing is mounted with NotFound', async () => {
      const h = harness();
      const target = await h.makeDir('empty');
      await expect(h.host.mounts.unmount(target)).rejects.toMatchObject({ code: 'NotFound' });
    });

    it.each([
      ['a blank device', 'InvalidInput', false],
      ['a missing mount point', 'NotFound', true],
    ])('fails to mount %s with %s', async (_what, code, missingTarget) => {
      const h = harness();
      const loop = await h.host.blockDevices.attachLoop(await h.makeDiskFile(BLANK_DISK));
      const dir = await h.makeDir('target');
      const target = missingTarget ? `${dir}/missing` : dir;
      await expect(
        h.host.mounts.mount(loop.device, target, { fstype: 'ext4' }),
      ).rejects.toMatchObject({ code });
      await h.host.blockDevices.detachLoop(loop.device);
    });
  });
}
