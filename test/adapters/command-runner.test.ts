import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SystemClock } from '../../driver/adapters/system-clock.js';
import {
  ProcessCommandRunner,
  isMissingTool,
  reasonOf,
  type CommandRunner,
} from '../../driver/adapters/command-runner.js';
import { CommandHelper, HelperCommandRunner } from '../../driver/adapters/command-helper.js';
import * as commands from '../../driver/adapters/commands.js';
import {
  LOSETUP_ERRORS,
  MOUNT_ERRORS,
  UMOUNT_ERRORS,
  VIRSH_ERRORS,
  classifyBy,
} from '../../driver/adapters/tool-errors.js';

// Both runners must give the same results and errors: the command helper is only a faster way
// to start the same commands (it falls back to the direct way where python3 is missing).
const helper = new CommandHelper();
afterAll(() => helper.close());
const RUNNERS: [string, CommandRunner][] = [
  ['ProcessCommandRunner', new ProcessCommandRunner()],
  ['HelperCommandRunner', new HelperCommandRunner(helper)],
];

describe.each(RUNNERS)('%s', (_name, runner) => {
  it('returns stdout, stderr and the exit code', async () => {
    await expect(runner.run(['printf', 'a b'])).resolves.toEqual({
      stdout: 'a b',
      stderr: '',
      exitCode: 0,
    });
  });

  it('gives a command a file as its stdin, opened before run() returns', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nova-lxc-stdin-'));
    const file = join(dir, 'in.txt');
    writeFileSync(file, 'from the file');
    const running = runner.run(['cat'], { stdinFile: file });
    // The child has its own copy of the descriptor: removing the file now changes nothing.
    rmSync(dir, { recursive: true });
    await expect(running).resolves.toMatchObject({ stdout: 'from the file' });
  });

  it('kills a command when its signal is aborted', async () => {
    const stop = new AbortController();
    const running = runner.run(['sleep', '30'], { signal: stop.signal });
    stop.abort();
    await expect(running).rejects.toMatchObject({ message: expect.stringMatching(/SIGKILL/) });
  });

  it('passes arguments verbatim, never through a shell', async () => {
    await expect(runner.run(['printf', '%s', '$(id) ; `x`'])).resolves.toMatchObject({
      stdout: '$(id) ; `x`',
    });
  });

  it('throws a CommandError carrying argv, exit code and output on a non-zero exit', async () => {
    const argv = ['sh', '-c', 'echo out; echo "first problem" >&2; echo more >&2; exit 3'];
    await expect(runner.run(argv, { action: 'do the thing' })).rejects.toMatchObject({
      name: 'CommandError',
      code: 'CommandFailed',
      message: 'Failed to do the thing: first problem',
      argv,
      exitCode: 3,
      stdout: 'out\n',
      stderr: 'first problem\nmore\n',
    });
  });

  it('accepts allowed exit codes', async () => {
    await expect(runner.run(['false'], { allowExitCodes: [1] })).resolves.toMatchObject({
      exitCode: 1,
    });
  });

  it('reports a missing tool as Unsupported, with the package when known', async () => {
    await expect(runner.run(['nova-lxc-no-such-tool'])).rejects.toMatchObject({
      code: 'Unsupported',
      message: 'Failed to run nova-lxc-no-such-tool: nova-lxc-no-such-tool is not installed',
      exitCode: undefined,
    });
  });

  it('classifies with the given table', async () => {
    await expect(
      runner.run(['sh', '-c', 'echo "target is busy." >&2; exit 32'], {
        classify: classifyBy(UMOUNT_ERRORS),
      }),
    ).rejects.toMatchObject({ code: 'Busy' });
  });

  it('feeds stdin', async () => {
    await expect(runner.run(['cat'], { input: 'label: dos\n' })).resolves.toMatchObject({
      stdout: 'label: dos\n',
    });
  });

  it('kills a command past its timeout', async () => {
    await expect(runner.run(['sleep', '5'], { timeoutMs: 50 })).rejects.toMatchObject({
      code: 'Timeout',
    });
  });
});

describe('reasonOf', () => {
  it.each([
    [
      "error: Failed to start domain 'x'\nerror: Domain is already active\n",
      'Domain is already active',
    ],
    ["error: failed to get domain 'x'\n", "failed to get domain 'x'"],
    ['\n  umount: /x: not mounted.\n', 'umount: /x: not mounted.'],
    [
      'debugfs 1.47.0 (5-Feb-2023)\n/x: File not found by ext2_lookup\n',
      '/x: File not found by ext2_lookup',
    ],
    ['', 'no error output'],
  ])('picks the useful line of %j', (stderr, reason) => {
    expect(reasonOf(stderr)).toBe(reason);
  });
});

describe('tool error tables', () => {
  const result = (stderr: string, exitCode = 1) => ({ stdout: '', stderr, exitCode });

  it.each([
    ['losetup: /x: failed to set up loop device: No such file or directory', 'NotFound'],
    ['losetup: /dev/loop0: detach failed: No such device or address', 'NotFound'],
    ['losetup: cannot find an unused loop device', 'ResourceExhausted'],
    ['losetup: /x: failed to set up loop device: Device or resource busy', 'ResourceExhausted'],
    ['losetup: /x: failed to set up loop device: Invalid argument', 'InvalidInput'],
    ['losetup: something new', 'CommandFailed'],
  ])('losetup %j → %s', (stderr, code) => {
    expect(classifyBy(LOSETUP_ERRORS)(result(stderr))).toBe(code);
  });

  it.each([
    [
      'mount: /m: wrong fs type, bad option, bad superblock on /dev/loop0, missing codepage',
      'InvalidInput',
    ],
    ["mount: /m: can't read superblock on /dev/loop7.", 'InvalidInput'],
    ['mount: /m: /dev/loop0 already mounted on /m.', 'Busy'],
    ['mount: /m: mount point does not exist.', 'NotFound'],
    ['mount: /m: special device /dev/loop9 does not exist.', 'NotFound'],
  ])('mount %j → %s', (stderr, code) => {
    expect(classifyBy(MOUNT_ERRORS)(result(stderr, 32))).toBe(code);
  });

  it.each([
    ['umount: /m: not mounted.', 'NotFound'],
    ['umount: /m: no mount point specified.', 'NotFound'],
    ['umount: /m: target is busy.', 'Busy'],
  ])('umount %j → %s', (stderr, code) => {
    expect(classifyBy(UMOUNT_ERRORS)(result(stderr, 32))).toBe(code);
  });

  it.each([
    ["error: failed to get domain 'x'", 'NotFound'],
    ['error: Domain not found: no domain with matching name', 'NotFound'],
    ['error: internal error: Some processes refused to die', 'Busy'],
    ['error: Requested operation is not valid: domain is not running', 'FailedPrecondition'],
    ['error: Domain is already active', 'FailedPrecondition'],
    [
      "error: internal error: Timed out while reading log output: Failure in libvirt_lxc startup: cannot find init path '/sbin/init' relative to container root: No such file or directory",
      'FailedPrecondition',
    ],
    ["error: operation failed: domain 'x' already exists with uuid 1", 'AlreadyExists'],
    ['error: (domain_definition):1: Premature end of data in tag os line 1', 'InvalidInput'],
  ])('virsh %j → %s', (stderr, code) => {
    expect(classifyBy(VIRSH_ERRORS)(result(stderr))).toBe(code);
  });
});

describe('command catalogue', () => {
  it.each([
    [commands.losetupAttach('/f'), ['losetup', '--find', '--show', '/f']],
    [
      commands.losetupAttach('/f', {
        offset: 1048576,
        sizeLimit: 512,
        readOnly: true,
        sectorSize: 4096,
      }),
      [
        'losetup',
        '--find',
        '--show',
        '--offset',
        '1048576',
        '--sizelimit',
        '512',
        '--read-only',
        '--sector-size',
        '4096',
        '/f',
      ],
    ],
    [
      commands.losetupList(),
      [
        'losetup',
        '--json',
        '--list',
        '--output',
        'NAME,BACK-FILE,OFFSET,SIZELIMIT,RO,LOG-SEC,AUTOCLEAR',
      ],
    ],
    [
      commands.mount('/dev/loop0', '/a b', 'ext4', true),
      ['mount', '-t', 'ext4', '-o', 'ro', '/dev/loop0', '/a b'],
    ],
    [commands.umount('/a b'), ['umount', '/a b']],
    [commands.virshDominfo('lxc:///', 'x'), ['virsh', '-c', 'lxc:///', 'dominfo', 'x']],
    [
      commands.qemuImgCreateOverlay('/d', '/b', 'raw'),
      ['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', '/b', '/d'],
    ],
    [
      commands.qemuNbdConnect('/dev/nbd0', '/f', 'qcow2'),
      ['qemu-nbd', '-c', '/dev/nbd0', '-f', 'qcow2', '/f'],
    ],
  ])('builds %j', (argv, expected) => {
    expect(argv).toEqual(expected);
  });
});

describe('isMissingTool', () => {
  it.each([
    ['ENOENT for any name', 'losetup', 'ENOENT', true],
    ['EACCES for a path', '/usr/bin/losetup', 'EACCES', false],
    ['another error', 'losetup', 'E2BIG', false],
  ])('answers %s', (_what, file, code, missing) => {
    expect(isMissingTool(file, Object.assign(new Error(code), { code }), '/usr/bin')).toBe(missing);
  });

  it('counts EACCES as missing when no readable PATH directory holds the tool', () => {
    const eacces = Object.assign(new Error('EACCES'), { code: 'EACCES' });
    expect(isMissingTool('nova-lxc-no-such-tool', eacces, '/nonexistent:/usr/bin')).toBe(true);
    // `sh` is there, so EACCES means something else (for example a file without execute bits).
    expect(isMissingTool('sh', eacces, '/nonexistent:/bin:/usr/bin')).toBe(false);
  });
});

describe.each(RUNNERS)('%s edge cases', (_name, runner) => {
  it('reports a command killed by a signal with its argv and what it printed', async () => {
    const argv = ['sh', '-c', 'echo partial; kill -9 $$'];
    await expect(runner.run(argv, { action: 'run the probe' })).rejects.toMatchObject({
      code: 'CommandFailed',
      message: 'Failed to run the probe: killed by SIGKILL',
      argv,
      exitCode: undefined,
      stdout: 'partial\n',
    });
  });

  it('tolerates a command that exits without reading its stdin', async () => {
    await expect(runner.run(['true'], { input: 'x'.repeat(1 << 20) })).resolves.toMatchObject({
      exitCode: 0,
    });
  });

  it('runs in the C locale, keeping the rest of the environment', async () => {
    const { stdout } = await runner.run(['sh', '-c', 'echo "$LC_ALL:${PATH:+path}"']);
    expect(stdout).toBe('C:path\n');
  });
});

describe('SystemClock.bootId', () => {
  it("reads the kernel's boot id once, trimmed", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nova-lxc-boot-'));
    const file = join(dir, 'boot_id');
    writeFileSync(file, '5a0b7c1e-0000-4000-8000-000000000001\n');
    const clock = new SystemClock(file);
    expect(await clock.bootId()).toBe('5a0b7c1e-0000-4000-8000-000000000001');
    writeFileSync(file, 'another\n'); // cannot change within a boot: the first answer stands
    expect(await clock.bootId()).toBe('5a0b7c1e-0000-4000-8000-000000000001');
    rmSync(dir, { recursive: true });
  });
});
