import { describe, expect, it } from 'vitest';
import type {
  CommandResult,
  CommandRunner,
  RunOptions,
} from '../../driver/adapters/command-runner.js';
import { commandFailure } from '../../driver/adapters/command-runner.js';
import type { FileStat, SystemFiles } from '../../driver/adapters/system-files.js';
import { VirshHypervisor } from '../../driver/adapters/virsh-hypervisor.js';
import { classifyBy, VIRSH_ERRORS } from '../../driver/adapters/tool-errors.js';
import { DriverError } from '../../driver/errors.js';

const UUID = '0f3a2b1c-1111-2222-3333-444455556666';
const STATUS = `<domstatus state='running' reason='booted' pid='500'>
  <init pid='501'/>
  <domain type='lxc' id='1'><name>c1</name><uuid>${UUID}</uuid></domain>
</domstatus>`;

/** A host with one running domain c1 (controller 500, init 501) and what was done to it. */
function fakeHost(proc: Record<string, string>, virshDestroy: Partial<CommandResult> = {}) {
  const calls: string[] = [];
  const files: Record<string, string> = { '/run/libvirt/lxc/c1.xml': STATUS, ...proc };
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
    signal: async (pid, signal) => {
      calls.push(`kill ${signal} ${pid}`);
    },
    stat: async (path): Promise<FileStat | null> =>
      path in files ? { kind: 'file', size: 1 } : null,
    readDir: async () => [],
    realpath: async (path) => path,
    withTempFile: async (name, _content, use) => use(`/tmp/${name}`),
  };
  const runner: CommandRunner = {
    run: async (argv: readonly string[], options?: RunOptions) => {
      calls.push(argv.slice(3).join(' '));
      const result = { stdout: '', stderr: '', exitCode: 0, ...virshDestroy };
      if (result.exitCode !== 0) throw commandFailure(argv, result, options);
      return result;
    },
  };
  return { calls, hypervisor: new VirshHypervisor(runner, system) };
}

const env = (...vars: string[]) => `${vars.join('\0')}\0`;
const provenInit = {
  '/proc/501/status': 'Name:\tsleep\nPid:\t501\nPPid:\t500\n',
  '/proc/501/environ': env('PATH=/bin', `LIBVIRT_LXC_UUID=${UUID}`, 'LIBVIRT_LXC_NAME=c1'),
};

describe('virsh destroy', () => {
  it('SIGKILLs the init proven to be the domain’s, then runs virsh destroy', async () => {
    const { calls, hypervisor } = fakeHost(provenInit);
    await hypervisor.destroy('c1');
    expect(calls).toEqual(['kill SIGKILL 501', 'destroy c1']);
  });

  it.each([
    ['a parent other than the controller', { '/proc/501/status': 'PPid:\t1\n' }],
    [
      'another domain’s uuid',
      { '/proc/501/environ': env('LIBVIRT_LXC_UUID=x', 'LIBVIRT_LXC_NAME=c1') },
    ],
    ['no LIBVIRT_LXC_NAME', { '/proc/501/environ': env(`LIBVIRT_LXC_UUID=${UUID}`) }],
    ['a pid that is gone', { '/proc/501/status': undefined, '/proc/501/environ': undefined }],
  ])('signals nothing for %s, leaving the power-off to virsh destroy', async (_what, change) => {
    const proc: Record<string, string> = { ...provenInit };
    for (const [path, text] of Object.entries(change)) {
      if (text === undefined) delete proc[path];
      else proc[path] = text;
    }
    const { calls, hypervisor } = fakeHost(proc);
    await hypervisor.destroy('c1');
    expect(calls).toEqual(['destroy c1']);
  });

  it('counts "domain is not running" after its own kill as the destroy done', async () => {
    const notRunning = {
      exitCode: 1,
      stderr:
        "error: Failed to destroy domain 'c1'\nerror: Requested operation is not valid: domain is not running\n",
    };
    expect(classifyBy(VIRSH_ERRORS)({ stdout: '', ...notRunning })).toBe('FailedPrecondition');
    const { hypervisor } = fakeHost(provenInit, notRunning);
    await expect(hypervisor.destroy('c1')).resolves.toBeUndefined();
    const { hypervisor: stopped } = fakeHost({}, notRunning);
    await expect(stopped.destroy('c1')).rejects.toMatchObject({ code: 'FailedPrecondition' });
  });
});

describe('virsh define', () => {
  const xml = (uuid: string) => `<domain type='lxc'><name>c2</name><uuid>${uuid}</uuid></domain>`;

  it('answers from the XML for an inactive domain with a uuid: one process', async () => {
    const { calls, hypervisor } = fakeHost({});
    await expect(hypervisor.define(xml(UUID.toUpperCase().replaceAll('-', '')))).resolves.toEqual({
      name: 'c2',
      uuid: UUID,
      state: 'shut off',
      persistent: true,
    });
    expect(calls).toEqual(['define /tmp/domain.xml']);
  });

  it('asks libvirt when the domain runs (it has a status file)', async () => {
    const { calls, hypervisor } = fakeHost({ '/run/libvirt/lxc/c2.xml': STATUS });
    await hypervisor.define(xml(UUID)).catch(() => undefined);
    expect(calls).toEqual(['define /tmp/domain.xml', 'dominfo c2']);
  });
});

describe('virsh start', () => {
  it('answers from the status file while its init lives and is the domain’s: one process', async () => {
    const { calls, hypervisor } = fakeHost(provenInit);
    await expect(hypervisor.start('c1')).resolves.toEqual({
      name: 'c1',
      uuid: UUID,
      state: 'running',
      persistent: true,
    });
    expect(calls).toEqual(['start c1']);
  });

  it('asks libvirt when the init is not proven (a parent other than the controller)', async () => {
    const { calls, hypervisor } = fakeHost({ ...provenInit, '/proc/501/status': 'PPid:\t1\n' });
    await hypervisor.start('c1').catch(() => undefined);
    expect(calls).toEqual(['start c1', 'dominfo c1']);
  });
});

describe('virsh dominfo right after a start', () => {
  it('takes the fields dominfo printed before it failed on the init pid', async () => {
    const stdout = `Id:             1\nName:           c1\nUUID:           ${UUID}\nState:          running\nPersistent:     yes\n`;
    const failure = {
      exitCode: 1,
      stdout,
      stderr: 'error: Requested operation is not valid: Init pid is not yet available\n',
    };
    const { hypervisor } = fakeHost({}, failure);
    await expect(hypervisor.info('c1')).resolves.toEqual({
      name: 'c1',
      uuid: UUID,
      state: 'running',
      persistent: true,
    });
    const { hypervisor: other } = fakeHost({}, { ...failure, stderr: 'error: other\n' });
    await expect(other.info('c1')).rejects.toThrow(/other/);
  });
});
