import { chmod, copyFile, mkdir, mkdtemp, readlink, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { ExecaCommandRunner, type CommandRunner } from '../../driver/adapters/command-runner.js';
import * as commands from '../../driver/adapters/commands.js';
import { parseMountinfo } from '../../driver/adapters/parse-mountinfo.js';
import { parseLosetupJson } from '../../driver/adapters/parse-losetup.js';
import { parseListNames } from '../../driver/adapters/parse-virsh.js';
import { createRealHost } from '../../driver/adapters/real-host.js';
import { NodeSystemFiles } from '../../driver/adapters/system-files.js';
import {
  parseSize,
  renderInit,
  type DiskSpec,
  type FilesystemSpec,
  type PartitionSpec,
} from '../../scenarios/fixtures/disk-spec.js';
import type { BackendHarness, Capabilities } from './harness.js';

/** Root of every real harness's scratch files; tools/prepare-real-host.sh makes it a shared mount. */
export const REAL_SCRATCH_ROOT = process.env['NOVA_LXC_REAL_ROOT'] ?? '/var/tmp/nova-lxc-real';

/** Where busybox-static installs the static busybox that fixture inits run with. */
export const BUSYBOX = '/bin/busybox';

const MBR_TYPES: Record<string, string> = {
  linux: '83',
  swap: '82',
  extended: '5',
  efi: 'ef',
  lvm: '8e',
};

const GPT_TYPES: Record<string, string> = {
  linux: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
  swap: '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F',
  efi: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  lvm: 'E6D6D379-F507-44C2-A23C-238F2A3DF928',
  'root-x86-64': '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709',
  'root-arm64': 'B921B045-1DF0-41C3-AF44-4C6F280D3FAE',
};

/** The sfdisk script that lays out a declared partition table. */
export function sfdiskScript(spec: DiskSpec, diskPath: string): string {
  const table = spec.table === 'gpt' ? 'gpt' : 'dos';
  const lines = [`label: ${table}`];
  for (const part of [...(spec.partitions ?? [])].sort((a, b) => a.number - b.number)) {
    const named = part.type ?? 'linux';
    const type = (table === 'gpt' ? GPT_TYPES : MBR_TYPES)[named] ?? named;
    const name = table === 'gpt' && part.name ? `, name="${part.name}"` : '';
    // Naming the node fixes the partition number, so gaps (1, 3) and logical ones (5) work.
    const node = /\d$/.test(diskPath) ? `${diskPath}p${part.number}` : `${diskPath}${part.number}`;
    lines.push(`${node} : start=${part.start}, size=${part.size}, type=${type}${name}`);
  }
  return lines.join('\n') + '\n';
}

/** Thrown for a fixture that only the simulator can build (the scenario can declare it). */
export class NotBuildableError extends Error {
  constructor(what: string) {
    super(`${what} is not buildable on the real host (only ext2, ext3 and ext4 filesystems are)`);
    this.name = 'NotBuildableError';
  }
}

async function fillTree(dir: string, fs: FilesystemSpec): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [path, file] of Object.entries(fs.files ?? {})) {
    const target = join(dir, path);
    await mkdir(dirname(target), { recursive: true });
    const spec = typeof file === 'string' ? { content: file } : file;
    await writeFile(target, spec.content);
    await chmod(target, spec.mode ?? 0o644);
  }
  if (fs.init) {
    await mkdir(join(dir, 'sbin'), { recursive: true });
    await mkdir(join(dir, 'bin'), { recursive: true });
    await writeFile(join(dir, 'sbin/init'), renderInit(fs.init));
    await chmod(join(dir, 'sbin/init'), 0o755);
    if (!existsSync(BUSYBOX)) {
      throw new Error(`${BUSYBOX} is missing: install the Debian package busybox-static`);
    }
    await copyFile(BUSYBOX, join(dir, 'bin/busybox'));
    await chmod(join(dir, 'bin/busybox'), 0o755);
  }
}

/** A harness on this machine's loop devices, mounts and libvirt; everything under one scratch dir. */
export async function createRealHarness(): Promise<BackendHarness> {
  const runner: CommandRunner = new ExecaCommandRunner();
  const system = new NodeSystemFiles();
  const uri = process.env['NOVA_LXC_CONNECTION_URI'] ?? commands.DEFAULT_LXC_URI;
  await assertPrepared(system);
  const dir = await mkdtemp(join(REAL_SCRATCH_ROOT, 'h-'));
  // mkdtemp makes 0700; an id-mapped container's root (a host uid like 100000) must be able to
  // traverse down to its rootfs, as it can under a compute node's 0755 instances_path.
  await chmod(dir, 0o755);
  const instancesPath = join(dir, 'instances');
  const imagesDir = join(dir, 'images');
  const disksDir = join(dir, 'disks');
  const workDir = join(dir, 'work');
  for (const path of [instancesPath, imagesDir, disksDir, workDir]) {
    await mkdir(path, { recursive: true });
  }
  const host = createRealHost({ imagesDir, connectionUri: uri, runner, systemFiles: system });
  const domainsBefore = new Set(
    parseListNames((await runner.run(commands.virshListAll(uri))).stdout),
  );
  const sectorSizes = new Map<string, number>();
  let counter = 0;
  const fresh = (name: string | undefined, prefix: string): string =>
    `${(name ?? prefix).replace(/[^A-Za-z0-9._-]/g, '_')}-${++counter}`;

  const capabilities: Capabilities = {
    nbd: (await host.nbd.available()).reason ?? true,
    qcow2: existsSync('/usr/bin/qemu-img')
      ? true
      : 'qemu-img is not installed (Debian package qemu-utils)',
  };

  /**
   * Runs `use` on the file itself, or (for 4096-byte sectors, which sfdisk 2.38 cannot be told
   * about) on a short-lived loop device with that sector size.
   */
  async function withSectorSize<T>(
    path: string,
    sectorSize: number,
    readOnly: boolean,
    use: (device: string) => Promise<T>,
  ): Promise<T> {
    if (sectorSize === 512) return use(path);
    const { stdout } = await runner.run(commands.losetupAttach(path, { sectorSize, readOnly }));
    const device = stdout.trim();
    try {
      return await use(device);
    } finally {
      await runner.run(commands.losetupDetach(device));
    }
  }

  async function buildFilesystem(
    fs: FilesystemSpec,
    bytes: number,
    sectorSize: number,
  ): Promise<string> {
    if (fs.type !== 'ext2' && fs.type !== 'ext3' && fs.type !== 'ext4') {
      throw new NotBuildableError(`A ${fs.type} filesystem`);
    }
    const tree = join(workDir, fresh(undefined, 'tree'));
    await fillTree(tree, fs);
    const image = join(workDir, fresh(undefined, 'fs.img'));
    await runner.run(commands.truncate(image, bytes));
    const argv = commands.mkfsExt(fs.type, image, tree, fs.label);
    // A filesystem block must hold a whole logical sector of a 4096-byte-sector device.
    if (sectorSize > 1024) argv.splice(3, 0, '-b', String(sectorSize));
    await runner.run(argv, { action: 'make fixture filesystem' });
    await rm(tree, { recursive: true, force: true });
    return image;
  }

  async function writeAt(image: string, disk: string, offset: number): Promise<void> {
    await runner.run(commands.ddAt(image, disk, offset), { action: 'write fixture filesystem' });
    await rm(image, { force: true });
  }

  async function partitionOffset(diskPath: string, partition: number): Promise<number> {
    const sectorSize = sectorSizes.get(diskPath) ?? 512;
    const { stdout } = await withSectorSize(diskPath, sectorSize, true, (device) =>
      runner.run(['sfdisk', '--json', device]),
    );
    const table = (
      JSON.parse(stdout) as {
        partitiontable: { sectorsize?: number; partitions?: { node: string; start: number }[] };
      }
    ).partitiontable;
    const part = table.partitions?.find((p) => new RegExp(`[^0-9]${partition}$`).test(p.node));
    if (!part) throw new Error(`${diskPath} has no partition ${partition}`);
    return part.start * (table.sectorsize ?? sectorSize);
  }

  return {
    name: 'real',
    host,
    instancesPath,
    capabilities,

    async makeDiskFile(spec: DiskSpec, name?: string): Promise<string> {
      const size = parseSize(spec.size);
      const sectorSize = spec.sectorSize ?? 512;
      const path = join(disksDir, `${fresh(name, 'disk')}.img`);
      await runner.run(commands.truncate(path, size));
      sectorSizes.set(path, sectorSize);
      if (spec.table === 'none') {
        if (spec.filesystem) {
          await writeAt(await buildFilesystem(spec.filesystem, size, sectorSize), path, 0);
        }
        return path;
      }
      await withSectorSize(path, sectorSize, false, (device) =>
        runner.run(commands.sfdisk(device), {
          action: 'write fixture partition table',
          input: sfdiskScript(spec, device),
        }),
      );
      for (const part of spec.partitions ?? ([] as PartitionSpec[])) {
        if (!part.filesystem) continue;
        const image = await buildFilesystem(part.filesystem, part.size * sectorSize, sectorSize);
        await writeAt(image, path, part.start * sectorSize);
      }
      if (spec.damagePrimaryGpt) {
        // The primary header lives in LBA 1; zeroing it forces readers onto the backup.
        await runner.run([
          'dd',
          'if=/dev/zero',
          `of=${path}`,
          `bs=${sectorSize}`,
          'seek=1',
          'count=1',
          'conv=notrunc',
          'status=none',
        ]);
      }
      return path;
    },

    async makeQcow2(rawPath: string): Promise<string> {
      if (capabilities.qcow2 !== true) throw new Error(capabilities.qcow2);
      const target = rawPath.replace(/(\.img|\.raw)?$/, '.qcow2');
      await runner.run(commands.qemuImgConvertToQcow2(rawPath, target), {
        action: 'convert fixture to qcow2',
      });
      return target;
    },

    async addImage(imageId: string, path: string, format: 'raw' | 'qcow2'): Promise<void> {
      const target = join(imagesDir, imageId);
      await runner.run(commands.sparseCopy(path, target), { action: 'cache fixture image' });
      const cached = await host.images.lookup(imageId);
      if (cached.format !== format) {
        throw new Error(`${path} is ${cached.format}, but was registered as ${format}`);
      }
    },

    async makeDir(name?: string): Promise<string> {
      const path = join(dir, 'dirs', fresh(name, 'dir'));
      await mkdir(path, { recursive: true });
      return path;
    },

    async readFileOnDisk(
      diskPath: string,
      partition: number | null,
      filePath: string,
    ): Promise<string | null> {
      const offset = partition === null ? 0 : await partitionOffset(diskPath, partition);
      // debugfs reads the filesystem inside the file at an offset: nothing attached or mounted.
      const image = offset === 0 ? diskPath : `${diskPath}?offset=${offset}`;
      const { stdout, stderr } = await runner.run(commands.debugfsCat(image, filePath), {
        action: `read ${filePath} on ${relative(dir, diskPath)}`,
      });
      if (/File not found by ext2_lookup/.test(stderr)) return null;
      if (/Bad magic number|Can't find valid filesystem|cat: /.test(stderr)) {
        throw new Error(`Failed to read ${filePath} on ${diskPath}: ${stderr.trim()}`);
      }
      return stdout;
    },

    async cleanup(): Promise<void> {
      const leaks: string[] = [];
      const inDir = (path: string): boolean => path === dir || path.startsWith(`${dir}/`);
      const mounts = parseMountinfo(await system.readText('/proc/self/mountinfo'))
        .filter((entry) => inDir(entry.target))
        .reverse();
      for (const entry of mounts) {
        leaks.push(`mount ${entry.source} on ${entry.target}`);
      }
      for (const name of parseListNames((await runner.run(commands.virshListAll(uri))).stdout)) {
        if (domainsBefore.has(name)) continue;
        const xml = await runner
          .run(['virsh', '-c', uri, 'dumpxml', name])
          .then((result) => result.stdout)
          .catch(() => '');
        if (!xml.includes(dir)) continue; // Someone else's domain: never ours to touch.
        leaks.push(`domain ${name}`);
        await runner.run(commands.virshDestroy(uri, name)).catch(() => undefined);
        await runner.run(commands.virshUndefine(uri, name)).catch(() => undefined);
      }
      for (const entry of mounts) {
        await runner.run(commands.umount(entry.target)).catch(() => undefined);
      }
      const loops = parseLosetupJson((await runner.run(commands.losetupList())).stdout).filter(
        (loop) => inDir(loop.backingFile.replace(/ \(deleted\)$/, '')),
      );
      for (const loop of loops) {
        leaks.push(`loop device ${loop.device} backed by ${loop.backingFile}`);
        await runner.run(commands.losetupDetach(loop.device)).catch(() => undefined);
      }
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      if (leaks.length > 0) {
        throw new Error(`The test left behind (now released): ${leaks.join('; ')}`);
      }
    },
  };
}

/** Fails early, with what to run, when libvirtd cannot see mounts made under the scratch root. */
async function assertPrepared(system: NodeSystemFiles): Promise<void> {
  if (!existsSync(REAL_SCRATCH_ROOT)) {
    throw new Error(`${REAL_SCRATCH_ROOT} is missing: run tools/prepare-real-host.sh first`);
  }
  const pid = existsSync('/run/libvirtd.pid')
    ? (await system.readText('/run/libvirtd.pid')).trim()
    : '';
  if (!pid) return;
  const theirs = await readlink(`/proc/${pid}/ns/mnt`).catch(() => null);
  const ours = await readlink('/proc/self/ns/mnt');
  if (theirs === null || theirs === ours) return;
  const shared = parseMountinfo(await system.readText('/proc/self/mountinfo')).some(
    (entry) =>
      entry.target === REAL_SCRATCH_ROOT && entry.propagation.some((p) => p.startsWith('shared:')),
  );
  if (!shared) {
    throw new Error(
      `libvirtd runs in its own mount namespace but ${REAL_SCRATCH_ROOT} is not a shared mount: run tools/prepare-real-host.sh`,
    );
  }
}
