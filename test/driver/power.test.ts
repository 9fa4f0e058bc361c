import { describe, expect, it } from 'vitest';
import { PowerState } from '../../driver/index.js';
import {
  makeInstance,
  plainDisk,
  rootFs,
  twoPartitionDisk,
  volumeBdi,
} from '../../harness/instances.js';
import { BACKEND } from '../../harness/backend.js';
import type { SimulatedHypervisor } from '../../simulator/hypervisor.js';
import { useDriverSuite } from '../helpers/driver-suite.js';

const suite = useDriverSuite();

/** Boots a GPT volume whose partition 1 holds the rootfs; returns what the test needs. */
async function boot(options: Record<string, unknown> = {}, instanceOverrides = {}, meta = {}) {
  const volume = await suite.harness.makeDiskFile(
    twoPartitionDisk('gpt', rootFs('first', 'from-1'), rootFs('second', 'from-2')),
    'volume',
  );
  const instance = makeInstance({ image_ref: null, ...instanceOverrides });
  const bdi = volumeBdi(volume);
  const d = suite.driver(options);
  await d.spawn({}, instance, meta, [], null, null, null, bdi);
  return { d, instance, bdi, volume, name: String(instance['name']) };
}

async function rootMounted(instance: Record<string, unknown>): Promise<boolean> {
  const dir = `${suite.harness.instancesPath}/${String(instance['uuid'])}/rootfs`;
  const canonical = await suite.host.files.realpath(suite.harness.instancesPath);
  const mounts = await suite.host.mounts.list();
  return mounts.some(
    (m) => m.target === dir || m.target === dir.replace(suite.harness.instancesPath, canonical),
  );
}

describe(`power operations on the ${process.env['NOVA_LXC_BACKEND'] ?? 'sim'} backend`, () => {
  it('powers off at once with timeout 0, keeping the definition, and powers on again', async () => {
    const { d, instance, bdi, name } = await boot();
    const loopsRunning = (await suite.host.blockDevices.listLoops()).length;

    await d.powerOff(instance, { timeoutMs: 0 });
    expect(await d.getInfo(instance)).toMatchObject({ state: PowerState.SHUTDOWN });
    expect((await suite.host.hypervisor.info(name)).persistent).toBe(true);
    // The rootfs loop device is released; the volume's own loop device stays connected.
    expect((await suite.host.blockDevices.listLoops()).length).toBe(loopsRunning - 1);
    expect(await rootMounted(instance)).toBe(false);

    await d.powerOff(instance, { timeoutMs: 0 });
    await d.powerOn({}, instance, null, bdi);
    expect(await d.getInfo(instance)).toMatchObject({ state: PowerState.RUNNING });
    expect((await suite.host.blockDevices.listLoops()).length).toBe(loopsRunning);
    await d.destroy({}, instance, null, bdi);
  });

  it('asks for a clean shutdown first, then stops a guest that ignores it', async () => {
    const { d, instance, bdi } = await boot();
    await d.powerOff(instance, { timeoutMs: 2000, retryIntervalMs: 1000 });
    expect(await d.getInfo(instance)).toMatchObject({ state: PowerState.SHUTDOWN });
    await d.destroy({}, instance, null, bdi);
  });

  it('soft-reboots a guest that ignores the shutdown request back to running', async () => {
    const { d, instance, bdi, name } = await boot({ softRebootTimeoutMs: 1000 });
    const before = await suite.host.hypervisor.containerRoot(name);
    await d.reboot({}, instance, null, 'SOFT', bdi);
    expect(await d.getInfo(instance)).toMatchObject({ state: PowerState.RUNNING });
    const after = await suite.host.hypervisor.containerRoot(name);
    expect(after.fstype).toBe(before.fstype);
    await d.destroy({}, instance, null, bdi);
  });

  it('powers off an instance without a domain as a no-op', async () => {
    const d = suite.driver();
    await expect(d.powerOff(makeInstance(), { timeoutMs: 1000 })).resolves.toBeUndefined();
  });

  it.each([
    ['the flavor extra spec over the host option', {}, { rootPartition: '1' }, 2],
    ['the image property over the flavor extra spec', { lxc_root_partition: '1' }, {}, 1],
  ])('chooses the root partition by %s', async (_what, properties, options, expected) => {
    const flavor = {
      name: 'm1.tiny',
      memory_mb: 128,
      vcpus: 1,
      root_gb: 1,
      extra_specs: { 'nova_lxc:root_partition': '2' },
    };
    const { d, instance, bdi, volume } = await boot(options, { flavor }, { properties });
    await d.destroy({}, instance, null, bdi);
    expect(await suite.harness.readFileOnDisk(volume, expected, '/marker')).toBe(
      `from-${expected}`,
    );
  });
});

/**
 * A test-local init that stops on the shutdown request's SIGTERM (the fixture inits ignore it,
 * as PID 1 ignores a signal it has no handler for). `sleep & wait`: a trap runs only once the
 * foreground command ends, and `wait` ends on the signal.
 */
const INIT_STOPPING_ON_SIGTERM =
  "#!/bin/busybox sh\ntrap 'exit 0' TERM\n/bin/busybox sleep 2147483647 &\nwait\n";

/** Boots an unpartitioned volume whose guest stops when asked to shut down. */
async function bootGuestStoppingOnSigterm(options: Record<string, unknown> = {}) {
  const volume = await suite.harness.makeDiskFile(plainDisk(rootFs('root', 'booted')), 'volume');
  const instance = makeInstance({ image_ref: null });
  const name = String(instance['name']);
  if (BACKEND === 'sim') {
    // The simulator runs only the fixture init dialect; its hypervisor is told instead.
    (suite.harness.bare.hypervisor as SimulatedHypervisor).stopsOnShutdown(name);
  } else {
    const { bare } = suite.harness;
    const loop = await bare.blockDevices.attachLoop(volume);
    const dir = await suite.harness.makeDir('init');
    await bare.mounts.mount(loop.device, dir, { fstype: 'ext4' });
    try {
      await bare.files.writeFile(`${dir}/sbin/init`, INIT_STOPPING_ON_SIGTERM);
    } finally {
      await bare.mounts.unmount(dir);
      await bare.blockDevices.detachLoop(loop.device);
    }
  }
  const bdi = volumeBdi(volume);
  const d = suite.driver(options);
  await d.spawn({}, instance, {}, [], null, null, null, bdi);
  return { d, instance, bdi, name };
}

/** The hypervisor calls `fn` makes, in order. */
async function hypervisorCalls(fn: () => Promise<void>): Promise<string[]> {
  return (await suite.portCalls(fn)).filter((op) => op.startsWith('hypervisor.'));
}

/**
 * On the real host the request never reaches the guest: libvirt 9.0's default shutdown mode
 * (initctl, then a signal) answers "is being shut down" but sends no SIGTERM to this init, which
 * runs on (measured: `virsh shutdown` left it running, while `virsh shutdown --mode signal` and
 * `kill -TERM` ended it). Nova's shutdown asks the same way, so the driver does too; the real
 * variant is skipped until a guest there can receive the request.
 */
describe.skipIf(BACKEND === 'real')(
  `clean shutdown of a guest that stops on SIGTERM, on the ${BACKEND} backend`,
  () => {
    it('powers it off by the shutdown request alone, never forcing it', async () => {
      const { d, instance, bdi } = await bootGuestStoppingOnSigterm();
      const calls = await hypervisorCalls(() =>
        d.powerOff(instance, { timeoutMs: 60_000, retryIntervalMs: 10_000 }),
      );
      expect(calls).toContain('hypervisor.shutdown');
      expect(calls).not.toContain('hypervisor.destroy');
      expect(await d.getInfo(instance)).toMatchObject({ state: PowerState.SHUTDOWN });
      await d.powerOn({}, instance, null, bdi);
      expect(await d.getInfo(instance)).toMatchObject({ state: PowerState.RUNNING });
      await d.destroy({}, instance, null, bdi);
    });

    it('soft-reboots it by a clean shutdown and a new start, never forcing it', async () => {
      const { d, instance, bdi, name } = await bootGuestStoppingOnSigterm({
        softRebootTimeoutMs: 60_000,
      });
      const calls = await hypervisorCalls(() => d.reboot({}, instance, null, 'SOFT', bdi));
      expect(calls).toContain('hypervisor.shutdown');
      expect(calls).not.toContain('hypervisor.destroy');
      expect(calls.indexOf('hypervisor.start')).toBeGreaterThan(
        calls.indexOf('hypervisor.shutdown'),
      );
      expect(await d.getInfo(instance)).toMatchObject({ state: PowerState.RUNNING });
      expect((await suite.host.hypervisor.containerRoot(name)).fstype).toBe('ext4');
      await d.destroy({}, instance, null, bdi);
    });
  },
);

describe(`console output on the ${process.env['NOVA_LXC_BACKEND'] ?? 'sim'} backend`, () => {
  it("keeps what the init wrote to its console in the instance's console.log across a reboot", async () => {
    const volume = await suite.harness.makeDiskFile(
      {
        size: '64M',
        table: 'none',
        filesystem: {
          type: 'ext4',
          init: { writes: [{ path: '/dev/console', content: 'booted\n' }], then: 'run' },
        },
      },
      'volume',
    );
    const instance = makeInstance({ image_ref: null });
    const bdi = volumeBdi(volume);
    const d = suite.driver();
    await d.spawn({}, instance, {}, [], null, null, null, bdi);
    const once = async (expected: string) => {
      let output = '';
      for (let i = 0; i < 100 && output !== expected; i++) {
        output = await d.getConsoleOutput(instance);
        if (output !== expected) await suite.host.clock.sleep(50);
      }
      return output;
    };
    expect(await once('booted\r\n')).toBe('booted\r\n');
    await d.reboot({}, instance, null, 'HARD', bdi);
    expect(await once('booted\r\nbooted\r\n')).toBe('booted\r\nbooted\r\n');
    await d.destroy({}, instance, null, bdi);
    await expect(d.getConsoleOutput(instance)).rejects.toMatchObject({ code: 'NotFound' });
  });
});
