import { describe, expect, it } from 'vitest';
import type { HarnessFactory } from '../../harness/harness.js';
import {
  BLANK_DISK,
  P1,
  eventually,
  partitionedDisk,
  rootfsDisk,
  useHarness,
} from './contract-helpers.js';

const loopNumber = (device: string) => Number(/\d+$/.exec(device)?.[0]);

/** The BlockDevices port's documented semantics, for every backend. */
export function describeBlockDevicesContract(makeHarness: HarnessFactory): void {
  describe('BlockDevices contract', () => {
    const harness = useHarness(makeHarness);

    it('attaches a partition by offset and size limit and reads its bytes through the loop device', async () => {
      const h = harness();
      const disk = await h.makeDiskFile(partitionedDisk(), 'mbr');
      const loop = await h.host.blockDevices.attachLoop(disk, {
        offset: P1.start * 512,
        sizeLimit: P1.size * 512,
      });
      expect(loop).toMatchObject({
        device: expect.stringMatching(/^\/dev\/loop\d+$/),
        backingFile: disk,
        offset: P1.start * 512,
        sizeLimit: P1.size * 512,
        readOnly: false,
        sectorSize: 512,
        autoclear: false,
      });
      // ext4's superblock magic 0xEF53 sits at byte 1080 of the filesystem, little-endian.
      expect([...(await h.host.blockDevices.read(loop.device, 1080, 2))]).toEqual([0x53, 0xef]);
      expect(await h.host.blockDevices.geometry(loop.device)).toEqual({
        size: P1.size * 512,
        logicalSectorSize: 512,
      });
      expect(await h.host.blockDevices.listLoops()).toContainEqual(loop);
      await h.host.blockDevices.detachLoop(loop.device);
    });

    it('reports one loop device by name as listLoops does, and null once it is detached', async () => {
      const h = harness();
      const disk = await h.makeDiskFile(partitionedDisk(), 'mbr');
      const loop = await h.host.blockDevices.attachLoop(disk, {
        offset: P1.start * 512,
        sizeLimit: P1.size * 512,
        readOnly: true,
      });
      expect(await h.host.blockDevices.loopDevice(loop.device)).toEqual(loop);
      expect((await h.host.blockDevices.listLoops()).find((l) => l.device === loop.device)).toEqual(
        await h.host.blockDevices.loopDevice(loop.device),
      );
      await h.host.blockDevices.detachLoop(loop.device);
      expect(await h.host.blockDevices.loopDevice(loop.device)).toBeNull();
      expect(await h.host.blockDevices.loopDevice('/dev/sda')).toBeNull();
      expect(await h.host.blockDevices.loopDevice('/dev/loop0/../../etc')).toBeNull();
    });

    it('finds the loop devices over one backing file, by the kernel spelling, as listLoops shows them', async () => {
      const h = harness();
      const disk = await h.makeDiskFile(partitionedDisk(), 'over');
      const other = await h.makeDiskFile(BLANK_DISK, 'over-other');
      const whole = await h.host.blockDevices.attachLoop(disk);
      const elsewhere = await h.host.blockDevices.attachLoop(other);
      const part = await h.host.blockDevices.attachLoop(disk, {
        offset: P1.start * 512,
        sizeLimit: P1.size * 512,
      });
      const listed = await h.host.blockDevices.listLoops();
      expect(await h.host.blockDevices.loopsOver(disk)).toEqual(
        listed.filter((l) => l.device === whole.device || l.device === part.device),
      );
      expect(await h.host.blockDevices.loopsOver(other)).toEqual([elsewhere]);
      // The path the kernel recorded, compared as is: a link to the file is not its spelling.
      expect(await h.host.blockDevices.loopsOver(await h.makeSymlink(disk, 'over-link'))).toEqual(
        [],
      );
      await h.host.blockDevices.detachLoop(whole.device);
      expect(await h.host.blockDevices.loopsOver(disk)).toEqual([part]);
      await h.host.blockDevices.detachLoop(part.device);
      await h.host.blockDevices.detachLoop(elsewhere.device);
      expect(await h.host.blockDevices.loopsOver(disk)).toEqual([]);
    });

    it('finds the loop devices over files in a directory, never over a sibling that shares a prefix', async () => {
      const h = harness();
      const disk = await h.makeDiskFile(partitionedDisk(), 'under-a');
      const sibling = await h.makeDiskFile(BLANK_DISK, 'under-ab');
      const dir = disk.slice(0, disk.lastIndexOf('/'));
      const whole = await h.host.blockDevices.attachLoop(disk);
      const part = await h.host.blockDevices.attachLoop(disk, {
        offset: P1.start * 512,
        sizeLimit: P1.size * 512,
      });
      const next = await h.host.blockDevices.attachLoop(sibling);
      const listed = await h.host.blockDevices.listLoops();
      const mine = [whole, part, next].map((l) => l.device);
      // As listLoops shows them, in device order.
      expect(await h.host.blockDevices.loopsUnder(dir)).toEqual(
        listed.filter((l) => mine.includes(l.device)),
      );
      expect(await h.host.blockDevices.loopsUnder(disk)).toEqual(
        listed.filter((l) => l.device === whole.device || l.device === part.device),
      );
      // `…/under-a` is a prefix of both names and the directory of neither.
      expect(await h.host.blockDevices.loopsUnder(disk.replace(/\.img$/, ''))).toEqual([]);
      expect(await h.host.blockDevices.loopsUnder(`${dir}/under`)).toEqual([]);
      for (const loop of [part, whole, next]) await h.host.blockDevices.detachLoop(loop.device);
      expect(await h.host.blockDevices.loopsUnder(dir)).toEqual([]);
    });

    it('attaches to the lowest free device', async () => {
      const h = harness();
      const disk = await h.makeDiskFile(BLANK_DISK);
      const first = await h.host.blockDevices.attachLoop(disk);
      const second = await h.host.blockDevices.attachLoop(disk);
      expect(loopNumber(second.device)).toBeGreaterThan(loopNumber(first.device));
      await h.host.blockDevices.detachLoop(first.device);
      const third = await h.host.blockDevices.attachLoop(disk, { readOnly: true });
      expect(third).toMatchObject({ device: first.device, readOnly: true });
      await h.host.blockDevices.detachLoop(second.device);
      await h.host.blockDevices.detachLoop(third.device);
    });

    it('gives an attachment at a reused number and over the same file another diskseq', async () => {
      const h = harness();
      const disk = await h.makeDiskFile(BLANK_DISK);
      const first = await h.host.blockDevices.attachLoop(disk);
      expect(first.diskseq).toEqual(expect.any(Number));
      expect(await h.host.blockDevices.loopDevice(first.device)).toEqual(first);
      await h.host.blockDevices.detachLoop(first.device);
      const again = await h.host.blockDevices.attachLoop(disk);
      // Everything else an observer can see is the same: only diskseq tells them apart.
      expect({ ...again, diskseq: 0 }).toEqual({ ...first, diskseq: 0 });
      expect(again.diskseq).toBeGreaterThan(first.diskseq ?? Infinity);
      await h.host.blockDevices.detachLoop(again.device);
    });

    it('fails a second detach with NotFound', async () => {
      const h = harness();
      const loop = await h.host.blockDevices.attachLoop(await h.makeDiskFile(BLANK_DISK));
      await h.host.blockDevices.detachLoop(loop.device);
      await expect(h.host.blockDevices.detachLoop(loop.device)).rejects.toMatchObject({
        code: 'NotFound',
      });
      expect((await h.host.blockDevices.listLoops()).map((l) => l.device)).not.toContain(
        loop.device,
      );
    });

    it('reports a detach of a mounted device as Busy and frees it on unmount (autoclear)', async () => {
      const h = harness();
      const loop = await h.host.blockDevices.attachLoop(await h.makeDiskFile(rootfsDisk()));
      const target = await h.makeDir('busy');
      await h.host.mounts.mount(loop.device, target, { fstype: 'ext4' });
      await expect(h.host.blockDevices.detachLoop(loop.device)).rejects.toMatchObject({
        code: 'Busy',
      });
      expect(await h.host.blockDevices.listLoops()).toContainEqual({ ...loop, autoclear: true });
      await h.host.mounts.unmount(target);
      expect(
        await eventually(h, async () =>
          (await h.host.blockDevices.listLoops()).every((l) => l.device !== loop.device),
        ),
      ).toBe(true);
    });

    it('fails to attach a missing file with NotFound', async () => {
      const h = harness();
      const dir = await h.makeDir();
      await expect(h.host.blockDevices.attachLoop(`${dir}/missing.img`)).rejects.toMatchObject({
        code: 'NotFound',
      });
    });

    it('reads short at the end of a file and reports its geometry', async () => {
      const h = harness();
      const disk = await h.makeDiskFile({ size: '1M', table: 'none' });
      expect(await h.host.blockDevices.geometry(disk)).toEqual({
        size: 1024 * 1024,
        logicalSectorSize: 512,
      });
      expect((await h.host.blockDevices.read(disk, 1024 * 1024 - 10, 100)).length).toBe(10);
      await expect(h.host.blockDevices.geometry(`${disk}.missing`)).rejects.toMatchObject({
        code: 'NotFound',
      });
    });

    it('records the resolved backing file of a symlinked path, as the kernel does', async () => {
      const h = harness();
      const file = await h.makeDiskFile({ size: '1M', table: 'none' });
      const link = await h.makeSymlink(file, 'backing-link');
      const loop = await h.host.blockDevices.attachLoop(link);
      try {
        expect(loop.backingFile).toBe(await h.host.files.realpath(file));
      } finally {
        await h.host.blockDevices.detachLoop(loop.device);
      }
    });

    it.each([
      [
        'a name longer than NAME_MAX',
        (f: string) => `${f.slice(0, f.lastIndexOf('/'))}/${'l'.repeat(256)}`,
        'InvalidInput',
        /failed to set up loop device: File name too long$/,
      ],
      [
        'a path through a file',
        (f: string) => `${f}/below`,
        'NotFound',
        /failed to set up loop device: Not a directory$/,
      ],
    ])("fails to attach %s with the kernel's reason", async (_what, make, code, pattern) => {
      const h = harness();
      const file = await h.makeDiskFile({ size: '1M', table: 'none' });
      await expect(h.host.blockDevices.attachLoop(make(file))).rejects.toMatchObject({
        code,
        message: expect.stringMatching(pattern),
      });
      expect(await h.host.blockDevices.listLoops()).not.toContainEqual(
        expect.objectContaining({ backingFile: expect.stringContaining(file) }),
      );
    });
  });
}
