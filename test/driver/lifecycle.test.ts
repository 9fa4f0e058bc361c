/**
 * Lifecycle safety (issue 9): input never steers the driver outside its own instance, and no
 * call touches what it did not create. Backend-neutral: runs on the simulator and the real host.
 */
import { describe, expect, it } from 'vitest';
import { LxcDriver, ROOTFS_RECORD_KEY, hasCode, isDriverError } from '../../driver/index.js';
import { makeInstance, rootFs, twoPartitionDisk, volumeBdi } from '../../harness/instances.js';
import { useDriverSuite } from '../helpers/driver-suite.js';

const suite = useDriverSuite({ imagesType: 'raw' });

async function boot(d: LxcDriver, overrides: Record<string, unknown> = {}) {
  const volume = await suite.harness.makeDiskFile(twoPartitionDisk('gpt'), 'volume');
  const instance = makeInstance({ image_ref: null, ...overrides });
  const bdi = volumeBdi(volume);
  await d.spawn({}, instance, {}, [], null, null, null, bdi);
  return { instance, bdi, volume };
}

function metadata(instance: Record<string, unknown>): Record<string, string> {
  return instance['system_metadata'] as Record<string, string>;
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

async function state(name: unknown): Promise<string> {
  return (await suite.host.hypervisor.info(String(name))).state;
}

describe(`lifecycle safety on the ${process.env['NOVA_LXC_BACKEND'] ?? 'sim'} backend`, () => {
  it('refuses uuids and names that would leave the instance, and a running neighbour survives (item 1)', async () => {
    const d = suite.driver();
    const neighbour = await boot(d);
    const neighbourDir = `${suite.harness.instancesPath}/${String(neighbour.instance['uuid'])}`;
    for (const uuid of ['..', '.', '/', '../instances', 'a/b', '../escape', 'x\0y', '']) {
      const bad = makeInstance({ image_ref: null, uuid });
      for (const call of [
        () => d.destroy({}, bad, null, null),
        () => d.spawn({}, bad, {}, [], null, null, null, neighbour.bdi),
      ]) {
        const error = await failure(call());
        expect(error, `uuid ${JSON.stringify(uuid)}`).toMatchObject({
          code: 'InvalidInput',
          details: { field: 'instance.uuid' },
        });
      }
    }
    for (const name of ['a/b', 'x\ny', 'n'.repeat(248)]) {
      const error = await failure(d.spawn({}, makeInstance({ image_ref: null, name }), {}));
      expect(error).toMatchObject({ code: 'InvalidInput', details: { field: 'instance.name' } });
    }
    expect(await suite.host.files.exists(neighbourDir)).toBe(true);
    expect(await state(neighbour.instance['name'])).toBe('running');
    await d.destroy({}, neighbour.instance, null, neighbour.bdi);
  });

  it('refuses to spawn an instance that already runs, changing nothing (item 2)', async () => {
    const d = suite.driver();
    const { instance, bdi } = await boot(d);
    const record = metadata(instance)[ROOTFS_RECORD_KEY];
    const loops = await suite.host.blockDevices.listLoops();
    const error = await failure(d.spawn({}, instance, {}, [], null, null, null, bdi));
    expect(error).toMatchObject({ code: 'AlreadyExists' });
    expect(await state(instance['name'])).toBe('running');
    expect(metadata(instance)[ROOTFS_RECORD_KEY]).toBe(record);
    expect(await suite.host.blockDevices.listLoops()).toEqual(loops);
    await d.destroy({}, instance, null, bdi);
    expect(await suite.host.blockDevices.listLoops()).toEqual([]);
  });

  it("never touches another instance's domain that has the same name (item 2)", async () => {
    const d = suite.driver();
    const first = await boot(d);
    const volume = await suite.harness.makeDiskFile(twoPartitionDisk('gpt'), 'volume');
    const clash = makeInstance({ image_ref: null, name: first.instance['name'] });
    const error = await failure(d.spawn({}, clash, {}, [], null, null, null, volumeBdi(volume)));
    expect(error).toMatchObject({ code: 'AlreadyExists' });
    expect(await state(first.instance['name'])).toBe('running');
    // Destroying the other instance by that name leaves the domain alone too.
    await d.destroy({}, clash, null, volumeBdi(volume));
    expect(await state(first.instance['name'])).toBe('running');
    expect(await suite.host.hypervisor.info(String(first.instance['name']))).toMatchObject({
      uuid: first.instance['uuid'],
    });
    expect((await suite.host.blockDevices.listLoops()).map((l) => l.backingFile)).not.toContain(
      volume,
    );
    await d.destroy({}, first.instance, null, first.bdi);
  });

  it('refuses a second instance on a volume a running instance uses, and never detaches its device (item 7)', async () => {
    const d = suite.driver();
    const first = await boot(d);
    const loops = await suite.host.blockDevices.listLoops();
    const firstDevice = loops.find((l) => l.backingFile === first.volume)!.device;
    const second = makeInstance({ image_ref: null });
    // A connection_info that even names the first instance's device.
    const bdi = volumeBdi(first.volume);
    (
      bdi['block_device_mapping'] as { connection_info: { data: Record<string, unknown> } }[]
    )[0]!.connection_info.data['device_path'] = firstDevice;
    const error = await failure(d.spawn({}, second, {}, [], null, null, null, bdi));
    expect(error).toMatchObject({ code: 'AlreadyExists' });
    await d.destroy({}, second, null, bdi);
    expect(await suite.host.blockDevices.listLoops()).toEqual(loops);
    expect(await state(first.instance['name'])).toBe('running');
    await d.destroy({}, first.instance, null, first.bdi);
  });

  it('refuses a local block device another instance maps when it is named through a symlink', async () => {
    const d = suite.driver();
    const disk = await suite.harness.makeDiskFile(twoPartitionDisk('gpt'), 'local-disk');
    // The "local" volume: a block device already on the host (Cinder LVM, an iSCSI disk).
    const local = await suite.host.blockDevices.attachLoop(disk);
    const localBdi = (device: string) => ({
      root_device_name: '/dev/vda',
      block_device_mapping: [
        {
          boot_index: 0,
          mount_device: '/dev/vda',
          device_type: 'disk',
          connection_info: { driver_volume_type: 'local', data: { device_path: device } },
        },
      ],
    });
    const first = makeInstance({ image_ref: null });
    await d.spawn({}, first, {}, [], null, null, null, localBdi(local.device));
    const loops = await suite.host.blockDevices.listLoops();
    // os-brick hands out /dev/disk/by-path/... links; the kernel records the device itself.
    const link = await suite.harness.makeSymlink(local.device, 'by-path-lun-1');
    const second = makeInstance({ image_ref: null });
    const error = await failure(d.spawn({}, second, {}, [], null, null, null, localBdi(link)));
    expect(error).toMatchObject({
      code: 'AlreadyExists',
      message: expect.stringContaining('already attached as'),
    });
    expect(await suite.host.blockDevices.listLoops()).toEqual(loops);
    expect(await state(first['name'])).toBe('running');
    await d.destroy({}, first, null, localBdi(local.device));
    await suite.host.blockDevices.detachLoop(local.device);
  });

  it('serialises a destroy started during a spawn: nothing is left (item 8)', async () => {
    const d = suite.driver();
    const volume = await suite.harness.makeDiskFile(twoPartitionDisk('gpt'), 'volume');
    const instance = makeInstance({ image_ref: null });
    const bdi = volumeBdi(volume);
    const spawning = d.spawn({}, instance, {}, [], null, null, null, bdi);
    const destroying = d.destroy({}, instance, null, bdi);
    await spawning;
    await destroying;
    expect(await suite.host.blockDevices.listLoops()).toEqual([]);
    expect((await suite.host.hypervisor.list()).map((x) => x.name)).not.toContain(instance['name']);
    expect(
      await suite.host.files.exists(`${suite.harness.instancesPath}/${String(instance['uuid'])}`),
    ).toBe(false);
    expect(await suite.harness.readFileOnDisk(volume, 1, '/marker')).toBe('booted');
  });

  it.each([
    ['mount_device 5', { mount_device: 5 }, {}, 'InvalidInput', undefined],
    ['boot_index "abc"', { boot_index: 'abc' }, {}, 'InvalidInput', undefined],
    [
      'hw_disk_bus virtio',
      {},
      { properties: { hw_disk_bus: 'virtio' } },
      'Unsupported',
      'UnsupportedHardware',
    ],
  ])('throws only DriverError for %s (item 9)', async (_what, bdm, imageMeta, code, novaType) => {
    const volume = await suite.harness.makeDiskFile(twoPartitionDisk('gpt'), 'volume');
    const bdi = volumeBdi(volume);
    Object.assign((bdi['block_device_mapping'] as Record<string, unknown>[])[0]!, bdm);
    const instance = makeInstance({ image_ref: null });
    const error = await failure(
      suite.driver().spawn({}, instance, imageMeta, [], null, null, null, bdi),
    );
    expect(isDriverError(error)).toBe(true);
    expect(error).toMatchObject({ code });
    if (novaType) expect((error as { details: object }).details).toMatchObject({ novaType });
    expect(await suite.host.blockDevices.listLoops()).toEqual([]);
  });

  it('releases its loop device after the instance disk was deleted under it ("(deleted)", item 12)', async () => {
    const image = await suite.harness.makeDiskFile(twoPartitionDisk('gpt', rootFs('img')), 'image');
    await suite.harness.addImage('img-del', image, 'raw');
    const instance = makeInstance({ image_ref: 'img-del' });
    const d = suite.driver();
    await d.spawn({}, instance, { disk_format: 'raw' });
    const dir = `${suite.harness.instancesPath}/${String(instance['uuid'])}`;
    // Someone deletes the instance directory while the container runs on the disk in it.
    await suite.host.files.removeTree(dir);
    expect(await suite.host.blockDevices.listLoops()).toContainEqual(
      expect.objectContaining({ backingFile: `${dir}/disk (deleted)` }),
    );
    await d.destroy({}, instance);
    expect(await suite.host.blockDevices.listLoops()).toEqual([]);
    expect(metadata(instance)[ROOTFS_RECORD_KEY]).toBeUndefined();
  });

  it('reports a spawn of an existing record as AlreadyExists without releasing it (item 2)', async () => {
    const d = suite.driver();
    const { instance, bdi } = await boot(d);
    const copy = JSON.parse(JSON.stringify(instance)) as Record<string, unknown>;
    await suite.host.hypervisor.destroy(String(instance['name']));
    const error = await failure(d.spawn({}, copy, {}, [], null, null, null, bdi));
    expect(hasCode(error, 'AlreadyExists')).toBe(true);
    expect(metadata(copy)[ROOTFS_RECORD_KEY]).toBe(metadata(instance)[ROOTFS_RECORD_KEY]);
    await d.destroy({}, instance, null, bdi);
  });
});
