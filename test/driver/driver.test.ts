import { describe, expect, it } from 'vitest';
import { ROOTFS_DEVICE_KEY, hasCode } from '../../driver/index.js';
import type { LoopDevice } from '../../driver/index.js';
import type { DiskSpec } from '../../harness/disk-spec.js';
import {
  makeInstance,
  plainDisk,
  rootFs,
  twoPartitionDisk,
  volumeBdi,
} from '../../harness/instances.js';
import { useDriverSuite } from '../helpers/driver-suite.js';

const suite = useDriverSuite({ imagesType: 'raw' });

function rootfsOf(instance: Record<string, unknown>): string {
  return `${suite.harness.instancesPath}/${String(instance['uuid'])}/rootfs`;
}

async function loopOf(device: string): Promise<LoopDevice | undefined> {
  return (await suite.host.blockDevices.listLoops()).find((l) => l.device === device);
}

/** Boots from a volume built from `spec`; returns the instance, bdi and volume path. */
async function bootVolume(spec: DiskSpec, options = {}, imageMeta = {}) {
  const volume = await suite.harness.makeDiskFile(spec, 'volume');
  const instance = makeInstance({ image_ref: null });
  const bdi = volumeBdi(volume);
  const d = suite.driver(options);
  await d.spawn({}, instance, imageMeta, [], null, null, null, bdi);
  return { d, instance, bdi, volume };
}

describe(`driver on the ${process.env['NOVA_LXC_BACKEND'] ?? 'sim'} backend`, () => {
  it('boots an unpartitioned volume by mounting the whole device', async () => {
    const { d, instance, bdi, volume } = await bootVolume(plainDisk());
    const volumeDevice = (
      bdi['block_device_mapping'] as { connection_info: { data: { device_path: string } } }[]
    )[0]!.connection_info.data.device_path;
    const root = await suite.host.hypervisor.containerRoot(String(instance['name']));
    expect(root.source).toBe(volumeDevice);
    expect((await loopOf(volumeDevice))?.backingFile).toBe(volume);
    expect((instance['system_metadata'] as Record<string, string>)[ROOTFS_DEVICE_KEY]).toBe(
      volumeDevice,
    );
    expect(await d.getInfo(instance)).toMatchObject({ state: 1 });

    await d.destroy({}, instance, null, bdi);
    expect(await suite.harness.readFileOnDisk(volume, null, '/marker')).toBe('booted');
  });

  it.each([
    ['mbr', 512],
    ['gpt', 512],
    ['gpt', 4096],
  ] as const)(
    'boots partition 1 only of a %s volume with %i-byte sectors, bounded by offset and size limit',
    async (table, sectorSize) => {
      const spec = twoPartitionDisk(table, rootFs(), undefined, sectorSize);
      const { d, instance, bdi, volume } = await bootVolume(spec);
      const root = await suite.host.hypervisor.containerRoot(String(instance['name']));
      const loop = await loopOf(root.source);
      expect(loop).toMatchObject({ offset: 2048 * 512, sizeLimit: 61440 * 512 });

      await d.destroy({}, instance, null, bdi);
      expect(await suite.harness.readFileOnDisk(volume, 1, '/marker')).toBe('booted');
      expect(await suite.harness.readFileOnDisk(volume, 2, '/marker')).toBeNull();
    },
  );

  it('boots a raw image through a loop device over the instance disk', async () => {
    const image = await suite.harness.makeDiskFile(plainDisk(rootFs('img')), 'image');
    await suite.harness.addImage('img-raw', image, 'raw');
    const instance = makeInstance({ image_ref: 'img-raw' });
    const d = suite.driver();
    await d.spawn({}, instance, { disk_format: 'raw' });
    const root = await suite.host.hypervisor.containerRoot(String(instance['name']));
    const loop = await loopOf(root.source);
    expect(loop?.backingFile).toBe(
      `${suite.harness.instancesPath}/${String(instance['uuid'])}/disk`,
    );
    await d.destroy({}, instance);
    expect(
      await suite.host.files.exists(`${suite.harness.instancesPath}/${String(instance['uuid'])}`),
    ).toBe(false);
  });

  it('boots a qcow2 image through nbd with the default image settings', async (ctx) => {
    if (suite.harness.capabilities.nbd !== true) {
      // @note The real CI hosts have no nbd module: the clear error is covered below.
      ctx.skip();
    }
    const raw = await suite.harness.makeDiskFile(twoPartitionDisk('gpt'), 'image');
    await suite.harness.addImage('img-q', await suite.harness.makeQcow2(raw), 'qcow2');
    const instance = makeInstance({ image_ref: 'img-q' });
    const d = suite.driver({ imagesType: 'default' });
    await d.spawn({}, instance, { disk_format: 'qcow2' });
    const root = await suite.host.hypervisor.containerRoot(String(instance['name']));
    const loop = await loopOf(root.source);
    expect(loop?.backingFile).toMatch(/^\/dev\/nbd\d+$/);
    expect(loop?.offset).toBe(2048 * 512);
    await d.destroy({}, instance);
    expect(await suite.host.nbd.list()).toEqual([]);
  });

  it('fails at once with a clear error for a qcow2 image when nbd is unavailable', async (ctx) => {
    if (suite.harness.capabilities.nbd === true) {
      ctx.skip();
    }
    const instance = makeInstance({ image_ref: 'img-q' });
    await expect(
      suite.driver({ imagesType: 'qcow2' }).spawn({}, instance, {}),
    ).rejects.toMatchObject({
      code: 'Unsupported',
      message: expect.stringContaining('nbd'),
    });
  });

  it('cleans the host mount namespace after start while the container keeps its root', async () => {
    const { d, instance, bdi } = await bootVolume(twoPartitionDisk('mbr'));
    const mounts = await suite.host.mounts.list();
    expect(mounts.filter((m) => m.target === rootfsOf(instance))).toEqual([]);
    const root = await suite.host.hypervisor.containerRoot(String(instance['name']));
    expect(await loopOf(root.source)).toBeDefined();
    await d.destroy({}, instance, null, bdi);
  });

  it('tears everything down when the container cannot start', async () => {
    const noInit = { type: 'ext4' as const, label: 'noinit', files: { '/etc/hostname': 'x\n' } };
    const volume = await suite.harness.makeDiskFile(twoPartitionDisk('gpt', noInit), 'volume');
    const instance = makeInstance({ image_ref: null });
    const bdi = volumeBdi(volume);
    const error = await suite
      .driver()
      .spawn({}, instance, {}, [], null, null, null, bdi)
      .catch((e: unknown) => e);
    expect(hasCode(error, 'FailedPrecondition')).toBe(true);
    expect(String((error as Error).message)).toContain(
      "cannot find init path '/sbin/init' relative to container root",
    );
    expect(await suite.host.blockDevices.listLoops()).toEqual([]);
    expect(
      (await suite.host.mounts.list()).filter((m) =>
        m.target.startsWith(suite.harness.instancesPath),
      ),
    ).toEqual([]);
    expect((await suite.host.hypervisor.list()).map((x) => x.name)).not.toContain(instance['name']);
    expect(
      await suite.host.files.exists(`${suite.harness.instancesPath}/${String(instance['uuid'])}`),
    ).toBe(false);
  });

  it('destroys from the instance record alone after a driver restart', async () => {
    const { instance, bdi, volume } = await bootVolume(twoPartitionDisk('gpt'));
    const restarted = suite.driver();
    await restarted.destroy({}, JSON.parse(JSON.stringify(instance)), null, bdi);
    expect(await suite.host.blockDevices.listLoops()).toEqual([]);
    expect(await suite.host.hypervisor.list()).toEqual([]);
    expect(await suite.harness.readFileOnDisk(volume, 1, '/marker')).toBe('booted');
  });

  it('destroys twice without error and changes nothing the second time', async () => {
    const { d, instance, bdi } = await bootVolume(plainDisk());
    await d.destroy({}, instance, null, bdi);
    const loops = await suite.host.blockDevices.listLoops();
    await d.destroy({}, instance, null, bdi);
    expect(await suite.host.blockDevices.listLoops()).toEqual(loops);
    await expect(d.getInfo(instance)).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('never releases a loop device that now backs something else', async () => {
    const { d, instance, bdi } = await bootVolume(twoPartitionDisk('mbr'));
    const root = await suite.host.hypervisor.containerRoot(String(instance['name']));
    await suite.host.hypervisor.destroy(String(instance['name']));
    await suite.host.blockDevices.detachLoop(root.source);
    const stranger = await suite.harness.makeDiskFile(plainDisk(), 'stranger');
    let theirs: LoopDevice | undefined;
    // Take device numbers until the stranger holds the number our record names.
    const taken: LoopDevice[] = [];
    for (let i = 0; i < 8 && theirs?.device !== root.source; i++) {
      theirs = await suite.host.blockDevices.attachLoop(stranger);
      taken.push(theirs);
    }
    expect(theirs?.device).toBe(root.source);
    await d.destroy({}, instance, null, bdi);
    expect(await loopOf(root.source)).toMatchObject({ backingFile: stranger });
    for (const loop of taken) await suite.host.blockDevices.detachLoop(loop.device);
  });

  it('works through a symlinked instances_path and never deletes into a mounted volume', async () => {
    const realDir = await suite.harness.makeDir('instances-real');
    const linked = await suite.harness.makeSymlink(realDir, 'instances-link');
    const volume = await suite.harness.makeDiskFile(twoPartitionDisk('gpt'), 'volume');
    const instance = makeInstance({ image_ref: null });
    const bdi = volumeBdi(volume);
    const d = suite.driver({ instancesPath: linked });
    await d.spawn({}, instance, {}, [], null, null, null, bdi);
    const rootfs = `${realDir}/${String(instance['uuid'])}/rootfs`;
    // The post step found its own mount through the symlink and cleaned the host namespace.
    expect((await suite.host.mounts.list()).filter((m) => m.target === rootfs)).toEqual([]);
    await d.destroy({}, instance, null, bdi);
    expect(await suite.host.files.exists(`${realDir}/${String(instance['uuid'])}`)).toBe(false);
    expect(await suite.harness.readFileOnDisk(volume, 1, '/etc/hostname')).toBe('guest\n');
    expect(await suite.harness.readFileOnDisk(volume, 1, '/marker')).toBe('booted');
  });

  describe('root partition overrides', () => {
    const layout = () =>
      twoPartitionDisk(
        'gpt',
        { type: 'ext4', label: 'first', files: {} },
        rootFs('second-fs', 'from-2'),
      );

    it.each([
      ['image property number', { lxc_root_partition: '2' }, {}],
      ['image property label by partition name', { lxc_root_partition: 'label:data' }, {}],
      ['image property label by filesystem label', { lxc_root_partition: 'label:second-fs' }, {}],
      ['host option number', {}, { rootPartition: '2' }],
      ['host option label', {}, { rootPartition: 'label:data' }],
    ])('selects partition 2 by %s', async (_name, properties, options) => {
      const { d, instance, bdi, volume } = await bootVolume(layout(), options, { properties });
      const root = await suite.host.hypervisor.containerRoot(String(instance['name']));
      expect(await loopOf(root.source)).toMatchObject({
        offset: 63488 * 512,
        sizeLimit: 40960 * 512,
      });
      await d.destroy({}, instance, null, bdi);
      expect(await suite.harness.readFileOnDisk(volume, 2, '/marker')).toBe('from-2');
    });

    it('selects the DPS root partition of the host architecture', async () => {
      const spec = twoPartitionDisk(
        'gpt',
        { type: 'ext4', label: 'esp-like', files: {} },
        rootFs('dps-root', 'dps'),
      );
      spec.partitions![1]!.type = 'root-x86-64';
      const { d, instance, bdi, volume } = await bootVolume(spec, {
        rootPartition: 'dps',
        hostArch: 'x86_64',
      });
      await d.destroy({}, instance, null, bdi);
      expect(await suite.harness.readFileOnDisk(volume, 2, '/marker')).toBe('dps');
    });

    it('lets the image property win over the host option', async () => {
      const { d, instance, bdi, volume } = await bootVolume(
        layout(),
        { rootPartition: '1' },
        {
          properties: { lxc_root_partition: '2' },
        },
      );
      await d.destroy({}, instance, null, bdi);
      expect(await suite.harness.readFileOnDisk(volume, 2, '/marker')).toBe('from-2');
    });
  });
});
