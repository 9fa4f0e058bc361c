/**
 * resume_state_on_host_boot and its safety rules after a host reboot. Backend-neutral: on the
 * real host the harness models the reboot by tearing its own kernel state down out of band and
 * reporting a new boot id (BackendHarness.hostReboot).
 */
import { describe, expect, it } from 'vitest';
import { LxcDriver, ROOTFS_RECORD_KEY } from '../../driver/index.js';
import type { LoopDevice } from '../../driver/index.js';
import { InstanceJournalWriter, journalDir, journalledHost } from '../../driver/journal.js';
import { reclaim } from '../../driver/reclaim.js';
import { BACKEND } from '../../harness/backend.js';
import {
  makeInstance,
  plainDisk,
  rootFs,
  twoPartitionDisk,
  volumeBdi,
} from '../../harness/instances.js';
import { useDriverSuite } from '../helpers/driver-suite.js';

const suite = useDriverSuite();

/** A new driver process (as after a reboot or a restart): it shares only the state directory. */
function driver(): LxcDriver {
  return suite.driver();
}

/** Another process attaching `path` to the first free loop device. */
const otherProcessAttaches = (path: string): Promise<LoopDevice> =>
  suite.otherProcessAttaches(path);

/** What Nova persists across a restart: the instance and its BDMs, as JSON. */
function persisted<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

async function loopsOver(path: string): Promise<LoopDevice[]> {
  const loops = await suite.harness.bare.blockDevices.listLoops();
  const direct = loops.filter((l) => l.backingFile === path);
  return [...direct, ...loops.filter((l) => direct.some((d) => d.device === l.backingFile))];
}

const metadata = (instance: Record<string, unknown>) =>
  instance['system_metadata'] as Record<string, string>;

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

/**
 * An instance spawned on a volume; then the host reboots and another process attaches the
 * same file, getting the device number the instance's record and journal name.
 */
async function spawnRebootAndReattach() {
  const volume = await suite.harness.makeDiskFile(plainDisk(rootFs()), 'volume');
  const instance = makeInstance({ image_ref: null });
  const bdi = volumeBdi(volume);
  await driver().spawn({}, instance, {}, [], null, null, null, bdi);
  const [ours] = await loopsOver(volume);
  await suite.harness.hostReboot();
  const theirs = await otherProcessAttaches(volume);
  expect(theirs.device).toBe(ours!.device);
  return { instance, bdi, theirs };
}

describe(`resume_state_on_host_boot on the ${BACKEND} backend`, () => {
  it('after a reboot, sets the rootfs up on new devices and leaves a squatter on the old number alone', async () => {
    const volume = await suite.harness.makeDiskFile(twoPartitionDisk('mbr'), 'volume');
    const instance = makeInstance({ image_ref: null });
    const bdi = volumeBdi(volume);
    await driver().spawn({}, instance, {}, [], null, null, null, bdi);
    const before = (await loopsOver(volume)).map((l) => l.device);

    await suite.harness.hostReboot();
    expect(await loopsOver(volume)).toEqual([]);
    const squatterFile = await suite.harness.makeDiskFile(
      { size: '1M', table: 'none' },
      'squatter',
    );
    const squatter = await otherProcessAttaches(squatterFile);
    expect(before).toContain(squatter.device);

    const d = driver();
    const saved = persisted(instance);
    await d.resumeStateOnHostBoot({}, saved, null, persisted(bdi));
    expect((await d.getInfo(saved)).state).toBe(1);
    const after = await loopsOver(volume);
    expect(after).toHaveLength(2);
    expect(after.map((l) => l.device)).not.toContain(squatter.device);
    expect(await suite.harness.bare.blockDevices.loopDevice(squatter.device)).toEqual(squatter);

    await d.destroy({}, saved, null, bdi);
    expect(await suite.harness.bare.blockDevices.loopDevice(squatter.device)).toEqual(squatter);
    expect(await loopsOver(volume)).toEqual([]);
  });

  it('after a reboot, releases no recorded device even when another process attached the same file at its number (record rule)', async () => {
    // Same backing file, offset, size limit and file: everything but the boot says "ours".
    const { instance, bdi, theirs } = await spawnRebootAndReattach();

    const d = driver();
    const saved = persisted(instance);
    const error = await failure(d.resumeStateOnHostBoot({}, saved, null, persisted(bdi)));
    // The volume is in use by someone else: the driver says so and does not take it for its own.
    expect(error).toMatchObject({ code: 'AlreadyExists' });
    expect(await suite.harness.bare.blockDevices.loopDevice(theirs.device)).toEqual(theirs);
    expect(metadata(saved)[ROOTFS_RECORD_KEY]).toBeUndefined();

    await d.destroy({}, saved, null, bdi);
    expect(await suite.harness.bare.blockDevices.loopDevice(theirs.device)).toEqual(theirs);
  });

  it('after a reboot, drops journalled devices of the earlier boot without touching what has their numbers now (journal rule)', async () => {
    const { instance, bdi, theirs } = await spawnRebootAndReattach();
    // Nova never saved the record (a crash before the instance was saved): only the journal
    // names the device.
    const saved = persisted(instance);
    delete metadata(saved)[ROOTFS_RECORD_KEY];
    delete metadata(saved)['rootfs_device_name'];

    await driver().destroy({}, saved, null, bdi);
    expect(await suite.harness.bare.blockDevices.loopDevice(theirs.device)).toEqual(theirs);
    expect(await suite.host.journal.keys(journalDir(suite.stateDir))).toEqual([]);
    expect(
      await suite.host.files.exists(`${suite.harness.instancesPath}/${String(saved['uuid'])}`),
    ).toBe(false);
  });

  it("reclaim after a reboot leaves alone what has a crashed spawn's device numbers now, and removes its directory", async () => {
    const volume = await suite.harness.makeDiskFile(plainDisk(rootFs()), 'volume');
    const uuid = String(makeInstance()['uuid']);
    const dir = `${await suite.host.files.realpath(suite.harness.instancesPath)}/${uuid}`;
    const writer = await InstanceJournalWriter.open(suite.host, journalDir(suite.stateDir), {
      uuid,
      domain: `nlt-${uuid.slice(0, 8)}`,
      instanceDir: dir,
    });
    const ports = journalledHost(suite.host, writer);
    await writer.begin('spawn');
    await ports.files.ensureDir(`${dir}/rootfs`);
    const ours = await ports.blockDevices.attachLoop(volume);
    await ports.mounts.mount(ours.device, `${dir}/rootfs`, { fstype: 'ext4' });
    // The host reboots in the middle of the spawn; afterwards someone attaches the same file.
    await suite.harness.hostReboot();
    const theirs = await otherProcessAttaches(volume);
    expect(theirs.device).toBe(ours.device);

    const actions = await reclaim(suite.host, {
      instancesPath: suite.harness.instancesPath,
      stateDir: suite.stateDir,
    });
    expect(actions.map((a) => [a.outcome, a.what.split(' ')[0], a.reason ?? ''])).toEqual([
      ['left alone', 'mount', expect.stringContaining('the host has booted since') as string],
      ['left alone', 'rootfs', expect.stringContaining('the host has booted since') as string],
      ['released', 'directory', ''],
    ]);
    expect(await suite.harness.bare.blockDevices.loopDevice(theirs.device)).toEqual(theirs);
    expect(await suite.host.journal.keys(journalDir(suite.stateDir))).toEqual([]);
  });

  it('leaves a running instance alone', async () => {
    const volume = await suite.harness.makeDiskFile(plainDisk(rootFs()), 'volume');
    const instance = makeInstance({ image_ref: null });
    const bdi = volumeBdi(volume);
    const d = driver();
    await d.spawn({}, instance, {}, [], null, null, null, bdi);
    const loops = await loopsOver(volume);
    const record = metadata(instance)[ROOTFS_RECORD_KEY];

    await driver().resumeStateOnHostBoot({}, instance, null, bdi);
    expect(await loopsOver(volume)).toEqual(loops);
    expect(metadata(instance)[ROOTFS_RECORD_KEY]).toBe(record);
    expect((await suite.host.hypervisor.info(String(instance['name']))).state).toBe('running');
    await d.destroy({}, instance, null, bdi);
  });

  it('without a reboot (nova-compute restarted, the domain stopped), releases the devices of this boot before setting up new ones', async () => {
    const volume = await suite.harness.makeDiskFile(twoPartitionDisk('gpt'), 'volume');
    const instance = makeInstance({ image_ref: null });
    const bdi = volumeBdi(volume);
    await driver().spawn({}, instance, {}, [], null, null, null, bdi);
    await suite.harness.bare.hypervisor.destroy(String(instance['name']));

    const d = driver();
    const saved = persisted(instance);
    await d.resumeStateOnHostBoot({}, saved, null, persisted(bdi));
    expect((await suite.host.hypervisor.info(String(saved['name']))).state).toBe('running');
    expect(await loopsOver(volume)).toHaveLength(2);
    await d.destroy({}, saved, null, bdi);
    expect(await loopsOver(volume)).toEqual([]);
  });
});
