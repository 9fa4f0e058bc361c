/**
 * Port of Nova 26.2.2 (Zed) `nova/virt/libvirt/blockinfo.py`: which guest device (bus, name,
 * type, boot order) each disk of an instance gets. Pure: configuration and the host
 * architecture come in through a `BlockinfoContext`.
 *
 * Calling convention: helpers with at most three plain arguments are positional
 * (`getDiskBusForDiskDev(virtType, diskDev)`); the rest take one options object whose keys are
 * Nova's own snake_case argument names (`getDiskMapping({virt_type, instance, ...})`); every
 * function that reads config takes the context as its last argument. LXC has no special case:
 * it goes through the generic mapping exactly as in Nova.
 */
import {
  blockDeviceInfoGetEphemerals,
  blockDeviceInfoGetImage,
  blockDeviceInfoGetMapping,
  blockDeviceInfoGetRootDevice,
  blockDeviceInfoGetSwap,
  generateDeviceName,
  getRootBdm,
  prependDev,
  stripDev,
  volumeInMapping,
} from './block-device.js';
import {
  canonicalizeArch,
  configDriveFormat,
  diskPrefix,
  hostArch,
  hwMachineType,
  maxDiskDevicesToAttach,
  type BlockinfoContext,
} from './conf.js';
import { configDriveRequiredBy } from './configdrive.js';
import { isSavableDriverBdm, saveDriverBdm } from './driver-block-device.js';
import {
  ConfigDriveUnknownFormat,
  InternalError,
  PyAttributeError,
  PyKeyError,
  PyTypeError,
  PyValueError,
  TooManyDiskDevices,
  UnsupportedHardware,
  UnsupportedRescueBus,
  UnsupportedRescueDevice,
  UnsupportedVirtType,
} from './exceptions.js';
import {
  normalizeBlockDeviceInfo,
  normalizeImageMeta,
  type BlockDeviceInfo,
  type DriverBdm,
  type ImageMeta,
  type ImageMetaProps,
} from './model.js';
import { dictGet, isDict, or, pyGe, pyGt, pyStr, pyStrPlusOne, truthy, type PyDict } from './py.js';

/** One guest disk: bus, device name (None for lxc), type, and optional format/boot index. */
export interface DiskInfo {
  bus: string | null;
  dev: string | null;
  type: string;
  format?: string;
  /** A string, as Nova stores it ('1' is the first boot device). */
  boot_index?: string;
  encrypted?: unknown;
  encryption_secret_uuid?: unknown;
  encryption_format?: unknown;
  encryption_options?: unknown;
}

/** The disk mapping, in Nova's insertion order; the key is null for an unnamed lxc volume. */
export type DiskMapping = Map<string | null, DiskInfo>;

/** A mapping as a Map or as a plain dict (as the cases and Nova's tests write them). */
export type MappingLike = DiskMapping | Record<string, DiskInfo>;

/** `get_disk_info`'s result. */
export interface DiskInfoResult {
  disk_bus: string | null;
  cdrom_bus: string | null;
  mapping: DiskMapping;
}

/** The instance fields blockinfo reads (a normalized Instance, a plain dict or a primitive). */
export interface BlockinfoInstance {
  ephemeral_gb?: unknown;
  flavor?: unknown;
  config_drive?: unknown;
  launched_at?: unknown;
  system_metadata?: unknown;
  root_device_name?: unknown;
}

const PLAIN_DICT = Symbol.for('nova-lxc.plainDictImageMeta');

/** Image metadata given as a raw Python dict rather than an ImageMeta object (see `plainDictImageMeta`). */
export interface PlainDictImageMeta {
  readonly [PLAIN_DICT]: PyDict;
}

/** What blockinfo accepts as image metadata: ImageMeta (or its dict/primitive form), null, or a raw dict. */
export type ImageMetaInput = ImageMeta | PyDict | PlainDictImageMeta | null | undefined;

/**
 * Marks image metadata as a raw Python dict (not an ImageMeta): Nova's own tests pass `{}` in
 * places, which works only as long as nothing reads `.properties` (AttributeError otherwise).
 */
export function plainDictImageMeta(raw: PyDict): PlainDictImageMeta {
  return { [PLAIN_DICT]: raw };
}

/** Bus names per virt type (`SUPPORTED_DEVICE_BUSES`); xen and uml kept to reject their buses. */
export const SUPPORTED_DEVICE_BUSES: Readonly<Record<string, readonly string[]>> = {
  qemu: ['virtio', 'scsi', 'ide', 'usb', 'fdc', 'sata'],
  kvm: ['virtio', 'scsi', 'ide', 'usb', 'fdc', 'sata'],
  lxc: ['lxc'],
  parallels: ['ide', 'scsi'],
  xen: ['xen', 'ide'],
  uml: ['uml'],
};

/** Device types a BDM may ask for; anything else becomes 'disk'. */
export const SUPPORTED_DEVICE_TYPES: readonly string[] = ['disk', 'cdrom', 'floppy', 'lun'];

/** Libvirt `<boot dev=…>` per device type (Zed: no 'lun', HEAD adds it). */
export const BOOT_DEV_FOR_TYPE: Readonly<Record<string, string>> = {
  disk: 'hd',
  cdrom: 'cdrom',
  floppy: 'fd',
};

// ImageMetaProps.get() raises AttributeError for a name that is not a field; the only
// dynamic names blockinfo builds are hw_<device_type>_bus.
const KNOWN_BUS_PROPS = ['hw_disk_bus', 'hw_cdrom_bus', 'hw_floppy_bus', 'hw_rescue_bus'];
const SCSI_CDROM_ARCHES = ['ppc', 'ppc64', 'ppcle', 'ppc64le', 's390', 's390x', 'aarch64'];
const DEFAULT_MACHINE_TYPES: Record<string, string> = {
  armv7l: 'virt',
  aarch64: 'virt',
  s390: 's390-ccw-virtio',
  s390x: 's390-ccw-virtio',
  i686: 'pc',
  x86_64: 'pc',
};

type ResolvedImage =
  { kind: 'meta'; meta: ImageMeta } | { kind: 'dict'; raw: PyDict } | { kind: 'none' };

function resolveImage(input: ImageMetaInput): ResolvedImage {
  if (input === null || input === undefined) {
    return { kind: 'none' };
  }
  if (PLAIN_DICT in input) {
    return { kind: 'dict', raw: (input as PlainDictImageMeta)[PLAIN_DICT] };
  }
  return { kind: 'meta', meta: normalizeImageMeta(input) };
}

function attributeOwner(image: ResolvedImage): string {
  return image.kind === 'none' ? 'NoneType' : 'dict';
}

/** `image_meta.properties`, raising AttributeError like Python for None or a raw dict. */
function imageProps(image: ResolvedImage): ImageMetaProps {
  if (image.kind !== 'meta') {
    throw new PyAttributeError(attributeOwner(image), 'properties');
  }
  return image.meta.properties;
}

/** `ImageMetaProps.get(name, default)`. */
function propsGet(props: ImageMetaProps, name: string, defaultValue: unknown = null): unknown {
  if (/^hw_.*_bus$/.test(name) && !KNOWN_BUS_PROPS.includes(name)) {
    throw new PyAttributeError('ImageMetaProps', name);
  }
  return dictGet(props, name, defaultValue);
}

/** Python `mapping[key]['dev']` over every entry, for a Map or a dict. */
function mappingValues(mapping: MappingLike | null | undefined): DiskInfo[] {
  if (!mapping) {
    return [];
  }
  return mapping instanceof Map ? [...mapping.values()] : Object.values(mapping);
}

function infoDev(info: DiskInfo): unknown {
  if (!isDict(info) || !('dev' in info)) {
    throw new PyKeyError('dev');
  }
  return info.dev;
}

/** `has_disk_dev`: whether any entry of the mapping already uses `diskDev`. */
export function hasDiskDev(mapping: MappingLike | null | undefined, diskDev: string): boolean {
  return mappingValues(mapping).some((info) => infoDev(info) === diskDev);
}

/** `get_dev_prefix_for_disk_bus`: `[libvirt]disk_prefix` wins for every bus; lxc has none. */
export function getDevPrefixForDiskBus(
  diskBus: string | null,
  ctx: BlockinfoContext = {},
): string | null {
  const prefix = diskPrefix(ctx);
  if (prefix !== null && truthy(prefix)) {
    return prefix;
  }
  switch (diskBus) {
    case 'ide':
      return 'hd';
    case 'virtio':
      return 'vd';
    case 'scsi':
    case 'usb':
    case 'sata':
      return 'sd';
    case 'fdc':
      return 'fd';
    case 'lxc':
      return null;
    default:
      throw new InternalError(`Unable to determine disk prefix for ${pyStr(diskBus)}`);
  }
}

/** `get_dev_count_for_disk_bus`: 4 for ide, else `[compute]max_disk_devices_to_attach` (null = unlimited). */
export function getDevCountForDiskBus(
  diskBus: string | null,
  ctx: BlockinfoContext = {},
): number | null {
  if (diskBus === 'ide') {
    return 4;
  }
  const max = maxDiskDevicesToAttach(ctx);
  return max < 0 ? null : max;
}

/**
 * `find_disk_dev_for_disk_bus`: the first free `<prefix><letter>` on the bus, null for a bus
 * without prefix (lxc), TooManyDiskDevices past the bus's limit.
 */
export function findDiskDevForDiskBus(
  mapping: MappingLike | null | undefined,
  bus: string | null,
  assignedDevices: readonly unknown[] | null = null,
  ctx: BlockinfoContext = {},
): string | null {
  const prefix = getDevPrefixForDiskBus(bus, ctx);
  if (prefix === null) {
    return null;
  }
  const assigned = assignedDevices ?? [];
  const maxDev = getDevCountForDiskBus(bus, ctx);
  for (let idx = 0; ; idx++) {
    if (maxDev !== null && idx >= maxDev) {
      throw new TooManyDiskDevices(maxDev);
    }
    const dev = generateDeviceName(prefix, idx);
    if (!hasDiskDev(mapping, dev) && !assigned.includes(dev)) {
      return dev;
    }
  }
}

/** `is_disk_bus_valid_for_virt`: UnsupportedVirtType for a virt type without a bus table. */
export function isDiskBusValidForVirt(virtType: string, diskBus: unknown): boolean {
  const buses = Object.prototype.hasOwnProperty.call(SUPPORTED_DEVICE_BUSES, virtType)
    ? SUPPORTED_DEVICE_BUSES[virtType]
    : undefined;
  if (buses === undefined) {
    throw new UnsupportedVirtType(virtType);
  }
  return typeof diskBus === 'string' && buses.includes(diskBus);
}

/** `libvirt_utils.get_arch`: the image's `hw_architecture`, else the host's. */
function getArch(image: ResolvedImage, ctx: BlockinfoContext): string {
  // `if image_meta:` — an ImageMeta object is always true, None and {} are not.
  const isTrue = image.kind === 'meta' || (image.kind === 'dict' && truthy(image.raw));
  if (isTrue) {
    const arch = propsGet(imageProps(image), 'hw_architecture');
    if (arch !== null && arch !== undefined) {
      return canonicalizeArch(String(arch));
    }
  }
  return hostArch(ctx);
}

/** `libvirt_utils.get_machine_type`: image `hw_machine_type`, else config, else the arch default. */
function getMachineType(image: ResolvedImage, ctx: BlockinfoContext): string | null {
  const machineType = propsGet(imageProps(image), 'hw_machine_type');
  if (machineType !== null && machineType !== undefined) {
    return String(machineType);
  }
  const arch = getArch(image, ctx);
  for (const entry of hwMachineType(ctx)) {
    const eq = entry.indexOf('=');
    // Nova skips (with a warning) an entry without '=' or with nothing after it.
    if (eq >= 0 && entry.slice(eq + 1) !== '' && entry.slice(0, eq) === arch) {
      return entry.slice(eq + 1);
    }
  }
  return DEFAULT_MACHINE_TYPES[arch] ?? null;
}

/**
 * `get_disk_bus_for_device_type`: the image's `hw_<type>_bus` (disk: osinfo's disk model,
 * which without libosinfo is `hw_disk_bus`), validated for the virt type, else the virt
 * type's default (lxc: always 'lxc').
 */
export function getDiskBusForDeviceType(
  args: {
    instance?: BlockinfoInstance | null;
    virt_type: string;
    image_meta: ImageMetaInput;
    device_type?: string;
  },
  ctx: BlockinfoContext = {},
): string | null {
  const virtType = args.virt_type;
  const deviceType = args.device_type ?? 'disk';
  const image = resolveImage(args.image_meta);
  const props = imageProps(image);
  const key = deviceType === 'disk' ? 'hw_disk_bus' : `hw_${deviceType}_bus`;
  const diskBus = propsGet(props, key);
  if (diskBus !== null && diskBus !== undefined) {
    if (!isDiskBusValidForVirt(virtType, diskBus)) {
      throw new UnsupportedHardware(String(diskBus), virtType);
    }
    return String(diskBus);
  }
  if (virtType === 'lxc') {
    return 'lxc';
  }
  if (virtType === 'qemu' || virtType === 'kvm') {
    if (deviceType === 'cdrom') {
      if (SCSI_CDROM_ARCHES.includes(getArch(image, ctx))) {
        return 'scsi';
      }
      // Q35 has no IDE bus, and every QEMU release ships its own q35 machine type name.
      const machineType = getMachineType(image, ctx);
      return machineType !== null && machineType.includes('q35') ? 'sata' : 'ide';
    }
    if (deviceType === 'disk') {
      return 'virtio';
    }
    if (deviceType === 'floppy') {
      return 'fdc';
    }
    return null;
  }
  if (virtType === 'parallels') {
    if (deviceType === 'cdrom') {
      return 'ide';
    }
    if (deviceType === 'disk') {
      return 'scsi';
    }
    return null;
  }
  throw new UnsupportedVirtType(virtType);
}

/** `get_disk_bus_for_disk_dev`: bus from the name prefix (hd ide, sd scsi, vd virtio, fd fdc). */
export function getDiskBusForDiskDev(_virtType: string, diskDev: string): string {
  if (diskDev.startsWith('hd')) {
    return 'ide';
  }
  if (diskDev.startsWith('sd')) {
    // Nova quirk: 'sd' could be scsi, sata or usb; Nova always answers scsi.
    return 'scsi';
  }
  if (diskDev.startsWith('vd')) {
    return 'virtio';
  }
  if (diskDev.startsWith('fd')) {
    return 'fdc';
  }
  throw new InternalError(`Unable to determine disk bus for '${diskDev.slice(0, 1)}'`);
}

/** `get_next_disk_info`: the next free device on `disk_bus`, with `boot_index` when >= 0. */
export function getNextDiskInfo(
  args: {
    mapping: MappingLike | null | undefined;
    disk_bus: string | null;
    device_type?: string;
    boot_index?: number | null;
    assigned_devices?: readonly unknown[] | null;
  },
  ctx: BlockinfoContext = {},
): DiskInfo {
  const dev = findDiskDevForDiskBus(
    args.mapping,
    args.disk_bus,
    args.assigned_devices ?? null,
    ctx,
  );
  const info: DiskInfo = { bus: args.disk_bus, dev, type: args.device_type ?? 'disk' };
  const bootIndex = args.boot_index ?? null;
  if (bootIndex !== null && pyGe(bootIndex, 0)) {
    info.boot_index = pyStr(bootIndex);
  }
  return info;
}

/** `get_eph_disk`: the mapping key of the idx-th ephemeral. */
export function getEphDisk(index: number): string {
  return `disk.eph${index}`;
}

/** `get_config_drive_type`: 'cdrom' for iso9660, 'disk' for vfat, else ConfigDriveUnknownFormat. */
export function getConfigDriveType(ctx: BlockinfoContext = {}): 'cdrom' | 'disk' {
  const format = configDriveFormat(ctx);
  if (format === 'iso9660') {
    return 'cdrom';
  }
  if (format === 'vfat') {
    return 'disk';
  }
  throw new ConfigDriveUnknownFormat(format);
}

/** `get_device_name`: a BDM's `device_name`, or else its `mount_device` (Python `or`). */
export function getDeviceName(bdm: DriverBdm): string | null {
  return or(dictGet(bdm, 'device_name'), dictGet(bdm, 'mount_device')) as string | null;
}

/**
 * `get_info_from_bdm`: the disk info of one BDM. A bus not valid for the virt type is
 * re-derived from the device name (or from the device type when unnamed); an unnamed BDM
 * gets the next free name, avoiding `mapping` and `assigned_devices`.
 */
export function getInfoFromBdm(
  args: {
    instance?: BlockinfoInstance | null;
    virt_type: string;
    image_meta: ImageMetaInput;
    bdm: DriverBdm;
    mapping?: MappingLike | null;
    disk_bus?: string | null;
    dev_type?: string | null;
    allowed_types?: readonly string[] | null;
    assigned_devices?: readonly unknown[] | null;
  },
  ctx: BlockinfoContext = {},
): DiskInfo {
  const { bdm, virt_type: virtType } = args;
  const mapping = args.mapping ?? new Map<string | null, DiskInfo>();
  const allowedTypes =
    args.allowed_types && args.allowed_types.length > 0
      ? args.allowed_types
      : SUPPORTED_DEVICE_TYPES;
  let deviceName = stripDev(getDeviceName(bdm));

  let bdmType = or(dictGet(bdm, 'device_type'), args.dev_type ?? null) as unknown;
  if (typeof bdmType !== 'string' || !allowedTypes.includes(bdmType)) {
    bdmType = 'disk';
  }
  const type = bdmType as string;

  let bus = or(dictGet(bdm, 'disk_bus'), args.disk_bus ?? null) as string | null;
  if (!isDiskBusValidForVirt(virtType, bus)) {
    bus = truthy(deviceName)
      ? getDiskBusForDiskDev(virtType, String(deviceName))
      : getDiskBusForDeviceType(
          {
            instance: args.instance,
            virt_type: virtType,
            image_meta: args.image_meta,
            device_type: type,
          },
          ctx,
        );
  }

  if (!truthy(deviceName)) {
    const assigned = args.assigned_devices ?? [];
    // Nova pads the mapping with {dev: {'dev': dev}} for each assigned device.
    const padded: DiskInfo[] = [
      ...assigned.map((dev) => ({ dev: dev as string | null, bus: null, type: 'disk' })),
      ...mappingValues(mapping),
    ];
    deviceName = findDiskDevForDiskBus(
      new Map(padded.map((info, i) => [String(i), info])),
      bus,
      null,
      ctx,
    );
  }

  const info: DiskInfo = { bus, dev: deviceName, type };
  const format = dictGet(bdm, 'guest_format');
  if (truthy(format)) {
    info.format = format as string;
  }
  const bootIndex = dictGet(bdm, 'boot_index');
  if (bootIndex !== null && bootIndex !== undefined && pyGe(bootIndex, 0)) {
    // libvirt counts boot order from 1, Nova's boot_index from 0.
    info.boot_index = pyStrPlusOne(bootIndex);
  }
  if (truthy(dictGet(bdm, 'encrypted'))) {
    info.encrypted = dictGet(bdm, 'encrypted');
    info.encryption_secret_uuid = dictGet(bdm, 'encryption_secret_uuid');
    info.encryption_format = dictGet(bdm, 'encryption_format');
    const options = dictGet(bdm, 'encryption_options');
    if (truthy(options)) {
      info.encryption_options = parseJson(options);
    }
  }
  return info;
}

function parseJson(value: unknown): unknown {
  if (typeof value !== 'string') {
    throw new PyTypeError(
      `the JSON object must be str, bytes or bytearray, not ${typeof value === 'object' ? 'dict' : typeof value}`,
    );
  }
  try {
    return JSON.parse(value) as unknown;
  } catch (error) {
    throw new PyValueError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * `get_root_info`: the root disk. Without a root BDM (or with an image→local one in API
 * format): the image's disk (cdrom bus/type for an `iso` image) on `root_device_name` or the
 * first free name. With a root BDM: its info, named `root_device_name` when it has no name.
 * Zed ignores the image's disk_format when there is a root BDM.
 */
export function getRootInfo(
  args: {
    instance?: BlockinfoInstance | null;
    virt_type: string;
    image_meta: ImageMetaInput;
    root_bdm: DriverBdm | null | undefined;
    disk_bus: string | null;
    cdrom_bus: string | null;
    root_device_name?: string | null;
  },
  ctx: BlockinfoContext = {},
): DiskInfo {
  const rootBdm = args.root_bdm;
  let rootDeviceName = args.root_device_name ?? null;
  const noRootBdm =
    !truthy(rootBdm) ||
    (dictGet(rootBdm as DriverBdm, 'source_type') === 'image' &&
      dictGet(rootBdm as DriverBdm, 'destination_type') === 'local');
  if (noRootBdm) {
    const image = resolveImage(args.image_meta);
    if (image.kind !== 'meta') {
      throw new PyAttributeError(attributeOwner(image), 'obj_attr_is_set');
    }
    // An ImageMeta built from {} (evacuate) has no disk_format at all.
    const iso = image.meta.disk_format !== undefined && image.meta.disk_format === 'iso';
    const bus = iso ? args.cdrom_bus : args.disk_bus;
    const type = iso ? 'cdrom' : 'disk';
    if (!truthy(rootDeviceName)) {
      rootDeviceName = findDiskDevForDiskBus(new Map(), bus, null, ctx);
    }
    return { bus, type, dev: stripDev(rootDeviceName), boot_index: '1' };
  }
  let bdm = rootBdm as DriverBdm;
  if (!truthy(getDeviceName(bdm)) && truthy(rootDeviceName)) {
    // Nova works on a shallow copy here: the caller's BDM is named later by update_bdm.
    bdm = { ...bdm, device_name: rootDeviceName };
  }
  return getInfoFromBdm(
    {
      instance: args.instance,
      virt_type: args.virt_type,
      image_meta: args.image_meta,
      bdm,
      mapping: new Map(),
      disk_bus: args.disk_bus,
    },
    ctx,
  );
}

/**
 * `update_bdm`: writes the chosen name, bus and type into the caller's BDM. The name goes to
 * `device_name` if that key exists, else to `mount_device`, and only when it had none.
 */
export function updateBdm(bdm: DriverBdm, info: DiskInfo): void {
  const nameField = Object.prototype.hasOwnProperty.call(bdm, 'device_name')
    ? 'device_name'
    : 'mount_device';
  const name = or(dictGet(bdm, nameField), prependDev(info.dev));
  bdm[nameField] = name as string | null;
  bdm.disk_bus = info.bus;
  bdm.device_type = info.type;
}

function flavorSwap(instance: BlockinfoInstance): unknown {
  const flavor = unwrapPrimitive(instance.flavor);
  if (!isDict(flavor)) {
    throw new PyTypeError(`'NoneType' object is not subscriptable`);
  }
  if (!('swap' in flavor)) {
    throw new PyKeyError('swap');
  }
  return flavor['swap'];
}

function unwrapPrimitive(value: unknown): unknown {
  return isDict(value) && isDict(value['nova_object.data']) ? value['nova_object.data'] : value;
}

function readInstance(instance: BlockinfoInstance | null | undefined): BlockinfoInstance {
  const data = unwrapPrimitive(instance);
  if (!isDict(data)) {
    throw new PyAttributeError('NoneType', 'ephemeral_gb');
  }
  return data as BlockinfoInstance;
}

/** `get_default_ephemeral_info`: `disk.local` when `instance.ephemeral_gb` > 0 and no BDM ephemerals. */
export function getDefaultEphemeralInfo(
  instance: BlockinfoInstance,
  diskBus: string | null,
  blockDeviceInfo: BlockDeviceInfo | null | undefined,
  mapping: MappingLike,
  ctx: BlockinfoContext = {},
): DiskInfo | null {
  const ephemerals = blockDeviceInfoGetEphemerals(blockDeviceInfo);
  const ephemeralGb = readInstance(instance).ephemeral_gb;
  if (!truthy(ephemeralGb) || !pyGt(ephemeralGb, 0) || truthy(ephemerals)) {
    return null;
  }
  const info = getNextDiskInfo({ mapping, disk_bus: diskBus }, ctx);
  if (volumeInMapping(info.dev, blockDeviceInfo)) {
    return null;
  }
  return info;
}

/** `get_rescue_device`: `hw_rescue_device` of the rescue image (default 'disk'), validated. */
export function getRescueDevice(rescueImageMeta: ImageMetaInput): string {
  const device = propsGet(imageProps(resolveImage(rescueImageMeta)), 'hw_rescue_device', 'disk');
  if (typeof device !== 'string' || !SUPPORTED_DEVICE_TYPES.includes(device)) {
    throw new UnsupportedRescueDevice(pyStr(device));
  }
  return device;
}

/** `get_rescue_bus`: `hw_rescue_bus` of the rescue image if valid, else the device type's bus. */
export function getRescueBus(
  instance: BlockinfoInstance | null | undefined,
  virtType: string,
  rescueImageMeta: ImageMetaInput,
  rescueDevice: string,
  ctx: BlockinfoContext = {},
): string | null {
  const bus = propsGet(imageProps(resolveImage(rescueImageMeta)), 'hw_rescue_bus');
  if (bus !== null && bus !== undefined) {
    if (isDiskBusValidForVirt(virtType, bus)) {
      return String(bus);
    }
    throw new UnsupportedRescueBus(String(bus), virtType);
  }
  return getDiskBusForDeviceType(
    { instance, virt_type: virtType, image_meta: rescueImageMeta, device_type: rescueDevice },
    ctx,
  );
}

interface MappingArgs {
  virt_type: string;
  instance: BlockinfoInstance;
  disk_bus: string | null;
  cdrom_bus: string | null;
  image_meta: ImageMetaInput;
  block_device_info?: BlockDeviceInfo | null;
}

function addConfigDrive(
  mapping: DiskMapping,
  key: string,
  args: MappingArgs,
  ctx: BlockinfoContext,
): void {
  if (!configDriveRequiredBy(readInstance(args.instance), ctx)) {
    return;
  }
  const deviceType = getConfigDriveType(ctx);
  const bus = getDiskBusForDeviceType(
    {
      instance: args.instance,
      virt_type: args.virt_type,
      image_meta: args.image_meta,
      device_type: deviceType,
    },
    ctx,
  );
  mapping.set(key, getNextDiskInfo({ mapping, disk_bus: bus, device_type: deviceType }, ctx));
}

/** `_get_disk_mapping`: the non-rescue mapping, in Nova's order. */
function buildDiskMapping(args: MappingArgs, ctx: BlockinfoContext): DiskMapping {
  const { virt_type: virtType, instance, image_meta: imageMeta, disk_bus: diskBus } = args;
  const bdi = args.block_device_info ?? null;
  const mapping: DiskMapping = new Map();
  const images = blockDeviceInfoGetImage(bdi);
  const ephemerals = blockDeviceInfoGetEphemerals(bdi);
  const volumes = blockDeviceInfoGetMapping(bdi);

  const preAssigned = [...images, ...ephemerals, blockDeviceInfoGetSwap(bdi), ...volumes]
    .filter((bdm) => truthy(getDeviceName(bdm)))
    .map((bdm) => stripDev(getDeviceName(bdm)));

  // The root is the first image BDM if any (Python any(): at least one non-empty dict),
  // else the boot_index 0 volume, else none (image fallback).
  let rootBdm: DriverBdm | null = null;
  if (images.some((bdm) => truthy(bdm))) {
    rootBdm = images[0] ?? null;
  } else if (truthy(volumes)) {
    rootBdm = getRootBdm(volumes);
  }
  const rootInfo = getRootInfo(
    {
      instance,
      virt_type: virtType,
      image_meta: imageMeta,
      root_bdm: rootBdm,
      disk_bus: diskBus,
      cdrom_bus: args.cdrom_bus,
      root_device_name: stripDev(blockDeviceInfoGetRootDevice(bdi)),
    },
    ctx,
  );
  mapping.set('root', rootInfo);
  // Name the root BDM now so the volume loop below does not pick a second name for it.
  if (truthy(rootBdm)) {
    updateBdm(rootBdm as DriverBdm, rootInfo);
  }
  if (truthy(images) || rootBdm === null) {
    mapping.set('disk', rootInfo);
  }

  const defaultEph = getDefaultEphemeralInfo(instance, diskBus, bdi, mapping, ctx);
  if (defaultEph) {
    mapping.set('disk.local', defaultEph);
  }

  ephemerals.forEach((eph, idx) => {
    const info = getInfoFromBdm(
      {
        instance,
        virt_type: virtType,
        image_meta: imageMeta,
        bdm: eph,
        mapping,
        disk_bus: diskBus,
        assigned_devices: preAssigned,
      },
      ctx,
    );
    mapping.set(getEphDisk(idx), info);
    updateBdm(eph, info);
  });

  const swap = blockDeviceInfoGetSwap(bdi);
  if (truthy(swap) && pyGt(dictGet(swap, 'swap_size', 0), 0)) {
    const info = getInfoFromBdm(
      {
        instance,
        virt_type: virtType,
        image_meta: imageMeta,
        bdm: swap,
        mapping,
        disk_bus: diskBus,
      },
      ctx,
    );
    mapping.set('disk.swap', info);
    updateBdm(swap, info);
  } else if (pyGt(flavorSwap(readInstance(instance)), 0)) {
    const info = getNextDiskInfo(
      { mapping, disk_bus: diskBus, assigned_devices: preAssigned },
      ctx,
    );
    // Nova quirk: an unnamed volume (None) makes an unnamed (lxc) swap look taken.
    if (!volumeInMapping(info.dev, bdi)) {
      mapping.set('disk.swap', info);
    }
  }

  for (const bdm of volumes) {
    // No disk_bus here: a volume's bus comes from the BDM or from its name.
    const info = getInfoFromBdm(
      {
        instance,
        virt_type: virtType,
        image_meta: imageMeta,
        bdm,
        mapping,
        assigned_devices: preAssigned,
      },
      ctx,
    );
    // Nova quirk: unnamed lxc volumes all land on the key None, the last one wins.
    mapping.set(prependDev(info.dev), info);
    updateBdm(bdm, info);
  }

  addConfigDrive(mapping, 'disk.config', args, ctx);
  return mapping;
}

/**
 * `get_disk_mapping`: the guest disk mapping of an instance. Writes the chosen names, buses
 * and types into the BDM dicts of `block_device_info` (as Nova does).
 */
export function getDiskMapping(
  args: MappingArgs & { rescue?: boolean; rescue_image_meta?: ImageMetaInput },
  ctx: BlockinfoContext = {},
): DiskMapping {
  if (args.block_device_info !== null && args.block_device_info !== undefined) {
    normalizeBlockDeviceInfo(args.block_device_info);
  }
  const rescueImageMeta = args.rescue_image_meta ?? null;
  if (truthy(args.rescue) && rescueImageMeta === null) {
    // Legacy rescue: the rescue image is the root, the original disk comes second.
    const mapping: DiskMapping = new Map();
    const rescueInfo = getNextDiskInfo({ mapping, disk_bus: args.disk_bus, boot_index: 1 }, ctx);
    mapping.set('disk.rescue', rescueInfo);
    mapping.set('root', rescueInfo);
    mapping.set('disk', getNextDiskInfo({ mapping, disk_bus: args.disk_bus }, ctx));
    addConfigDrive(mapping, 'disk.config.rescue', args, ctx);
    return mapping;
  }
  const mapping = buildDiskMapping(args, ctx);
  if (truthy(args.rescue) && rescueImageMeta !== null) {
    // Stable device rescue: everything stays, the rescue disk is appended.
    const device = getRescueDevice(rescueImageMeta);
    const bus = getRescueBus(args.instance, args.virt_type, rescueImageMeta, device, ctx);
    mapping.set(
      'disk.rescue',
      getNextDiskInfo({ mapping, disk_bus: bus, device_type: device }, ctx),
    );
  }
  return mapping;
}

/** `get_disk_info`: the image's disk and cdrom buses (both always computed) plus the mapping. */
export function getDiskInfo(
  args: {
    virt_type: string;
    instance: BlockinfoInstance;
    image_meta: ImageMetaInput;
    block_device_info?: BlockDeviceInfo | null;
    rescue?: boolean;
    rescue_image_meta?: ImageMetaInput;
  },
  ctx: BlockinfoContext = {},
): DiskInfoResult {
  const common = {
    instance: args.instance,
    virt_type: args.virt_type,
    image_meta: args.image_meta,
  };
  const diskBus = getDiskBusForDeviceType({ ...common, device_type: 'disk' }, ctx);
  const cdromBus = getDiskBusForDeviceType({ ...common, device_type: 'cdrom' }, ctx);
  const mapping = getDiskMapping({ ...args, disk_bus: diskBus, cdrom_bus: cdromBus }, ctx);
  return { disk_bus: diskBus, cdrom_bus: cdromBus, mapping };
}

function item(dict: PyDict, key: string): unknown {
  if (!Object.prototype.hasOwnProperty.call(dict, key)) {
    throw new PyKeyError(key);
  }
  return dict[key];
}

/**
 * `default_device_names`: runs `get_disk_info` (which names the BDMs) and `save()`s every
 * driver BDM (image, ephemerals, swap, volumes) so the names reach the BDM objects.
 */
export function defaultDeviceNames(
  args: {
    virt_type: string;
    instance: BlockinfoInstance;
    block_device_info: BlockDeviceInfo;
    image_meta: ImageMetaInput;
  },
  ctx: BlockinfoContext = {},
): void {
  getDiskInfo(args, ctx);
  const bdi = args.block_device_info as PyDict;
  const swap = item(bdi, 'swap');
  const all = [
    ...(item(bdi, 'image') as DriverBdm[]),
    ...(item(bdi, 'ephemerals') as DriverBdm[]),
    ...(truthy(swap) ? [swap as DriverBdm] : []),
    ...(item(bdi, 'block_device_mapping') as DriverBdm[]),
  ];
  for (const bdm of all) {
    if (!isSavableDriverBdm(bdm)) {
      throw new PyAttributeError('dict', 'save');
    }
    saveDriverBdm(bdm);
  }
}

/**
 * `get_boot_order`: libvirt boot devices of the non-root entries with a boot index, ordered by
 * that index as a string (Nova quirk: '10' sorts before '2'), without duplicates.
 */
export function getBootOrder(diskInfo: { mapping: MappingLike }): string[] {
  const entries: [string | null, DiskInfo][] =
    diskInfo.mapping instanceof Map
      ? [...diskInfo.mapping.entries()]
      : Object.entries(diskInfo.mapping);
  const withBoot = entries
    .filter(
      ([name, info]) =>
        name !== 'root' && info.boot_index !== undefined && info.boot_index !== null,
    )
    .map(([, info]) => info);
  // Array.prototype.sort is stable, like Python's sorted().
  withBoot.sort((a, b) => {
    const x = a.boot_index as string;
    const y = b.boot_index as string;
    return x < y ? -1 : x > y ? 1 : 0;
  });
  const order: string[] = [];
  for (const info of withBoot) {
    if (!Object.prototype.hasOwnProperty.call(BOOT_DEV_FOR_TYPE, info.type)) {
      throw new PyKeyError(info.type);
    }
    const dev = BOOT_DEV_FOR_TYPE[info.type] as string;
    if (!order.includes(dev)) {
      order.push(dev);
    }
  }
  return order;
}

/** The mapping as a JSON object (a None key becomes "null", as Python's json does). */
export function mappingToJson(mapping: MappingLike): Record<string, DiskInfo> {
  if (!(mapping instanceof Map)) {
    return mapping;
  }
  const out: Record<string, DiskInfo> = {};
  for (const [key, info] of mapping) {
    out[key === null ? 'null' : key] = info;
  }
  return out;
}

/** The mapping's keys in order (null for None). */
export function mappingKeys(mapping: MappingLike): (string | null)[] {
  return mapping instanceof Map ? [...mapping.keys()] : Object.keys(mapping);
}

export { getRootBdm, stripDev, prependDev, volumeInMapping } from './block-device.js';
export { getBdmsToConnect } from './block-device.js';
