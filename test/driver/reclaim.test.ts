import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildLxcDomainXml, lxcDomainSpecForInstance } from '../../driver/core/domain-xml.js';
import { InstanceJournalWriter, journalDir, journalledHost } from '../../driver/journal.js';
import { reclaim, type ReclaimAction } from '../../driver/reclaim.js';
import { runReclaim } from '../../tools/commands/reclaim.js';
import { BACKEND } from '../../harness/backend.js';
import { makeInstance, plainDisk, rootFs, volumeBdi } from '../../harness/instances.js';
import { useDriverSuite } from '../helpers/driver-suite.js';
import { otherProcessHolds } from '../helpers/other-process.js';

const suite = useDriverSuite();

/** A process about to work on a fresh instance: its journal and its journalled host. */
async function instanceProcess(uuid = randomUUID()) {
  const root = await suite.host.files.realpath(suite.harness.instancesPath);
  const dir = `${root}/${uuid}`;
  const writer = await InstanceJournalWriter.open(suite.host, journalDir(suite.stateDir), {
    uuid,
    domain: `nlt-${uuid.slice(0, 8)}`,
    instanceDir: dir,
  });
  return { uuid, dir, writer, ports: journalledHost(suite.host, writer) };
}

async function foreignLoop(): Promise<string> {
  const file = await suite.harness.makeDiskFile({ size: '4M', table: 'none' }, 'foreign');
  return (await suite.otherProcessAttaches(file)).device;
}

const outcomes = (actions: ReclaimAction[]) =>
  actions.map((a) => `${a.outcome}: ${a.what.replace(/\/dev\/loop\d+/g, 'LOOP')}`);

const reclaimHere = (dryRun = false) =>
  reclaim(suite.host, {
    instancesPath: suite.harness.instancesPath,
    stateDir: suite.stateDir,
    dryRun,
  });

describe(`reclaim beside a live process on the ${BACKEND} backend`, () => {
  /** A crashed spawn's leftover: a loop device over a volume, journalled. */
  async function leftover(): Promise<{ volume: string; dir: string }> {
    const volume = await suite.harness.makeDiskFile({ size: '8M', table: 'none' }, 'volume');
    const p = await instanceProcess();
    await p.writer.begin('spawn');
    await p.ports.files.ensureDir(p.dir);
    await p.ports.blockDevices.attachLoop(volume);
    return { volume, dir: p.dir };
  }
  const attachedOver = async (volume: string) =>
    (await suite.host.blockDevices.listLoops()).some((l) => l.backingFile === volume);

  it.each([false, true])(
    'refuses (dry run %s) while a service holds the state directory, naming it, and touches nothing',
    async (dryRun) => {
      const { volume, dir } = await leftover();
      const service = await otherProcessHolds(
        suite.harness,
        suite.stateDir,
        'driver',
        'nova-lxc serve',
      );
      try {
        await expect(reclaimHere(dryRun)).rejects.toMatchObject({
          code: 'Busy',
          message: expect.stringMatching(
            new RegExp(
              `^Failed to reclaim .*: nova-lxc serve \\(pid ${service.pid}, since .*\\) holds ${suite.stateDir} and may be working on these instances$`,
            ),
          ),
          hint: expect.stringContaining('systemctl stop nova-lxc'),
        });
        expect(await attachedOver(volume)).toBe(true);
        expect(await suite.host.files.exists(dir)).toBe(true);
      } finally {
        await service.end();
      }
      // The service is gone (a crash leaves its record): now reclaim works.
      const actions = await reclaimHere();
      expect(actions.map((a) => a.outcome)).toEqual(['released', 'released']);
      expect(await attachedOver(volume)).toBe(false);
    },
  );

  it('makes a driver refuse to start an operation while another process reclaims', async () => {
    const volume = await suite.harness.makeDiskFile(plainDisk(rootFs()), 'volume');
    const reclaiming = await otherProcessHolds(
      suite.harness,
      suite.stateDir,
      'reclaim',
      'nova-lxc reclaim',
    );
    const instance = makeInstance({ image_ref: null });
    try {
      await expect(
        suite.driver().spawn({}, instance, {}, [], null, null, null, volumeBdi(volume)),
      ).rejects.toMatchObject({
        code: 'Busy',
        message: `Failed to spawn: nova-lxc reclaim (pid ${reclaiming.pid}, since ${(await suite.host.journal.holders(suite.stateDir))[0]!.since}) is reclaiming ${suite.stateDir}`,
      });
      expect(await attachedOver(volume)).toBe(false);
      expect(
        await suite.host.files.exists(`${suite.harness.instancesPath}/${String(instance['uuid'])}`),
      ).toBe(false);
    } finally {
      await reclaiming.end();
    }
  });
});

describe(`reclaim on the ${BACKEND} backend`, () => {
  it('releases what a crashed spawn journalled, newest first, and only that', async () => {
    const volume = await suite.harness.makeDiskFile(plainDisk(rootFs()), 'volume');
    const other = await foreignLoop();
    const p = await instanceProcess();
    await p.writer.begin('spawn');
    await p.ports.files.ensureDir(p.dir);
    await p.ports.files.ensureDir(`${p.dir}/rootfs`);
    const loop = await p.ports.blockDevices.attachLoop(volume);
    await p.ports.mounts.mount(loop.device, `${p.dir}/rootfs`, { fstype: 'ext4' });
    // The process dies here: nothing but the journal and the host state is left.

    const planned = await reclaimHere(true);
    expect(planned.map((a) => a.outcome)).toEqual([
      'would release',
      'would release',
      'would release',
    ]);
    expect((await suite.host.mounts.list()).some((m) => m.target === `${p.dir}/rootfs`)).toBe(true);

    const actions = await reclaimHere();
    expect(outcomes(actions)).toEqual([
      `released: mount of LOOP on ${p.dir}/rootfs`,
      `released: rootfs loop device LOOP (backed by ${volume}, offset 0, size limit 0)`,
      `released: directory ${p.dir}`,
    ]);
    expect((await suite.host.blockDevices.listLoops()).map((l) => l.device)).toContain(other);
    expect((await suite.host.blockDevices.listLoops()).some((l) => l.backingFile === volume)).toBe(
      false,
    );
    expect(await suite.host.files.exists(p.dir)).toBe(false);
    expect(await suite.host.journal.keys(journalDir(suite.stateDir))).toEqual([]);
    expect(await reclaimHere()).toEqual([]);
  });

  it('finds the device of an attach whose done mark was never written', async () => {
    const volume = await suite.harness.makeDiskFile({ size: '8M', table: 'none' }, 'volume');
    const other = await foreignLoop();
    const p = await instanceProcess();
    await p.writer.begin('spawn');
    await p.writer.intend({
      kind: 'loop',
      role: 'rootfs',
      backingFile: volume,
      offset: 1048576,
      sizeLimit: 2097152,
    });
    // The attach happened; the process died before it could mark it done.
    await suite.host.blockDevices.attachLoop(volume, { offset: 1048576, sizeLimit: 2097152 });
    // Someone else's loop over the same file, elsewhere in it, is not a match.
    const sameFile = await suite.otherProcessAttaches(volume, { offset: 4194304 });

    const actions = await reclaimHere();
    expect(actions.map((a) => a.outcome)).toEqual(['released']);
    const left = (await suite.host.blockDevices.listLoops()).map((l) => l.device);
    expect(left).toEqual(expect.arrayContaining([other, sameFile.device]));
    expect(
      (await suite.host.blockDevices.listLoops()).filter((l) => l.backingFile === volume),
    ).toEqual([expect.objectContaining({ offset: 4194304 })]);
  });

  it('leaves a journalled device alone once it backs something else, and drops the entry', async () => {
    const volume = await suite.harness.makeDiskFile({ size: '8M', table: 'none' }, 'volume');
    const reused = await foreignLoop();
    const p = await instanceProcess();
    await p.writer.begin('destroy');
    const id = await p.writer.intend({
      kind: 'loop',
      role: 'volume',
      backingFile: volume,
      offset: 0,
      sizeLimit: 0,
    });
    await p.writer.complete(id, {
      kind: 'loop',
      role: 'volume',
      backingFile: volume,
      offset: 0,
      sizeLimit: 0,
      device: reused,
    });
    const actions = await reclaimHere();
    expect(actions).toEqual([
      expect.objectContaining({
        outcome: 'left alone',
        reason: `${reused} now backs something else`,
      }),
    ]);
    expect((await suite.host.blockDevices.listLoops()).map((l) => l.device)).toContain(reused);
  });

  it('leaves a device attached again over the journalled file alone (another diskseq)', async () => {
    const volume = await suite.harness.makeDiskFile({ size: '8M', table: 'none' }, 'volume');
    const p = await instanceProcess();
    await p.writer.begin('spawn');
    // The spawn attached it (journalled with its diskseq), then it was freed; someone else
    // attached the same file, and got the same device.
    const ours = await p.ports.volumes.connect({
      driver_volume_type: 'file',
      data: { path: volume },
    });
    await suite.host.blockDevices.detachLoop(ours.devicePath);
    const theirs = await suite.otherProcessAttaches(volume);
    expect(theirs.device).toBe(ours.devicePath);
    const actions = await reclaimHere();
    expect(actions).toContainEqual(
      expect.objectContaining({
        outcome: 'left alone',
        reason: expect.stringContaining(`${theirs.device} was detached and attached again since`),
      }),
    );
    expect(await suite.host.blockDevices.loopDevice(theirs.device)).toEqual(theirs);
  });

  it('leaves a live instance alone: its last operation finished', async () => {
    const volume = await suite.harness.makeDiskFile({ size: '8M', table: 'none' }, 'volume');
    const p = await instanceProcess();
    await p.writer.begin('spawn');
    await p.ports.files.ensureDir(p.dir);
    const loop = await p.ports.blockDevices.attachLoop(volume);
    await p.writer.finish(true);
    const actions = await reclaimHere();
    expect(actions).toEqual([expect.objectContaining({ outcome: 'left alone' })]);
    expect((await suite.host.blockDevices.listLoops()).map((l) => l.device)).toContain(loop.device);
    // The live instance's own destroy (here: by hand) is what releases it.
    await p.writer.begin('destroy');
    await p.ports.blockDevices.detachLoop(loop.device);
    await p.ports.files.removeTree(p.dir);
    await p.writer.finish(true);
    expect(await suite.host.journal.keys(journalDir(suite.stateDir))).toEqual([]);
  });

  it('stops and undefines a journalled domain only while it has the journalled uuid', async () => {
    const p = await instanceProcess();
    await p.writer.begin('spawn');
    await p.ports.files.ensureDir(`${p.dir}/rootfs`);
    const xml = (uuid: string) =>
      buildLxcDomainXml(
        lxcDomainSpecForInstance({
          name: p.writer.current.domain,
          uuid,
          memoryMb: 64,
          vcpus: 1,
          instanceDir: p.dir,
        }),
      );
    await p.ports.hypervisor.define(xml(p.uuid));
    const actions = await reclaimHere();
    expect(outcomes(actions)).toEqual([
      `released: domain ${p.writer.current.domain} (uuid ${p.uuid})`,
      `released: directory ${p.dir}`,
    ]);
    expect((await suite.host.hypervisor.list()).map((d) => d.name)).not.toContain(
      p.writer.current.domain,
    );

    // Same name, another uuid (someone reused the name): never ours to remove.
    const q = await instanceProcess(p.uuid);
    await q.writer.begin('spawn');
    await q.writer.intend({ kind: 'domain', name: q.writer.current.domain, uuid: p.uuid });
    const theirs = randomUUID();
    await suite.host.hypervisor.define(xml(theirs));
    try {
      const second = await reclaimHere();
      expect(second).toEqual([
        expect.objectContaining({
          outcome: 'left alone',
          reason: `domain ${q.writer.current.domain} now has uuid ${theirs}`,
        }),
      ]);
      expect((await suite.host.hypervisor.info(q.writer.current.domain)).uuid).toBe(theirs);
    } finally {
      await suite.host.hypervisor.undefine(q.writer.current.domain);
    }
  });

  it('releases loop devices over an instance disk that no journal or domain claims, outermost first', async () => {
    const image = await suite.harness.makeDiskFile(plainDisk(rootFs()), 'image');
    await suite.harness.addImage('reclaim-img', image, 'raw');
    const root = await suite.host.files.realpath(suite.harness.instancesPath);
    const orphan = `${root}/${randomUUID()}`;
    const claimed = randomUUID();
    const kept = `${root}/${claimed}`;
    for (const dir of [orphan, kept]) {
      await suite.host.files.ensureDir(dir);
      await suite.host.images.createInstanceDisk('reclaim-img', `${dir}/disk`, 'raw');
    }
    const inner = await suite.host.blockDevices.attachLoop(`${orphan}/disk`);
    const outer = await suite.host.blockDevices.attachLoop(inner.device, { offset: 512 });
    // An instance with a domain is somebody's live instance (e.g. spawned before the journal).
    const domain = `nlt-${claimed.slice(0, 8)}`;
    await suite.host.hypervisor.define(
      buildLxcDomainXml(
        lxcDomainSpecForInstance({
          name: domain,
          uuid: claimed,
          memoryMb: 64,
          vcpus: 1,
          instanceDir: kept,
        }),
      ),
    );
    const live = await suite.host.blockDevices.attachLoop(`${kept}/disk`);
    try {
      const run = await runReclaim(suite.host, {
        instancesPath: suite.harness.instancesPath,
        stateDir: suite.stateDir,
        dryRun: false,
      });
      expect(run.actions.map((a) => a.what)).toEqual([
        `loop device ${outer.device} (backed by ${inner.device}, offset 512, size limit 0)`,
        `loop device ${inner.device} (backed by ${orphan}/disk, offset 0, size limit 0)`,
      ]);
      expect(run.lines.at(-1)).toBe('2 released, 0 left alone, 0 failed');
      expect(run.exitCode).toBe(0);
      const left = (await suite.host.blockDevices.listLoops()).map((l) => l.device);
      expect(left).toContain(live.device);
      expect(left).not.toContain(inner.device);
    } finally {
      await suite.host.blockDevices.detachLoop(live.device);
      await suite.host.hypervisor.undefine(domain);
      for (const dir of [orphan, kept]) await suite.host.files.removeTree(dir);
    }
  });

  it('reports a malformed journal record and touches nothing for it', async () => {
    await suite.host.journal.write(journalDir(suite.stateDir), 'bad-record', '{"version": 7}');
    const run = await runReclaim(suite.host, {
      instancesPath: suite.harness.instancesPath,
      stateDir: suite.stateDir,
      dryRun: true,
    });
    expect(run.lines).toEqual([
      `left alone journal record ${journalDir(suite.stateDir)}/bad-record.json [instance bad-record]: Failed to read journal record bad-record: it is malformed`,
      'dry run: 0 to release, 1 left alone; nothing was changed',
    ]);
    await suite.host.journal.remove(journalDir(suite.stateDir), 'bad-record');
  });
});
