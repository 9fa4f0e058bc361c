import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { InstanceJournalWriter, journalDir, journalledHost } from '../../driver/journal.js';
import { reclaim } from '../../driver/reclaim.js';
import { createSimulatedHost, type SimulatedHost } from '../../simulator/index.js';
import { SIM_PID } from '../../simulator/state.js';
import { INSTANCES, startSimService, type ServiceFixture } from './helpers.js';

let fixture: ServiceFixture | undefined;
/** Services stopped early whose state directory a later service reuses: removed last. */
const probes: ServiceFixture[] = [];

afterEach(async () => {
  await fixture?.stop();
  fixture = undefined;
  for (const probe of probes.splice(0)) await rm(probe.dir, { recursive: true, force: true });
});

/** A service started to make a state directory, then stopped; its folder goes after the test. */
async function probeService(sim: SimulatedHost): Promise<ServiceFixture> {
  const probe = await startSimService({ sim });
  probes.push(probe);
  return probe;
}

/** A spawn that crashed after attaching a loop device over its volume: journal and device. */
async function crashedSpawn(sim: SimulatedHost, stateDir: string): Promise<string> {
  const uuid = randomUUID();
  const volume = `/vols/${uuid}.img`;
  sim.state.addDisk(volume, 8 * 1024 * 1024);
  sim.state.host.mkdirSync(INSTANCES, { recursive: true });
  const writer = await InstanceJournalWriter.open(sim, journalDir(stateDir), {
    uuid,
    domain: `instance-${uuid.slice(0, 8)}`,
    instanceDir: `${INSTANCES}/${uuid}`,
  });
  await writer.begin('spawn');
  await journalledHost(sim, writer).blockDevices.attachLoop(volume);
  return volume;
}

const loopsOver = async (sim: SimulatedHost, volume: string) =>
  (await sim.blockDevices.listLoops()).filter((l) => l.backingFile === volume);

describe('the service and the state directory it holds (sim backend)', () => {
  it('makes a reclaim in another process refuse while it runs, naming the service', async () => {
    fixture = await startSimService();
    const other = fixture.sim.startProcess();
    const volume = await crashedSpawn(fixture.sim, fixture.stateDir);
    await expect(
      reclaim(
        { ...fixture.sim, journal: other.journal },
        { instancesPath: INSTANCES, stateDir: fixture.stateDir },
      ),
    ).rejects.toMatchObject({
      code: 'Busy',
      message: expect.stringContaining(`: nova-lxc serve (pid ${SIM_PID}, since `) as unknown,
    });
    expect(await loopsOver(fixture.sim, volume)).toHaveLength(1);
    await fixture.sim.blockDevices.detachLoop((await loopsOver(fixture.sim, volume))[0]!.device);
  });

  it('reclaims at its start what a crashed operation of an earlier process left', async () => {
    const sim = createSimulatedHost();
    const probe = await probeService(sim);
    const volume = await crashedSpawn(sim, probe.stateDir);
    await probe.stop();
    fixture = await startSimService({ sim, stateDir: probe.stateDir });
    expect(await loopsOver(sim, volume)).toEqual([]);
    expect(fixture.lines.some((l) => /released rootfs loop device \/dev\/loop\d+/.test(l))).toBe(
      true,
    );
  });

  it('refuses to start beside another live process holding its state directory', async () => {
    const sim = createSimulatedHost();
    const probe = await probeService(sim);
    await probe.stop();
    const other = sim.startProcess();
    await other.journal.hold(probe.stateDir, 'driver', 'nova-lxc serve');
    await expect(startSimService({ sim, stateDir: probe.stateDir })).rejects.toMatchObject({
      code: 'Busy',
      message: expect.stringMatching(
        new RegExp(`^Failed to start the sim service: nova-lxc serve \\(pid ${other.pid}, since `),
      ) as unknown,
    });
    other.end();
    fixture = await startSimService({ sim, stateDir: probe.stateDir });
    expect((await fixture.client.send('GET', '/v1/health')).status).toBe(200);
  });
});
