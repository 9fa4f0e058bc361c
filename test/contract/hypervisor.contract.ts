import { describe, expect, it } from 'vitest';
import type { BackendHarness, HarnessFactory } from '../../harness/harness.js';
import type { InitSpec } from '../../harness/disk-spec.js';
import { domainName, domainXml, eventually, rootfsDisk, useHarness } from './contract-helpers.js';

/** Mounts a fresh rootfs disk at `<instance>/rootfs` and defines a domain on it. */
async function definedOnRootfs(h: BackendHarness, init: InitSpec | null) {
  const disk = await h.makeDiskFile(
    init === null
      ? { size: '32M', table: 'none', filesystem: { type: 'ext4', files: { '/etc/x': 'x' } } }
      : rootfsDisk(init),
    'rootfs',
  );
  const loop = await h.host.blockDevices.attachLoop(disk);
  const name = domainName();
  const instanceDir = `${h.instancesPath}/${name}`;
  const rootfs = `${instanceDir}/rootfs`;
  await h.host.files.ensureDir(rootfs);
  await h.host.mounts.mount(loop.device, rootfs, { fstype: 'ext4' });
  const xml = domainXml(name, instanceDir);
  const info = await h.host.hypervisor.define(xml);
  const release = async () => {
    await h.host.mounts.unmount(rootfs).catch(() => undefined);
    await h.host.blockDevices.detachLoop(loop.device);
  };
  return { disk, loop, name, rootfs, info, xml, release };
}

/** The Hypervisor port's documented semantics, for every backend. */
export function describeHypervisorContract(makeHarness: HarnessFactory): void {
  describe('Hypervisor contract', () => {
    const harness = useHarness(makeHarness);

    it('defines, starts, destroys and undefines a domain, reporting each state', async () => {
      const h = harness();
      const { name, info, loop, release } = await definedOnRootfs(h, { then: 'run' });
      expect(info).toEqual({
        name,
        uuid: expect.stringMatching(/^[0-9a-f-]{36}$/),
        state: 'shut off',
        persistent: true,
      });
      expect(await h.host.hypervisor.list()).toContainEqual(info);
      // start answers with the info right after it, as dominfo would print it.
      expect(await h.host.hypervisor.start(name)).toEqual({ ...info, state: 'running' });
      expect(await h.host.hypervisor.info(name)).toEqual({ ...info, state: 'running' });
      expect(await h.host.hypervisor.containerRoot(name)).toMatchObject({
        source: loop.device,
        target: '/',
        fstype: 'ext4',
      });
      await expect(h.host.hypervisor.start(name)).rejects.toMatchObject({
        code: 'FailedPrecondition',
      });
      // destroy resolves once the domain is stopped: no waiting after it.
      await h.host.hypervisor.destroy(name);
      expect((await h.host.hypervisor.info(name)).state).toBe('shut off');
      await expect(h.host.hypervisor.destroy(name)).rejects.toMatchObject({
        code: 'FailedPrecondition',
      });
      await expect(h.host.hypervisor.containerRoot(name)).rejects.toMatchObject({
        code: 'FailedPrecondition',
      });
      await h.host.hypervisor.undefine(name);
      await expect(h.host.hypervisor.info(name)).rejects.toMatchObject({ code: 'NotFound' });
      expect((await h.host.hypervisor.list()).map((d) => d.name)).not.toContain(name);
      await release();
    });

    it('redefines the same domain safely', async () => {
      const h = harness();
      const { info, xml, release } = await definedOnRootfs(h, { then: 'run' });
      expect(await h.host.hypervisor.define(xml)).toEqual(info);
      await h.host.hypervisor.undefine(info.name);
      await release();
    });

    it('runs the container init, whose writes land in the image after the host unmounts', async () => {
      const h = harness();
      const init: InitSpec = { writes: [{ path: '/marker', content: 'started' }], then: 'run' };
      const { name, rootfs, disk, release } = await definedOnRootfs(h, init);
      await h.host.hypervisor.start(name);
      expect(await eventually(h, () => h.host.files.exists(`${rootfs}/marker`))).toBe(true);
      // Nova's "clean the lxc namespace": the host unmounts while the container keeps running.
      await h.host.mounts.unmount(rootfs);
      expect((await h.host.hypervisor.info(name)).state).toBe('running');
      await h.host.hypervisor.destroy(name);
      await h.host.hypervisor.undefine(name);
      await release();
      expect(await h.readFileOnDisk(disk, null, '/marker')).toBe('started');
    });

    it('fails to start a container without /sbin/init with libvirt_lxc startup error', async () => {
      const h = harness();
      const { name, release } = await definedOnRootfs(h, null);
      const failure = h.host.hypervisor.start(name);
      await expect(failure).rejects.toMatchObject({
        code: 'FailedPrecondition',
        message: expect.stringContaining(
          "cannot find init path '/sbin/init' relative to container root",
        ),
      });
      expect((await h.host.hypervisor.info(name)).state).toBe('shut off');
      await h.host.hypervisor.undefine(name);
      await release();
    });

    it('asks a running domain to shut down; an init without a SIGTERM handler keeps running', async () => {
      const h = harness();
      const { name, release } = await definedOnRootfs(h, { then: 'run' });
      await h.host.hypervisor.start(name);
      await h.host.hypervisor.shutdown(name);
      expect((await h.host.hypervisor.info(name)).state).toBe('running');
      await h.host.hypervisor.destroy(name);
      await expect(h.host.hypervisor.shutdown(name)).rejects.toMatchObject({
        code: 'FailedPrecondition',
      });
      await h.host.hypervisor.undefine(name);
      await release();
    });

    it('stops a domain whose init exits by itself later, keeping its definition', async () => {
      const h = harness();
      const init: InitSpec = {
        heartbeat: { path: '/hb', everyS: 1 },
        then: { exit: 3, afterS: 2 },
      };
      const { name, rootfs, info, release } = await definedOnRootfs(h, init);
      await h.host.hypervisor.start(name);
      const stopped = await eventually(
        h,
        async () => (await h.host.hypervisor.info(name)).state === 'shut off',
        30_000,
      );
      expect(stopped).toBe(true);
      // libvirt says `shut off (shutdown)` whatever the status; the port shows the state only.
      expect(await h.host.hypervisor.info(name)).toEqual({ ...info, state: 'shut off' });
      // It ran: the heartbeat it wrote while it did is a count of at least one.
      expect(Number(await h.host.files.readFile(`${rootfs}/hb`))).toBeGreaterThanOrEqual(1);
      await h.host.hypervisor.undefine(name);
      await release();
    });

    it("drains what the init writes to /dev/console from the domain's console", async () => {
      const h = harness();
      const init: InitSpec = {
        writes: [{ path: '/dev/console', content: 'hello from init\n' }],
        then: 'run',
      };
      const { name, release } = await definedOnRootfs(h, init);
      expect(await h.host.hypervisor.readConsole(name)).toBe('');
      await h.host.hypervisor.start(name);
      let output = '';
      await eventually(h, async () => {
        output += await h.host.hypervisor.readConsole(name);
        return output.includes('\n');
      });
      expect(output).toBe('hello from init\r\n');
      expect(await h.host.hypervisor.readConsole(name)).toBe('');
      await h.host.hypervisor.destroy(name);
      expect(await h.host.hypervisor.readConsole(name)).toBe('');
      await h.host.hypervisor.undefine(name);
      await release();
    });

    it.each([
      ['readConsole', 'NotFound'],
      ['start', 'NotFound'],
      ['shutdown', 'NotFound'],
      ['destroy', 'NotFound'],
      ['undefine', 'NotFound'],
      ['info', 'NotFound'],
      ['containerRoot', 'NotFound'],
    ] as const)('fails %s of an unknown domain with %s', async (method, code) => {
      const h = harness();
      await expect(h.host.hypervisor[method](domainName())).rejects.toMatchObject({ code });
    });

    it.each([
      [
        'a slash',
        (n: string) => `${n}/x`,
        /^Failed to define domain: XML error: name nlxc-ct-\w+\/x cannot contain '\/'$/,
      ],
      ['a newline', (n: string) => `${n}\nx`, /^Failed to define domain: invalid char in name:$/],
      [
        'more than 247 bytes (/etc/libvirt/lxc/<name>.xml.new)',
        (n: string) => n.padEnd(248, 'x'),
        /^Failed to define domain: Failed to create file '\/etc\/libvirt\/lxc\/nlxc-ct-\w+x+\.xml\.new': File name too long$/,
      ],
    ])('refuses a domain name with %s, as libvirt does', async (_what, make, pattern) => {
      const h = harness();
      const name = make(domainName());
      await expect(
        h.host.hypervisor.define(domainXml(name, `${h.instancesPath}/x`)),
      ).rejects.toMatchObject({ code: 'InvalidInput', message: expect.stringMatching(pattern) });
      await expect(h.host.hypervisor.info(name)).rejects.toMatchObject({ code: 'NotFound' });
    });

    it('defines a domain whose name is 247 bytes long', async () => {
      const h = harness();
      const name = domainName().padEnd(247, 'y');
      await expect(
        h.host.hypervisor.define(domainXml(name, `${h.instancesPath}/x`)),
      ).resolves.toMatchObject({ name, state: 'shut off' });
      await h.host.hypervisor.undefine(name);
    });

    it('rejects XML without a name with InvalidInput', async () => {
      const h = harness();
      await expect(h.host.hypervisor.define("<domain type='lxc'/>")).rejects.toMatchObject({
        code: 'InvalidInput',
      });
    });
  });
}
