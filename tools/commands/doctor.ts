import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { HELPER_IMPORTS, helperPython } from '../../driver/adapters/command-helper.js';
import { ProcessCommandRunner } from '../../driver/adapters/command-runner.js';
import { DEFAULT_LXC_URI, virshPing } from '../../driver/adapters/commands.js';
import { parseMountinfo } from '../../driver/adapters/parse-mountinfo.js';
import { NodeSystemFiles } from '../../driver/adapters/system-files.js';
import { createRealHost } from '../../driver/adapters/real-host.js';
import { DEFAULT_STATE_DIR } from '../../driver/journal.js';
import { describeAction, reclaim } from '../../driver/reclaim.js';

/** What the doctor asks of the host; faked in tests. */
export interface DoctorProbes {
  uid(): number;
  exists(path: string): Promise<boolean>;
  readText(path: string): Promise<string>;
  /** Permission bits of a path (symlinks followed), or null when it does not exist. */
  mode(path: string): Promise<number | null>;
  /** Runs argv; never throws: `ok` false with the first stderr line on failure. */
  run(argv: string[]): Promise<{ ok: boolean; output: string }>;
  /** What `nova-lxc reclaim --dry-run` would release under instances_path (one line each). */
  orphans?(instancesPath: string, stateDir: string): Promise<string[]>;
}

/** The outcome of one check. */
export interface DoctorCheck {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  /** What to do about a warn or fail. */
  fix?: string;
}

/** The doctor's report: one line per check, and whether the real backend can work. */
export interface DoctorReport {
  checks: DoctorCheck[];
  lines: string[];
  ok: boolean;
}

const PREPARE = 'run tools/prepare-real-host.sh';

/** What the command helper imports, and the interpreter's version for the report line. */
const HELPER_PROBE = `${HELPER_IMPORTS}; print("python3", sys.version.split()[0])`;

function firstLine(text: string): string {
  return (
    text
      .split('\n')
      .find((line) => line.trim() !== '')
      ?.trim() ?? ''
  );
}

async function toolCheck(
  probes: DoctorProbes,
  name: string,
  argv: string[],
  pkg: string,
  missing: 'warn' | 'fail',
  consequence: string,
): Promise<DoctorCheck> {
  const result = await probes.run(argv);
  return result.ok
    ? { name, status: 'ok', detail: firstLine(result.output) }
    : {
        name,
        status: missing,
        detail: `${argv[0]} not usable: ${firstLine(result.output) || 'not installed'}${consequence}`,
        fix: `apt-get install ${pkg}`,
      };
}

/** Runs every check of the real backend's host requirements. */
export async function runDoctor(
  probes: DoctorProbes,
  options: { uri?: string; instancesPath?: string; stateDir?: string } = {},
): Promise<DoctorReport> {
  const uri = options.uri ?? DEFAULT_LXC_URI;
  const checks: DoctorCheck[] = [];
  const uid = probes.uid();
  checks.push(
    uid === 0
      ? { name: 'root', status: 'ok', detail: 'running as uid 0' }
      : {
          name: 'root',
          status: 'fail',
          detail: `running as uid ${uid}; loop devices, mounts and libvirt LXC need root`,
          fix: 'run as root (sudo)',
        },
  );
  const loopControl = await probes.exists('/dev/loop-control');
  checks.push(
    loopControl
      ? { name: '/dev/loop-control', status: 'ok', detail: 'present' }
      : {
          name: '/dev/loop-control',
          status: 'fail',
          detail: 'missing: no loop device support in this kernel or container',
          fix: 'modprobe loop, or run the container with --privileged and /dev/loop-control',
        },
  );
  const free = await probes.run(['losetup', '--find']);
  checks.push(
    free.ok
      ? { name: 'free loop devices', status: 'ok', detail: `next free: ${firstLine(free.output)}` }
      : {
          name: 'free loop devices',
          status: 'fail',
          detail: firstLine(free.output) || 'losetup --find failed',
          fix: 'detach unused devices (losetup -a; losetup -d DEV) or raise max_loop',
        },
  );
  const libvirt = await probes.run(virshPing(uri));
  checks.push(
    libvirt.ok
      ? { name: 'libvirt connection', status: 'ok', detail: `${uri} answers` }
      : {
          name: 'libvirt connection',
          status: 'fail',
          detail: `${uri}: ${firstLine(libvirt.output) || 'no answer'}`,
          fix: PREPARE,
        },
  );
  checks.push(await cgroupCheck(probes));
  checks.push(
    await toolCheck(probes, 'losetup', ['losetup', '--version'], 'mount', 'fail', ''),
    await toolCheck(probes, 'mount', ['mount', '--version'], 'mount', 'fail', ''),
    await toolCheck(
      probes,
      'sfdisk',
      ['sfdisk', '--version'],
      'fdisk',
      'warn',
      '; test fixtures cannot be built',
    ),
    await toolCheck(
      probes,
      'qemu-img',
      ['qemu-img', '--version'],
      'qemu-utils',
      'warn',
      '; qcow2 instance disks unsupported',
    ),
    await toolCheck(
      probes,
      'qemu-nbd',
      ['qemu-nbd', '--version'],
      'qemu-utils',
      'warn',
      '; qcow2 cannot be served',
    ),
  );
  checks.push(
    await toolCheck(
      probes,
      'command helper',
      [helperPython(), '-I', '-S', '-c', HELPER_PROBE],
      'python3-minimal',
      'warn',
      '; nova-lxc serve starts each command by forking itself (0.5-1.5 ms more a command)',
    ),
  );
  checks.push(
    (await probes.exists('/sys/block/nbd0'))
      ? { name: 'nbd module', status: 'ok', detail: '/sys/block/nbd0 present' }
      : {
          name: 'nbd module',
          status: 'warn',
          detail: 'no nbd kernel module: qcow2 disks fail at once with Unsupported',
          fix: 'modprobe nbd, or use raw images (images_type=raw or use_cow_images=False)',
        },
  );
  if (options.instancesPath !== undefined) {
    checks.push(await instancesPathCheck(probes, options.instancesPath));
    if (probes.orphans) {
      checks.push(
        await orphansCheck(probes, options.instancesPath, options.stateDir ?? DEFAULT_STATE_DIR),
      );
    }
  }
  const ok = checks.every((check) => check.status !== 'fail');
  const lines = checks.map(
    (check) =>
      `${{ ok: '[ok]  ', warn: '[warn]', fail: '[FAIL]' }[check.status]} ${check.name}: ${check.detail}${check.fix ? ` (fix: ${check.fix})` : ''}`,
  );
  lines.push(
    ok ? 'The real backend can run on this host.' : 'The real backend cannot run on this host.',
  );
  return { checks, lines, ok };
}

async function cgroupCheck(probes: DoctorProbes): Promise<DoctorCheck> {
  let mounts;
  try {
    mounts = parseMountinfo(await probes.readText('/proc/self/mountinfo'));
  } catch (error) {
    return {
      name: 'cgroup layout',
      status: 'warn',
      detail: `cannot read the mount table: ${(error as Error).message}`,
    };
  }
  const cgroupRoot = mounts.find((m) => m.target === '/sys/fs/cgroup');
  if (cgroupRoot?.fstype === 'cgroup2') {
    return { name: 'cgroup layout', status: 'ok', detail: 'unified (cgroup v2)' };
  }
  if (mounts.some((m) => m.target === '/sys/fs/cgroup/unified')) {
    return {
      name: 'cgroup layout',
      status: 'warn',
      detail:
        'hybrid (v1 + /sys/fs/cgroup/unified): libvirt LXC starts fail unless libvirtd runs without the unified mount',
      fix: PREPARE,
    };
  }
  if (mounts.some((m) => m.fstype === 'cgroup')) {
    return { name: 'cgroup layout', status: 'ok', detail: 'legacy (cgroup v1)' };
  }
  return {
    name: 'cgroup layout',
    status: 'fail',
    detail: 'no cgroup filesystem mounted: libvirt LXC needs cgroups',
    fix: 'mount cgroup2 on /sys/fs/cgroup',
  };
}

/**
 * With uid_maps/gid_maps the container's root is an unprivileged host uid, and libvirt_lxc
 * must traverse every directory down to the rootfs: a 0700 ancestor fails the start with
 * "Failed to create …/rootfs/.oldroot: Permission denied" (seen on our CI hosts).
 */
async function instancesPathCheck(probes: DoctorProbes, path: string): Promise<DoctorCheck> {
  const name = 'instances_path';
  if ((await probes.mode(path)) === null) {
    return { name, status: 'warn', detail: `${path} does not exist`, fix: `mkdir -p ${path}` };
  }
  const parts = path.split('/').filter((part) => part !== '');
  for (let i = parts.length; i >= 0; i--) {
    const dir = '/' + parts.slice(0, i).join('/');
    const mode = await probes.mode(dir);
    if (mode !== null && (mode & 0o001) === 0) {
      return {
        name,
        status: 'warn',
        detail: `${dir} is mode ${(mode & 0o777).toString(8).padStart(4, '0')}: containers with uid_maps/gid_maps cannot reach their rootfs below it`,
        fix: `chmod o+x ${dir}`,
      };
    }
  }
  return { name, status: 'ok', detail: `${path} is reachable by id-mapped containers` };
}

/** Leftovers of crashed or failed operations: what reclaim would release. */
async function orphansCheck(
  probes: DoctorProbes,
  instancesPath: string,
  stateDir: string,
): Promise<DoctorCheck> {
  const name = 'orphans';
  let found: string[];
  try {
    found = (await probes.orphans?.(instancesPath, stateDir)) ?? [];
  } catch (error) {
    return { name, status: 'warn', detail: `cannot look for orphans: ${(error as Error).message}` };
  }
  if (found.length === 0) {
    return { name, status: 'ok', detail: `nothing left behind under ${instancesPath}` };
  }
  return {
    name,
    status: 'warn',
    detail: `${found.length} left behind by crashed or failed operations: ${found.join('; ')}`,
    fix: `nova-lxc reclaim --instances-path ${instancesPath} --state-dir ${stateDir}`,
  };
}

/** Probes of this machine. */
export function realDoctorProbes(): DoctorProbes {
  const runner = new ProcessCommandRunner();
  const files = new NodeSystemFiles();
  return {
    uid: () => process.getuid?.() ?? -1,
    exists: async (path) => (await files.stat(path)) !== null,
    readText: (path) => files.readText(path),
    mode: async (path) => {
      try {
        return (await stat(path)).mode & 0o7777;
      } catch {
        return null;
      }
    },
    run: async (argv) => {
      try {
        const { stdout, stderr } = await runner.run(argv, { timeoutMs: 15_000 });
        return { ok: true, output: stdout || stderr };
      } catch (error) {
        const failure = error as { stderr?: string; message?: string };
        return { ok: false, output: failure.stderr || failure.message || String(error) };
      }
    },
    orphans: async (instancesPath, stateDir) => {
      const host = createRealHost({ imagesDir: `${instancesPath.replace(/\/+$/, '')}/_base` });
      const actions = await reclaim(host, { instancesPath, stateDir, dryRun: true });
      return actions.filter((a) => a.outcome === 'would release').map(describeAction);
    },
  };
}

/** Adds `nova-lxc doctor`: checks this host for the real backend; exit 1 when it cannot work. */
export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('Check this host for the real backend (root, loop devices, libvirt LXC, tools)')
    .option('-c, --connect <uri>', 'libvirt connection URI', DEFAULT_LXC_URI)
    .option(
      '--instances-path <dir>',
      "also check Nova's instances_path (reachable by id-mapped containers, no orphans)",
    )
    .option(
      '--state-dir <dir>',
      'the driver state directory, for the orphan check',
      DEFAULT_STATE_DIR,
    )
    .action(async (options: { connect: string; instancesPath?: string; stateDir: string }) => {
      const report = await runDoctor(realDoctorProbes(), {
        uri: options.connect,
        stateDir: options.stateDir,
        ...(options.instancesPath ? { instancesPath: options.instancesPath } : {}),
      });
      for (const line of report.lines) console.log(line);
      process.exitCode = report.ok ? 0 : 1;
    });
}
