import { spawn as spawnProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { BACKEND, makeHarness } from '../../harness/backend.js';
import { makeInstance, twoPartitionDisk, volumeBdi } from '../../harness/instances.js';
import { createSimHarness } from '../../harness/sim-harness.js';
import { useDriverSuite } from '../helpers/driver-suite.js';

/** Concurrent instances: many on the simulator, as many as a small real host bears. */
const INSTANCES = BACKEND === 'sim' ? 50 : 8;

const suite = useDriverSuite({ imagesType: 'raw' }, () =>
  BACKEND === 'sim' ? createSimHarness({ loopDevices: 256 }) : makeHarness(),
);
let stopCompetitor: (() => Promise<void>) | undefined;

afterEach(async () => {
  await stopCompetitor?.();
  stopCompetitor = undefined;
});

/**
 * Another process that attaches and detaches a loop device over its own file the whole time,
 * so the driver's `losetup --find` keeps racing it for free devices. Returns its file.
 */
async function startCompetitor(): Promise<string> {
  const file = await suite.harness.makeDiskFile({ size: '4M', table: 'none' }, 'competitor');
  if (BACKEND === 'real') {
    const child = spawnProcess(
      'bash',
      [
        '-c',
        // The trap makes bash exit only after the losetup it runs has finished: killed at
        // once, bash left an orphan losetup that could attach after the clean-up below looked.
        'trap exit TERM; while :; do d=$(losetup --find --show "$1") && losetup --detach "$d"; done',
        '-',
        file,
      ],
      { stdio: 'ignore' },
    );
    stopCompetitor = async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      // It may have died between attach and detach: its device is its own to release here.
      for (const loop of await suite.harness.bare.blockDevices.listLoops()) {
        if (loop.backingFile === file)
          await suite.harness.bare.blockDevices.detachLoop(loop.device);
      }
    };
    return file;
  }
  let running = true;
  const loop = (async () => {
    while (running) {
      const attached = await suite.harness.bare.blockDevices
        .attachLoop(file)
        .catch(() => undefined);
      await suite.host.clock.sleep(0);
      if (attached) await suite.harness.bare.blockDevices.detachLoop(attached.device);
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  stopCompetitor = async () => {
    running = false;
    await loop;
  };
  return file;
}

describe(`concurrency on the ${BACKEND} backend`, () => {
  it(`spawns and destroys ${INSTANCES} instances at once, each on its own devices, leaving nothing`, async () => {
    const competitor = await startCompetitor();
    const driver = suite.driver();
    const volumes = await Promise.all(
      Array.from({ length: INSTANCES }, (_, i) =>
        suite.harness.makeDiskFile(twoPartitionDisk(i % 2 === 0 ? 'gpt' : 'mbr'), `volume-${i}`),
      ),
    );
    const instances = volumes.map(() => makeInstance({ image_ref: null }));
    const bdis = volumes.map((volume) => volumeBdi(volume));
    /** Root devices of the instances running now: no two may share one. */
    const live = new Map<string, string>();
    let checked = 0;

    await Promise.all(
      instances.map(async (instance, i) => {
        await driver.spawn({}, instance, {}, [], null, null, null, bdis[i]);
        // Its root is a loop device over partition 1 of its own volume's loop device.
        const root = await suite.host.hypervisor.containerRoot(String(instance['name']));
        const loops = await suite.harness.bare.blockDevices.listLoops();
        const rootLoop = loops.find((l) => l.device === root.source);
        const volumeLoop = loops.find((l) => l.device === rootLoop?.backingFile);
        expect(volumeLoop?.backingFile).toBe(volumes[i]);
        expect(rootLoop).toMatchObject({ offset: 2048 * 512, sizeLimit: 61440 * 512 });
        expect(live.get(root.source)).toBeUndefined();
        live.set(root.source, String(instance['uuid']));
        checked += 1;
        if (i % 2 === 0) {
          live.delete(root.source);
          await driver.destroy({}, instance, null, bdis[i]);
        }
      }),
    );
    expect(checked).toBe(INSTANCES);
    await Promise.all(
      instances.map(async (instance, i) => {
        if (i % 2 === 1) await driver.destroy({}, instance, null, bdis[i]);
      }),
    );
    await stopCompetitor?.();
    stopCompetitor = undefined;
    const left = await suite.harness.bare.blockDevices.listLoops();
    expect(
      left.filter((l) => volumes.includes(l.backingFile) || l.backingFile === competitor),
    ).toEqual([]);
  });
});
