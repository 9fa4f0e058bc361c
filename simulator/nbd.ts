import type { Nbd, NbdConnection } from '../driver/ports/nbd.js';
import { DriverError } from '../driver/errors.js';
import { toolFailure } from './failures.js';
import type { SimState } from './state.js';

/** The reason a host without nbd devices gives, shared by every call. */
export const NO_NBD_REASON = 'the host has no nbd kernel module (/sys/block/nbd0 is missing)';

/** qemu-nbd over the simulated nbd device table; a table of size 0 models a host without the module. */
export class SimulatedNbd implements Nbd {
  constructor(private readonly state: SimState) {}

  async available(): Promise<{ ok: boolean; reason?: string }> {
    return this.state.nbd.length > 0 ? { ok: true } : { ok: false, reason: NO_NBD_REASON };
  }

  async connect(file: string, format: 'qcow2' | 'raw'): Promise<NbdConnection> {
    if (this.state.nbd.length === 0) {
      throw new DriverError(
        'Unsupported',
        `Failed to connect ${file} with qemu-nbd: ${NO_NBD_REASON}`,
        {
          hint: 'Load the nbd kernel module (modprobe nbd), or boot from raw images: images_type=raw or use_cow_images=False.',
        },
      );
    }
    const disk = this.state.disks.get(file);
    const index = this.state.nbd.findIndex((n) => n === undefined);
    const device = `/dev/nbd${index}`;
    const argv = ['qemu-nbd', '-c', device, '-f', format, file];
    if (!disk) {
      throw toolFailure(
        'NotFound',
        'connect nbd device',
        argv,
        1,
        `qemu-nbd: Failed to blk_new_open '${file}': Could not open '${file}': No such file or directory\n`,
      );
    }
    if (index < 0) {
      throw new DriverError(
        'ResourceExhausted',
        `Failed to connect ${file} with qemu-nbd: no free nbd device`,
      );
    }
    const connection: NbdConnection = { device, file, format };
    this.state.nbd[index] = connection;
    return { ...connection };
  }

  async disconnect(device: string): Promise<void> {
    const index = this.state.nbd.findIndex((n) => n?.device === device);
    if (index < 0) {
      throw new DriverError('NotFound', `Failed to disconnect ${device}: it serves nothing`);
    }
    if (this.state.holders(device) > 0) {
      throw new DriverError('Busy', `Failed to disconnect ${device}: it is still in use`);
    }
    this.state.nbd[index] = undefined;
  }

  async list(): Promise<NbdConnection[]> {
    return this.state.nbd.filter((n): n is NbdConnection => n !== undefined).map((n) => ({ ...n }));
  }
}
