/**
 * The Nova configuration options the blockinfo path reads, passed in explicitly (the driver
 * core reads no config files), with oslo.config's defaults.
 */

/** The options by group, as in nova.conf; every key is optional and defaults as in Nova. */
export interface NovaConf {
  DEFAULT?: {
    /** `[DEFAULT]force_config_drive` (default False). */
    force_config_drive?: boolean;
    /** `[DEFAULT]config_drive_format` (default `iso9660`). */
    config_drive_format?: string;
  };
  libvirt?: {
    /** `[libvirt]disk_prefix` (default unset): overrides every bus's prefix, lxc included. */
    disk_prefix?: string | null;
    /** `[libvirt]hw_machine_type`: `arch=machine` entries. */
    hw_machine_type?: string[] | null;
  };
  compute?: {
    /** `[compute]max_disk_devices_to_attach` (default -1 = unlimited). */
    max_disk_devices_to_attach?: number;
  };
}

/** What blockinfo needs from its surroundings: config and the host architecture. */
export interface BlockinfoContext {
  conf?: NovaConf;
  /** `os.uname().machine` of the compute host; defaults to `x86_64` (no IO here). */
  host_arch?: string;
}

/** `[DEFAULT]force_config_drive`. */
export function forceConfigDrive(ctx: BlockinfoContext = {}): boolean {
  return ctx.conf?.DEFAULT?.force_config_drive ?? false;
}

/** `[DEFAULT]config_drive_format`. */
export function configDriveFormat(ctx: BlockinfoContext = {}): string {
  return ctx.conf?.DEFAULT?.config_drive_format ?? 'iso9660';
}

/** `[libvirt]disk_prefix` (null when unset). */
export function diskPrefix(ctx: BlockinfoContext = {}): string | null {
  return ctx.conf?.libvirt?.disk_prefix ?? null;
}

/** `[libvirt]hw_machine_type` entries. */
export function hwMachineType(ctx: BlockinfoContext = {}): string[] {
  return ctx.conf?.libvirt?.hw_machine_type ?? [];
}

/** `[compute]max_disk_devices_to_attach`. */
export function maxDiskDevicesToAttach(ctx: BlockinfoContext = {}): number {
  return ctx.conf?.compute?.max_disk_devices_to_attach ?? -1;
}

/** Nova's `Architecture.canonicalize`: lower case, i?86/x86_32 → i686, amd64 → x86_64. */
export function canonicalizeArch(name: string): string {
  const lower = name.toLowerCase();
  if (['i386', 'i486', 'i586', 'x86_32', 'x86_32p'].includes(lower)) {
    return 'i686';
  }
  if (lower === 'amd64') {
    return 'x86_64';
  }
  return lower;
}

/** `Architecture.from_host()` with the host architecture supplied by the caller. */
export function hostArch(ctx: BlockinfoContext = {}): string {
  return canonicalizeArch(ctx.host_arch ?? 'x86_64');
}
