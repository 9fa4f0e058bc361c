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

    it('mounts a device through a /dev/disk/by-id style symlink, recording the device itself', async () => {
      const h = harness();
      const loop = await h.host.blockDevices.attachLoop(await h.makeDiskFile(rootfsDisk()));
      const link = await h.makeSymlink(loop.device, 'by-id-link');
      const target = await h.makeDir('by-id-target');
      try {
        expect(await h.host.files.kind(link)).toBe('symlink');
        expect(await h.host.files.realpath(link)).toBe(loop.device);
        expect((await h.host.blockDevices.read(link, 1024 + 56, 2))[0]).toBe(0x53);
        await h.host.mounts.mount(link, target, { fstype: 'ext4' });
        const real = await h.host.files.realpath(target);
        expect(await h.host.mounts.list()).toContainEqual(
          expect.objectContaining({ source: loop.device, target: real }),
        );
        await h.host.mounts.unmount(target);
      } finally {
        await h.host.blockDevices.detachLoop(loop.device);
      }
    });

    it.each([
      [
        'a name longer than NAME_MAX',
        (d: string) => `${d}/${'m'.repeat(256)}`,
        'InvalidInput',
        /mount\(2\) system call failed: File name too long\./,
      ],
      ['a file', (d: string) => `${d}/file`, 'InvalidInput', /mount point is not a directory\./],
    ])("fails to mount on %s with the kernel's reason", async (_what, make, code, pattern) => {
      const h = harness();
      const dir = await h.makeDir();
      await h.host.files.writeFile(`${dir}/file`, 'x');
      const loop = await h.host.blockDevices.attachLoop(await h.makeDiskFile(rootfsDisk()));
      try {
        await expect(
          h.host.mounts.mount(loop.device, make(dir), { fstype: 'ext4' }),
        ).rejects.toMatchObject({ code, message: expect.stringMatching(pattern) });
      } finally {
        await h.host.blockDevices.detachLoop(loop.device);
      }
      await expect(h.host.mounts.unmount(make(dir))).rejects.toMatchObject({
        message: expect.stringMatching(/umount/),
      });
    });
  });
}
