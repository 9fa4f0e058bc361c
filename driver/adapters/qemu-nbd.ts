import { DriverError } from '../errors.js';
import type { Nbd, NbdConnection } from '../ports/nbd.js';
import type { CommandRunner } from './command-runner.js';
import * as commands from './commands.js';
import type { SystemFiles } from './system-files.js';
import { QEMU_ERRORS, classifyBy } from './tool-errors.js';

const classify = classifyBy(QEMU_ERRORS);

/** What to do when nbd cannot work, said once for every failure. */
export const NBD_HINT =
  'Load the nbd kernel module (modprobe nbd), or boot from raw images: images_type=raw or use_cow_images=False.';

/**
 * Nbd over qemu-nbd. Fails at once with Unsupported when the host has no nbd module or no
 * qemu-nbd: a device that cannot appear is never waited for (Nova waits 30 s).
 */
export class QemuNbd implements Nbd {
  constructor(
    private readonly runner: CommandRunner,
    private readonly files: SystemFiles,
  ) {}

  async available(): Promise<{ ok: boolean; reason?: string }> {
    if ((await this.files.stat('/sys/block/nbd0')) === null) {
      return {
        ok: false,
        reason: 'the host has no nbd kernel module (/sys/block/nbd0 is missing)',
      };
    }
    try {
      await this.runner.run(['qemu-nbd', '--version'], { action: 'probe qemu-nbd' });
    } catch {
      return { ok: false, reason: 'qemu-nbd is not installed (Debian package qemu-utils)' };
    }
    return { ok: true };
  }

  async connect(file: string, format: 'qcow2' | 'raw'): Promise<NbdConnection> {
    const { ok, reason } = await this.available();
    if (!ok) {
      throw new DriverError('Unsupported', `Failed to connect ${file} with qemu-nbd: ${reason}`, {
        hint: NBD_HINT,
      });
    }
    if ((await this.files.stat(file)) === null) {
      throw new DriverError('NotFound', `Failed to connect ${file} with qemu-nbd: no such file`);
    }
    const device = await this.freeDevice();
    await this.runner.run(commands.qemuNbdConnect(device, file, format), {
      action: 'connect nbd device',
      classify,
    });
    return { device, file, format };
  }

  async disconnect(device: string): Promise<void> {
    if (!(await this.isBusy(device))) {
      throw new DriverError('NotFound', `Failed to disconnect ${device}: it serves nothing`);
    }
    await this.runner.run(commands.qemuNbdDisconnect(device), {
      action: 'disconnect nbd device',
      classify,
    });
  }

  /**
   * Every connected device, from the kernel: /sys/block/nbdN/pid names the serving qemu-nbd,
   * whose command line names the file. This survives a driver restart, so destroy can prove
   * a device is still the one it connected. A server we cannot read shows with file ''.
   */
  async list(): Promise<NbdConnection[]> {
    if ((await this.files.stat('/sys/block/nbd0')) === null) return [];
    const result: NbdConnection[] = [];
    for (const name of await this.nbdNames()) {
      const pid = await this.files.readText(`/sys/block/${name}/pid`).catch(() => null);
      if (pid === null) continue;
      const cmdline = await this.files.readText(`/proc/${pid.trim()}/cmdline`).catch(() => '');
      result.push(parseQemuNbdCmdline(cmdline, `/dev/${name}`));
    }
    return result;
  }

  private async nbdNames(): Promise<string[]> {
    const names = (await this.files.readDir('/sys/block')).filter((name) => /^nbd\d+$/.test(name));
    return names.sort((a, b) => Number(a.slice(3)) - Number(b.slice(3)));
  }

  private async freeDevice(): Promise<string> {
    for (const name of await this.nbdNames()) {
      if (!(await this.isBusy(`/dev/${name}`))) return `/dev/${name}`;
    }
    throw new DriverError('ResourceExhausted', 'Failed to connect nbd device: no free nbd device');
  }

  private async isBusy(device: string): Promise<boolean> {
    // A connected nbd device has a pid file in sysfs (what Nova's NbdMount checks too).
    return (await this.files.stat(`/sys/block/${device.replace(/^\/dev\//, '')}/pid`)) !== null;
  }
}

/**
 * The connection a qemu-nbd command line (/proc/PID/cmdline, NUL-separated) describes: the
 * image is its last argument, the format its -f/--format (raw when absent, as qemu-nbd probes).
 * Anything that is not qemu-nbd gives file '' so that nothing can match it.
 */
export function parseQemuNbdCmdline(cmdline: string, device: string): NbdConnection {
  const args = cmdline.split('\0').filter((arg) => arg !== '');
  const unknown: NbdConnection = { device, file: '', format: 'raw' };
  if (!args[0]?.endsWith('qemu-nbd') || args.length < 2) return unknown;
  const file = args[args.length - 1]!;
  if (file.startsWith('-')) return unknown;
  let format: string | undefined;
  args.forEach((arg, i) => {
    if (arg === '-f' || arg === '--format') format = args[i + 1];
    else if (arg.startsWith('--format=')) format = arg.slice('--format='.length);
  });
  return { device, file, format: format === 'qcow2' ? 'qcow2' : 'raw' };
}
