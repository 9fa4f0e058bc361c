import type { Host, Journal } from '../driver/ports/index.js';
import { PortVolumeConnector } from '../driver/core/volume-connector.js';
import { SimulatedBlockDevices } from './block-devices.js';
import { FakeClock } from './fake-clock.js';
import { SimulatedHostFiles } from './host-files.js';
import { SimulatedHypervisor } from './hypervisor.js';
import { SimulatedImageStore } from './image-store.js';
import { SimulatedJournal } from './journal.js';
import { SimulatedMounts } from './mounts.js';
import { SimulatedNbd } from './nbd.js';
import { SimState, type SimStateOptions } from './state.js';

export { SimState, type SimStateOptions } from './state.js';
export { FakeClock } from './fake-clock.js';
export { NO_NBD_REASON } from './nbd.js';

/**
 * A simulated compute host: every port in memory, plus its state. Fixture disks are written
 * by harness/sim-disks/, faults and tracing are added by harness/instrument.ts.
 */
export interface SimulatedHost extends Host {
  readonly state: SimState;
  readonly clock: FakeClock;
  readonly hypervisor: SimulatedHypervisor;
  /** Registers a disk file as image `imageId` in the image cache. */
  addImage(imageId: string, path: string, format: 'raw' | 'qcow2'): void;
  /** The whole host state as JSON. */
  dump(): Record<string, unknown>;
  /** Reboots the simulated host: a new boot id, and the kernel state gone (SimState.reboot). */
  reboot(): void;
  /**
   * Starts another simulated process on this host (a service, a reclaim): its own journal
   * port, whose holds the host's own ports see as another process's until `end()`.
   */
  startProcess(): { pid: number; journal: Journal; end(): void };
}

/** Creates a fresh simulated host; nothing is shared between two hosts. */
export function createSimulatedHost(options: SimStateOptions = {}): SimulatedHost {
  const state = new SimState(options);
  const clock = new FakeClock();
  const blockDevices = new SimulatedBlockDevices(state);
  const files = new SimulatedHostFiles(state);
  const hypervisor = new SimulatedHypervisor(state, clock);
  const ports: Host = {
    blockDevices,
    nbd: new SimulatedNbd(state),
    mounts: new SimulatedMounts(state),
    hypervisor,
    files,
    volumes: new PortVolumeConnector(blockDevices, files),
    images: new SimulatedImageStore(state),
    journal: new SimulatedJournal(state, clock),
    clock,
  };
  return {
    ...ports,
    clock,
    hypervisor,
    state,
    addImage: (imageId, path, format) => {
      // Like caching a Glance download: the file is copied into the image cache.
      const disk = state.disks.get(path);
      if (!disk) throw new Error(`addImage: no simulated disk at ${path}`);
      const cached = state.copyDisk({ ...disk, format }, `${state.imagesDir}/${imageId}`, format);
      state.images.set(imageId, { path: cached.path, format });
    },
    dump: () => state.toJSON(),
    startProcess: () => {
      const pid = state.startProcess();
      return {
        pid,
        journal: new SimulatedJournal(state, clock, pid),
        end: () => state.endProcess(pid),
      };
    },
    reboot: () => {
      hypervisor.stopAllForReboot();
      state.reboot();
      clock.reboot();
    },
  };
}
