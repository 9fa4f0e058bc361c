import { Volume } from 'memfs';

/**
 * The process a simulated tree sees: root, at `/`. memfs otherwise takes the uid and gid of
 * whoever runs the simulator for every file it creates, so the same scenario would own its files
 * as 0 under root and as 65534 under nobody. A freshly made filesystem owns its files as root,
 * whoever made it.
 */
const SIMULATED_PROCESS = {
  cwd: () => '/',
  platform: 'linux',
  env: {},
  emitWarning: () => undefined,
  getuid: () => 0,
  getgid: () => 0,
};

export type Tree = InstanceType<typeof Volume>;
type TreeNode = ReturnType<Tree['_core']['createNode']>;

/**
 * Gives a node root's view of permissions, as the kernel does for a process with
 * CAP_DAC_OVERRIDE: any file can be read and written whatever its owner and mode, a directory
 * can always be searched, and a regular file can be executed when any execute bit is set.
 * memfs checks permissions against the uid of the process running the simulator instead (and
 * has no notion of root), so without this an unprivileged run of the suite and a root run would
 * disagree, and neither would behave like the root-run driver on a real host.
 */
function asRoot(node: TreeNode): TreeNode {
  node.canRead = () => true;
  node.canWrite = () => true;
  node.canExecute = () => node.isDirectory() || (node.perm & 0o111) !== 0;
  return node;
}

/** A new empty in-memory tree as root sees it, independent of the calling process. */
export function newTree(): Tree {
  const tree = Volume.fromJSON({}, '/', { process: SIMULATED_PROCESS });
  const core = tree._core;
  const createNode = core.createNode.bind(core);
  core.createNode = (mode) => asRoot(createNode(mode));
  asRoot(core.root.getNode());
  return tree;
}
import { posix } from 'node:path';
import { DriverError } from '../driver/errors.js';
import type { LoopDevice } from '../driver/ports/block-devices.js';
import type { DomainState } from '../driver/ports/hypervisor.js';
import type { LxcDomainSpec } from '../driver/core/domain-xml.js';
import { deletedName } from '../driver/core/kernel-paths.js';
import type { ProcessHolds } from '../driver/core/state-holders.js';
import { MAX_SYMLINKS, PathError, checkNameLength, checkPathLength } from './paths.js';
import { qcow2Header } from './qcow2-header.js';
import { SparseDisk } from './sparse-disk.js';

/** A disk image file or block device; its bytes live in a SparseDisk. */
export interface SimDisk {
  path: string;
  kind: 'file' | 'block';
  /** A qcow2 file's bytes are its virtual disk; raw reads of the file itself show the header. */
  format: 'raw' | 'qcow2';
  content: SparseDisk;
  /** Identity of the content (copies get a new one); filesystems are keyed by it. */
  contentId: number;
  /** A qcow2 file's own header bytes (what a raw read of the file shows); default: a plain one. */
  qcow2Header?: Uint8Array;
}

/** A filesystem living at a byte offset of some disk content, with its file tree. */
export interface SimFilesystem {
  id: number;
  type: string;
  label: string | undefined;
  tree: Tree;
  contentId: number;
  offset: number;
  /** Bytes of the device region it was made on (what a full disk means), when known. */
  capacity?: number;
}

/** One slot of the kernel's loop table: exactly what the BlockDevices port reports. */
export type SimLoop = LoopDevice;

/** One qemu-nbd connection. */
export interface SimNbdConnection {
  device: string;
  file: string;
  format: 'raw' | 'qcow2';
}

/** A mount in some namespace: `fs` null means a bind of a host directory. */
export interface SimMount {
  source: string;
  target: string;
  fstype: string;
  readOnly: boolean;
  fs: SimFilesystem;
}

/** A libvirt LXC domain and, while it runs, its private mount namespace. */
export interface SimDomain {
  name: string;
  uuid: string;
  xml: string;
  spec: LxcDomainSpec;
  state: DomainState;
  persistent: boolean;
  /** The container's namespace, copied from the host's at start; empty when stopped. */
  namespace: SimMount[];
  /** What the init wrote to /dev/console and nobody has read from the console pty yet. */
  console?: string;
}

/** A view of bytes reachable through a path: which content, from where, how much. */
export interface ByteView {
  disk: SimDisk;
  base: number;
  length: number;
  /** False when reading a qcow2 file itself (its container format, not its disk). */
  raw: boolean;
}

/** Options for a new simulated host. */
export interface SimStateOptions {
  /** Loop devices the kernel has (`/dev/loop0..N-1`); default 8 like our hosts. */
  loopDevices?: number;
  /** nbd devices; 0 models a host without the nbd module. Default 16. */
  nbdDevices?: number;
  /**
   * How long after a start libvirt still answers dominfo with "Init pid is not yet
   * available" (seen on a busy real host); default 0. Measured on the simulator's clock.
   */
  initPidDelayMs?: number;
}

/** The pid of the process the simulated host's own ports belong to (the test's). */
export const SIM_PID = 4200;

/**
 * The single in-memory model of a simulated compute host. Port implementations read and
 * change it; nothing else holds state, so a dump of this is the whole host.
 */
export class SimState {
  readonly host = newTree();
  readonly disks = new Map<string, SimDisk>();
  readonly filesystems = new Map<number, Map<number, SimFilesystem>>();
  readonly loops: (SimLoop | undefined)[];
  readonly nbd: (SimNbdConnection | undefined)[];
  readonly hostMounts: SimMount[] = [];
  readonly domains = new Map<string, SimDomain>();
  readonly images = new Map<string, { path: string; format: 'raw' | 'qcow2' }>();
  /** Nova's image cache: image `<id>` is the file `<imagesDir>/<id>`. */
  readonly imagesDir = '/var/lib/nova/instances/_base';
  /** Directories the journal has written to, so dumps can show its records. */
  readonly journalDirs = new Set<string>();
  /**
   * Disk files removed while a loop device still served them, by the name the kernel then
   * shows (`PATH (deleted)`): the loop keeps the bytes until it is detached.
   */
  readonly unlinked = new Map<string, SimDisk>();
  /** Devices other processes hold open (a holder), with how many opens each. */
  readonly openers = new Map<string, number>();
  readonly initPidDelayMs: number;
  /** Simulated processes that run now: the test's own (SIM_PID) and those it started. */
  readonly livePids = new Set<number>([SIM_PID]);
  /** Each simulated process's holds of state directories (the Journal port's hold). */
  readonly processHolds = new Map<number, ProcessHolds>();
  private nextId = 1;
  private nextPid = SIM_PID + 1;
  private lastDiskseq = 0;

  constructor(options: SimStateOptions = {}) {
    this.loops = new Array<SimLoop | undefined>(options.loopDevices ?? 8).fill(undefined);
    this.nbd = new Array<SimNbdConnection | undefined>(options.nbdDevices ?? 16).fill(undefined);
    this.initPidDelayMs = options.initPidDelayMs ?? 0;
    this.host.mkdirSync('/dev', { recursive: true });
    this.host.mkdirSync('/tmp', { recursive: true });
  }

  /**
   * The next disk sequence number, as the kernel hands them out: each attach and each detach of
   * a device takes one, and none repeats (a reboot does not start them again here: the boot id
   * tells boots apart already).
   */
  nextDiskseq(): number {
    this.lastDiskseq += 1;
    return this.lastDiskseq;
  }

  /** Starts another simulated process; returns its pid (never one used before). */
  startProcess(): number {
    const pid = this.nextPid++;
    this.livePids.add(pid);
    return pid;
  }

  /** Ends a simulated process, as a crash or an exit does: what it held goes with it. */
  endProcess(pid: number): void {
    if (pid !== SIM_PID) this.livePids.delete(pid);
  }

  /** A fresh identity for disk content or a filesystem. */
  newId(): number {
    return this.nextId++;
  }

  /** Creates a disk file or block device node at `path` with blank content. */
  addDisk(
    path: string,
    size: number,
    options: { kind?: 'file' | 'block'; sectorSize?: number; format?: 'raw' | 'qcow2' } = {},
  ): SimDisk {
    const kind = options.kind ?? 'file';
    this.host.mkdirSync(posix.dirname(path), { recursive: true });
    this.host.writeFileSync(path, '');
    const disk: SimDisk = {
      path,
      kind,
      format: options.format ?? 'raw',
      content: new SparseDisk(size, options.sectorSize ?? 512),
      contentId: this.newId(),
    };
    this.disks.set(path, disk);
    return disk;
  }

  /** Registers a filesystem tree at `offset` of a disk's content. */
  addFilesystem(
    disk: SimDisk,
    offset: number,
    type: string,
    label: string | undefined,
    capacity?: number,
  ): SimFilesystem {
    const fs: SimFilesystem = {
      id: this.newId(),
      type,
      label,
      tree: newTree(),
      contentId: disk.contentId,
      offset,
      ...(capacity === undefined ? {} : { capacity }),
    };
    fs.tree.mkdirSync('/', { recursive: true });
    let byOffset = this.filesystems.get(disk.contentId);
    if (!byOffset) {
      byOffset = new Map();
      this.filesystems.set(disk.contentId, byOffset);
    }
    byOffset.set(offset, fs);
    return fs;
  }

  /** The filesystem tree at a byte position, created empty when the bytes carry a superblock nobody registered. */
  filesystemAt(view: ByteView, type: string, label: string | undefined): SimFilesystem {
    const existing = this.filesystems.get(view.disk.contentId)?.get(view.base);
    return existing ?? this.addFilesystem(view.disk, view.base, type, label, view.length);
  }

  /** Copies a disk's bytes and file trees to a new path (a sparse `cp`, or a qcow2 overlay). */
  copyDisk(from: SimDisk, to: string, format: 'raw' | 'qcow2'): SimDisk {
    const copy = this.addDisk(to, from.content.size, {
      kind: 'file',
      sectorSize: from.content.sectorSize,
      format,
    });
    copy.content = from.content.clone();
    if (format === 'qcow2' && from.format === 'qcow2' && from.qcow2Header) {
      copy.qcow2Header = from.qcow2Header.slice();
    }
    for (const fs of this.filesystems.get(from.contentId)?.values() ?? []) {
      const clone = this.addFilesystem(copy, fs.offset, fs.type, fs.label, fs.capacity);
      copyTree(fs.tree, clone.tree, '/');
    }
    return copy;
  }

  /** Which bytes a path reaches: a disk, or a loop or nbd device over one (recursively). */
  view(path: string): ByteView | undefined {
    const exact = this.disks.get(path) ?? this.loopAt(path);
    if (!exact && !this.nbd.some((n) => n?.device === path)) {
      // A symlink (a /dev/disk/by-id name, a link to an image) reaches what it points to.
      const real = this.canonicalOrNull(path);
      if (real !== null && real !== path) return this.view(real);
    }
    const disk = this.disks.get(path);
    if (disk) {
      return { disk, base: 0, length: disk.content.size, raw: disk.format === 'raw' };
    }
    const loop = this.loopAt(path);
    if (loop) {
      const orphan = this.unlinked.get(loop.backingFile);
      const under = orphan
        ? { disk: orphan, base: 0, length: orphan.content.size, raw: orphan.format === 'raw' }
        : this.view(loop.backingFile);
      if (!under) {
        return undefined;
      }
      const available = Math.max(0, under.length - loop.offset);
      const length = loop.sizeLimit > 0 ? Math.min(loop.sizeLimit, available) : available;
      return { disk: under.disk, base: under.base + loop.offset, length, raw: under.raw };
    }
    const nbd = this.nbd.find((n) => n?.device === path);
    const served = nbd ? this.disks.get(nbd.file) : undefined;
    if (served) {
      return { disk: served, base: 0, length: served.content.size, raw: true };
    }
    return undefined;
  }

  /** Reads bytes through a view; a qcow2 file read raw shows only its magic. */
  readView(view: ByteView, offset: number, length: number): Uint8Array {
    const count = Math.max(0, Math.min(length, view.length - offset));
    if (!view.raw) {
      const header = view.disk.qcow2Header ?? qcow2Header({ virtualSize: view.disk.content.size });
      const out = new Uint8Array(count);
      const at = view.base + offset;
      if (at < header.length) out.set(header.subarray(at, Math.min(header.length, at + count)));
      return out;
    }
    return view.disk.content.read(view.base + offset, count);
  }

  /** Whether `path` is a block device node: a disk device, or an attached loop or nbd device. */
  isBlockDevice(path: string): boolean {
    if (this.isDeviceAt(path)) return true;
    const real = this.canonicalOrNull(path);
    return real !== null && real !== path && this.isDeviceAt(real);
  }

  private isDeviceAt(path: string): boolean {
    return this.disks.get(path)?.kind === 'block' || this.isDeviceNode(path);
  }

  /** The canonical path, or null when the lookup itself fails (too long, a loop, ENOTDIR). */
  canonicalOrNull(path: string): string | null {
    try {
      return this.canonical(path);
    } catch {
      return null;
    }
  }

  /** The attached loop device `/dev/loopN`, found by its number (no scan of the table). */
  loopAt(path: string): SimLoop | undefined {
    const match = /^\/dev\/loop(\d+)$/.exec(path);
    const loop = match ? this.loops[Number(match[1])] : undefined;
    return loop?.device === path ? loop : undefined;
  }

  /** Every mount in every namespace (host and running containers). */
  allMounts(): SimMount[] {
    return [...this.hostMounts, ...[...this.domains.values()].flatMap((d) => d.namespace)];
  }

  /** How many holders keep a device open: mounts of it and loop devices over it. */
  holders(device: string): number {
    // Counted in place: with a thousand containers, copying every namespace per call was
    // most of a simulated detach.
    let count = 0;
    for (const m of this.hostMounts) if (m.source === device) count++;
    for (const domain of this.domains.values()) {
      for (const m of domain.namespace) if (m.source === device) count++;
    }
    for (const l of this.loops) if (l?.backingFile === device) count++;
    for (const n of this.nbd) if (n?.file === device) count++;
    return count + (this.openers.get(device) ?? 0);
  }

  /**
   * Unlinks a disk file, as rm does: a loop device serving it keeps the bytes and from now on
   * shows its backing file as `PATH (deleted)`, as the kernel does.
   */
  unlinkDisk(path: string): void {
    const disk = this.disks.get(path);
    if (!disk) return;
    this.disks.delete(path);
    const shown = deletedName(path);
    let held = false;
    for (const loop of this.loops) {
      if (loop?.backingFile === path) {
        loop.backingFile = shown;
        held = true;
      }
    }
    if (held) this.unlinked.set(shown, disk);
  }

  /**
   * A host reboot, as far as the kernel's state goes: every loop and nbd device and every mount
   * is gone (with the bytes of unlinked files they kept), running domains stop, and transient
   * ones vanish. Files, disks, the journal and persistent domain definitions stay, stopped.
   */
  reboot(): void {
    for (const pid of [...this.livePids]) this.endProcess(pid);
    this.loops.fill(undefined);
    this.nbd.fill(undefined);
    this.hostMounts.length = 0;
    this.unlinked.clear();
    this.openers.clear();
    for (const [name, domain] of [...this.domains]) {
      if (!domain.persistent) {
        this.domains.delete(name);
        continue;
      }
      domain.state = 'shut off';
      domain.namespace = [];
      domain.console = '';
    }
  }

  /** Another process opens `device` and keeps it open (a holder); `close` ends it. */
  open(device: string): void {
    this.openers.set(device, (this.openers.get(device) ?? 0) + 1);
  }

  /** A holder closes `device`: a detach deferred while it was open happens now (autoclear). */
  close(device: string): void {
    const left = (this.openers.get(device) ?? 0) - 1;
    if (left > 0) this.openers.set(device, left);
    else this.openers.delete(device);
    this.settleAutoclear();
  }

  /** Frees autoclear loop devices that nothing holds any more, as the kernel does on last close. */
  settleAutoclear(): void {
    // Only autoclear devices can go; freeing one may free the one below it, hence the loop.
    let pending = this.loops.filter((l): l is SimLoop => l?.autoclear === true);
    while (pending.length > 0) {
      const free = pending.filter((l) => this.holders(l.device) === 0);
      if (free.length === 0) return;
      for (const loop of free) {
        this.loops[Number(loop.device.slice('/dev/loop'.length))] = undefined;
        this.nextDiskseq();
      }
      pending = pending.filter((l) => !free.includes(l));
    }
    for (const name of [...this.unlinked.keys()]) {
      if (!this.loops.some((l) => l?.backingFile === name)) this.unlinked.delete(name);
    }
  }

  /**
   * The canonical form of a host path, symlinks resolved component by component as the kernel
   * does (also inside mounted filesystems, and to loop and nbd devices, so `/dev/disk/by-id`
   * style links work); a missing tail keeps its names, as `realpath -m` does. ENAMETOOLONG,
   * ELOOP and ENOTDIR throw a PathError.
   */
  canonical(path: string, syscall = 'lstat'): string {
    return this.lookup(path, false, syscall);
  }

  /** Like canonical, but every component must exist (realpath(3)): ENOENT otherwise. */
  realpath(path: string): string {
    return this.lookup(path, true, 'realpath');
  }

  private lookup(path: string, strict: boolean, syscall: string): string {
    return this.walk(path, strict, syscall).path;
  }

  /**
   * The kernel's path walk: each component in turn, NAME_MAX checked when it is reached (a
   * missing directory earlier in the path answers ENOENT first), symlinks followed.
   * `complete` is false when a component was missing and the rest was kept as written.
   */
  private walk(
    path: string,
    strict: boolean,
    syscall: string,
  ): { path: string; complete: boolean } {
    checkPathLength(path, syscall);
    const pending = (path.startsWith('/') ? path : `/${path}`).split('/').filter(Boolean);
    const done: string[] = [];
    let hops = 0;
    while (pending.length > 0) {
      const name = pending.shift()!;
      if (name === '.') continue;
      if (name === '..') {
        done.pop();
        continue;
      }
      checkNameLength(name, syscall, path);
      const candidate = `/${[...done, name].join('/')}`;
      const kind = this.entryKind(candidate);
      if (kind === null) {
        if (strict) throw new PathError('ENOENT', syscall, path);
        return { path: posix.resolve(candidate, ...pending), complete: false };
      }
      if (kind.symlink !== undefined) {
        if (++hops > MAX_SYMLINKS) throw new PathError('ELOOP', syscall, path);
        const target = kind.symlink.split('/').filter(Boolean);
        if (kind.symlink.startsWith('/')) done.length = 0;
        pending.unshift(...target);
        continue;
      }
      if (!kind.directory && pending.some((p) => p !== '.' && p !== '')) {
        throw new PathError('ENOTDIR', syscall, path);
      }
      done.push(name);
    }
    return { path: `/${done.join('/')}`, complete: true };
  }

  /** What one canonical-prefix path is: null when absent; devices count as files. */
  private entryKind(normal: string): { directory: boolean; symlink?: string } | null {
    if (this.disks.get(normal)?.kind === 'block' || this.isDeviceNode(normal)) {
      return { directory: false };
    }
    const best = this.matchMount(normal);
    const tree = best ? best.fs.tree : this.host;
    const rel = best ? normal.slice(best.target.length) || '/' : normal;
    try {
      const stat = tree.lstatSync(rel);
      if (stat.isSymbolicLink())
        return { directory: false, symlink: String(tree.readlinkSync(rel)) };
      return { directory: stat.isDirectory() };
    } catch {
      return null;
    }
  }

  /** Whether `path` is an attached loop or nbd device node. */
  private isDeviceNode(path: string): boolean {
    return this.loopAt(path) !== undefined || this.nbd.some((n) => n?.device === path);
  }

  /**
   * The canonical path of the entry `path` names, its last component not followed (lstat's
   * view): a symlink stays a symlink.
   */
  entryPath(path: string, syscall = 'lstat'): string {
    const normal = posix.resolve('/', path);
    if (normal === '/') return '/';
    checkPathLength(path, syscall);
    const parent = this.walk(posix.dirname(normal), false, syscall);
    const name = posix.basename(normal);
    if (parent.complete) checkNameLength(name, syscall, path);
    return posix.join(parent.path, name);
  }

  /**
   * Resolves a host path to the file tree that holds it (a mounted filesystem or the host's
   * own); `followLast: false` names a symlink itself rather than its target.
   */
  resolveHostPath(
    path: string,
    followLast = true,
    syscall = 'lstat',
  ): {
    tree: Tree;
    rel: string;
    mount?: SimMount;
  } {
    const normal = followLast ? this.canonical(path, syscall) : this.entryPath(path, syscall);
    const best = this.matchMount(normal);
    if (!best) {
      return { tree: this.host, rel: normal };
    }
    const rest = normal.slice(best.target.length);
    return { tree: best.fs.tree, rel: rest === '' ? '/' : rest, mount: best };
  }

  /** The topmost host mount at or above `normal`. */
  private matchMount(normal: string): SimMount | undefined {
    let best: SimMount | undefined;
    for (const mount of this.hostMounts) {
      if (normal === mount.target || normal.startsWith(mount.target + '/')) {
        // Later mounts over the same or a deeper target shadow earlier ones.
        if (!best || mount.target.length >= best.target.length) {
          best = mount;
        }
      }
    }
    return best;
  }

  /** A JSON-able snapshot of the whole host, for failure dumps and bug reports. */
  toJSON(): Record<string, unknown> {
    return {
      disks: [...this.disks.values()].map((d) => ({
        path: d.path,
        kind: d.kind,
        format: d.format,
        contentId: d.contentId,
        content: d.content.toJSON(),
      })),
      filesystems: [...this.filesystems.values()].flatMap((m) =>
        [...m.values()].map((fs) => ({
          id: fs.id,
          type: fs.type,
          label: fs.label,
          contentId: fs.contentId,
          offset: fs.offset,
          files: Object.keys(fs.tree.toJSON()).sort(),
        })),
      ),
      loops: this.loops.filter((l) => l !== undefined),
      nbd: this.nbd.filter((n) => n !== undefined),
      hostMounts: this.hostMounts.map(describeMount),
      domains: [...this.domains.values()].map((d) => ({
        name: d.name,
        uuid: d.uuid,
        state: d.state,
        persistent: d.persistent,
        namespace: d.namespace.map(describeMount),
      })),
      images: Object.fromEntries(this.images),
      journal: Object.fromEntries(
        [...this.journalDirs].flatMap((dir) =>
          this.host.existsSync(dir)
            ? (this.host.readdirSync(dir) as string[]).map((name) => [
                posix.join(dir, name),
                String(this.host.readFileSync(posix.join(dir, name), 'utf8')),
              ])
            : [],
        ),
      ),
      unlinked: [...this.unlinked.keys()],
    };
  }
}

function describeMount(mount: SimMount): Record<string, unknown> {
  return {
    source: mount.source,
    target: mount.target,
    fstype: mount.fstype,
    readOnly: mount.readOnly,
    filesystem: mount.fs.id,
  };
}

/** Deep-copies a memfs tree keeping modes, owners and symlinks. */
export function copyTree(from: Tree, to: Tree, dir: string): void {
  for (const name of from.readdirSync(dir) as string[]) {
    const path = posix.join(dir, name);
    const stat = from.lstatSync(path);
    if (stat.isDirectory()) {
      to.mkdirSync(path, { recursive: true, mode: Number(stat.mode) & 0o7777 });
      copyTree(from, to, path);
    } else if (stat.isSymbolicLink()) {
      to.symlinkSync(String(from.readlinkSync(path)), path);
    } else {
      to.writeFileSync(path, from.readFileSync(path) as Buffer, {
        mode: Number(stat.mode) & 0o7777,
      });
    }
    to.lchownSync(path, Number(stat.uid), Number(stat.gid));
  }
}

/** Throws NotFound for an unknown path, in a tool-neutral way (used by reads and geometry). */
export function noSuchPath(action: string, path: string): DriverError {
  return new DriverError('NotFound', `Failed to ${action}: ${path}: No such file or directory`, {
    details: { path },
  });
}
