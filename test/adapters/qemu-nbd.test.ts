import { describe, expect, it } from 'vitest';
import { QemuNbd, parseQemuNbdCmdline } from '../../driver/adapters/qemu-nbd.js';
import { ScriptedHost, type TranscriptStep } from '../../harness/scripted-runner.js';

/**
 * @note Our hosts have no nbd module, so these steps are written by hand from the kernel's
 * interface (/sys/block/nbdN/pid appears while connected) and qemu-nbd's argv, not recorded.
 */
function adapter(steps: TranscriptStep[]) {
  const host = new ScriptedHost({ name: 'qemu-nbd (synthesized)', steps });
  return { nbd: new QemuNbd(host, host), host };
}

const ENOENT = { errno: 'ENOENT', message: 'no such file or directory' };
const DISK = '/var/lib/nova/instances/u1/disk';
const CMDLINE = ['qemu-nbd', '-c', '/dev/nbd0', '-f', 'qcow2', DISK, ''].join('\0');

describe('QemuNbd', () => {
  it('fails at once, running nothing, on a host without the nbd module', async () => {
    const { nbd, host } = adapter([{ op: 'stat', path: '/sys/block/nbd0', stat: null }]);
    await expect(nbd.connect(DISK, 'qcow2')).rejects.toMatchObject({
      code: 'Unsupported',
      message: expect.stringContaining('no nbd kernel module'),
    });
    host.assertDone();
  });

  it('lists nothing on a host without the nbd module', async () => {
    const { nbd, host } = adapter([{ op: 'stat', path: '/sys/block/nbd0', stat: null }]);
    expect(await nbd.list()).toEqual([]);
    host.assertDone();
  });

  it('lists connections from the kernel, so a restarted driver can prove what it connected', async () => {
    const { nbd, host } = adapter([
      { op: 'stat', path: '/sys/block/nbd0', stat: { kind: 'directory', size: 0 } },
      { op: 'readDir', path: '/sys/block', names: ['loop0', 'nbd1', 'nbd0'] },
      { op: 'readText', path: '/sys/block/nbd0/pid', text: '4242\n' },
      { op: 'readText', path: '/proc/4242/cmdline', text: CMDLINE },
      { op: 'readText', path: '/sys/block/nbd1/pid', error: ENOENT },
    ]);
    expect(await nbd.list()).toEqual([{ device: '/dev/nbd0', file: DISK, format: 'qcow2' }]);
    host.assertDone();
  });

  it('connects the lowest free device and disconnects it', async () => {
    const { nbd, host } = adapter([
      { op: 'stat', path: '/sys/block/nbd0', stat: { kind: 'directory', size: 0 } },
      {
        op: 'run',
        argv: ['qemu-nbd', '--version'],
        stdout: 'qemu-nbd 7.2.22\n',
        stderr: '',
        exitCode: 0,
      },
      { op: 'stat', path: DISK, stat: { kind: 'file', size: 196608 } },
      { op: 'readDir', path: '/sys/block', names: ['nbd0', 'nbd1'] },
      { op: 'stat', path: '/sys/block/nbd0/pid', stat: { kind: 'file', size: 5 } },
      { op: 'stat', path: '/sys/block/nbd1/pid', stat: null },
      {
        op: 'run',
        argv: ['qemu-nbd', '-c', '/dev/nbd1', '-f', 'qcow2', DISK],
        stdout: '',
        stderr: '',
        exitCode: 0,
      },
      { op: 'stat', path: '/sys/block/nbd1/pid', stat: { kind: 'file', size: 5 } },
      {
        op: 'run',
        argv: ['qemu-nbd', '-d', '/dev/nbd1'],
        stdout: '/dev/nbd1 disconnected\n',
        stderr: '',
        exitCode: 0,
      },
    ]);
    expect(await nbd.connect(DISK, 'qcow2')).toEqual({
      device: '/dev/nbd1',
      file: DISK,
      format: 'qcow2',
    });
    await nbd.disconnect('/dev/nbd1');
    host.assertDone();
  });

  it('refuses to disconnect a device that serves nothing', async () => {
    const { nbd, host } = adapter([{ op: 'stat', path: '/sys/block/nbd3/pid', stat: null }]);
    await expect(nbd.disconnect('/dev/nbd3')).rejects.toMatchObject({ code: 'NotFound' });
    host.assertDone();
  });
});

describe('parseQemuNbdCmdline', () => {
  it.each([
    ['our own argv', CMDLINE, { file: DISK, format: 'qcow2' }],
    [
      '--format=raw',
      ['/usr/bin/qemu-nbd', '--format=raw', '-c', '/dev/nbd0', '/img.raw'].join('\0'),
      { file: '/img.raw', format: 'raw' },
    ],
    [
      'no format (probed)',
      ['qemu-nbd', '-c', '/dev/nbd0', '/img'].join('\0'),
      { file: '/img', format: 'raw' },
    ],
    [
      'another program',
      ['nbd-client', 'host', '/dev/nbd0'].join('\0'),
      { file: '', format: 'raw' },
    ],
    [
      'an option last',
      ['qemu-nbd', '-c', '/dev/nbd0', '--fork'].join('\0'),
      { file: '', format: 'raw' },
    ],
    ['an unreadable process', '', { file: '', format: 'raw' }],
  ])('reads %s', (_name, cmdline, expected) => {
    expect(parseQemuNbdCmdline(cmdline, '/dev/nbd0')).toEqual({ device: '/dev/nbd0', ...expected });
  });
});
