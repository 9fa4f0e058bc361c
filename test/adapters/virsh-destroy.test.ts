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

/**
 * A host with one running domain c1 (controller 500, init 501) and what was done to it. Its
 * libvirt kills both processes when it destroys the domain (they are gone afterwards) and, on
 * the paused path, leaves the domain's cgroup directories behind, as libvirt 9.0 does.
 */
function fakeHost(
  proc: Record<string, string>,
  virshDestroy: Partial<CommandResult> = {},
  options: {
    suspend?: Partial<CommandResult>;
    exitsAfterPolls?: number;
    /** rmdir's answers in turn (then exit 0): exit 1 leaves the first directory it named. */
    rmdir?: Partial<CommandResult>[];
  } = {},
) {
  const calls: string[] = [];
  const files: Record<string, string> = { '/run/libvirt/lxc/c1.xml': STATUS, ...proc };
  const notFound = (path: string) => new DriverError('NotFound', `Failed to read ${path}`);
  let polls = 0;
  let killed = false;
  const system: SystemFiles = {
    readText: async (path) => {
      if (path in files) return files[path] as string;
      throw notFound(path);
    },
    readAttributes: async (paths) =>
      paths.map((path) => {
        if (killed && /^\/proc\/50[01]\/stat$/.test(path)) {
          polls++;
          if (polls > 2 * (options.exitsAfterPolls ?? 0)) return null;
        }
        return files[path] ?? null;
      }),
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
    run: async (argv: readonly string[], options_?: RunOptions) => {
      calls.push(argv[0] === 'virsh' ? argv.slice(3).join(' ') : argv.join(' '));
      if (argv[0] === 'rmdir') {
        const result = { stdout: '', stderr: '', exitCode: 0, ...options.rmdir?.shift() };
        const dirs = argv.slice(2);
        for (const dir of result.exitCode === 0 ? dirs : dirs.slice(1)) delete files[dir];
        return result;
      }
      const verb = argv[3];
      // `virshDestroy` answers virsh destroy, and dominfo (the tests of its failures).
      const planned = verb === 'suspend' ? (options.suspend ?? {}) : virshDestroy;
      const result = { stdout: '', stderr: '', exitCode: 0, ...planned };
      // Whether it ran or found the domain already off, the processes are gone afterwards.
      if (verb === 'destroy') killed = true;
      if (result.exitCode !== 0) throw commandFailure(argv, result, options_);
      if (verb === 'suspend') {
        files['/run/libvirt/lxc/c1.xml'] = STATUS.replace('running', 'paused');
      }
      return result;
    },
  };
  return { calls, files, hypervisor: new VirshHypervisor(runner, system, { exitTimeoutMs: 300 }) };
}

const env = (...vars: string[]) => `${vars.join('\0')}\0`;
const provenInit = {
  '/proc/501/status': 'Name:\tsleep\nPid:\t501\nPPid:\t500\n',
  '/proc/501/environ': env('PATH=/bin', `LIBVIRT_LXC_UUID=${UUID}`, 'LIBVIRT_LXC_NAME=c1'),
};

const stat = (pid: number, state: string) =>
  `${pid} (sleep) ${state} 1 ${pid} ${pid} 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 777${pid} 1000 1 0`;
const running = {
  ...provenInit,
  '/proc/500/stat': stat(500, 'S'),
  '/proc/501/stat': stat(501, 'S'),
};
const CGROUP = 'lxc-500-c1.libvirt-lxc';
const cgroups = {
  '/proc/500/cgroup': [
    `9:name=systemd:/machine/${CGROUP}`,
    `6:freezer:/machine/${CGROUP}`,
    '4:memory:/process_api/abc',
    `3:cpuset:/machine/../${CGROUP}`,
    `2:cpu,cpuacct:/machine/${CGROUP}`,
    '0::/',
  ].join('\n'),
  '/proc/self/mountinfo': [
    '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
    '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
    '34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset',
    '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
    '37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer',
    '40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd',
    '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
  ].join('\n'),
  // What libvirt left: the domain's directories in three hierarchies.
  [`/sys/fs/cgroup/freezer/machine/${CGROUP}`]: '',
  [`/sys/fs/cgroup/systemd/machine/${CGROUP}`]: '',
  [`/sys/fs/cgroup/cpu,cpuacct/machine/${CGROUP}`]: '',
};

describe('virsh destroy', () => {
  it("suspends a running domain whose init is proven, then destroys it (libvirt's path without a sleep)", async () => {
    const { calls, hypervisor } = fakeHost(running);
    await hypervisor.destroy('c1');
    expect(calls).toEqual(['suspend c1', 'destroy c1']);
  });

  it('waits until the init and the controller have exited before it returns', async () => {
    const { calls, hypervisor } = fakeHost(running, {}, { exitsAfterPolls: 3 });
    await hypervisor.destroy('c1');
    expect(calls).toEqual(['suspend c1', 'destroy c1']);
    const { hypervisor: stuck } = fakeHost(running, {}, { exitsAfterPolls: 1e9 });
    await expect(stuck.destroy('c1')).rejects.toMatchObject({
      code: 'Timeout',
      message: expect.stringMatching(
        /processes 501, 500 still run 300 ms after libvirt killed them/,
      ),
    });
  });

  it("removes the domain's own cgroup directories libvirt left, and no other", async () => {
    const { calls, hypervisor } = fakeHost({ ...running, ...cgroups });
    await hypervisor.destroy('c1');
    expect(calls).toEqual([
      'suspend c1',
      'destroy c1',
      `rmdir -- /sys/fs/cgroup/systemd/machine/${CGROUP} /sys/fs/cgroup/freezer/machine/${CGROUP} /sys/fs/cgroup/cpu,cpuacct/machine/${CGROUP}`,
    ]);
  });

  it('tries the rmdir again while a killed process is still leaving one cgroup, a fixed number of times', async () => {
    const busy = { exitCode: 1, stderr: 'rmdir: failed to remove: Device or resource busy\n' };
    const { calls, files, hypervisor } = fakeHost(
      { ...running, ...cgroups },
      {},
      { rmdir: [busy] },
    );
    await hypervisor.destroy('c1');
    expect(calls.slice(2)).toEqual([
      `rmdir -- /sys/fs/cgroup/systemd/machine/${CGROUP} /sys/fs/cgroup/freezer/machine/${CGROUP} /sys/fs/cgroup/cpu,cpuacct/machine/${CGROUP}`,
      `rmdir -- /sys/fs/cgroup/systemd/machine/${CGROUP}`,
    ]);
    expect(Object.keys(files).filter((path) => path.startsWith('/sys/fs/cgroup/'))).toEqual([]);
    // One that stays busy is left after 1 + 5 tries; the destroy itself is done.
    const stuck = fakeHost({ ...running, ...cgroups }, {}, { rmdir: Array(10).fill(busy) });
    await expect(stuck.hypervisor.destroy('c1')).resolves.toBeUndefined();
    expect(stuck.calls.filter((call) => call.startsWith('rmdir')).length).toBe(6);
  });

  it('falls back to SIGKILL of the proven init when suspend fails (no freezer)', async () => {
    const { calls, hypervisor } = fakeHost(
      running,
      {},
      { suspend: { exitCode: 1, stderr: 'error: Failed to suspend domain c1\n' } },
    );
    await hypervisor.destroy('c1');
    expect(calls).toEqual(['suspend c1', 'kill SIGKILL 501', 'destroy c1']);
  });

  it('destroys a paused domain at once', async () => {
    const { calls, hypervisor } = fakeHost({
      ...running,
      '/run/libvirt/lxc/c1.xml': STATUS.replace('running', 'paused'),
    });
    await hypervisor.destroy('c1');
    expect(calls).toEqual(['destroy c1']);
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
    const proc: Record<string, string> = { ...running };
    for (const [path, text] of Object.entries(change)) {
      if (text === undefined) delete proc[path];
      else proc[path] = text;
    }
    const { calls, hypervisor } = fakeHost(proc);
    await hypervisor.destroy('c1');
    expect(calls).toEqual(['destroy c1']);
  });

  it('counts "domain is not running" after its own suspend or kill as the destroy done', async () => {
    const notRunning = {
      exitCode: 1,
      stderr:
        "error: Failed to destroy domain 'c1'\nerror: Requested operation is not valid: domain is not running\n",
    };
    expect(classifyBy(VIRSH_ERRORS)({ stdout: '', ...notRunning })).toBe('FailedPrecondition');
    const { hypervisor } = fakeHost(running, notRunning);
    await expect(hypervisor.destroy('c1')).resolves.toBeUndefined();
    const { hypervisor: killedFirst } = fakeHost(running, notRunning, {
      suspend: { exitCode: 1, stderr: 'error: no freezer\n' },
    });
    await expect(killedFirst.destroy('c1')).resolves.toBeUndefined();
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

  it("waits the few ms an init takes to exec (its pid is libvirt_lxc's copy until then)", async () => {
    const { calls, files, hypervisor } = fakeHost({
      ...provenInit,
      '/proc/501/status': 'Name:\tlibvirt_lxc\nPid:\t501\nPPid:\t500\n',
      '/proc/501/environ': env('PATH=/bin', 'LIBVIRT_LOG_OUTPUTS=x'),
    });
    setTimeout(() => Object.assign(files, provenInit), 5);
    await expect(hypervisor.start('c1')).resolves.toMatchObject({ state: 'running' });
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
