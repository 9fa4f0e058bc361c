/**
 * The catalogue of external commands: one pure function per command, building argv only.
 * Columns and flags checked against util-linux 2.38.1, libvirt 9.0 and qemu-utils 7.2 (Debian 12).
 */

/** Options of `losetup --find --show`. */
export interface LosetupAttachArgs {
  offset?: number;
  sizeLimit?: number;
  readOnly?: boolean;
  sectorSize?: number;
}

/** The losetup columns the adapter reads; all exist in util-linux 2.38. */
export const LOSETUP_COLUMNS = [
  'NAME',
  'BACK-FILE',
  'OFFSET',
  'SIZELIMIT',
  'RO',
  'LOG-SEC',
  'AUTOCLEAR',
] as const;

/** `losetup --find --show [...] PATH`: attaches to the lowest free device and prints its name. */
export function losetupAttach(path: string, options: LosetupAttachArgs = {}): string[] {
  const argv = ['losetup', '--find', '--show'];
  if (options.offset !== undefined) argv.push('--offset', String(options.offset));
  if (options.sizeLimit !== undefined) argv.push('--sizelimit', String(options.sizeLimit));
  if (options.readOnly) argv.push('--read-only');
  if (options.sectorSize !== undefined) argv.push('--sector-size', String(options.sectorSize));
  argv.push(path);
  return argv;
}

/** `losetup --detach DEVICE`. */
export function losetupDetach(device: string): string[] {
  return ['losetup', '--detach', device];
}

/** `losetup --json --list --output ...`: every attached loop device as JSON. */
export function losetupList(): string[] {
  return ['losetup', '--json', '--list', '--output', LOSETUP_COLUMNS.join(',')];
}

/** `blockdev --getsize64 --getss DEVICE`: size in bytes, then logical sector size. */
export function blockdevGeometry(device: string): string[] {
  return ['blockdev', '--getsize64', '--getss', device];
}

/** `mount -t FSTYPE [-o ro] SOURCE TARGET`. */
export function mount(source: string, target: string, fstype: string, readOnly = false): string[] {
  return ['mount', '-t', fstype, ...(readOnly ? ['-o', 'ro'] : []), source, target];
}

/** `umount TARGET`: by mount point, never by device (a device may be mounted twice). */
export function umount(target: string): string[] {
  return ['umount', target];
}

/** Default libvirt connection for LXC. */
export const DEFAULT_LXC_URI = 'lxc:///';

function virsh(uri: string, ...args: string[]): string[] {
  return ['virsh', '-c', uri, ...args];
}

/** `virsh define FILE`. */
export function virshDefine(uri: string, xmlPath: string): string[] {
  return virsh(uri, 'define', xmlPath);
}

/** `virsh start NAME`. */
export function virshStart(uri: string, name: string): string[] {
  return virsh(uri, 'start', name);
}

/** `virsh destroy NAME`. */
export function virshDestroy(uri: string, name: string): string[] {
  return virsh(uri, 'destroy', name);
}

/** `virsh suspend NAME` (freezes the domain's cgroup; its destroy then takes libvirt's fast path). */
export function virshSuspend(uri: string, name: string): string[] {
  return virsh(uri, 'suspend', name);
}

/** `virsh shutdown NAME` (a clean shutdown request). */
export function virshShutdown(uri: string, name: string): string[] {
  return virsh(uri, 'shutdown', name);
}

/** `virsh dumpxml NAME` (the live XML: a running domain's console pty path). */
export function virshDumpxml(uri: string, name: string): string[] {
  return virsh(uri, 'dumpxml', name);
}

/** `virsh undefine NAME`. */
export function virshUndefine(uri: string, name: string): string[] {
  return virsh(uri, 'undefine', name);
}

/** `virsh domstate NAME`. */
export function virshDomstate(uri: string, name: string): string[] {
  return virsh(uri, 'domstate', name);
}

/** `virsh dominfo NAME`. */
export function virshDominfo(uri: string, name: string): string[] {
  return virsh(uri, 'dominfo', name);
}

/** `virsh domuuid NAME`. */
export function virshDomuuid(uri: string, name: string): string[] {
  return virsh(uri, 'domuuid', name);
}

/** `virsh list --all --name`: one domain name per line. */
export function virshListAll(uri: string): string[] {
  return virsh(uri, 'list', '--all', '--name');
}

/** `virsh list` (the cheapest call that proves the connection answers). */
export function virshPing(uri: string): string[] {
  return virsh(uri, 'list');
}

/** `qemu-nbd -c DEVICE -f FORMAT FILE`. */
export function qemuNbdConnect(device: string, file: string, format: 'qcow2' | 'raw'): string[] {
  return ['qemu-nbd', '-c', device, '-f', format, file];
}

/** `qemu-nbd -d DEVICE`. */
export function qemuNbdDisconnect(device: string): string[] {
  return ['qemu-nbd', '-d', device];
}

/** `qemu-img create -f qcow2 -F BASEFMT -b BASE PATH`: a copy-on-write overlay. */
export function qemuImgCreateOverlay(path: string, base: string, baseFormat: string): string[] {
  return ['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', baseFormat, '-b', base, path];
}

/** `qemu-img convert -O qcow2 SRC DST`. */
export function qemuImgConvertToQcow2(source: string, target: string): string[] {
  return ['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', source, target];
}

/** `qemu-img info --output=json PATH`. */
export function qemuImgInfo(path: string): string[] {
  return ['qemu-img', 'info', '--output=json', path];
}

/** `cp --sparse=always SRC DST`: a raw copy that keeps holes. */
export function sparseCopy(source: string, target: string): string[] {
  return ['cp', '--sparse=always', source, target];
}

/** `rmdir -- PATH...`: removes directories that are empty (a cgroup only once no task is in it). */
export function rmdir(paths: readonly string[]): string[] {
  return ['rmdir', '--', ...paths];
}

/** `truncate -s BYTES PATH`: a sparse file of that size. */
export function truncate(path: string, size: number): string[] {
  return ['truncate', '-s', String(size), path];
}

/** `sfdisk -q PATH` with the script on stdin (2.38 has no --sector-size: use a loop device). */
export function sfdisk(path: string): string[] {
  return ['sfdisk', '-q', path];
}

/** `mkfs.TYPE -q -F [-b BLOCK] [-L LABEL] -d DIR PATH`: a filesystem filled from a folder. */
export function mkfsExt(
  type: 'ext2' | 'ext3' | 'ext4',
  path: string,
  sourceDir: string,
  label?: string,
): string[] {
  return [`mkfs.${type}`, '-q', '-F', ...(label ? ['-L', label] : []), '-d', sourceDir, path];
}

/** `dd if=SRC of=DST bs=512 seek=SECTORS conv=notrunc,sparse`: write SRC at a sector offset. */
export function ddAt(source: string, target: string, seekBytes: number): string[] {
  return [
    'dd',
    `if=${source}`,
    `of=${target}`,
    'bs=1M',
    `seek=${seekBytes}`,
    'oflag=seek_bytes',
    'conv=notrunc,sparse',
    'status=none',
  ];
}

/** `debugfs -R 'cat PATH' IMAGE`: reads a file of an ext filesystem without mounting it. */
export function debugfsCat(image: string, path: string): string[] {
  return ['debugfs', '-R', `cat "${path.replaceAll('"', '\\"')}"`, image];
}

/** `blkid -p -o export DEVICE`: low-level probe of a filesystem signature. */
export function blkidProbe(device: string): string[] {
  return ['blkid', '-p', '-o', 'export', device];
}
