import { posix } from 'node:path';
import { parseSize, renderInit, type DiskSpec, type FilesystemSpec } from '../disk-spec.js';
import { writeDiskLayout } from './disk-layout.js';
import type { SimDisk, SimFilesystem, SimState } from '../../simulator/state.js';

/** Builds a disk file or block device from a declaration: real table bytes plus file trees. */
export function buildDisk(
  state: SimState,
  path: string,
  spec: DiskSpec,
  kind: 'file' | 'block' = 'file',
): SimDisk {
  const disk = state.addDisk(path, parseSize(spec.size), {
    kind,
    sectorSize: spec.sectorSize ?? 512,
  });
  for (const region of writeDiskLayout(disk.content, spec)) {
    const fs = state.addFilesystem(
      disk,
      region.offset,
      region.filesystem.type,
      region.filesystem.label,
    );
    populate(fs, region.filesystem);
  }
  return disk;
}

/** Writes a filesystem declaration's files (and rendered init) into its tree. */
export function populate(fs: SimFilesystem, spec: FilesystemSpec): void {
  const files: [string, string, number][] = Object.entries(spec.files ?? {}).map(([path, file]) =>
    typeof file === 'string' ? [path, file, 0o644] : [path, file.content, file.mode ?? 0o644],
  );
  if (spec.init) {
    files.push(['/sbin/init', renderInit(spec.init), 0o755]);
    // The real fixture copies a static busybox here; the simulator only needs it to exist.
    files.push(['/bin/busybox', '\x7fELF busybox (simulated)\n', 0o755]);
  }
  for (const [path, content, mode] of files) {
    fs.tree.mkdirSync(posix.dirname(path), { recursive: true });
    fs.tree.writeFileSync(path, content, { mode });
  }
}
