import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { describeAction, reclaim } from '../../driver/reclaim.js';
import { createSimHarness } from '../../harness/sim-harness.js';
import { plainDisk } from '../../harness/instances.js';
import { runDoctor, type DoctorProbes } from './doctor.js';

const HYBRID = [
  '27 1 254:0 / / rw - ext4 /dev/vda rw',
  '31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw',
  '32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu',
  '41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw',
].join('\n');
const UNIFIED =
  '27 1 254:0 / / rw - ext4 /dev/vda rw\n31 23 0:28 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n';

interface Fake {
  uid?: number;
  missingPaths?: string[];
  failing?: string[];
  mountinfo?: string;
  /** Permission bits by path; absent paths do not exist. */
  modes?: Record<string, number>;
}

function probes(fake: Fake = {}): DoctorProbes {
  return {
    uid: () => fake.uid ?? 0,
    exists: async (path) => !(fake.missingPaths ?? []).includes(path),
    readText: async () => fake.mountinfo ?? UNIFIED,
    mode: async (path) => fake.modes?.[path] ?? null,
    run: async (argv) => {
      // By command name: the helper's interpreter is /usr/bin/python3 where it exists.
      const key = argv[0] === 'virsh' ? 'virsh' : (argv[0] ?? '').split('/').at(-1)!;
      if ((fake.failing ?? []).includes(key)) return { ok: false, output: `${key}: not found` };
      if (argv[0] === 'losetup' && argv[1] === '--find')
        return { ok: true, output: '/dev/loop0\n' };
      return { ok: true, output: `${key} 1.0\n` };
    },
  };
}

describe('runDoctor', () => {
  it('passes a prepared host with one line per check', async () => {
    const report = await runDoctor(probes());
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => c.name)).toEqual([
      'root',
      '/dev/loop-control',
      'free loop devices',
      'libvirt connection',
      'cgroup layout',
      'losetup',
      'mount',
      'sfdisk',
      'qemu-img',
      'qemu-nbd',
      'command helper',
      'nbd module',
    ]);
    expect(report.lines.at(-1)).toBe('The real backend can run on this host.');
  });

  it.each([
    ['not root', { uid: 1000 }, 'root', 'run as root'],
    [
      'no loop-control',
      { missingPaths: ['/dev/loop-control'] },
      '/dev/loop-control',
      'modprobe loop',
    ],
    ['no free loop device', { failing: ['losetup'] }, 'free loop devices', 'losetup -d'],
    ['libvirt not answering', { failing: ['virsh'] }, 'libvirt connection', 'prepare-real-host'],
    ['no mount', { failing: ['mount'] }, 'mount', 'apt-get install mount'],
    [
      'no cgroups',
      { mountinfo: '27 1 254:0 / / rw - ext4 /dev/vda rw\n' },
      'cgroup layout',
      'cgroup2',
    ],
  ])('fails when %s, with a fix hint', async (_what, fake: Fake, check, fix) => {
    const report = await runDoctor(probes(fake));
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.name === check)).toMatchObject({
      status: 'fail',
      fix: expect.stringContaining(fix),
    });
    expect(report.lines.join('\n')).toMatch(new RegExp(`\\[FAIL\\] ${check.replace('/', '\\/')}`));
  });

  it.each([
    ['no nbd module', { missingPaths: ['/sys/block/nbd0'] }, 'nbd module', 'images_type=raw'],
    ['no qemu-img', { failing: ['qemu-img'] }, 'qemu-img', 'qemu-utils'],
    ['no qemu-nbd', { failing: ['qemu-nbd'] }, 'qemu-nbd', 'qemu-utils'],
    ['no sfdisk', { failing: ['sfdisk'] }, 'sfdisk', 'fdisk'],
    ['no python3 (the command helper)', { failing: ['python3'] }, 'command helper', 'python3'],
    ['hybrid cgroups', { mountinfo: HYBRID }, 'cgroup layout', 'prepare-real-host'],
  ])('only warns when %s', async (_what, fake: Fake, check, fix) => {
    const report = await runDoctor(probes(fake));
    expect(report.ok).toBe(true);
    expect(report.checks.find((c) => c.name === check)).toMatchObject({
      status: 'warn',
      fix: expect.stringContaining(fix),
    });
  });

  it('checks the given connection URI', async () => {
    const report = await runDoctor(probes(), { uri: 'lxc+ssh://node/' });
    expect(report.lines.join('\n')).toContain('lxc+ssh://node/ answers');
  });

  describe('instances_path', () => {
    const tree = { '/': 0o755, '/var': 0o755, '/var/lib': 0o755, '/var/lib/nova': 0o755 };

    it.each([
      ['reachable', { ...tree, '/var/lib/nova/instances': 0o755 }, 'ok', /reachable/],
      [
        'under a 0700 parent',
        { ...tree, '/var/lib/nova': 0o700, '/var/lib/nova/instances': 0o755 },
        'warn',
        /\/var\/lib\/nova is mode 0700/,
      ],
      [
        'itself 0750',
        { ...tree, '/var/lib/nova/instances': 0o750 },
        'warn',
        /instances is mode 0750/,
      ],
      ['missing', tree, 'warn', /does not exist/],
    ])('reports an instances_path %s', async (_name, modes, status, detail) => {
      const report = await runDoctor(probes({ modes }), {
        instancesPath: '/var/lib/nova/instances',
      });
      const check = report.checks.find((c) => c.name === 'instances_path');
      expect(check).toMatchObject({ status, detail: expect.stringMatching(detail) });
      expect(report.ok).toBe(true);
    });
  });

  describe('orphans', () => {
    /** A simulated host where a crash left an instance disk attached, seen through reclaim. */
    async function crashedHost() {
      const harness = await createSimHarness();
      const image = await harness.makeDiskFile(plainDisk(), 'image');
      await harness.addImage('img', image, 'raw');
      const dir = `${harness.instancesPath}/${randomUUID()}`;
      await harness.host.files.ensureDir(dir);
      await harness.host.images.createInstanceDisk('img', `${dir}/disk`, 'raw');
      const loop = await harness.host.blockDevices.attachLoop(`${dir}/disk`);
      const orphans = async (instancesPath: string, stateDir: string) =>
        (await reclaim(harness.host, { instancesPath, stateDir, dryRun: true }))
          .filter((a) => a.outcome === 'would release')
          .map(describeAction);
      return { harness, loop, orphans };
    }

    it('reports what reclaim would release, with the command that releases it', async () => {
      const { harness, loop, orphans } = await crashedHost();
      const report = await runDoctor(
        { ...probes({ modes: { '/': 0o755, '/var': 0o755 } }), orphans },
        { instancesPath: harness.instancesPath, stateDir: '/var/lib/nova-lxc' },
      );
      expect(report.checks.find((c) => c.name === 'orphans')).toMatchObject({
        status: 'warn',
        detail: expect.stringContaining(
          `1 left behind by crashed or failed operations: would release loop device ${loop.device}`,
        ),
        fix: `nova-lxc reclaim --instances-path ${harness.instancesPath} --state-dir /var/lib/nova-lxc`,
      });
      // Looking changed nothing.
      expect((await harness.host.blockDevices.listLoops()).map((l) => l.device)).toEqual([
        loop.device,
      ]);
    });

    it('says so when nothing is left behind', async () => {
      const harness = await createSimHarness();
      const orphans = async (instancesPath: string, stateDir: string) =>
        (await reclaim(harness.host, { instancesPath, stateDir, dryRun: true })).map(
          describeAction,
        );
      const report = await runDoctor(
        { ...probes(), orphans },
        { instancesPath: harness.instancesPath },
      );
      expect(report.checks.find((c) => c.name === 'orphans')).toMatchObject({ status: 'ok' });
    });
  });
});
