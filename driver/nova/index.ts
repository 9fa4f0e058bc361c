/** The Nova compatibility layer: data model, blockinfo port and Nova's exceptions. */
export * from './blockinfo.js';
export {
  blockDeviceInfoGetEphemerals,
  blockDeviceInfoGetImage,
  blockDeviceInfoGetMapping,
  blockDeviceInfoGetRootDevice,
  blockDeviceInfoGetSwap,
  generateDeviceLetter,
  generateDeviceName,
  swapIsUsable,
} from './block-device.js';
export * from './conf.js';
export * from './configdrive.js';
export * from './driver-block-device.js';
export * from './exceptions.js';
export * from './model.js';
