import { randomUUID } from 'node:crypto';
import type { DiskSpec, FilesystemSpec } from '../../scenarios/fixtures/disk-spec.js';

/** A root filesystem whose init writes /marker and keeps running. */
export function rootFs(label = 'rootfs', marker = 'booted'): FilesystemSpec {
  return {
    type: 'ext4',
    label,
    files: { '/etc/hostname': 'guest\n' },
    init: { writes: [{ path: '/marker', content: marker }], then: 'run' },
  };
}

/** A 64 MiB disk with a filesystem on the whole device. */
export function plainDisk(fs: FilesystemSpec = rootFs()): DiskSpec {
  return { size: '64M', table: 'none', filesystem: fs };
}

/** A 64 MiB disk with two partitions: 1 holds `first`, 2 a data filesystem (or `second`). */
export function twoPartitionDisk(
  table: 'mbr' | 'gpt',
  first: FilesystemSpec | undefined = rootFs(),
  second: FilesystemSpec = { type: 'ext4', label: 'data', files: { '/data.txt': 'data\n' } },
  sectorSize: 512 | 4096 = 512,
): DiskSpec {
  const scale = 512 / sectorSize;
  return {
    size: '64M',
    table,
    sectorSize,
    partitions: [
      { number: 1, start: 2048 * scale, size: 61440 * scale, name: 'root', filesystem: first },
      { number: 2, start: 63488 * scale, size: 40960 * scale, name: 'data', filesystem: second },
    ],
  };
}

/** A Nova instance dict, unique per call (domain names must not clash on a shared host). */
export function makeInstance(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const uuid = randomUUID();
  return {
    uuid,
    name: `nlt-${uuid.slice(0, 8)}`,
    flavor: { name: 'm1.tiny', memory_mb: 128, vcpus: 1, root_gb: 1, ephemeral_gb: 0, swap: 0 },
    image_ref: 'img-1',
    root_device_name: null,
    ephemeral_gb: 0,
    config_drive: null,
    system_metadata: {},
    ...overrides,
  };
}

/** block_device_info with a file-backed root volume (boot_index 0) and optional extra volumes. */
export function volumeBdi(rootPath: string, ...others: string[]): Record<string, unknown> {
  const bdm = (path: string, index: number) => ({
    boot_index: index === 0 ? 0 : null,
    mount_device: `/dev/vd${String.fromCharCode(97 + index)}`,
    device_type: 'disk',
    disk_bus: null,
    delete_on_termination: false,
    connection_info: { driver_volume_type: 'file', data: { path } },
  });
  return {
    root_device_name: '/dev/vda',
    image: [],
    ephemerals: [],
    swap: null,
    block_device_mapping: [rootPath, ...others].map(bdm),
  };
}
