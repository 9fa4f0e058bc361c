/**
 * Ports of the `nova/block_device.py` helpers and the `block_device_info_get_*` helpers of
 * `nova/virt/driver.py` that blockinfo uses, with Python's truthiness and `==`.
 */
import { PyKeyError } from './exceptions.js';
import type { BlockDeviceInfo, DriverBdm } from './model.js';
import { dictGet, isDict, or, pyEq, pyGt, truthy } from './py.js';

const DEV_PREFIX = /^\/dev\//;

/** `strip_dev`: removes a leading `/dev/`; a falsy name ('' or None) is returned as it is. */
export function stripDev<T extends string | null | undefined>(deviceName: T): T {
  return (truthy(deviceName) ? (deviceName as string).replace(DEV_PREFIX, '') : deviceName) as T;
}

/** `prepend_dev`: `name and '/dev/' + strip_dev(name)` (None and '' pass through). */
export function prependDev<T extends string | null | undefined>(deviceName: T): T {
  return (truthy(deviceName) ? `/dev/${stripDev(deviceName as string)}` : deviceName) as T;
}

/** `generate_device_letter`: 0 → a, 25 → z, 26 → aa, … */
export function generateDeviceLetter(index: number): string {
  let letter = '';
  let i = index;
  while (i >= 0) {
    letter += String.fromCharCode(97 + (i % 26));
    i = Math.floor(i / 26) - 1;
  }
  return [...letter].reverse().join('');
}

/** `generate_device_name`: prefix plus the device letter of `index`. */
export function generateDeviceName(prefix: string, index: number): string {
  return prefix + generateDeviceLetter(index);
}

/** `get_root_bdm`: the first BDM whose `boot_index` == 0 in Python terms (0, 0.0, False). */
export function getRootBdm<T extends DriverBdm>(bdms: readonly T[]): T | null {
  return bdms.find((bdm) => pyEq(dictGet(bdm, 'boot_index', -1), 0)) ?? null;
}

/** `get_bdms_to_connect`: all BDMs, or all but the root one(s) when excluding the root. */
export function getBdmsToConnect<T extends DriverBdm>(
  bdms: readonly T[],
  excludeRootMapping = false,
): T[] {
  return bdms.filter((bdm) => !pyEq(dictGet(bdm, 'boot_index', -1), 0) || !excludeRootMapping);
}

/** `block_device_info_get_root_device` (named `_get_root` in older Nova). */
export function blockDeviceInfoGetRootDevice(
  bdi: BlockDeviceInfo | null | undefined,
): string | null {
  const info = or(bdi, {}) as BlockDeviceInfo;
  return (dictGet(info, 'root_device_name') as string | null) ?? null;
}

/** `block_device_info_get_swap`: the swap BDM, or `{device_name: None, swap_size: 0}`. */
export function blockDeviceInfoGetSwap(bdi: BlockDeviceInfo | null | undefined): DriverBdm {
  const info = or(bdi, {}) as BlockDeviceInfo;
  return or(dictGet(info, 'swap'), { device_name: null, swap_size: 0 }) as DriverBdm;
}

/** `swap_is_usable`: the swap has a device name and a positive size. */
export function swapIsUsable(swap: DriverBdm | null | undefined): boolean {
  return (
    truthy(swap) &&
    truthy(item(swap as DriverBdm, 'device_name')) &&
    pyGt(item(swap as DriverBdm, 'swap_size'), 0)
  );
}

/** `block_device_info_get_image`: the image (local root) BDMs, or []. */
export function blockDeviceInfoGetImage(bdi: BlockDeviceInfo | null | undefined): DriverBdm[] {
  const info = or(bdi, {}) as BlockDeviceInfo;
  return or(dictGet(info, 'image'), []) as DriverBdm[];
}

/** `block_device_info_get_ephemerals`: the ephemeral BDMs, or []. */
export function blockDeviceInfoGetEphemerals(bdi: BlockDeviceInfo | null | undefined): DriverBdm[] {
  const info = or(bdi, {}) as BlockDeviceInfo;
  return or(dictGet(info, 'ephemerals'), []) as DriverBdm[];
}

/** `block_device_info_get_mapping`: the volume BDMs, or []. */
export function blockDeviceInfoGetMapping(bdi: BlockDeviceInfo | null | undefined): DriverBdm[] {
  const info = or(bdi, {}) as BlockDeviceInfo;
  return or(dictGet(info, 'block_device_mapping'), []) as DriverBdm[];
}

/** Python `d[key]`: KeyError when the key is missing. */
function item(dict: DriverBdm, key: string): unknown {
  if (!isDict(dict) || !Object.prototype.hasOwnProperty.call(dict, key)) {
    throw new PyKeyError(key);
  }
  return dict[key];
}

/**
 * `volume_in_mapping`: whether `mountDevice` (stripped) is a volume's `mount_device`, the
 * usable swap's or an ephemeral's `device_name`. Nova quirk: None matches an unnamed volume.
 */
export function volumeInMapping(
  mountDevice: string | null | undefined,
  bdi: BlockDeviceInfo | null | undefined,
): boolean {
  const names: unknown[] = blockDeviceInfoGetMapping(bdi).map((vol) =>
    stripDev(item(vol, 'mount_device') as string | null),
  );
  const swap = blockDeviceInfoGetSwap(bdi);
  if (swapIsUsable(swap)) {
    names.push(stripDev(item(swap, 'device_name') as string | null));
  }
  for (const eph of blockDeviceInfoGetEphemerals(bdi)) {
    names.push(stripDev(item(eph, 'device_name') as string | null));
  }
  const wanted = stripDev(mountDevice ?? null);
  return names.some((name) => (name ?? null) === wanted);
}
