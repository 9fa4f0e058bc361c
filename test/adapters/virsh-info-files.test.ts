/**
 * info() of a name libvirt does not know, answered from libvirt's own files (no virsh
 * dominfo process) once this adapter saw libvirt write a definition and a status file for a
 * domain it defined and started itself.
 */
import { describe, expect, it } from 'vitest';
import type { CommandRunner, RunOptions } from '../../driver/adapters/command-runner.js';
import { commandFailure } from '../../driver/adapters/command-runner.js';
import type { FileStat, SystemFiles } from '../../driver/adapters/system-files.js';
import { VirshHypervisor } from '../../driver/adapters/virsh-hypervisor.js';
import { DriverError } from '../../driver/errors.js';

const UUID = '0f3a2b1c-1111-2222-3333-444455556666';
const DOMINFO = `Id:             -\nName:           c1\nUUID:           ${UUID}\nOS Type:        exe\nState:          shut off\nCPU(s):         1\nMax memory:     131072 KiB\nUsed memory:    131072 KiB\nPersistent:     yes\nAutostart:      disable\nManaged save:   no\nSecurity model: none\nSecurity DOI:   0\n`;

const STATUS = `<domstatus state='running' reason='booted' pid='500'>
  <init pid='501'/>
  <domain type='lxc' id='1'><name>c1</name><uuid>${UUID}</uuid></domain>
</domstatus>`;
const XML = `<domain type='lxc'><name>c1</name><uuid>${UUID}</uuid></domain>`;

/**
 * A libvirt that writes c1's definition into `configDir` on define and its status into
 * `stateDir` on start (the standard directories unless told otherwise); dominfo knows c1 only.
 */
function fakeHost(options: { uri?: string; configDir?: string; stateDir?: string } = {}) {
  const calls: string[] = [];
  const configDir = options.configDir ?? '/etc/libvirt/lxc';
  const stateDir = options.stateDir ?? '/run/libvirt/lxc';
  const files: Record<string, string> = {
    '/proc/501/status': 'Name:\tsleep\nPid:\t501\nPPid:\t500\n',
    '/proc/501/environ': `LIBVIRT_LXC_UUID=${UUID}\0LIBVIRT_LXC_NAME=c1\0`,
  };
  const notFound = (path: string) => new DriverError('NotFound', `Failed to read ${path}`);
  const system: SystemFiles = {
    readText: async (path) => {
      if (path in files) return files[path] as string;
      throw notFound(path);
    },
    readAttributes: async (paths) => paths.map((path) => files[path] ?? null),
    readBytes: async (path) => {
      throw notFound(path);
    },
    readAvailable: async (path) => {
      throw notFound(path);
    },
    signal: async () => undefined,
    stat: async (path): Promise<FileStat | null> => {
      calls.push(`stat ${path}`);
      return path in files ? { kind: 'file', size: 1 } : null;
    },
    readDir: async () => [],
    realpath: async (path) => path,
    withTempFile: async (name, _content, use) => use(`/tmp/${name}`),
  };
  const runner: CommandRunner = {
    run: async (argv: readonly string[], runOptions?: RunOptions) => {
      const verb = argv.slice(3).join(' ');
      calls.push(verb);
      if (verb.startsWith('define ')) files[`${configDir}/c1.xml`] = XML;
      if (verb === 'start c1') files[`${stateDir}/c1.xml`] = STATUS;
      if (verb.startsWith('define ') || verb === 'start c1') {
        return { stdout: '', stderr: '', exitCode: 0 };
      }
      if (verb === 'dominfo c1') return { stdout: DOMINFO, stderr: '', exitCode: 0 };
      const name = argv.at(-1);
      throw commandFailure(
        argv,
        { stdout: '', stderr: `error: failed to get domain '${name}'\n`, exitCode: 1 },
        runOptions,
      );
    },
  };
  const hypervisor = new VirshHypervisor(runner, system, options.uri ? { uri: options.uri } : {});
  return { calls, files, hypervisor };
}

const virshCalls = (calls: string[]) => calls.filter((c) => !c.startsWith('stat '));

async function defineAndStart(hypervisor: VirshHypervisor) {
  await hypervisor.define(XML);
  await hypervisor.start('c1');
}

describe('virsh info of a domain libvirt does not know', () => {
  it('answers NotFound from the files once libvirt was seen writing both kinds', async () => {
    const { calls, hypervisor } = fakeHost();
    await defineAndStart(hypervisor);
    calls.length = 0;
    for (const name of ['web', 'db']) {
      await expect(hypervisor.info(name)).rejects.toMatchObject({
        code: 'NotFound',
        message: `Failed to get domain info: failed to get domain '${name}'`,
      });
    }
    expect(virshCalls(calls)).toEqual([]);
    expect(calls).toEqual([
      'stat /etc/libvirt/lxc/web.xml',
      'stat /run/libvirt/lxc/web.xml',
      'stat /etc/libvirt/lxc/db.xml',
      'stat /run/libvirt/lxc/db.xml',
    ]);
  });

  it('asks virsh before it has seen libvirt write them', async () => {
    const { calls, hypervisor } = fakeHost();
    await expect(hypervisor.info('web')).rejects.toMatchObject({ code: 'NotFound' });
    await hypervisor.define(XML); // a definition, but no status file seen yet
    await expect(hypervisor.info('web')).rejects.toMatchObject({ code: 'NotFound' });
    expect(virshCalls(calls).filter((c) => c === 'dominfo web')).toHaveLength(2);
  });

  it('asks virsh when libvirt keeps its files elsewhere', async () => {
    const { calls, hypervisor } = fakeHost({ configDir: '/usr/local/etc/libvirt/lxc' });
    await defineAndStart(hypervisor);
    await expect(hypervisor.info('web')).rejects.toMatchObject({ code: 'NotFound' });
    expect(virshCalls(calls)).toContain('dominfo web');
  });

  it('answers a running domain from its status file and proven init, persistent by its definition', async () => {
    const { calls, files, hypervisor } = fakeHost();
    await defineAndStart(hypervisor);
    calls.length = 0;
    await expect(hypervisor.info('c1')).resolves.toEqual({
      name: 'c1',
      uuid: UUID,
      state: 'running',
      persistent: true,
    });
    // Undefined while it runs: transient.
    delete files['/etc/libvirt/lxc/c1.xml'];
    await expect(hypervisor.info('c1')).resolves.toMatchObject({ persistent: false });
    files['/run/libvirt/lxc/c1.xml'] = STATUS.replace("state='running'", "state='paused'");
    await expect(hypervisor.info('c1')).resolves.toMatchObject({ state: 'paused' });
    expect(virshCalls(calls)).toEqual([]);
  });

  it('reads the container root once the status file names the init again (pid 0 while libvirt restarts it)', async () => {
    const { files, hypervisor } = fakeHost();
    await defineAndStart(hypervisor);
    files['/proc/501/mountinfo'] = '60 50 7:1 / / rw,relatime - ext4 /dev/loop1 rw\n';
    const statusPath = '/run/libvirt/lxc/c1.xml';
    const reads = [STATUS, STATUS.replace("<init pid='501'/>", "<init pid='0'/>"), STATUS];
    Object.defineProperty(files, statusPath, { get: () => reads.shift() ?? STATUS });
    await expect(hypervisor.containerRoot('c1')).resolves.toMatchObject({
      source: '/dev/loop1',
      target: '/',
    });
    expect(reads).toEqual([]);
  });

  it('asks virsh for a name whose files exist but whose init is not proven', async () => {
    const { calls, files, hypervisor } = fakeHost();
    await defineAndStart(hypervisor);
    calls.length = 0;
    files['/proc/501/environ'] = `LIBVIRT_LXC_UUID=another\0LIBVIRT_LXC_NAME=c1\0`;
    await expect(hypervisor.info('c1')).resolves.toMatchObject({ name: 'c1', uuid: UUID });
    expect(virshCalls(calls)).toEqual(['dominfo c1']);
  });

  it.each([
    ['a remote libvirt', 'lxc+ssh://compute-2/system', 'web'],
    ['a name that is not a plain file name', undefined, '../../etc/passwd'],
    ['a name starting with a dot', undefined, '.hidden'],
  ])('never reads the files for %s', async (_what, uri, name) => {
    const { calls, hypervisor } = fakeHost(uri ? { uri } : {});
    await defineAndStart(hypervisor);
    calls.length = 0;
    await expect(hypervisor.info(name)).rejects.toMatchObject({ code: 'NotFound' });
    expect(calls).toEqual([`dominfo ${name}`]);
  });
});
