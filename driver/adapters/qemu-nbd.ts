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
  // The kernel does not record which file a device serves; remember what this adapter connected.
  private readonly connected = new Map<string, NbdConnection>();

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
    const connection = { device, file, format };
    this.connected.set(device, connection);
    return connection;
  }

  async disconnect(device: string): Promise<void> {
    if (!(await this.isBusy(device))) {
      throw new DriverError('NotFound', `Failed to disconnect ${device}: it serves nothing`);
    }
    await this.runner.run(commands.qemuNbdDisconnect(device), {
      action: 'disconnect nbd device',
      classify,
    });
    this.connected.delete(device);
  }

  async list(): Promise<NbdConnection[]> {
    const result: NbdConnection[] = [];
    for (const [device, connection] of this.connected) {
      if (await this.isBusy(device)) result.push(connection);
    }
    return result;
  }

  private async freeDevice(): Promise<string> {
    const names = (await this.files.readDir('/sys/block')).filter((name) => /^nbd\d+$/.test(name));
    names.sort((a, b) => Number(a.slice(3)) - Number(b.slice(3)));
    for (const name of names) {
      if (!(await this.isBusy(`/dev/${name}`))) return `/dev/${name}`;
    }
    throw new DriverError('ResourceExhausted', 'Failed to connect nbd device: no free nbd device');
  }

  private async isBusy(device: string): Promise<boolean> {
    // A connected nbd device has a pid file in sysfs (what Nova's NbdMount checks too).
    return (await this.files.stat(`/sys/block/${device.replace(/^\/dev\//, '')}/pid`)) !== null;
  }
}
