import { describe, expect, it } from 'vitest';
import { LxcDriver } from '../driver/index.js';
import { buildDisk } from '../harness/sim-disks/seed.js';
import { createSimulatedHost } from './index.js';
import { qcow2Header } from './qcow2-header.js';

const MiB = 1024 * 1024;
const rootfs = { type: 'ext4' as const, init: { writes: [], then: 'run' as const } };

function host() {
  const h = createSimulatedHost();
  buildDisk(h.state, '/src/raw.img', { size: '16M', table: 'none', filesystem: rootfs });
  h.addImage('raw', '/src/raw.img', 'raw');
  return h;
}

describe('SimulatedImageStore', () => {
  it('copies images into the cache and inspects them there', async () => {
    const h = host();
    expect(await h.images.lookup('raw')).toEqual({
      path: `${h.state.imagesDir}/raw`,
      format: 'raw',
      size: 16 * MiB,
    });
  });

  it('refuses a raw upload whose bytes are a qcow2 backed by /dev/sda (OSSA-2024-001)', async () => {
    const h = host();
    const disk = buildDisk(h.state, '/src/evil.img', { size: '16M', table: 'none' });
    disk.content.write(0, qcow2Header({ virtualSize: MiB, backingFile: '/dev/sda' }));
    h.addImage('evil', '/src/evil.img', 'raw');
    for (const format of ['raw', 'qcow2'] as const) {
      await expect(
        h.images.createInstanceDisk('evil', `/inst/${format}`, format, 'raw'),
      ).rejects.toMatchObject({
        code: 'InvalidInput',
        message: expect.stringMatching(/it has a backing file \("\/dev\/sda"\)/),
      });
    }
    expect(h.state.disks.has('/inst/raw')).toBe(false);
  });

  it.each([
    ['an external data file', { incompatible: 4n }, /external data file/],
    ['unknown features', { incompatible: 1n << 9n }, /unknown incompatible features 0x200/],
  ])('refuses a qcow2 image with %s', async (_what, options, pattern) => {
    const h = host();
    const disk = buildDisk(h.state, '/src/q.img', { size: '16M', table: 'none' });
    disk.format = 'qcow2';
    disk.qcow2Header = qcow2Header({ virtualSize: 16 * MiB, ...options });
    h.addImage('q', '/src/q.img', 'qcow2');
    await expect(h.images.lookup('q')).rejects.toMatchObject({
      code: 'InvalidInput',
      message: expect.stringMatching(pattern),
    });
  });

  it.each([
    ['a symlink to a host device', '/dev/sda'],
    ['a symlink to another image outside the cache', '/src/raw.img'],
  ])('refuses %s in the cache', async (_what, target) => {
    const h = host();
    buildDisk(h.state, '/dev/sda', { size: '16M', table: 'none' }, 'block');
    h.state.host.symlinkSync(target, `${h.state.imagesDir}/link`);
    await expect(h.images.lookup('link')).rejects.toMatchObject({
      code: 'InvalidInput',
      message: expect.stringMatching(/link is a symlink, not a file in the image cache/),
    });
  });

  it('reuses an overlay backed by the cached image, and refuses one backed by anything else', async () => {
    const h = host();
    const ours = await h.images.createInstanceDisk('raw', '/inst/a/disk', 'qcow2', 'raw');
    expect(await h.images.createInstanceDisk('raw', '/inst/a/disk', 'qcow2', 'raw')).toEqual(ours);
    const foreign = buildDisk(h.state, '/inst/b/disk', { size: '16M', table: 'none' });
    foreign.format = 'qcow2';
    foreign.qcow2Header = qcow2Header({
      virtualSize: 16 * MiB,
      backingFile: '/dev/sda',
      backingFormat: 'raw',
    });
    await expect(
      h.images.createInstanceDisk('raw', '/inst/b/disk', 'qcow2', 'raw'),
    ).rejects.toMatchObject({ message: expect.stringMatching(/is not the cached image/) });
  });

  it("makes spawn refuse an image whose content is not Glance's disk_format, leaving nothing", async () => {
    const h = host();
    buildDisk(h.state, '/src/q.img', { size: '16M', table: 'none', filesystem: rootfs });
    h.state.copyDisk(h.state.disks.get('/src/q.img')!, '/src/q.qcow2', 'qcow2');
    h.addImage('q', '/src/q.qcow2', 'qcow2');
    const driver = new LxcDriver(h, {
      instancesPath: '/var/lib/nova/instances',
      imagesType: 'raw',
    });
    const uuid = '6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
    const flavor = {
      name: 'm1.tiny',
      memory_mb: 128,
      vcpus: 1,
      root_gb: 1,
      ephemeral_gb: 0,
      swap: 0,
    };
    const instance = { uuid, name: 'instance-1', image_ref: 'q', flavor, system_metadata: {} };
    await expect(driver.spawn({}, instance, { disk_format: 'raw' })).rejects.toMatchObject({
      code: 'InvalidInput',
      message: expect.stringMatching(/declared raw, found qcow2/),
    });
    expect(await h.blockDevices.listLoops()).toEqual([]);
    expect(h.state.disks.has(`/var/lib/nova/instances/${uuid}/disk`)).toBe(false);
    expect(h.state.host.existsSync(`/var/lib/nova/instances/${uuid}`)).toBe(false);
    // A hard reboot has no image_meta: the disk_format Nova kept in system_metadata counts.
    const rebooted = { ...instance, system_metadata: { image_disk_format: 'raw' } };
    await expect(driver.spawn({}, rebooted, null)).rejects.toMatchObject({ code: 'InvalidInput' });
  });
});
