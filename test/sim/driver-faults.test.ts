import { describe, expect, it } from 'vitest';
import { DriverError } from '../../driver/errors.js';
import { LxcDriver, ROOTFS_RECORD_KEY, type Logger } from '../../driver/index.js';
import { createSimHarness } from '../../harness/sim-harness.js';
import {
  makeInstance,
  plainDisk,
  rootFs,
  twoPartitionDisk,
  volumeBdi,
} from '../../harness/instances.js';

/** A logger that keeps what it was told, to check what the driver chose to leave alone. */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const keep = (level: string) => (message: string) => lines.push(`${level}: ${message}`);
  return {
    lines,
    debug: keep('debug'),
    info: keep('info'),
    warn: keep('warn'),
    error: keep('error'),
  };
}

async function setup(options: Record<string, unknown> = {}) {
  const harness = await createSimHarness();
  const log = recordingLogger();
  const driver = new LxcDriver(harness.host, {
    instancesPath: harness.instancesPath,
    imagesType: 'raw',
    logger: log,
    ...options,
  });
  const volume = await harness.makeDiskFile(twoPartitionDisk('gpt'), 'volume');
  const instance = makeInstance({ image_ref: null });
  const bdi = volumeBdi(volume);
  return { harness, host: harness.host, driver, log, instance, bdi, volume };
}

/** The port operations spawn of a partitioned file-backed root volume calls, in order. */
const SPAWN_OPERATIONS = [
  'files.realpath',
  'files.ensureDir',
  'volumes.connect',
  'mounts.list',
  'blockDevices.geometry',
  'blockDevices.read',
  'blockDevices.attachLoop',
  'mounts.mount',
  'hypervisor.define',
  'hypervisor.start',
  'hypervisor.info',
  'mounts.unmount',
];

describe('spawn with a fault at each step', () => {
  it.each(SPAWN_OPERATIONS)('leaves nothing behind when %s fails', async (operation) => {
    const { harness, host, driver, instance, bdi } = await setup();
    harness.faults.inject(operation, { match: operation === 'files.ensureDir' ? undefined : '' });
    const error = await driver
      .spawn({}, instance, {}, [], null, null, null, bdi)
      .catch((e: unknown) => e);
    // The failure surfaces with its code, and the message names the injected fault.
    expect(error).toMatchObject({
      code: 'Internal',
      message: expect.stringContaining('injected fault'),
    });
    harness.faults.clear();
    await harness.cleanup();
    expect(await host.files.exists(`${harness.instancesPath}/${String(instance['uuid'])}`)).toBe(
      false,
    );
  });
});

describe('destroy with a fault at each step', () => {
  it.each([
    'hypervisor.info',
    'hypervisor.destroy',
    'mounts.list',
    'blockDevices.loopDevice',
    'volumes.disconnect',
    'files.removeTree',
    'hypervisor.undefine',
  ])('fails on %s, and a second destroy finishes the job', async (operation) => {
    const { harness, driver, instance, bdi } = await setup();
    await driver.spawn({}, instance, {}, [], null, null, null, bdi);
    harness.faults.inject(operation);
    const first = await driver.destroy({}, instance, null, bdi).then(
      () => undefined,
      (e: unknown) => e,
    );
    // Every failed release is reported, the volume disconnect too (Nova swallows that one).
    expect(first).toMatchObject({ message: `Failed to ${operation}: injected fault` });
    await driver.destroy({}, instance, null, bdi);
    await harness.cleanup();
  });
});

describe('destroy tolerances', () => {
  it('tolerates libvirt\'s "Some processes refused to die" and waits for the stop', async () => {
    const { harness, host, driver, instance, bdi } = await setup();
    await driver.spawn({}, instance, {}, [], null, null, null, bdi);
    const realDestroy = host.hypervisor.destroy.bind(host.hypervisor);
    host.hypervisor.destroy = async (name: string) => {
      await realDestroy(name);
      const error = new (await import('../../driver/errors.js')).DriverError(
        'Busy',
        'Failed to destroy domain: internal error: Some processes refused to die',
      );
      throw error;
    };
    await driver.destroy({}, instance, null, bdi);
    await harness.cleanup();
  });

  it('times out when the domain never stops after "Some processes refused to die", naming it', async () => {
    const { host, driver, instance, bdi } = await setup({ destroyTimeoutMs: 2000 });
    await driver.spawn({}, instance, {}, [], null, null, null, bdi);
    // A destroy that resolves has stopped the domain (the port's contract); libvirt's
    // tolerated failure is the one after which the driver waits.
    host.hypervisor.destroy = async () => {
      throw new DriverError('Busy', 'Failed to destroy domain: Some processes refused to die');
    };
    await expect(driver.destroy({}, instance, null, bdi)).rejects.toMatchObject({
      code: 'Timeout',
      message: expect.stringContaining(String(instance['name'])),
    });
    expect(host.clock.sleeps.length).toBeGreaterThanOrEqual(4);
  });

  it('keeps the record while the kernel still holds a device, and finishes on the next destroy', async () => {
    const { harness, host, driver, instance, bdi } = await setup();
    await driver.spawn({}, instance, {}, [], null, null, null, bdi);
    const root = await host.hypervisor.containerRoot(String(instance['name']));
    // Someone else mounts our partition device: the detach is deferred by the kernel.
    await host.files.ensureDir('/mnt/other');
    await host.mounts.mount(root.source, '/mnt/other', { fstype: 'ext4' });
    // The volume under it is busy too: destroy says so instead of pretending it is released.
    await expect(driver.destroy({}, instance, null, bdi, false)).rejects.toMatchObject({
      code: 'Busy',
    });
    const metadata = instance['system_metadata'] as Record<string, string>;
    expect(metadata[ROOTFS_RECORD_KEY]).toBeDefined();
    await host.mounts.unmount('/mnt/other');
    await driver.destroy({}, instance, null, bdi);
    expect(metadata[ROOTFS_RECORD_KEY]).toBeUndefined();
    await harness.cleanup();
  });

  it('refuses to delete the instance directory while something is mounted in it', async () => {
    const { harness, host, driver, instance, bdi, volume } = await setup();
    await driver.spawn({}, instance, {}, [], null, null, null, bdi);
    const dir = `${harness.instancesPath}/${String(instance['uuid'])}`;
    const loop = await host.blockDevices.attachLoop(volume, {
      offset: 2048 * 512,
      sizeLimit: 61440 * 512,
    });
    await host.mounts.mount(loop.device, `${dir}/rootfs`, { fstype: 'ext4' });
    await driver.destroy({}, instance, null, bdi);
    // Our own mount point is unmounted from the record; nothing else was mounted there.
    expect(await host.files.exists(dir)).toBe(false);
    await host.blockDevices.detachLoop(loop.device);
    await harness.cleanup();
  });
});

describe('spawn edge cases', () => {
  it('fails cleanly when the container exits right after it starts', async () => {
    const harness = await createSimHarness();
    const driver = new LxcDriver(harness.host, { instancesPath: harness.instancesPath });
    const exits = { ...rootFs(), init: { then: { exit: 1 } } } as ReturnType<typeof rootFs>;
    const volume = await harness.makeDiskFile(plainDisk(exits), 'volume');
    const instance = makeInstance({ image_ref: null });
    await expect(
      driver.spawn({}, instance, {}, [], null, null, null, volumeBdi(volume)),
    ).rejects.toMatchObject({
      code: 'FailedPrecondition',
      message: expect.stringContaining('stopped right after it started'),
    });
    await harness.cleanup();
  });

  it('refuses to set up over a rootfs that is already mounted', async () => {
    const { harness, host, driver, instance, bdi } = await setup();
    await driver.spawn({}, instance, {}, [], null, null, null, bdi, false);
    expect((await host.hypervisor.info(String(instance['name']))).state).toBe('shut off');
    await driver.destroy({}, instance, null, bdi);
    await harness.cleanup();
  });

  it.each([
    [
      'an image_ref-less instance without a root volume',
      makeInstance({ image_ref: null }),
      null,
      'InvalidInput',
    ],
    [
      'a root volume without connection_info',
      makeInstance({ image_ref: null }),
      { block_device_mapping: [{ boot_index: 0, mount_device: '/dev/vda' }] },
      'InvalidInput',
    ],
    [
      'an unknown volume type',
      makeInstance({ image_ref: null }),
      {
        block_device_mapping: [
          {
            boot_index: 0,
            mount_device: '/dev/vda',
            connection_info: { driver_volume_type: 'iscsi', data: {} },
          },
        ],
      },
      'Unsupported',
    ],
  ])('rejects %s with a clear error', async (_name, instance, bdi, code) => {
    const harness = await createSimHarness();
    const driver = new LxcDriver(harness.host, { instancesPath: harness.instancesPath });
    await expect(driver.spawn({}, instance, {}, [], null, null, null, bdi)).rejects.toMatchObject({
      code,
    });
    await harness.cleanup();
    expect(
      await harness.host.files.exists(`${harness.instancesPath}/${String(instance['uuid'])}`),
    ).toBe(false);
  });

  it.each([
    [{ instancesPath: 'relative/path' }, 'InvalidInput'],
    [{ instancesPath: '/x', imagesType: 'rbd' }, 'Unsupported'],
    [{ instancesPath: '/x', rootPartition: 'second' }, 'InvalidInput'],
  ])('rejects driver options %j', async (options, code) => {
    const harness = await createSimHarness();
    expect(() => new LxcDriver(harness.host, options)).toThrow(expect.objectContaining({ code }));
  });

  it('warns once that containers run without user namespaces when no id maps are set', async () => {
    const log = recordingLogger();
    const harness = await createSimHarness();
    new LxcDriver(harness.host, { instancesPath: '/x', logger: log });
    expect(log.lines.filter((l) => l.includes('without user namespaces'))).toHaveLength(1);
    const quiet = recordingLogger();
    new LxcDriver(harness.host, {
      instancesPath: '/x',
      logger: quiet,
      uidMaps: ['0:100000:65536'],
      gidMaps: ['0:100000:65536'],
    });
    expect(quiet.lines).toEqual([]);
  });

  it('shifts the rootfs owners into the id-mapped range and writes <idmap>', async () => {
    const { harness, host, instance, bdi, volume } = await setup();
    const driver = new LxcDriver(host, {
      instancesPath: harness.instancesPath,
      uidMaps: ['0:100000:65536'],
      gidMaps: ['0:100000:65536'],
    });
    await driver.spawn({}, instance, {}, [], null, null, null, bdi);
    const domain = host.state.domains.get(String(instance['name']))!;
    expect(domain.spec.idmap.uid).toEqual([{ start: 0, target: 100000, count: 65536 }]);
    await driver.destroy({}, instance, null, bdi);
    const disk = host.state.disks.get(volume)!;
    const fs = [...host.state.filesystems.get(disk.contentId)!.values()].find(
      (f) => f.offset === 2048 * 512,
    )!;
    expect(Number(fs.tree.lstatSync('/etc/hostname').uid)).toBe(100000);
    await harness.cleanup();
  });

  it('lists instances and reports power states the way Nova maps them', async () => {
    const { harness, driver, instance, bdi } = await setup();
    await driver.spawn({}, instance, {}, [], null, null, null, bdi);
    expect(await driver.listInstances()).toEqual([instance['name']]);
    expect(await driver.getInfo(instance)).toMatchObject({ state: 1 });
    await driver.reboot({}, instance, null, 'HARD', bdi);
    expect(await driver.getInfo(instance)).toMatchObject({ state: 1 });
    await driver.destroy({}, instance, null, bdi);
    await harness.cleanup();
  });
});
