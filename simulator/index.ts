import type { Host } from '../driver/ports/index.js';
import { PortVolumeConnector } from '../driver/core/volume-connector.js';
import type { DiskSpec } from '../scenarios/fixtures/disk-spec.js';
import { SimulatedBlockDevices } from './block-devices.js';
import { FakeClock } from './fake-clock.js';
import { Faults, operationNames, withFaults } from './faults.js';
import { SimulatedHostFiles } from './host-files.js';
import { SimulatedHypervisor } from './hypervisor.js';
import { SimulatedImageStore } from './image-store.js';
import { SimulatedMounts } from './mounts.js';
import { SimulatedNbd } from './nbd.js';
import { buildDisk } from './seed.js';
import { SimState, type SimDisk, type SimStateOptions } from './state.js';

export { SimState, type SimStateOptions } from './state.js';
export { FakeClock } from './fake-clock.js';
export { Faults, type FaultOptions } from './faults.js';
export { NO_NBD_REASON } from './nbd.js';

/** A simulated compute host: every port in memory, plus the state, faults and fixture builders. */
export interface SimulatedHost extends Host {
  readonly state: SimState;
  readonly faults: Faults;
  readonly clock: FakeClock;
  /** Builds a disk file (or block device with kind 'block') from a declaration. */
  addDisk(path: string, spec: DiskSpec, kind?: 'file' | 'block'): SimDisk;
  /** Registers a disk file as image `imageId` in the image cache. */
  addImage(imageId: string, path: string, format: 'raw' | 'qcow2'): void;
  /** The whole host state as JSON, with the armed faults. */
  dump(): Record<string, unknown>;
}

/** Creates a fresh simulated host; nothing is shared between two hosts. */
export function createSimulatedHost(options: SimStateOptions = {}): SimulatedHost {
  const state = new SimState(options);
  const clock = new FakeClock();
  const blockDevices = new SimulatedBlockDevices(state);
  const files = new SimulatedHostFiles(state);
  const raw: Host = {
    blockDevices,
    nbd: new SimulatedNbd(state),
    mounts: new SimulatedMounts(state),
    hypervisor: new SimulatedHypervisor(state),
    files,
    volumes: new PortVolumeConnector(blockDevices, files),
    images: new SimulatedImageStore(state),
    clock,
  };
  const faults = new Faults(operationNames(raw));
  const ports = withFaults(raw, faults);
  return {
    ...ports,
    clock,
    state,
    faults,
    addDisk: (path, spec, kind) => buildDisk(state, path, spec, kind),
    addImage: (imageId, path, format) => {
      const disk = state.disks.get(path);
      if (disk) disk.format = format;
      state.images.set(imageId, { path, format });
    },
    dump: () => ({ ...state.toJSON(), faults: faults.toJSON() }),
  };
}
