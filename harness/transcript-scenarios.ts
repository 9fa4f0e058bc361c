import type { Host } from '../driver/ports/index.js';
import { outcome, type Outcome } from './scripted-runner.js';

/** Paths and names one scenario uses; recorded with the transcript and replayed verbatim. */
export type ScenarioContext = Record<string, string>;

/** A sequence of adapter calls, recorded on the real host and replayed by the adapter tests. */
export type TranscriptScenario = (host: Host, ctx: ScenarioContext) => Promise<Outcome[]>;

function need(ctx: ScenarioContext, key: string): string {
  const value = ctx[key];
  if (value === undefined) throw new Error(`scenario context lacks ${key}`);
  return value;
}

/** Sector 2048, 61440 sectors: the first partition of the recorded MBR disk. */
export const PART_OFFSET = 2048 * 512;
export const PART_SIZE = 61440 * 512;

/** Every recorded scenario by transcript name. */
export const TRANSCRIPT_SCENARIOS: Record<string, TranscriptScenario> = {
  async losetup(host, ctx) {
    const out: Outcome[] = [];
    const disk = need(ctx, 'disk');
    const attached = await outcome(out, 'attach partition 1', () =>
      host.blockDevices.attachLoop(disk, { offset: PART_OFFSET, sizeLimit: PART_SIZE }),
    );
    const device = 'value' in attached ? (attached.value as { device: string }).device : '';
    await outcome(out, 'geometry of the loop device', () => host.blockDevices.geometry(device));
    await outcome(out, 'geometry of the disk file', () => host.blockDevices.geometry(disk));
    await outcome(out, 'ext4 magic through the loop device', () =>
      host.blockDevices.read(device, 1080, 2),
    );
    await outcome(out, 'list', () => host.blockDevices.listLoops());
    await outcome(out, 'loops over the disk', () => host.blockDevices.loopsOver(disk));
    await outcome(out, 'detach', () => host.blockDevices.detachLoop(device));
    await outcome(out, 'detach again', () => host.blockDevices.detachLoop(device));
    await outcome(out, 'attach a missing file', () =>
      host.blockDevices.attachLoop(need(ctx, 'missing')),
    );
    await outcome(out, 'read a missing file', () =>
      host.blockDevices.read(need(ctx, 'missing'), 0, 16),
    );
    return out;
  },

  async mounts(host, ctx) {
    const out: Outcome[] = [];
    const target = need(ctx, 'target');
    const loop = await host.blockDevices.attachLoop(need(ctx, 'disk'));
    await outcome(out, 'mount ext4 on a target with a space', () =>
      host.mounts.mount(loop.device, target, { fstype: 'ext4' }),
    );
    await outcome(out, 'listed', async () =>
      (await host.mounts.list()).filter((entry) => entry.target === target),
    );
    await outcome(out, 'mount again', () =>
      host.mounts.mount(loop.device, target, { fstype: 'ext4' }),
    );
    await outcome(out, 'detach while mounted', () => host.blockDevices.detachLoop(loop.device));
    await outcome(
      out,
      'autoclear flag',
      async () =>
        (await host.blockDevices.listLoops()).find((l) => l.device === loop.device)?.autoclear,
    );
    await outcome(out, 'unmount', () => host.mounts.unmount(target));
    await outcome(out, 'unmount again', () => host.mounts.unmount(target));
    await outcome(out, 'freed by autoclear', async () =>
      (await host.blockDevices.listLoops()).some((l) => l.device === loop.device),
    );
    const blank = await host.blockDevices.attachLoop(need(ctx, 'blank'));
    await outcome(out, 'mount a blank device', () =>
      host.mounts.mount(blank.device, target, { fstype: 'ext4' }),
    );
    await outcome(out, 'mount on a missing target', () =>
      host.mounts.mount(blank.device, `${target}-missing`, { fstype: 'ext4' }),
    );
    await host.blockDevices.detachLoop(blank.device);
    return out;
  },

  async virsh(host, ctx) {
    const out: Outcome[] = [];
    const name = need(ctx, 'name');
    const rootfs = need(ctx, 'rootfs');
    const loop = await host.blockDevices.attachLoop(need(ctx, 'disk'));
    await host.mounts.mount(loop.device, rootfs, { fstype: 'ext4' });
    await outcome(out, 'define', () => host.hypervisor.define(need(ctx, 'xml')));
    await outcome(out, 'listed', async () =>
      (await host.hypervisor.list()).filter((domain) => domain.name === name),
    );
    await outcome(out, 'start', () => host.hypervisor.start(name));
    await outcome(out, 'state after start', async () => (await host.hypervisor.info(name)).state);
    await outcome(out, 'start again', () => host.hypervisor.start(name));
    await outcome(out, 'container root', () => host.hypervisor.containerRoot(name));
    await outcome(out, 'destroy', () => host.hypervisor.destroy(name));
    await outcome(out, 'destroy again', () => host.hypervisor.destroy(name));
    await outcome(out, 'container root when stopped', () => host.hypervisor.containerRoot(name));
    await outcome(out, 'undefine', () => host.hypervisor.undefine(name));
    await outcome(out, 'info after undefine', () => host.hypervisor.info(name));
    await outcome(out, 'undefine again', () => host.hypervisor.undefine(name));
    await outcome(out, 'define with a missing init', () =>
      host.hypervisor.define(need(ctx, 'xmlNoInit')),
    );
    await outcome(out, 'start with a missing init', () => host.hypervisor.start(name));
    await outcome(out, 'undefine the failed one', () => host.hypervisor.undefine(name));
    await outcome(out, 'define broken XML', () => host.hypervisor.define(need(ctx, 'xmlBroken')));
    await host.mounts.unmount(rootfs);
    await host.blockDevices.detachLoop(loop.device);
    return out;
  },

  async images(host, ctx) {
    const out: Outcome[] = [];
    const dir = need(ctx, 'instanceDir');
    await outcome(out, 'lookup raw', () => host.images.lookup('raw-image'));
    await outcome(out, 'lookup qcow2', () => host.images.lookup('qcow2-image'));
    await outcome(out, 'lookup unknown', () => host.images.lookup('nope'));
    await outcome(out, 'lookup a bad id', () => host.images.lookup('../etc'));
    await outcome(out, 'raw instance disk', () =>
      host.images.createInstanceDisk('raw-image', `${dir}/disk.raw`, 'raw'),
    );
    await outcome(out, 'qcow2 instance disk', () =>
      host.images.createInstanceDisk('raw-image', `${dir}/disk.qcow2`, 'qcow2'),
    );
    await outcome(out, 'qcow2 instance disk again (kept)', () =>
      host.images.createInstanceDisk('raw-image', `${dir}/disk.qcow2`, 'qcow2', 'raw'),
    );
    await outcome(out, 'qcow2 image declared raw', () =>
      host.images.createInstanceDisk('qcow2-image', `${dir}/disk.bad`, 'raw', 'raw'),
    );
    await outcome(out, 'raw instance disk from qcow2', () =>
      host.images.createInstanceDisk('qcow2-image', `${dir}/disk.conv`, 'raw', 'qcow2'),
    );
    return out;
  },

  async volumes(host, ctx) {
    const out: Outcome[] = [];
    const info = { driver_volume_type: 'file', data: { path: need(ctx, 'disk') } };
    const connected = await host.volumes.connect(info);
    await outcome(out, 'connect file', async () => ({
      devicePath: connected.devicePath,
      attached: connected.attached && {
        device: connected.attached.device,
        backingFile: connected.attached.backingFile,
      },
    }));
    await outcome(out, 'connection_info left as it was', async () => info.data);
    await outcome(out, 'connect again (refused: already attached)', () =>
      host.volumes.connect(info),
    );
    const device = connected.devicePath;
    await outcome(out, 'connect local', () =>
      host.volumes.connect({ driver_volume_type: 'local', data: { device_path: device } }),
    );
    await outcome(out, 'connect local on a file', () =>
      host.volumes.connect({
        driver_volume_type: 'local',
        data: { device_path: need(ctx, 'disk') },
      }),
    );
    await outcome(out, 'connect local missing', () =>
      host.volumes.connect({ driver_volume_type: 'local', data: { device_path: '/dev/nope' } }),
    );
    await outcome(out, 'connect iscsi', () =>
      host.volumes.connect({ driver_volume_type: 'iscsi', data: {} }),
    );
    await outcome(out, 'disconnect without a record (nothing proven ours)', () =>
      host.volumes.disconnect(info),
    );
    await outcome(out, 'disconnect', () => host.volumes.disconnect(info, connected.attached));
    await outcome(out, 'disconnect again', () => host.volumes.disconnect(info, connected.attached));
    return out;
  },

  async nbd(host, ctx) {
    const out: Outcome[] = [];
    await outcome(out, 'available', () => host.nbd.available());
    await outcome(out, 'connect', () => host.nbd.connect(need(ctx, 'disk'), 'qcow2'));
    await outcome(out, 'list', () => host.nbd.list());
    return out;
  },
};
