import { describe, expect, it } from 'vitest';
import type { HarnessFactory } from '../../harness/harness.js';
import { rootfsDisk, useHarness } from './contract-helpers.js';

/** The HostFiles port's documented semantics, for every backend. */
export function describeHostFilesContract(makeHarness: HarnessFactory): void {
  describe('HostFiles contract', () => {
    const harness = useHarness(makeHarness);

    it('creates directories, reporting whether it made the path', async () => {
      const h = harness();
      const path = `${await h.makeDir()}/a/b`;
      expect(await h.host.files.ensureDir(path)).toBe(true);
      expect(await h.host.files.ensureDir(path)).toBe(false);
      expect(await h.host.files.exists(path)).toBe(true);
    });

    it('writes and reads files; NotFound for a missing file or parent', async () => {
      const h = harness();
      const dir = await h.makeDir();
      await h.host.files.writeFile(`${dir}/f`, 'one');
      await h.host.files.writeFile(`${dir}/f`, 'two');
      expect(await h.host.files.readFile(`${dir}/f`)).toBe('two');
      await expect(h.host.files.readFile(`${dir}/nope`)).rejects.toMatchObject({
        code: 'NotFound',
      });
      await expect(h.host.files.writeFile(`${dir}/no/f`, 'x')).rejects.toMatchObject({
        code: 'NotFound',
      });
    });

    it('resolves symlinks to the canonical path; NotFound for a missing path', async () => {
      const h = harness();
      const real = await h.makeDir('real');
      await h.host.files.ensureDir(`${real}/sub`);
      const link = await h.makeSymlink(real, 'link');
      expect(await h.host.files.realpath(`${link}/sub`)).toBe(
        await h.host.files.realpath(`${real}/sub`),
      );
      expect(await h.host.files.realpath(`${link}/sub`)).not.toContain('link');
      await expect(h.host.files.realpath(`${link}/nope`)).rejects.toMatchObject({
        code: 'NotFound',
      });
    });

    it('removes a tree, and a missing one, safely', async () => {
      const h = harness();
      const dir = await h.makeDir();
      await h.host.files.ensureDir(`${dir}/t/u`);
      await h.host.files.writeFile(`${dir}/t/u/f`, 'x');
      await h.host.files.removeTree(`${dir}/t`);
      await h.host.files.removeTree(`${dir}/t`);
      expect(await h.host.files.exists(`${dir}/t`)).toBe(false);
    });

    it('refuses to remove a tree with a mount point below it and removes nothing', async () => {
      const h = harness();
      const dir = await h.makeDir('instance');
      const loop = await h.host.blockDevices.attachLoop(await h.makeDiskFile(rootfsDisk()));
      await h.host.files.ensureDir(`${dir}/rootfs`);
      await h.host.files.writeFile(`${dir}/console.log`, 'log');
      await h.host.mounts.mount(loop.device, `${dir}/rootfs`, { fstype: 'ext4' });
      await expect(h.host.files.removeTree(dir)).rejects.toMatchObject({ code: 'Busy' });
      // The same through a symlink: the kernel records the mount point canonically.
      const link = await h.makeSymlink(dir, 'instance-link');
      await expect(h.host.files.removeTree(link)).rejects.toMatchObject({ code: 'Busy' });
      expect(await h.host.mounts.list()).toContainEqual(
        expect.objectContaining({ target: `${await h.host.files.realpath(dir)}/rootfs` }),
      );
      expect(await h.host.files.exists(`${dir}/console.log`)).toBe(true);
      expect(await h.host.files.exists(`${dir}/rootfs/sbin/init`)).toBe(true);
      await h.host.mounts.unmount(`${dir}/rootfs`);
      await h.host.blockDevices.detachLoop(loop.device);
      await h.host.files.removeTree(dir);
      expect(await h.host.files.exists(dir)).toBe(false);
    });

    it('shifts ids over a tree without failing on symlinks', async () => {
      const h = harness();
      const dir = await h.makeDir('shift');
      await h.host.files.ensureDir(`${dir}/etc`);
      await h.host.files.writeFile(`${dir}/etc/passwd`, 'root:x:0:0::/root:/bin/sh\n');
      const map = [{ start: 0, target: 100000, count: 65536 }];
      await expect(h.host.files.shiftIds(dir, map, map)).resolves.toBeUndefined();
    });
  });
}
