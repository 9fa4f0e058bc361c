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
      await h.makeSymlink(`${dir}/etc/passwd`, 'dangling-to-shift');
      const map = [{ start: 0, target: 100000, count: 65536 }];
      await expect(h.host.files.shiftIds(dir, map, map)).resolves.toBe(true);
      expect(await h.host.files.owner(`${dir}/etc/passwd`)).toMatchObject({
        uid: 100000,
        gid: 100000,
      });
    });

    it('shifts a mounted rootfs once, keeping setuid and setgid, and root still reads every file', async () => {
      const h = harness();
      const disk = await h.makeDiskFile({
        size: '32M',
        table: 'none',
        filesystem: {
          type: 'ext4',
          files: {
            '/bin/su': { content: '#!/bin/sh\n', mode: 0o4755 },
            '/usr/bin/wall': { content: '#!/bin/sh\n', mode: 0o2755 },
            '/etc/shadow': { content: 'root:*:1::::::\n', mode: 0o640 },
            '/etc/hostname': 'guest\n',
          },
        },
      });
      const loop = await h.host.blockDevices.attachLoop(disk);
      const mnt = `${await h.makeDir('rootfs')}`;
      await h.host.mounts.mount(loop.device, mnt, { fstype: 'ext4' });
      try {
        const map = [{ start: 0, target: 100000, count: 65536 }];
        const owners = async () =>
          Object.fromEntries(
            await Promise.all(
              ['', '/bin/su', '/usr/bin/wall', '/etc/shadow', '/etc'].map(
                async (p) => [p || '/', await h.host.files.owner(`${mnt}${p}`)] as const,
              ),
            ),
          );
        const before = await owners();
        expect(before['/bin/su']).toEqual({ uid: 0, gid: 0, mode: 0o4755 });
        expect(before['/usr/bin/wall']).toEqual({ uid: 0, gid: 0, mode: 0o2755 });
        expect(await h.host.files.shiftIds(mnt, map, map)).toBe(true);
        const shifted = await owners();
        expect(shifted).toEqual(
          Object.fromEntries(
            Object.entries(before).map(([p, o]) => [
              p,
              { uid: 100000, gid: 100000, mode: o?.mode },
            ]),
          ),
        );
        // A hard reboot, or a second instance booted from the same volume, shifts again.
        expect(await h.host.files.shiftIds(mnt, map, map)).toBe(false);
        expect(await h.host.files.shiftIds(mnt, map, map)).toBe(false);
        expect(await owners()).toEqual(shifted);
        expect(await h.host.files.readFile(`${mnt}/etc/shadow`)).toBe('root:*:1::::::\n');
      } finally {
        await h.host.mounts.unmount(mnt);
        await h.host.blockDevices.detachLoop(loop.device);
      }
    });

    it('fails shiftIds on a missing root with NotFound', async () => {
      const h = harness();
      const map = [{ start: 0, target: 100000, count: 65536 }];
      await expect(
        h.host.files.shiftIds(`${await h.makeDir()}/nope`, map, map),
      ).rejects.toMatchObject({ code: 'NotFound' });
    });

    it.each([
      [
        'a path through a file',
        (d: string) => `${d}/file/below`,
        'NotFound',
        /ENOTDIR: not a directory, realpath/,
      ],
      [
        'a missing path',
        (d: string) => `${d}/nope`,
        'NotFound',
        /ENOENT: no such file or directory, realpath/,
      ],
      [
        'a component longer than NAME_MAX',
        (d: string) => `${d}/${'x'.repeat(256)}`,
        'InvalidInput',
        /ENAMETOOLONG: name too long, realpath/,
      ],
    ])('reports the real cause when realpath fails on %s', async (_what, make, code, pattern) => {
      const h = harness();
      const dir = await h.makeDir();
      await h.host.files.writeFile(`${dir}/file`, 'x');
      const path = make(dir);
      await expect(h.host.files.realpath(path)).rejects.toMatchObject({
        code,
        message: expect.stringMatching(pattern),
      });
    });

    it('refuses a file name longer than NAME_MAX (255 bytes) as the kernel does', async () => {
      const h = harness();
      const dir = await h.makeDir();
      const long = `${dir}/${'n'.repeat(256)}`;
      await expect(h.host.files.ensureDir(long)).rejects.toMatchObject({
        code: 'InvalidInput',
        message: expect.stringMatching(/ENAMETOOLONG: name too long, mkdir/),
      });
      await expect(h.host.files.writeFile(long, 'x')).rejects.toMatchObject({
        code: 'InvalidInput',
        message: expect.stringMatching(/ENAMETOOLONG: name too long, open/),
      });
      expect(await h.host.files.ensureDir(`${dir}/${'n'.repeat(255)}`)).toBe(true);
    });

    it('sees a symlink as a symlink, and owner() reports null for a missing path', async () => {
      const h = harness();
      const dir = await h.makeDir('target');
      const link = await h.makeSymlink(dir, 'kind-link');
      expect(await h.host.files.kind(link)).toBe('symlink');
      expect(await h.host.files.owner(`${dir}/nope`)).toBeNull();
    });
  });
}
