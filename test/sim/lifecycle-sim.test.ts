/**
 * Lifecycle safety cases that need the simulator's hands on the host (issue 9): a symlink in
 * the instance directory, faults on a release, libvirt's init-pid delay, a transiently busy
 * loop device.
 */
import { describe, expect, it } from 'vitest';
import { LxcDriver, ROOTFS_RECORD_KEY } from '../../driver/index.js';
import { createSimHarness } from '../../harness/sim-harness.js';
import { makeInstance, twoPartitionDisk, volumeBdi } from '../../harness/instances.js';

async function setup(options: { initPidDelayMs?: number } = {}, driverOptions = {}) {
  const harness = await createSimHarness(options);
  const driver = new LxcDriver(harness.host, {
    instancesPath: harness.instancesPath,
    imagesType: 'raw',
    ...driverOptions,
  });
  const volume = await harness.makeDiskFile(twoPartitionDisk('gpt'), 'volume');
  const instance = makeInstance({ image_ref: null });
  const bdi = volumeBdi(volume);
  const dir = `${harness.instancesPath}/${String(instance['uuid'])}`;
  return { harness, host: harness.host, driver, instance, bdi, volume, dir };
}

function metadata(instance: Record<string, unknown>): Record<string, string> {
  return instance['system_metadata'] as Record<string, string>;
}

describe('instance directory (item 4)', () => {
  it.each([
    ['the rootfs is a symlink', 'rootfs'],
    ['the instance directory is a symlink', ''],
  ])('refuses to mount when %s, and mounts nothing on its target', async (_what, at) => {
    const { harness, host, driver, instance, bdi, dir } = await setup();
    host.state.host.mkdirSync('/etc/cron.d', { recursive: true });
    if (at === '') {
      host.state.host.symlinkSync('/etc/cron.d', dir);
    } else {
      host.state.host.mkdirSync(dir, { recursive: true });
      host.state.host.symlinkSync('/etc/cron.d', `${dir}/${at}`);
    }
    await expect(driver.spawn({}, instance, {}, [], null, null, null, bdi)).rejects.toMatchObject({
      code: 'InvalidInput',
      message: expect.stringContaining('symlink'),
    });
    expect(await host.mounts.list()).toEqual([]);
    expect(await host.blockDevices.listLoops()).toEqual([]);
    // The symlink it refused is not its own to remove.
    expect(await host.files.kind(at === '' ? dir : `${dir}/${at}`)).toBe('symlink');
    await harness.cleanup();
  });

  it('refuses a rootfs that is a file', async () => {
    const { harness, host, driver, instance, bdi, dir } = await setup();
    host.state.host.mkdirSync(dir, { recursive: true });
    host.state.host.writeFileSync(`${dir}/rootfs`, 'x');
    await expect(driver.spawn({}, instance, {}, [], null, null, null, bdi)).rejects.toMatchObject({
      code: 'InvalidInput',
    });
    await harness.cleanup();
  });
});

describe('failed releases (item 6)', () => {
  it('reports a failed volume disconnect on destroy with destroy_disks and keeps it for the retry', async () => {
    const { harness, host, driver, instance, bdi, volume, dir } = await setup();
    await driver.spawn({}, instance, {}, [], null, null, null, bdi);
    harness.faults.inject('volumes.disconnect');
    await expect(driver.destroy({}, instance, null, bdi, true)).rejects.toMatchObject({
      message: 'Failed to volumes.disconnect: injected fault',
    });
    expect(metadata(instance)[ROOTFS_RECORD_KEY]).toContain(volume);
    expect((await host.blockDevices.listLoops()).map((l) => l.backingFile)).toContain(volume);
    expect(await host.files.exists(dir)).toBe(true);
    await driver.destroy({}, instance, null, bdi, true);
    expect(metadata(instance)[ROOTFS_RECORD_KEY]).toBeUndefined();
    expect(await host.files.exists(dir)).toBe(false);
    await harness.cleanup();
  });
});

describe("libvirt's init pid (item 11)", () => {
  it('spawns on what start reports, and the next dominfo waits on the clock for the init pid', async () => {
    const { harness, host, driver, instance, bdi } = await setup({ initPidDelayMs: 2000 });
    await driver.spawn({}, instance, {}, [], null, null, null, bdi);
    // start answers with the domain's state itself: the spawn asked no dominfo, so no wait.
    expect(host.clock.sleeps).toEqual([]);
    expect(await driver.getInfo(instance)).toMatchObject({ state: 1 });
    expect(host.clock.sleeps.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2000);
    await driver.destroy({}, instance, null, bdi);
    await harness.cleanup();
  });

  it('gives up after initPidTimeoutMs with Timeout, and a later destroy still stops its domain', async () => {
    const { harness, host, driver, instance, bdi, dir } = await setup(
      { initPidDelayMs: 60_000 },
      { initPidTimeoutMs: 1000 },
    );
    await driver.spawn({}, instance, {}, [], null, null, null, bdi);
    await expect(driver.getInfo(instance)).rejects.toMatchObject({
      code: 'Timeout',
      message: expect.stringContaining('Init pid is not yet available'),
    });
    await host.clock.sleep(60_000);
    await driver.destroy({}, instance, null, bdi);
    expect(await host.hypervisor.list()).toEqual([]);
    expect(await host.files.exists(dir)).toBe(false);
    await harness.cleanup();
  });
});

describe('busy loop detach (item 12)', () => {
  const busy = { code: 'Busy' as const, message: 'Failed to detach loop device: busy' };

  it('retries a transiently busy detach and finishes the destroy', async () => {
    const { harness, host, driver, instance, bdi, dir } = await setup();
    await driver.spawn({}, instance, {}, [], null, null, null, bdi);
    harness.faults.inject('blockDevices.detachLoop', { times: 2, error: busy });
    await driver.destroy({}, instance, null, bdi);
    expect(await host.blockDevices.listLoops()).toEqual([]);
    expect(await host.files.exists(dir)).toBe(false);
    await harness.cleanup();
  });

  /** The volume's own loop device (the partition's sits on it), from the rootfs record. */
  function volumeLoop(instance: Record<string, unknown>): string {
    const record = JSON.parse(metadata(instance)[ROOTFS_RECORD_KEY]!) as {
      volumes: { attached: { device: string } }[];
    };
    return record.volumes[0]!.attached.device;
  }

  it("retries a transiently busy volume loop device as a partition's, and finishes the destroy", async () => {
    const { harness, host, driver, instance, bdi, dir } = await setup();
    await driver.spawn({}, instance, {}, [], null, null, null, bdi);
    const device = volumeLoop(instance);
    harness.faults.inject('blockDevices.detachLoop', {
      times: 3,
      error: busy,
      match: JSON.stringify(device),
    });
    await driver.destroy({}, instance, null, bdi);
    expect(harness.faults.toJSON()[0]).toMatchObject({ fired: 3 });
    expect(await host.blockDevices.listLoops()).toEqual([]);
    expect(await host.files.exists(dir)).toBe(false);
    await harness.cleanup();
  });

  it('keeps the volume in the record while its loop device stays busy, and reports which', async () => {
    const { harness, host, driver, instance, bdi, volume } = await setup(
      {},
      { releaseTimeoutMs: 2000 },
    );
    await driver.spawn({}, instance, {}, [], null, null, null, bdi);
    const device = volumeLoop(instance);
    harness.faults.inject('blockDevices.detachLoop', {
      times: 'always',
      error: busy,
      match: JSON.stringify(device),
    });
    await expect(driver.destroy({}, instance, null, bdi)).rejects.toMatchObject({
      code: 'Busy',
      message: expect.stringMatching(
        new RegExp(`volume ${volume}: its loop device ${device} is still in use after 2000 ms`),
      ),
    });
    expect((await host.blockDevices.listLoops()).map((l) => l.device)).toEqual([device]);
    harness.faults.clear();
    await driver.destroy({}, instance, null, bdi);
    expect(metadata(instance)[ROOTFS_RECORD_KEY]).toBeUndefined();
    expect(await host.blockDevices.listLoops()).toEqual([]);
    await harness.cleanup();
  });

  it('keeps the record and the instance directory while a device stays busy, and reports it', async () => {
    const { harness, host, driver, instance, bdi, dir } = await setup(
      {},
      { releaseTimeoutMs: 2000 },
    );
    await driver.spawn({}, instance, {}, [], null, null, null, bdi);
    harness.faults.inject('blockDevices.detachLoop', { times: 'always', error: busy });
    await expect(driver.destroy({}, instance, null, bdi)).rejects.toMatchObject({
      code: 'Busy',
      message: expect.stringContaining('still in use after 2000 ms'),
    });
    expect(metadata(instance)[ROOTFS_RECORD_KEY]).toBeDefined();
    expect(await host.files.exists(dir)).toBe(true);
    expect((await host.blockDevices.listLoops()).length).toBeGreaterThan(0);
    harness.faults.clear();
    await driver.destroy({}, instance, null, bdi);
    expect(metadata(instance)[ROOTFS_RECORD_KEY]).toBeUndefined();
    expect(await host.files.exists(dir)).toBe(false);
    await harness.cleanup();
  });
});
