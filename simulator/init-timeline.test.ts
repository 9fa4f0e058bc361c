import { describe, expect, it } from 'vitest';
import { buildLxcDomainXml, lxcDomainSpecForInstance } from '../driver/core/domain-xml.js';
import type { InitSpec } from '../harness/disk-spec.js';
import { createSimHarness } from '../harness/sim-harness.js';
import { rootfsDisk } from '../test/contract/contract-helpers.js';
import { FakeClock } from './fake-clock.js';

const UUID = '0f1e2d3c-4b5a-4968-8776-655443322110';

/** A started domain over a fresh rootfs whose init runs `init`; its rootfs stays mounted on the host. */
async function started(init: InitSpec, size = '32M', uidMaps = false) {
  const h = await createSimHarness();
  const disk = await h.makeDiskFile(rootfsDisk(init, size), 'rootfs');
  const loop = await h.host.blockDevices.attachLoop(disk);
  const instanceDir = `${h.instancesPath}/sim`;
  const rootfs = `${instanceDir}/rootfs`;
  await h.host.files.ensureDir(rootfs);
  await h.host.mounts.mount(loop.device, rootfs, { fstype: 'ext4' });
  const maps = uidMaps ? [{ start: 0, target: 100000, count: 65536 }] : undefined;
  const spec = lxcDomainSpecForInstance({
    name: 'nlt-sim',
    uuid: UUID,
    memoryMb: 64,
    vcpus: 1,
    instanceDir,
    ...(maps ? { uidMaps: maps, gidMaps: maps } : {}),
  });
  await h.host.hypervisor.define(buildLxcDomainXml(spec));
  await h.host.hypervisor.start('nlt-sim');
  const read = (path: string) =>
    h.host.files.readFile(`${rootfs}${path}`).catch(() => null as string | null);
  return { h, read, rootfs, clock: h.host.clock };
}

describe('a simulated init over time', () => {
  it('beats at start and every every_s on the clock, and stops beating when destroyed', async () => {
    const { h, read, clock } = await started({
      heartbeat: { path: '/hb', everyS: 2 },
      then: 'run',
    });
    expect(await read('/hb')).toBe('1');
    await clock.sleep(1999);
    expect(await read('/hb')).toBe('1');
    await clock.sleep(1);
    expect(await read('/hb')).toBe('2');
    await clock.sleep(10_000);
    expect(await read('/hb')).toBe('7');
    expect(await read('/hb.tmp')).toBeNull();
    await h.host.hypervisor.destroy('nlt-sim');
    await clock.sleep(10_000);
    expect(await read('/hb')).toBe('7');
  });

  it('exits after after_s: running until then, shut off and still defined from then on', async () => {
    const { h, read, clock } = await started({
      heartbeat: { path: '/hb', everyS: 1 },
      then: { exit: 3, afterS: 5 },
    });
    await clock.sleep(4999);
    expect((await h.host.hypervisor.info('nlt-sim')).state).toBe('running');
    await clock.sleep(1);
    expect(await h.host.hypervisor.info('nlt-sim')).toMatchObject({
      state: 'shut off',
      persistent: true,
    });
    // The exit came before the beat due at the same moment: 0, 1, 2, 3, 4 s.
    expect(await read('/hb')).toBe('5');
    await clock.sleep(5000);
    expect(await read('/hb')).toBe('5');
    // Started again, it runs its whole script again, from its own start.
    await h.host.hypervisor.start('nlt-sim');
    expect(await read('/hb')).toBe('1');
    await clock.sleep(5000);
    expect((await h.host.hypervisor.info('nlt-sim')).state).toBe('shut off');
  });

  it('runs timers in time order whoever sleeps, and a cancelled one never', async () => {
    const clock = new FakeClock();
    const seen: string[] = [];
    clock.at(30, () => seen.push(`b@${clock.now()}`));
    clock.at(10, () => seen.push(`a@${clock.now()}`));
    const cancel = clock.at(20, () => seen.push('cancelled'));
    clock.at(30, () => seen.push(`c@${clock.now()}`));
    cancel();
    await clock.sleep(25);
    expect(seen).toEqual(['a@10']);
    await clock.sleep(5);
    expect(seen).toEqual(['a@10', 'b@30', 'c@30']);
    expect(clock.now()).toBe(30);
  });

  it('copies the environment libvirt gives the init, with its uuid, name, cmdline and initenv', async () => {
    const { read } = await started({ environTo: '/env', then: 'run' });
    expect((await read('/env'))?.split('\0')).toEqual([
      'PATH=/bin:/sbin',
      'TERM=linux',
      'container=lxc-libvirt',
      'HOME=/',
      `container_uuid=${UUID}`,
      `LIBVIRT_LXC_UUID=${UUID}`,
      'LIBVIRT_LXC_NAME=nlt-sim',
      'LIBVIRT_LXC_CMDLINE=console=tty0 console=ttyS0 console=hvc0',
      'product_name=OpenStack Nova',
      '',
    ]);
  });

  it('fills its filesystem: dd stops with status 1, later writes find no space, the rest stays', async () => {
    const { h, read } = await started(
      {
        writes: [{ path: '/keep', content: 'kept' }],
        fill: { path: '/fill', statusTo: '/fill.status' },
        heartbeat: { path: '/hb', everyS: 1 },
        then: 'run',
      },
      '8M',
    );
    expect(await read('/fill.status')).toBe('1');
    expect(await read('/keep')).toBe('kept');
    const size = (await read('/fill'))?.length ?? 0;
    expect(size).toBeGreaterThan(4 * 1024 * 1024);
    expect(size).toBeLessThan(8 * 1024 * 1024);
    // The heartbeat's write fails (its file is created, empty) and nothing is renamed.
    expect(await read('/hb.tmp')).toBe('');
    expect(await read('/hb')).toBeNull();
    expect((await h.host.hypervisor.info('nlt-sim')).state).toBe('running');
  });

  it('makes what the init creates belong to the host id its root maps to', async () => {
    const { h, rootfs } = await started(
      { environTo: '/env', heartbeat: { path: '/hb', everyS: 1 }, then: 'run' },
      '32M',
      true,
    );
    for (const path of ['/env', '/hb']) {
      expect(await h.host.files.owner(`${rootfs}${path}`)).toMatchObject({
        uid: 100000,
        gid: 100000,
      });
    }
  });
});
