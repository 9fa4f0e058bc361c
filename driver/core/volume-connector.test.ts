import { describe, expect, it } from 'vitest';
import { buildDisk } from '../../harness/sim-disks/seed.js';
import { createSimulatedHost } from '../../simulator/index.js';

function host() {
  const h = createSimulatedHost();
  buildDisk(h.state, '/vols/v1.img', { size: '1M', table: 'none' });
  buildDisk(h.state, '/dev/sdb', { size: '1M', table: 'none' }, 'block');
  h.state.host.mkdirSync('/vols/dir', { recursive: true });
  return h;
}

describe('PortVolumeConnector', () => {
  it.each([
    ['an unknown type', { driver_volume_type: 'iscsi', data: {} }, 'Unsupported'],
    ['data that is not an object', { driver_volume_type: 'file', data: null }, 'InvalidInput'],
    ['a relative path', { driver_volume_type: 'file', data: { path: 'v1.img' } }, 'InvalidInput'],
    [
      'a missing file',
      { driver_volume_type: 'file', data: { path: '/vols/nope.img' } },
      'NotFound',
    ],
    [
      'a directory as file',
      { driver_volume_type: 'file', data: { path: '/vols/dir' } },
      'NotFound',
    ],
    [
      'a missing device',
      { driver_volume_type: 'local', data: { device_path: '/dev/sdz' } },
      'NotFound',
    ],
    [
      'a regular file as device',
      { driver_volume_type: 'local', data: { device_path: '/vols/v1.img' } },
      'InvalidInput',
    ],
  ])('rejects %s', async (_name, info, code) => {
    const h = host();
    await expect(h.volumes.connect(info as never)).rejects.toMatchObject({ code });
    expect(await h.blockDevices.listLoops()).toEqual([]);
  });

  it.each([
    ['a path through a file', '/vols/v1.img/dev', 'NotFound', /ENOTDIR: not a directory, realpath/],
    [
      'a name longer than NAME_MAX',
      `/dev/${'d'.repeat(256)}`,
      'InvalidInput',
      /ENAMETOOLONG: name too long/,
    ],
  ])('reports %s by its real cause, not as missing', async (_what, device, code, pattern) => {
    const h = host();
    const error = await h.volumes
      .connect({ driver_volume_type: 'local', data: { device_path: device } })
      .catch((e: unknown) => e as Error);
    expect(error).toMatchObject({ code, message: expect.stringMatching(pattern) });
    expect((error as Error).message).not.toMatch(/does not exist/);
  });

  it('uses a local block device as it is and releases nothing', async () => {
    const h = host();
    const info = { driver_volume_type: 'local', data: { device_path: '/dev/sdb' } };
    expect(await h.volumes.connect(info)).toEqual({ devicePath: '/dev/sdb' });
    await expect(h.volumes.connect(info)).resolves.toEqual({ devicePath: '/dev/sdb' });
    await h.volumes.disconnect(info);
    expect(await h.blockDevices.listLoops()).toEqual([]);
  });

  it('attaches a file, refuses a second attach of it, and releases it from the record', async () => {
    const h = host();
    const info = { driver_volume_type: 'file', data: { path: '/vols/v1.img' } };
    const first = await h.volumes.connect(info);
    expect(first.attached).toMatchObject({ device: first.devicePath, backingFile: '/vols/v1.img' });
    // Nothing is written into the caller's connection_info.
    expect(info.data).toEqual({ path: '/vols/v1.img' });
    await expect(h.volumes.connect(info)).rejects.toMatchObject({
      code: 'AlreadyExists',
      message: expect.stringContaining(`already attached as ${first.devicePath}`),
    });
    expect(await h.blockDevices.listLoops()).toHaveLength(1);
    // Without the record nothing is proven ours, so nothing is released.
    await h.volumes.disconnect(info);
    expect(await h.blockDevices.listLoops()).toHaveLength(1);
    await h.volumes.disconnect(info, first.attached);
    await h.volumes.disconnect(info, first.attached);
    expect(await h.blockDevices.listLoops()).toEqual([]);
  });

  it('leaves alone a device number that now backs another file', async () => {
    const h = host();
    buildDisk(h.state, '/vols/other.img', { size: '1M', table: 'none' });
    const info = { driver_volume_type: 'file', data: { path: '/vols/v1.img' } };
    const ours = await h.volumes.connect(info);
    await h.blockDevices.detachLoop(ours.devicePath);
    const theirs = await h.blockDevices.attachLoop('/vols/other.img');
    expect(theirs.device).toBe(ours.devicePath);
    await h.volumes.disconnect(info, ours.attached);
    expect(await h.blockDevices.listLoops()).toEqual([
      expect.objectContaining({ backingFile: '/vols/other.img' }),
    ]);
  });

  it('leaves alone a loop device over a new file at the same path (another inode)', async () => {
    const h = host();
    const info = { driver_volume_type: 'file', data: { path: '/vols/v1.img' } };
    const ours = await h.volumes.connect(info);
    await h.blockDevices.detachLoop(ours.devicePath);
    await h.files.removeTree('/vols/v1.img');
    buildDisk(h.state, '/vols/v1.img', { size: '1M', table: 'none' });
    const theirs = await h.blockDevices.attachLoop('/vols/v1.img');
    expect(theirs.device).toBe(ours.devicePath);
    await h.volumes.disconnect(info, ours.attached);
    expect(await h.blockDevices.listLoops()).toHaveLength(1);
  });

  it('releases its loop device after the backing file was unlinked ("(deleted)")', async () => {
    const h = host();
    const info = { driver_volume_type: 'file', data: { path: '/vols/v1.img' } };
    const ours = await h.volumes.connect(info);
    await h.files.removeTree('/vols/v1.img');
    expect(await h.blockDevices.listLoops()).toEqual([
      expect.objectContaining({ backingFile: '/vols/v1.img (deleted)' }),
    ]);
    await h.volumes.disconnect(info, ours.attached);
    expect(await h.blockDevices.listLoops()).toEqual([]);
  });
});
