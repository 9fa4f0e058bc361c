/**
 * Nova's data model as the driver receives it: instance, flavor, image metadata and the
 * driver-format block device info. Normalizers accept plain dicts (as Nova's compute manager
 * hands them to a virt driver) or Nova versioned-object primitives, and keep object identity
 * where Nova relies on mutation (system_metadata, the BDM dicts).
 */
import { DriverError } from '../errors.js';
import { isDict, type PyDict } from './py.js';

/** A flavor: only memory and vcpus are required, the disk sizes default to 0 as in Nova. */
export interface Flavor {
  memory_mb: number;
  vcpus: number;
  root_gb: number;
  ephemeral_gb: number;
  swap: number;
  name: string | null;
  flavorid: string | null;
  extra_specs: Record<string, string>;
}

/** An instance, as much of Nova's Instance object as the libvirt LXC path reads. */
export interface Instance {
  uuid: string;
  /** Nova's `instance.name`: given, else `instance-%08x` of `id`, else `instance-<uuid>`. */
  name: string;
  id: number | null;
  flavor: Flavor;
  image_ref: string | null;
  root_device_name: string | null;
  root_gb: number | null;
  /** Instance field, not the flavor's: drives blockinfo's `disk.local`. */
  ephemeral_gb: number | null;
  /** Nova stores this as a nullable string field; booleans come through from dicts. */
  config_drive: boolean | string | null;
  /** The very object the caller passed, so writes (rootfs_device_name) are visible to it. */
  system_metadata: Record<string, string>;
  launched_at: string | null;
  vm_mode: string | null;
  host: string | null;
}

/** `ImageMetaProps`: an open bag; blockinfo reads the `hw_*` and `img_*` keys. */
export type ImageMetaProps = Record<string, unknown>;

/** `ImageMeta`: `disk_format` absent means "not set" (Nova's `obj_attr_is_set`). */
export interface ImageMeta {
  id?: string | null;
  name?: string | null;
  disk_format?: string | null;
  container_format?: string | null;
  size?: number | null;
  min_disk?: number | null;
  min_ram?: number | null;
  properties: ImageMetaProps;
}

/** `connection_info` of a volume BDM (os-brick fills `data.device_path` on connect). */
export interface ConnectionInfo {
  driver_volume_type?: string;
  data?: { device_path?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/**
 * A driver-format BDM (nova/virt/block_device.py DriverBlockDevice is a dict subclass):
 * local disks carry `device_name`, volumes `mount_device`. blockinfo writes into it.
 */
export interface DriverBdm {
  device_name?: string | null;
  mount_device?: string | null;
  disk_bus?: string | null;
  device_type?: string | null;
  boot_index?: number | boolean | string | null;
  guest_format?: string | null;
  connection_info?: ConnectionInfo | string | null;
  swap_size?: number;
  size?: number;
  [key: string]: unknown;
}

/** `block_device_info` as `nova.virt.driver.get_block_device_info` builds it. */
export interface BlockDeviceInfo {
  root_device_name?: string | null;
  image?: DriverBdm[] | null;
  ephemerals?: DriverBdm[] | null;
  block_device_mapping?: DriverBdm[] | null;
  swap?: DriverBdm | null;
  [key: string]: unknown;
}

/** The disk-bus enum of Nova's DiskBusField, checked on image properties as Nova coerces them. */
const DISK_BUSES = ['fdc', 'ide', 'sata', 'scsi', 'usb', 'virtio', 'xen', 'lxc', 'uml'];
const BLOCK_DEVICE_TYPES = ['cdrom', 'disk', 'floppy', 'fs', 'lun'];
const CONFIG_DRIVE_POLICIES = ['optional', 'mandatory'];

type Expectation = string;

function invalid(field: string, path: string, expected: Expectation, got: unknown): DriverError {
  const shown = got === undefined ? 'nothing' : JSON.stringify(got);
  return new DriverError(
    'InvalidInput',
    `Failed to read ${field}: ${path} must be ${expected}, got ${shown}`,
    { details: { field: path } },
  );
}

/** Unwraps a Nova versioned-object primitive (`nova_object.data`) or returns the dict itself. */
function unwrap(raw: unknown, field: string, path: string, objectName: string): PyDict {
  if (!isDict(raw)) {
    throw invalid(field, path, `an object (a dict or a ${objectName} primitive)`, raw);
  }
  if ('nova_object.data' in raw || 'nova_object.name' in raw) {
    const name = raw['nova_object.name'];
    if (name !== objectName) {
      throw invalid(field, `${path}["nova_object.name"]`, JSON.stringify(objectName), name);
    }
    const data = raw['nova_object.data'];
    if (!isDict(data)) {
      throw invalid(field, `${path}["nova_object.data"]`, 'an object', data);
    }
    return data;
  }
  return raw;
}

// Nova's IntegerField coerces with int(): whole numbers and decimal digit strings pass.
const INT_STRING = /^\s*[+-]?\d+\s*$/;

function wholeNumber(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value)) {
    return value;
  }
  if (typeof value === 'string' && INT_STRING.test(value)) {
    return Number.parseInt(value, 10);
  }
  return undefined;
}

function requiredInt(dict: PyDict, key: string, field: string, path: string): number {
  const n = wholeNumber(dict[key]);
  if (n === undefined) {
    throw invalid(field, `${path}.${key}`, 'a whole number', dict[key]);
  }
  return n;
}

function optionalInt(
  dict: PyDict,
  key: string,
  field: string,
  path: string,
  fallback: number | null,
): number | null {
  const value = dict[key];
  if (value === undefined || value === null) {
    return fallback;
  }
  const n = wholeNumber(value);
  if (n === undefined) {
    throw invalid(field, `${path}.${key}`, 'a whole number or null', value);
  }
  return n;
}

function optionalString(dict: PyDict, key: string, field: string, path: string): string | null {
  const value = dict[key];
  if (value === undefined || value === null) {
    return null;
  }
  if (typeof value !== 'string') {
    throw invalid(field, `${path}.${key}`, 'a string or null', value);
  }
  return value;
}

function stringMap(value: unknown, field: string, path: string): Record<string, string> {
  if (!isDict(value)) {
    throw invalid(field, path, 'an object of strings', value);
  }
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== 'string') {
      throw invalid(field, `${path}.${key}`, 'a string', item);
    }
  }
  return value as Record<string, string>;
}

/** Reads a flavor dict or `Flavor` primitive; memory_mb and vcpus are required. */
export function normalizeFlavor(raw: unknown, field = 'flavor', path = field): Flavor {
  const data = unwrap(raw, field, path, 'Flavor');
  const extraSpecs = data['extra_specs'];
  return {
    memory_mb: requiredInt(data, 'memory_mb', field, path),
    vcpus: requiredInt(data, 'vcpus', field, path),
    root_gb: optionalInt(data, 'root_gb', field, path, 0) ?? 0,
    ephemeral_gb: optionalInt(data, 'ephemeral_gb', field, path, 0) ?? 0,
    swap: optionalInt(data, 'swap', field, path, 0) ?? 0,
    name: optionalString(data, 'name', field, path),
    flavorid:
      data['flavorid'] === undefined || data['flavorid'] === null ? null : String(data['flavorid']),
    extra_specs:
      extraSpecs === undefined || extraSpecs === null
        ? {}
        : { ...stringMap(extraSpecs, field, `${path}.extra_specs`) },
  };
}

/**
 * Reads an instance dict or `Instance` primitive. `system_metadata` of the result is the
 * input's own object (created in the input when absent) so the caller sees driver writes.
 */
export function normalizeInstance(raw: unknown, field = 'instance'): Instance {
  const data = unwrap(raw, field, field, 'Instance');
  const uuid = data['uuid'];
  if (typeof uuid !== 'string' || uuid === '') {
    throw invalid(field, `${field}.uuid`, 'a non-empty string', uuid);
  }
  if (data['flavor'] === undefined || data['flavor'] === null) {
    throw invalid(field, `${field}.flavor`, 'an object', data['flavor']);
  }
  const flavor = normalizeFlavor(data['flavor'], field, `${field}.flavor`);
  if (data['system_metadata'] === undefined || data['system_metadata'] === null) {
    data['system_metadata'] = {};
  }
  const systemMetadata = stringMap(data['system_metadata'], field, `${field}.system_metadata`);
  const id = optionalInt(data, 'id', field, field, null);
  const givenName = optionalString(data, 'name', field, field);
  const configDrive = data['config_drive'];
  if (
    configDrive !== undefined &&
    configDrive !== null &&
    typeof configDrive !== 'boolean' &&
    typeof configDrive !== 'string'
  ) {
    throw invalid(field, `${field}.config_drive`, 'a boolean, a string or null', configDrive);
  }
  return {
    uuid,
    // Nova's name is CONF.instance_name_template ('instance-%08x') of the database id.
    name:
      givenName ??
      (id !== null ? `instance-${id.toString(16).padStart(8, '0')}` : `instance-${uuid}`),
    id,
    flavor,
    image_ref: optionalString(data, 'image_ref', field, field),
    root_device_name: optionalString(data, 'root_device_name', field, field),
    root_gb: optionalInt(data, 'root_gb', field, field, null),
    ephemeral_gb: optionalInt(data, 'ephemeral_gb', field, field, null),
    config_drive: configDrive ?? null,
    system_metadata: systemMetadata,
    launched_at: optionalString(data, 'launched_at', field, field),
    vm_mode: optionalString(data, 'vm_mode', field, field),
    host: optionalString(data, 'host', field, field),
  };
}

function checkEnum(
  props: PyDict,
  key: string,
  allowed: string[],
  field: string,
  path: string,
): void {
  const value = props[key];
  if (
    value !== undefined &&
    value !== null &&
    (typeof value !== 'string' || !allowed.includes(value))
  ) {
    throw invalid(field, `${path}.${key}`, `one of ${allowed.join(', ')}`, value);
  }
}

/**
 * Reads image metadata (a Glance-style dict or an `ImageMeta` primitive with an
 * `ImageMetaProps` primitive in `properties`); null/undefined gives Nova's `from_dict(None)`.
 */
export function normalizeImageMeta(raw: unknown, field = 'image_meta'): ImageMeta {
  if (raw === null || raw === undefined) {
    return { properties: {} };
  }
  const data = unwrap(raw, field, field, 'ImageMeta');
  const rawProps = data['properties'];
  const props =
    rawProps === undefined || rawProps === null
      ? {}
      : { ...unwrap(rawProps, field, `${field}.properties`, 'ImageMetaProps') };
  for (const key of ['hw_disk_bus', 'hw_cdrom_bus', 'hw_floppy_bus', 'hw_rescue_bus']) {
    checkEnum(props, key, DISK_BUSES, field, `${field}.properties`);
  }
  checkEnum(props, 'hw_rescue_device', BLOCK_DEVICE_TYPES, field, `${field}.properties`);
  checkEnum(props, 'img_config_drive', CONFIG_DRIVE_POLICIES, field, `${field}.properties`);
  for (const key of ['hw_architecture', 'hw_machine_type', 'os_distro']) {
    const value = props[key];
    if (value !== undefined && value !== null && typeof value !== 'string') {
      throw invalid(field, `${field}.properties.${key}`, 'a string or null', value);
    }
  }
  const meta: ImageMeta = { properties: props };
  for (const key of ['id', 'name', 'disk_format', 'container_format'] as const) {
    if (key in data) {
      meta[key] = optionalString(data, key, field, field);
    }
  }
  for (const key of ['size', 'min_disk', 'min_ram'] as const) {
    if (key in data) {
      meta[key] = optionalInt(data, key, field, field, null);
    }
  }
  return meta;
}

function bdmList(value: unknown, field: string, path: string): DriverBdm[] | null | undefined {
  if (value === undefined || value === null) {
    return value;
  }
  if (!Array.isArray(value)) {
    throw invalid(field, path, 'a list of objects or null', value);
  }
  value.forEach((item, index) => {
    if (!isDict(item)) {
      throw invalid(field, `${path}[${index}]`, 'an object', item);
    }
  });
  return value as DriverBdm[];
}

/**
 * Checks a `block_device_info` and returns the same object (null/undefined gives a new `{}`),
 * so the BDM dicts blockinfo mutates are the caller's own.
 */
export function normalizeBlockDeviceInfo(
  raw: unknown,
  field = 'block_device_info',
): BlockDeviceInfo {
  if (raw === null || raw === undefined) {
    return {};
  }
  if (!isDict(raw)) {
    throw invalid(field, field, 'an object or null', raw);
  }
  const rootDeviceName = raw['root_device_name'];
  if (
    rootDeviceName !== undefined &&
    rootDeviceName !== null &&
    typeof rootDeviceName !== 'string'
  ) {
    throw invalid(field, `${field}.root_device_name`, 'a string or null', rootDeviceName);
  }
  bdmList(raw['image'], field, `${field}.image`);
  bdmList(raw['ephemerals'], field, `${field}.ephemerals`);
  bdmList(raw['block_device_mapping'], field, `${field}.block_device_mapping`);
  const swap = raw['swap'];
  if (swap !== undefined && swap !== null && !isDict(swap)) {
    throw invalid(field, `${field}.swap`, 'an object or null', swap);
  }
  return raw as BlockDeviceInfo;
}

/** The longest domain name libvirt's LXC driver can store, in bytes. */
export const DOMAIN_NAME_MAX = 247;

// Nova's instance uuids are uuidutils.generate_uuid(): lowercase, hyphenated.
const NOVA_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Checks what the driver turns into host paths and domain names: the uuid must be Nova's
 * UUID form (it names `<instances_path>/<uuid>`), and the name must be one libvirt accepts
 * (no `/`, no newline; nor a NUL, which no command line can carry).
 */
export function checkInstanceIdentity(inst: Instance, field = 'instance'): void {
  if (!NOVA_UUID.test(inst.uuid)) {
    throw new DriverError(
      'InvalidInput',
      `Failed to read ${field}: ${field}.uuid must be a UUID in Nova's form (8-4-4-4-12 lowercase hex digits), got ${JSON.stringify(inst.uuid)}`,
      {
        hint: 'Pass the instance as Nova stores it; its uuid names the instance directory.',
        details: { field: `${field}.uuid` },
      },
    );
  }
  // libvirt refuses an empty name, '/' and '\n' in it, and one too long for the file
  // /etc/libvirt/lxc/<name>.xml.new (NAME_MAX 255 bytes with the 8 of ".xml.new").
  if (
    inst.name === '' ||
    /[/\n\0]/.test(inst.name) ||
    new TextEncoder().encode(inst.name).length > DOMAIN_NAME_MAX
  ) {
    throw new DriverError(
      'InvalidInput',
      `Failed to read ${field}: ${field}.name must be a libvirt domain name (1 to ${DOMAIN_NAME_MAX} bytes, no '/', newline or NUL), got ${JSON.stringify(inst.name)}`,
      { details: { field: `${field}.name` } },
    );
  }
}

/**
 * Checks the volume BDMs the driver reads beyond blockinfo: device names are strings and
 * boot_index is a whole number, as Nova's BlockDeviceMapping fields coerce them.
 */
export function checkVolumeBdms(bdi: BlockDeviceInfo, field = 'block_device_info'): void {
  (bdi.block_device_mapping ?? []).forEach((bdm, index) => {
    const path = `${field}.block_device_mapping[${index}]`;
    for (const key of ['mount_device', 'device_name', 'disk_bus', 'device_type'] as const) {
      const value = bdm[key];
      if (value !== undefined && value !== null && typeof value !== 'string') {
        throw invalid(field, `${path}.${key}`, 'a string or null', value);
      }
    }
    const bootIndex = bdm.boot_index;
    if (bootIndex !== undefined && bootIndex !== null && wholeNumber(bootIndex) === undefined) {
      throw invalid(field, `${path}.boot_index`, 'a whole number or null', bootIndex);
    }
  });
}
