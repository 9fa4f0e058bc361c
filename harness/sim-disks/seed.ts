import { posix } from 'node:path';
import {
  parseSize,
  renderInit,
  type DiskSpec,
  type FileSpec,
  type FilesystemSpec,
} from '../disk-spec.js';
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
      region.size,
    );
    populate(fs, region.filesystem);
  }
  return disk;
}

/** Writes a filesystem declaration's files (and rendered init) into its tree. */
export function populate(fs: SimFilesystem, spec: FilesystemSpec): void {
  const files: [string, string, number][] = [];
  const special: [string, FileSpec][] = [];
  for (const [path, file] of Object.entries(spec.files ?? {})) {
    if (typeof file === 'string') files.push([path, file, 0o644]);
    else if (file.symlink !== undefined || file.link !== undefined) special.push([path, file]);
    else files.push([path, file.content, file.mode ?? 0o644]);
    if (typeof file !== 'string' && (file.owner !== undefined || file.group !== undefined)) {
      special.push([path, { content: '', owner: file.owner ?? 0, group: file.group ?? 0 }]);
    }
  }
  if (spec.init) {
    files.push(['/sbin/init', renderInit(spec.init), 0o755]);
    // The real fixture copies a static busybox here; the simulator only needs it to exist.
    files.push(['/bin/busybox', '\x7fELF busybox (simulated)\n', 0o755]);
  }
  for (const [path, content, mode] of files) {
    fs.tree.mkdirSync(posix.dirname(path), { recursive: true });
    fs.tree.writeFileSync(path, content, { mode });
    // memfs applies no umask but drops setuid/setgid/sticky on create: set the bits outright.
    fs.tree.chmodSync(path, mode);
  }
  // Links after the files they may name; owners last, on the entry itself (lchown).
  for (const [path, file] of special) {
    if (file.symlink !== undefined) {
      fs.tree.mkdirSync(posix.dirname(path), { recursive: true });
      fs.tree.symlinkSync(file.symlink, path);
    } else if (file.link !== undefined) {
      fs.tree.mkdirSync(posix.dirname(path), { recursive: true });
      fs.tree.linkSync(file.link, path);
    }
  }
  for (const [path, file] of special) {
    if (file.owner !== undefined) fs.tree.lchownSync(path, file.owner, file.group ?? 0);
  }
}
