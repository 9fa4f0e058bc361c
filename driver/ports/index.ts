import type { BlockDevices } from './block-devices.js';
import type { Clock } from './clock.js';
import type { HostFiles } from './host-files.js';
import type { Hypervisor } from './hypervisor.js';
import type { ImageStore } from './image-store.js';
import type { Mounts } from './mounts.js';
import type { Journal } from './journal.js';
import type { Nbd } from './nbd.js';
import type { VolumeConnector } from './volume-connector.js';

export type * from './block-devices.js';
export type * from './clock.js';
export type * from './host-files.js';
export type * from './hypervisor.js';
export type * from './image-store.js';
export type * from './journal.js';
export type * from './logger.js';
export type * from './mounts.js';
export type * from './nbd.js';
export type * from './volume-connector.js';

/** The bundle of ports one backend (simulator or real host) provides to the driver. */
export interface Host {
  blockDevices: BlockDevices;
  nbd: Nbd;
  mounts: Mounts;
  hypervisor: Hypervisor;
  files: HostFiles;
  volumes: VolumeConnector;
  images: ImageStore;
  journal: Journal;
  clock: Clock;
}

/** The port names of a Host, in a fixed order (used by tracing and contract suites). */
export const PORT_NAMES = [
  'blockDevices',
  'nbd',
  'mounts',
  'hypervisor',
  'files',
  'volumes',
  'images',
  'journal',
  'clock',
] as const satisfies readonly (keyof Host)[];
