import { describe, expect, it } from 'vitest';
import type { HarnessFactory } from '../../harness/harness.js';
import { rootfsDisk, useHarness } from './contract-helpers.js';

/** The ImageStore port's documented semantics, for every backend. */
export function describeImageStoreContract(makeHarness: HarnessFactory): void {
  describe('ImageStore contract', () => {
    const harness = useHarness(makeHarness);

    it('looks up a cached raw image and makes a raw instance disk, kept on repeat', async () => {
      const h = harness();
      await h.addImage('img-raw', await h.makeDiskFile(rootfsDisk()), 'raw');
      expect(await h.host.images.lookup('img-raw')).toMatchObject({
        format: 'raw',
        size: 32 * 1024 * 1024,
      });
      const path = `${await h.makeDir('instance')}/disk`;
      const disk = await h.host.images.createInstanceDisk('img-raw', path, 'raw');
      expect(disk).toEqual({ path, format: 'raw', size: 32 * 1024 * 1024 });
      expect(await h.host.images.createInstanceDisk('img-raw', path, 'raw')).toEqual(disk);
      expect(await h.readFileOnDisk(path, null, '/sbin/init')).toContain('#!/bin/busybox sh');
    });

    it('makes a qcow2 overlay backed by the cached image', async (context) => {
      const h = harness();
      context.skip(h.capabilities.qcow2 !== true, `qcow2: ${String(h.capabilities.qcow2)}`);
      await h.addImage('img-raw', await h.makeDiskFile(rootfsDisk()), 'raw');
      const path = `${await h.makeDir('instance')}/disk`;
      expect(await h.host.images.createInstanceDisk('img-raw', path, 'qcow2')).toEqual({
        path,
        format: 'qcow2',
        size: 32 * 1024 * 1024,
      });
    });

    it('refuses content that does not match the declared disk_format and creates nothing', async (context) => {
      const h = harness();
      context.skip(h.capabilities.qcow2 !== true, `qcow2: ${String(h.capabilities.qcow2)}`);
      const raw = await h.makeDiskFile(rootfsDisk());
      await h.addImage('img-q', await h.makeQcow2(raw), 'qcow2');
      await h.addImage('img-r', raw, 'raw');
      const dir = await h.makeDir('instance');
      for (const format of ['raw', 'qcow2'] as const) {
        await expect(
          h.host.images.createInstanceDisk('img-q', `${dir}/disk-${format}`, format, 'raw'),
        ).rejects.toMatchObject({
          code: 'InvalidInput',
          message: expect.stringMatching(
            /content does not match disk_format: declared raw, found qcow2/,
          ),
        });
        await expect(
          h.host.images.createInstanceDisk('img-r', `${dir}/disk-${format}`, format, 'qcow2'),
        ).rejects.toMatchObject({ code: 'InvalidInput' });
        expect(await h.host.files.exists(`${dir}/disk-${format}`)).toBe(false);
      }
      await expect(
        h.host.images.createInstanceDisk('img-r', `${dir}/disk`, 'raw', 'iso'),
      ).rejects.toMatchObject({ code: 'Unsupported' });
    });

    it('refuses image ids that are paths', async () => {
      const h = harness();
      for (const id of ['../etc', '/etc/passwd', '.hidden', '']) {
        await expect(h.host.images.lookup(id)).rejects.toMatchObject({ code: 'InvalidInput' });
      }
    });

    it('fails to look up an unknown image with NotFound', async () => {
      const h = harness();
      await expect(h.host.images.lookup('nope')).rejects.toMatchObject({ code: 'NotFound' });
      await expect(
        h.host.images.createInstanceDisk('nope', `${await h.makeDir()}/disk`, 'raw'),
      ).rejects.toMatchObject({ code: 'NotFound' });
    });
  });
}
