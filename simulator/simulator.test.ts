import { describe, expect, it } from 'vitest';
import { buildLxcDomainXml } from '../driver/core/domain-xml.js';
import { buildDisk } from '../harness/sim-disks/seed.js';
import { createSimulatedHost } from './index.js';

const ext4 = (init = true) => ({
  size: '64M',
  table: 'none' as const,
  filesystem: {
    type: 'ext4' as const,
    label: 'root',
    files: { '/etc/hostname': 'sim\n' },
    ...(init
      ? { init: { writes: [{ path: '/marker', content: 'hi' }], then: 'run' as const } }
      : {}),
  },
});

function domainXml(
  name: string,
  rootfsDir: string,
  disks: { sourceDev: string; targetDev: string; bus: string }[] = [],
) {
  return buildLxcDomainXml({
    name,
    uuid: `00000000-0000-4000-8000-${name.padStart(12, '0').slice(-12)}`,
    memoryKiB: 131072,
    vcpus: 1,
    init: '/sbin/init',
    cmdline: 'console=tty0',
    initenv: {},
    rootfsDir,
    consoleLog: `${rootfsDir}/../console.log`,
    disks,
    idmap: { uid: [], gid: [] },
  });
}

async function mountedHost() {
  const host = createSimulatedHost();
  buildDisk(host.state, '/img/a.img', ext4());
  host.state.host.mkdirSync('/inst/rootfs', { recursive: true });
  const loop = await host.blockDevices.attachLoop('/img/a.img');
  await host.mounts.mount(loop.device, '/inst/rootfs', { fstype: 'ext4' });
  return { host, loop };
}

describe('simulated loop devices', () => {
  it('hands out the lowest free number and reuses freed ones', async () => {
    const host = createSimulatedHost();
    buildDisk(host.state, '/img/a.img', ext4());
    const a = await host.blockDevices.attachLoop('/img/a.img');
    const b = await host.blockDevices.attachLoop('/img/a.img');
    await host.blockDevices.detachLoop(a.device);
    const c = await host.blockDevices.attachLoop('/img/a.img');
    expect([a.device, b.device, c.device]).toEqual(['/dev/loop0', '/dev/loop1', '/dev/loop0']);
  });

  it("runs out after the configured number of devices, with losetup's message", async () => {
    const host = createSimulatedHost({ loopDevices: 2 });
    buildDisk(host.state, '/img/a.img', ext4());
    await host.blockDevices.attachLoop('/img/a.img');
    await host.blockDevices.attachLoop('/img/a.img');
    await expect(host.blockDevices.attachLoop('/img/a.img')).rejects.toMatchObject({
      code: 'ResourceExhausted',
      stderr: 'losetup: cannot find an unused loop device\n',
    });
  });

  it('defers the detach of a mounted device and frees it when the last mount goes', async () => {
    const { host, loop } = await mountedHost();
    await expect(host.blockDevices.detachLoop(loop.device)).rejects.toMatchObject({ code: 'Busy' });
    expect((await host.blockDevices.listLoops())[0]).toMatchObject({ autoclear: true });
    await host.mounts.unmount('/inst/rootfs');
    expect(await host.blockDevices.listLoops()).toEqual([]);
  });

  it('defers the detach of a device another process holds open, as Linux 6.x does, and frees it on close', async () => {
    const host = createSimulatedHost();
    buildDisk(host.state, '/img/a.img', ext4());
    const loop = await host.blockDevices.attachLoop('/img/a.img');
    host.state.open(loop.device);
    await expect(host.blockDevices.detachLoop(loop.device)).rejects.toMatchObject({
      code: 'Busy',
    });
    expect(await host.blockDevices.loopDevice(loop.device)).toMatchObject({ autoclear: true });
    await expect(host.blockDevices.detachLoop(loop.device)).rejects.toMatchObject({
      code: 'Busy',
    });
    host.state.close(loop.device);
    expect(await host.blockDevices.loopDevice(loop.device)).toBeNull();
  });

  it('bounds reads by offset and size limit', async () => {
    const host = createSimulatedHost();
    const disk = buildDisk(host.state, '/img/a.img', { size: '1M', table: 'none' });
    disk.content.write(4096, Uint8Array.of(1, 2, 3, 4));
    const loop = await host.blockDevices.attachLoop('/img/a.img', { offset: 4096, sizeLimit: 2 });
    expect([...(await host.blockDevices.read(loop.device, 0, 16))]).toEqual([1, 2]);
    expect(await host.blockDevices.geometry(loop.device)).toEqual({
      size: 2,
      logicalSectorSize: 512,
    });
  });

  it.each([
    ['an offset past the end', { offset: 2 ** 30 }],
    ['an odd sector size', { sectorSize: 1024 }],
  ])('rejects %s', async (_name, options) => {
    const host = createSimulatedHost();
    buildDisk(host.state, '/img/a.img', { size: '1M', table: 'none' });
    await expect(host.blockDevices.attachLoop('/img/a.img', options)).rejects.toMatchObject({
      code: 'InvalidInput',
    });
  });

  it('fails like losetup for a missing file and an unattached device', async () => {
    const host = createSimulatedHost();
    await expect(host.blockDevices.attachLoop('/nope.img')).rejects.toMatchObject({
      code: 'NotFound',
      stderr: 'losetup: /nope.img: failed to set up loop device: No such file or directory\n',
    });
    await expect(host.blockDevices.detachLoop('/dev/loop3')).rejects.toMatchObject({
      code: 'NotFound',
    });
    await expect(host.blockDevices.read('/nope', 0, 1)).rejects.toMatchObject({ code: 'NotFound' });
    await expect(host.blockDevices.geometry('/nope')).rejects.toMatchObject({ code: 'NotFound' });
  });
});

describe('simulated mounts', () => {
  it('refuses a device without the requested filesystem, as mount does', async () => {
    const host = createSimulatedHost();
    buildDisk(host.state, '/img/blank.img', { size: '1M', table: 'none' });
    host.state.host.mkdirSync('/mnt/x', { recursive: true });
    const loop = await host.blockDevices.attachLoop('/img/blank.img');
    await expect(
      host.mounts.mount(loop.device, '/mnt/x', { fstype: 'ext4' }),
    ).rejects.toMatchObject({
      code: 'InvalidInput',
      exitCode: 32,
    });
    await host.blockDevices.detachLoop(loop.device);
  });

  it('fails for a missing source, a missing target and an unmounted target', async () => {
    const { host } = await mountedHost();
    await expect(
      host.mounts.mount('/dev/loop7', '/inst/rootfs', { fstype: 'ext4' }),
    ).rejects.toMatchObject({ code: 'NotFound' });
    await expect(
      host.mounts.mount('/dev/loop0', '/nowhere', { fstype: 'ext4' }),
    ).rejects.toMatchObject({ code: 'NotFound' });
    await expect(host.mounts.unmount('/nowhere')).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('shows files through the mount and refuses to remove a tree across it', async () => {
    const { host } = await mountedHost();
    expect(await host.files.readFile('/inst/rootfs/etc/hostname')).toBe('sim\n');
    await expect(host.files.removeTree('/inst')).rejects.toMatchObject({ code: 'Busy' });
    expect(await host.files.exists('/inst/rootfs/etc/hostname')).toBe(true);
  });

  it('shifts owners by the id maps and sends unmapped ids to nobody', async () => {
    const { host } = await mountedHost();
    await host.files.shiftIds('/inst/rootfs', [{ start: 0, target: 100000, count: 1000 }], []);
    const stat = host.state.resolveHostPath('/inst/rootfs/etc/hostname');
    expect(Number(stat.tree.lstatSync(stat.rel).uid)).toBe(100000);
    expect(Number(stat.tree.lstatSync(stat.rel).gid)).toBe(65534);
  });
});

describe('simulated libvirt', () => {
  it('runs the init inside a private copy of the root mount', async () => {
    const { host, loop } = await mountedHost();
    await host.hypervisor.define(domainXml('c1', '/inst/rootfs'));
    await host.hypervisor.start('c1');
    await host.mounts.unmount('/inst/rootfs');
    expect(await host.hypervisor.containerRoot('c1')).toMatchObject({
      source: loop.device,
      target: '/',
    });
    const fs = host.state.filesystems.get(host.state.disks.get('/img/a.img')!.contentId)!.get(0)!;
    expect(String(fs.tree.readFileSync('/marker', 'utf8'))).toBe('hi');
    await host.hypervisor.destroy('c1');
    await host.hypervisor.undefine('c1');
    await host.blockDevices.detachLoop(loop.device);
  });

  it('reboots: devices, mounts and running domains go, persistent definitions and files stay, the boot id changes', async () => {
    const { host } = await mountedHost();
    await host.hypervisor.define(domainXml('c1', '/inst/rootfs'));
    await host.hypervisor.start('c1');
    await host.hypervisor.define(domainXml('c2', '/inst/rootfs'));
    await host.hypervisor.start('c2');
    await host.hypervisor.undefine('c2'); // running: libvirt keeps it, transient
    const boot = await host.clock.bootId();
    host.reboot();
    expect(await host.clock.bootId()).not.toBe(boot);
    expect(await host.blockDevices.listLoops()).toEqual([]);
    expect(await host.mounts.list()).toEqual([]);
    expect(await host.hypervisor.list()).toEqual([
      { name: 'c1', uuid: expect.any(String) as string, state: 'shut off', persistent: true },
    ]);
    expect(await host.files.exists('/img/a.img')).toBe(true);
    await host.hypervisor.undefine('c1');
  });

  it("fails to start without an init, with libvirt_lxc's message", async () => {
    const host = createSimulatedHost();
    buildDisk(host.state, '/img/a.img', ext4(false));
    host.state.host.mkdirSync('/inst/rootfs', { recursive: true });
    const loop = await host.blockDevices.attachLoop('/img/a.img');
    await host.mounts.mount(loop.device, '/inst/rootfs', { fstype: 'ext4' });
    await host.hypervisor.define(domainXml('c2', '/inst/rootfs'));
    const error = await host.hypervisor.start('c2').catch((e: unknown) => e);
    expect(String((error as Error).message)).toContain(
      "cannot find init path '/sbin/init' relative to container root",
    );
  });

  it('answers domain errors the way virsh does', async () => {
    const { host } = await mountedHost();
    await expect(host.hypervisor.info('ghost')).rejects.toMatchObject({
      code: 'NotFound',
      stderr: "error: failed to get domain 'ghost'\n",
    });
    await host.hypervisor.define(domainXml('c3', '/inst/rootfs'));
    await expect(host.hypervisor.destroy('c3')).rejects.toMatchObject({
      code: 'FailedPrecondition',
    });
    await expect(host.hypervisor.containerRoot('c3')).rejects.toMatchObject({
      code: 'FailedPrecondition',
    });
    await expect(
      host.hypervisor.define(
        domainXml('c3', '/elsewhere').replace(
          /<uuid>[^<]+/,
          '<uuid>11111111-1111-4111-8111-111111111111',
        ),
      ),
    ).rejects.toMatchObject({
      code: 'AlreadyExists',
    });
    await host.hypervisor.start('c3');
    await expect(host.hypervisor.start('c3')).rejects.toMatchObject({ code: 'FailedPrecondition' });
    await host.hypervisor.undefine('c3');
    expect((await host.hypervisor.info('c3')).persistent).toBe(false);
    await host.hypervisor.destroy('c3');
    expect(await host.hypervisor.list()).toEqual([]);
  });

  it('refuses a disk whose source device does not exist', async () => {
    const { host } = await mountedHost();
    await host.hypervisor.define(
      domainXml('c4', '/inst/rootfs', [{ sourceDev: '/dev/sdz', targetDev: 'vdb', bus: 'virtio' }]),
    );
    await expect(host.hypervisor.start('c4')).rejects.toMatchObject({ code: 'NotFound' });
  });
});

describe('simulated nbd', () => {
  it('serves a qcow2 file and reads its virtual disk', async () => {
    const host = createSimulatedHost();
    buildDisk(host.state, '/img/a.img', ext4());
    host.state.copyDisk(host.state.disks.get('/img/a.img')!, '/img/a.qcow2', 'qcow2');
    expect([...(await host.blockDevices.read('/img/a.qcow2', 0, 4))]).toEqual([
      0x51, 0x46, 0x49, 0xfb,
    ]);
    const nbd = await host.nbd.connect('/img/a.qcow2', 'qcow2');
    const raw = await host.blockDevices.read('/img/a.img', 1024, 512);
    expect(await host.blockDevices.read(nbd.device, 1024, 512)).toEqual(raw);
    await host.nbd.disconnect(nbd.device);
    await expect(host.nbd.disconnect(nbd.device)).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('fails at once on a host without the nbd module', async () => {
    const host = createSimulatedHost({ nbdDevices: 0 });
    expect(await host.nbd.available()).toMatchObject({ ok: false });
    await expect(host.nbd.connect('/img/a.qcow2', 'qcow2')).rejects.toMatchObject({
      code: 'Unsupported',
    });
    expect(await host.nbd.list()).toEqual([]);
  });
});

describe('dumps', () => {
  it('dumps the whole state as JSON', async () => {
    const { host } = await mountedHost();
    const dump = JSON.parse(JSON.stringify(host.dump())) as Record<string, unknown[]>;
    expect(dump['loops']).toHaveLength(1);
    expect(dump['hostMounts']).toEqual([
      expect.objectContaining({ target: '/inst/rootfs', fstype: 'ext4' }),
    ]);
  });

  it('keeps a 16 TiB disk cheap: memory only for written bytes', () => {
    const host = createSimulatedHost();
    const disk = buildDisk(host.state, '/img/huge.img', {
      size: '16T',
      table: 'gpt',
      partitions: [{ number: 1, start: 2048, size: 2 ** 34 }],
    });
    expect(disk.content.size).toBe(16 * 2 ** 40);
    expect(disk.content.bytesStored).toBeLessThan(1024 * 1024);
  });
});
