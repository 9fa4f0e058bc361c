/**
 * `nova.virt.driver.get_block_device_info` and the driver BDM classes of
 * `nova/virt/block_device.py`: BlockDeviceMapping dicts become driver-format dicts whose
 * `save()` writes the names blockinfo chose back into the source BDM.
 */
import { PyValueError } from './exceptions.js';
import type { BlockDeviceInfo, DriverBdm } from './model.js';
import { truthy, type PyDict } from './py.js';

/** A BlockDeviceMapping object's fields, as a dict (source of the driver BDMs). */
export type BdmObject = PyDict;

/** The driver-format kinds, one per DriverBlockDevice subclass used for libvirt. */
export type DriverBdmKind = 'image' | 'ephemeral' | 'swap' | 'volume';

const SAVE = Symbol.for('nova-lxc.driverBdmSave');
const KIND = Symbol.for('nova-lxc.driverBdmKind');

/** A driver BDM built from a BDM object; `save()` copies blockinfo's choices back to it. */
export type SavableDriverBdm = DriverBdm & { [SAVE]: () => void; [KIND]: DriverBdmKind };

/** True when `bdm` was built by this module and can be saved. */
export function isSavableDriverBdm(bdm: unknown): bdm is SavableDriverBdm {
  return (
    typeof bdm === 'object' &&
    bdm !== null &&
    typeof (bdm as Partial<SavableDriverBdm>)[SAVE] === 'function'
  );
}

/** `DriverBlockDevice.save()`: copies changed `_update_on_save` fields into the BDM object. */
export function saveDriverBdm(bdm: SavableDriverBdm): void {
  bdm[SAVE]();
}

/** The driver kind of a driver BDM built here. */
export function driverBdmKind(bdm: SavableDriverBdm): DriverBdmKind {
  return bdm[KIND];
}

function field(obj: BdmObject, key: string, fallback: unknown = null): unknown {
  const value = obj[key];
  return value === undefined ? fallback : value;
}

// The attribute → driver key pairs each class writes back (`_update_on_save`).
const UPDATE_ON_SAVE: Record<DriverBdmKind, [string, string][]> = {
  image: [
    ['disk_bus', 'disk_bus'],
    ['device_name', 'device_name'],
    ['device_type', 'device_type'],
  ],
  ephemeral: [
    ['disk_bus', 'disk_bus'],
    ['device_name', 'device_name'],
    ['device_type', 'device_type'],
  ],
  swap: [
    ['disk_bus', 'disk_bus'],
    ['device_name', 'device_name'],
  ],
  volume: [
    ['disk_bus', 'disk_bus'],
    ['device_name', 'mount_device'],
    ['device_type', 'device_type'],
  ],
};

function makeDriverBdm(
  kind: DriverBdmKind,
  source: BdmObject,
  values: DriverBdm,
): SavableDriverBdm {
  const bdm = values as SavableDriverBdm;
  Object.defineProperty(bdm, KIND, { value: kind, enumerable: false });
  Object.defineProperty(bdm, SAVE, {
    enumerable: false,
    value: () => {
      for (const [attr, key] of UPDATE_ON_SAVE[kind]) {
        const value = bdm[key] ?? null;
        if (value !== (source[attr] ?? null)) {
          source[attr] = value;
        }
      }
    },
  });
  return bdm;
}

function isNoDevice(bdm: BdmObject): boolean {
  return truthy(bdm['no_device']);
}

function isSwap(bdm: BdmObject): boolean {
  return (
    bdm['source_type'] === 'blank' &&
    bdm['destination_type'] === 'local' &&
    bdm['guest_format'] === 'swap'
  );
}

function isEphemeral(bdm: BdmObject): boolean {
  return (
    bdm['source_type'] === 'blank' &&
    bdm['destination_type'] === 'local' &&
    bdm['guest_format'] !== 'swap'
  );
}

function encryptionFields(bdm: BdmObject): DriverBdm {
  return {
    encrypted: field(bdm, 'encrypted', false),
    encryption_secret_uuid: field(bdm, 'encryption_secret_uuid'),
    encryption_format: field(bdm, 'encryption_format'),
    encryption_options: field(bdm, 'encryption_options'),
  };
}

/** `convert_local_images`: image → local BDMs as DriverImageBlockDevice. */
export function convertLocalImages(bdms: readonly BdmObject[]): SavableDriverBdm[] {
  return bdms
    .filter(
      (b) => !isNoDevice(b) && b['source_type'] === 'image' && b['destination_type'] === 'local',
    )
    .map((b) =>
      makeDriverBdm('image', b, {
        device_name: field(b, 'device_name') as string | null,
        size: (truthy(b['volume_size']) ? b['volume_size'] : 0) as number,
        disk_bus: field(b, 'disk_bus') as string | null,
        device_type: field(b, 'device_type') as string | null,
        guest_format: field(b, 'guest_format') as string | null,
        image_id: field(b, 'image_id'),
        boot_index: field(b, 'boot_index') as number | null,
        ...encryptionFields(b),
      }),
    );
}

/** `convert_ephemerals`: blank → local, non-swap BDMs as DriverEphemeralBlockDevice. */
export function convertEphemerals(bdms: readonly BdmObject[]): SavableDriverBdm[] {
  return bdms
    .filter((b) => !isNoDevice(b) && isEphemeral(b))
    .map((b) =>
      makeDriverBdm('ephemeral', b, {
        device_name: field(b, 'device_name') as string | null,
        size: (truthy(b['volume_size']) ? b['volume_size'] : 0) as number,
        disk_bus: field(b, 'disk_bus') as string | null,
        device_type: field(b, 'device_type') as string | null,
        guest_format: field(b, 'guest_format') as string | null,
        ...encryptionFields(b),
      }),
    );
}

/** `convert_swap`: blank → local swap BDMs as DriverSwapBlockDevice. */
export function convertSwap(bdms: readonly BdmObject[]): SavableDriverBdm[] {
  return bdms
    .filter((b) => !isNoDevice(b) && isSwap(b))
    .map((b) =>
      makeDriverBdm('swap', b, {
        device_name: field(b, 'device_name') as string | null,
        swap_size: (truthy(b['volume_size']) ? b['volume_size'] : 0) as number,
        disk_bus: field(b, 'disk_bus') as string | null,
      }),
    );
}

function parseConnectionInfo(raw: unknown): unknown {
  // jsonutils.loads(None) raises TypeError, which Nova turns into {}.
  if (typeof raw !== 'string') {
    return {};
  }
  try {
    return JSON.parse(raw) as unknown;
  } catch (error) {
    throw new PyValueError(error instanceof Error ? error.message : String(error));
  }
}

const VOLUME_SOURCES = ['volume', 'snapshot', 'image', 'blank'];

/** `convert_all_volumes`: → volume BDMs grouped by source (volume, snapshot, image, blank). */
export function convertAllVolumes(bdms: readonly BdmObject[]): SavableDriverBdm[] {
  const out: SavableDriverBdm[] = [];
  for (const source of VOLUME_SOURCES) {
    for (const b of bdms) {
      if (isNoDevice(b) || b['source_type'] !== source || b['destination_type'] !== 'volume') {
        continue;
      }
      out.push(
        makeDriverBdm('volume', b, {
          attachment_id: field(b, 'attachment_id'),
          boot_index: field(b, 'boot_index') as number | null,
          connection_info: parseConnectionInfo(
            b['connection_info'],
          ) as DriverBdm['connection_info'],
          delete_on_termination: field(b, 'delete_on_termination', false),
          device_type: field(b, 'device_type') as string | null,
          disk_bus: field(b, 'disk_bus') as string | null,
          guest_format: field(b, 'guest_format') as string | null,
          mount_device: field(b, 'device_name') as string | null,
          volume_type: field(b, 'volume_type'),
        }),
      );
    }
  }
  return out;
}

/** `get_swap`: the last swap of the list (Nova pops it), or None. */
export function getSwap(swaps: SavableDriverBdm[]): SavableDriverBdm | null {
  return swaps.at(-1) ?? null;
}

/** `nova.virt.driver.get_block_device_info(instance, bdms)`. */
export function getBlockDeviceInfo(
  instance: { root_device_name?: string | null } & PyDict,
  bdms: readonly BdmObject[],
): BlockDeviceInfo {
  return {
    root_device_name: (instance.root_device_name ?? null) as string | null,
    image: convertLocalImages(bdms),
    ephemerals: convertEphemerals(bdms),
    block_device_mapping: convertAllVolumes(bdms),
    swap: getSwap(convertSwap(bdms)),
  };
}
