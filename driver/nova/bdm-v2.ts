/**
 * From a boot request's block_device_mapping_v2 (what `nova boot --block-device` sends) to
 * the `block_device_info` the compute driver receives, as Nova's API and compute manager
 * get there: each entry becomes a BlockDeviceMapping (device names defaulted, boot_index a
 * number, Cinder's connection_info as JSON), then `get_block_device_info` converts those.
 */
import { getBlockDeviceInfo, type BdmObject } from './driver-block-device.js';
import { generateDeviceName, prependDev } from './block-device.js';
import type { BlockDeviceInfo, ConnectionInfo } from './model.js';
import type { BdmV2 } from './novaclient-block-device.js';

/** What a boot request asks for, once its volumes are connected. */
export interface BootDisks {
  /** The image the instance boots from (an image to a local disk as root), else null. */
  imageRef: string | null;
  /** block_device_info for the driver; null when no volume is attached. */
  blockDeviceInfo: BlockDeviceInfo | null;
  /** The BDM entry of the root volume (boot_index 0), when the root is a volume. */
  rootVolume: BdmV2 | undefined;
}

/**
 * Converts a request's entries. `connectionInfo` is Cinder's answer for each volume entry
 * (source volume, or image to a new volume), called in order. An image to a local disk is
 * booted as the instance's image and does not become a mapping (this driver has no local
 * image disks beside the root).
 */
export async function bootDisks(
  bdms: readonly BdmV2[],
  imageRef: string | null,
  connectionInfo: (bdm: BdmV2) => Promise<ConnectionInfo>,
): Promise<BootDisks> {
  let image = imageRef;
  let rootDevice = '/dev/vda';
  let rootVolume: BdmV2 | undefined;
  const objects: BdmObject[] = [];
  for (const [i, bdm] of bdms.entries()) {
    const isRoot = bdm.boot_index === '0';
    if (bdm.source_type === 'image' && bdm.destination_type !== 'volume') {
      if (isRoot) image = bdm.uuid ?? null;
      continue;
    }
    const info = await connectionInfo(bdm);
    // The API names a device the request leaves unnamed by its place in the request.
    const device = bdm.device_name ?? prependDev(generateDeviceName('vd', i));
    if (isRoot) {
      rootDevice = device;
      rootVolume = bdm;
    }
    objects.push({
      source_type: bdm.source_type,
      destination_type: 'volume',
      boot_index: bdm.boot_index === undefined ? null : Number(bdm.boot_index),
      device_name: device,
      device_type: bdm.device_type ?? 'disk',
      disk_bus: bdm.disk_bus ?? null,
      delete_on_termination: bdm.delete_on_termination ?? false,
      connection_info: JSON.stringify(info),
    });
  }
  return {
    imageRef: image,
    blockDeviceInfo:
      objects.length === 0 ? null : getBlockDeviceInfo({ root_device_name: rootDevice }, objects),
    rootVolume,
  };
}
