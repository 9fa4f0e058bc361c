export {
  FLAVOR_ROOT_PARTITION_SPEC,
  MAX_CONSOLE_BYTES,
  LxcDriver,
  PowerState,
  ROOT_PARTITION_PROPERTY,
} from './driver.js';
export type { InstanceInfo, LxcDriverOptions } from './driver.js';
export { LxcDiskHandler } from './disk-handler.js';
export { CommandError, DriverError, hasCode, isDriverError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { ROOTFS_DEVICE_KEY, ROOTFS_RECORD_KEY, readRootfsRecord } from './core/rootfs-record.js';
export type { RootfsRecord } from './core/rootfs-record.js';
export { PortVolumeConnector } from './core/volume-connector.js';
export type * from './ports/index.js';
export { PORT_NAMES } from './ports/index.js';
