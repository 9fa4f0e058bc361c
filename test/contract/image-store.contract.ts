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

    it('fails to look up an unknown image with NotFound', async () => {
      const h = harness();
      await expect(h.host.images.lookup('nope')).rejects.toMatchObject({ code: 'NotFound' });
      await expect(
        h.host.images.createInstanceDisk('nope', `${await h.makeDir()}/disk`, 'raw'),
      ).rejects.toMatchObject({ code: 'NotFound' });
    });
  });
}
