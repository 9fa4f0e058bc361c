import { describe, expect, it } from 'vitest';
import { buildDisk } from '../harness/sim-disks/seed.js';
import { createSimulatedHost } from './index.js';

// The kernel's lookup rules, checked against the real host's answers (losetup, mount, node:fs
// realpath on Debian 12, captured in the contract suites and simulator/paths.ts).
describe('simulated path lookup', () => {
  it('answers ENOENT for a missing directory before it reaches a too long name, as the kernel does', async () => {
    const host = createSimulatedHost();
    await expect(host.files.realpath(`/nope/${'x'.repeat(300)}`)).rejects.toMatchObject({
      code: 'NotFound',
      message: expect.stringMatching(/ENOENT: no such file or directory, realpath/),
    });
    await expect(host.files.realpath(`/tmp/${'x'.repeat(300)}`)).rejects.toMatchObject({
      code: 'InvalidInput',
      message: expect.stringMatching(/ENAMETOOLONG: name too long, realpath/),
    });
  });

  it('refuses a path of PATH_MAX bytes or more', async () => {
    const host = createSimulatedHost();
    const deep = `/tmp/${Array.from({ length: 20 }, () => 'd'.repeat(250)).join('/')}`;
    await expect(host.files.ensureDir(deep)).rejects.toMatchObject({
      code: 'InvalidInput',
      message: expect.stringMatching(/ENAMETOOLONG: name too long, mkdir/),
    });
  });

  it('reports a symlink loop as ELOOP after 40 hops', async () => {
    const host = createSimulatedHost();
    host.state.host.symlinkSync('/tmp/b', '/tmp/a');
    host.state.host.symlinkSync('/tmp/a', '/tmp/b');
    await expect(host.files.realpath('/tmp/a')).rejects.toMatchObject({
      code: 'InvalidInput',
      message: expect.stringMatching(
        /ELOOP: too many symbolic links encountered, realpath '\/tmp\/a'/,
      ),
    });
    await expect(host.blockDevices.attachLoop('/tmp/a')).rejects.toMatchObject({
      message: expect.stringMatching(
        /failed to set up loop device: Too many levels of symbolic links/,
      ),
    });
  });

  it('resolves /dev/disk/by-id links to loop devices for reads, mounts and volumes', async () => {
    const host = createSimulatedHost();
    buildDisk(host.state, '/vols/v.img', {
      size: '16M',
      table: 'none',
      filesystem: { type: 'ext4', files: { '/etc/hostname': 'v\n' } },
    });
    const loop = await host.blockDevices.attachLoop('/vols/v.img');
    host.state.host.mkdirSync('/dev/disk/by-id', { recursive: true });
    // udev's links are relative: by-id/<name> -> the device two levels up.
    const relative = ['..', '..', loop.device.slice('/dev/'.length)].join('/');
    host.state.host.symlinkSync(relative, '/dev/disk/by-id/virtio-vol1');
    const link = '/dev/disk/by-id/virtio-vol1';
    expect(await host.files.realpath(link)).toBe(loop.device);
    expect(await host.files.kind(link)).toBe('symlink');
    expect(await host.blockDevices.geometry(link)).toEqual({
      size: 16 * 1024 * 1024,
      logicalSectorSize: 512,
    });
    expect(
      await host.volumes.connect({ driver_volume_type: 'local', data: { device_path: link } }),
    ).toEqual({
      devicePath: link,
    });
    host.state.host.mkdirSync('/mnt/v', { recursive: true });
    await host.mounts.mount(link, '/mnt/v', { fstype: 'ext4' });
    expect(await host.mounts.list()).toEqual([expect.objectContaining({ source: loop.device })]);
    expect(await host.files.readFile('/mnt/v/etc/hostname')).toBe('v\n');
    await host.mounts.unmount('/mnt/v');
    await host.blockDevices.detachLoop(loop.device);
  });
});
