/**
 * The real-host part: the driver next to the raw commands it wraps, on this machine's loop
 * devices, mounts and libvirt LXC (root only). It builds its own images (raw and GPT, with the
 * fixture builders), times the raw shell scripts as whole processes, and repeats the disk
 * figures with 64 other loop devices attached. Everything it makes is released at the end.
 */
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { buildLxcDomainXml, lxcDomainSpecForInstance } from '../../driver/core/domain-xml.js';
import { LxcDiskHandler, type RootfsRequest } from '../../driver/disk-handler.js';
import type { CommandRunner, RunOptions } from '../../driver/adapters/command-runner.js';
import { HelperCommandRunner } from '../../driver/adapters/command-helper.js';
import { createRealHost } from '../../driver/adapters/real-host.js';
import { LxcDriver } from '../../driver/driver.js';
import { silentLogger } from '../../driver/ports/logger.js';
import type { BackendHarness } from '../../harness/harness.js';
import { makeInstance, plainDisk, twoPartitionDisk } from '../../harness/instances.js';
import { compare, ratioFigure, stats, type Figure } from './measure.js';
import type { BenchContext, BenchSection } from './section.js';

const run = promisify(execFile);
const URI = 'lxc:///';

/** Partition 1 of twoPartitionDisk: sectors 2048.. (61440 of them). */
const P1_OFFSET = 2048 * 512;
const P1_SIZE = 61440 * 512;

/**
 * Runs a raw shell script as a whole process and returns its stdout. stdin is /dev/null, not
 * node's default socket: bash takes a socket on stdin for a remote shell daemon's and sources
 * /etc/bash.bashrc and ~/.bashrc (Debian's SSH_SOURCE_BASHRC), which cost this machine's
 * reference 80-100 ms per script whenever SHLVL was unset (a job started in the background).
 * --norc --noprofile: the raw commands, and nothing of the user's shell set-up.
 */
function sh(script: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['--norc', '--noprofile', '-c', script, 'bench', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(stdout.trim());
      else reject(new Error(`raw script failed (${code}): ${stderr.trim()}`));
    });
  });
}

/** The raw disk path: attach, mount, unmount, detach, in one shell process. */
const RAW_DISK = `set -e
d=$(losetup --find --show "$@")
mount -t ext4 "$d" "$MNT"
umount "$MNT"
losetup --detach "$d"`;

/** The same with the partition mapped over the volume's own loop device (what a file volume needs). */
const RAW_DISK_NESTED = `set -e
v=$(losetup --find --show "$3")
d=$(losetup --find --show --offset "$1" --sizelimit "$2" "$v")
mount -t ext4 "$d" "$MNT"
umount "$MNT"
losetup --detach "$d"
losetup --detach "$v"`;

/** The raw spawn: map and mount the rootfs, define, start, drop the host's mount. */
const RAW_SPAWN = `set -e
d=$(losetup --find --show "$1")
mount -t ext4 "$d" "$2"
virsh -q -c ${URI} define "$3" >/dev/null
virsh -q -c ${URI} start "$4" >/dev/null
umount "$2"
echo "$d"`;

/** Spawn's raw commands for a volume that is already a block device (no losetup). */
const RAW_SPAWN_DEVICE = `set -e
mount -t ext4 "$1" "$2"
virsh -q -c ${URI} define "$3" >/dev/null
virsh -q -c ${URI} start "$4" >/dev/null
umount "$2"`;

/** The raw destroy: libvirt's forced power-off, undefine, release the device. */
const RAW_DESTROY = `set -e
virsh -q -c ${URI} destroy "$1" >/dev/null
virsh -q -c ${URI} undefine "$1" >/dev/null
losetup --detach "$2"`;

async function skipReason(): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'not root (the real backend needs root)';
  if (!existsSync('/dev/loop-control')) return 'no /dev/loop-control (no loop devices here)';
  try {
    await run('virsh', ['-c', URI, 'list'], { timeout: 10_000 });
  } catch {
    return `libvirt LXC does not answer (virsh -c ${URI} list); run tools/prepare-real-host.sh`;
  }
  return null;
}

function volumeRequest(dir: string, connectionInfo: RootfsRequest['source']): RootfsRequest {
  return {
    mountPoint: join(dir, 'rootfs'),
    diskPath: join(dir, 'disk'),
    source: connectionInfo,
    policy: { kind: 'first' },
    policySource: 'default (partition 1)',
    arch: 'x86_64',
    idMaps: { uid: [], gid: [] },
  };
}

/** A root volume given as a file (what the volume connector attaches a loop device to). */
function fileVolume(path: string): RootfsRequest['source'] {
  return {
    kind: 'volume',
    connectionInfo: { driver_volume_type: 'file', data: { path } },
    key: path,
  };
}

/** A root volume that is a block device already on the host (Cinder LVM, an iSCSI disk). */
function localVolume(device: string): RootfsRequest['source'] {
  return {
    kind: 'volume',
    connectionInfo: { driver_volume_type: 'local', data: { device_path: device } },
    key: device,
  };
}

async function diskFigures(
  ctx: BenchContext,
  harness: BackendHarness,
  images: { raw: string; gpt: string; gptDevice: string },
  others: number,
): Promise<Figure[]> {
  const handler = new LxcDiskHandler(harness.host, silentLogger);
  const dir = join(harness.instancesPath, `disk-${others}`);
  const mnt = join(dir, 'rootfs');
  await mkdir(mnt, { recursive: true });
  const driverPath = (source: RootfsRequest['source']) => async () => {
    const request = volumeRequest(dir, structuredClone(source));
    // The disk handler owns the root volume: release disconnects it too.
    const record = await handler.setup(request, () => {});
    await handler.release(record, () => {});
  };
  const script = (text: string, args: string[]) => () => sh(text, args, { MNT: mnt });
  const plan = { runs: ctx.runs(11), warmup: 2 };
  const where = `${others} other loop devices attached`;
  const figures: Figure[] = [];
  ctx.progress(`disk path, ${where}`);
  figures.push(
    ratioFigure(
      `disk path setup+teardown, unpartitioned file volume, ${where}`,
      'raw script (losetup, mount, umount, losetup -d)',
      'ms',
      await compare(
        { label: 'driver', run: driverPath(fileVolume(images.raw)) },
        { label: 'raw', run: script(RAW_DISK, [images.raw]) },
        plan,
      ),
      1.3,
    ),
  );
  figures.push(
    ratioFigure(
      `disk path setup+teardown, GPT partition 1 of a local block-device volume, ${where}`,
      'raw script (losetup --offset --sizelimit, mount, umount, losetup -d)',
      'ms',
      await compare(
        { label: 'driver', run: driverPath(localVolume(images.gptDevice)) },
        {
          label: 'raw',
          run: script(RAW_DISK, [
            '--offset',
            String(P1_OFFSET),
            '--sizelimit',
            String(P1_SIZE),
            images.gptDevice,
          ]),
        },
        plan,
      ),
      1.3,
    ),
  );
  figures.push(
    ratioFigure(
      `disk path setup+teardown, GPT partition 1 of a file volume, ${where}`,
      'raw script mapping the partition over the volume loop device (6 commands)',
      'ms',
      await compare(
        { label: 'driver', run: driverPath(fileVolume(images.gpt)) },
        {
          label: 'raw',
          run: script(RAW_DISK_NESTED, [String(P1_OFFSET), String(P1_SIZE), images.gpt]),
        },
        plan,
      ),
      1.3,
    ),
  );
  return figures;
}

/** A raw script's domain: a fresh name, an empty rootfs directory and its XML file under `parent`. */
async function rawDomain(
  parent: string,
): Promise<{ name: string; rootfs: string; xmlPath: string }> {
  const instance = makeInstance({ image_ref: null });
  const name = String(instance['name']);
  const instanceDir = join(parent, String(instance['uuid']));
  const rootfs = join(instanceDir, 'rootfs');
  await mkdir(rootfs, { recursive: true });
  const xmlPath = join(instanceDir, 'domain.xml');
  const spec = { name, uuid: randomUUID(), memoryMb: 128, vcpus: 1, instanceDir };
  await writeFile(xmlPath, buildLxcDomainXml(lxcDomainSpecForInstance(spec)));
  return { name, rootfs, xmlPath };
}

/**
 * Runs `a` and `b` once per round, in the order B A, A B, B A, ... (a drifting machine biases
 * neither side), after one round of warm-up whose figures are not kept (`keep` false).
 */
async function alternateRounds(
  rounds: number,
  a: (keep: boolean) => Promise<void>,
  b: (keep: boolean) => Promise<void>,
): Promise<void> {
  for (let i = -1; i < rounds; i++) {
    const [first, second] = i % 2 === 0 ? [a, b] : [b, a];
    await first(i >= 0);
    await second(i >= 0);
  }
}

async function lifecycleFigures(ctx: BenchContext, harness: BackendHarness): Promise<Figure[]> {
  const driver = new LxcDriver(harness.host, {
    instancesPath: harness.instancesPath,
    // Its own journal, not the host's /var/lib/nova-lxc (the harness's clean-up checks).
    stateDir: await harness.makeDir('state'),
  });
  const volumes = await Promise.all([
    harness.makeDiskFile(plainDisk(), 'spawn-driver'),
    harness.makeDiskFile(plainDisk(), 'spawn-raw'),
  ]);
  const [driverVolume, rawVolume] = volumes as [string, string];
  const bdi = () => ({
    root_device_name: '/dev/vda',
    block_device_mapping: [
      {
        boot_index: 0,
        mount_device: '/dev/vda',
        device_type: 'disk',
        connection_info: { driver_volume_type: 'file', data: { path: driverVolume } },
      },
    ],
  });
  let pending: { instance: Record<string, unknown>; bdi: Record<string, unknown> } | null = null;
  const driverSpawn = async () => {
    const instance = makeInstance({ image_ref: null });
    const b = bdi();
    const start = performance.now();
    await driver.spawn({}, instance, {}, [], null, null, null, b);
    const ms = performance.now() - start;
    pending = { instance, bdi: b };
    return ms;
  };
  const driverDestroy = async () => {
    const { instance, bdi: b } = pending!;
    pending = null;
    const start = performance.now();
    await driver.destroy({}, instance, null, b);
    return performance.now() - start;
  };
  let rawPending: { name: string; device: string } | null = null;
  const rawSpawn = async () => {
    const { name, rootfs, xmlPath } = await rawDomain(harness.instancesPath);
    const start = performance.now();
    const device = await sh(RAW_SPAWN, [rawVolume, rootfs, xmlPath, name]);
    const ms = performance.now() - start;
    rawPending = { name, device };
    return ms;
  };
  const rawDestroy = async () => {
    const { name, device } = rawPending!;
    rawPending = null;
    const start = performance.now();
    await sh(RAW_DESTROY, [name, device]);
    return performance.now() - start;
  };
  const figures: Figure[] = [];
  // Spawn and destroy alternate on each side (a spawn needs the previous destroy), so each
  // side's pair runs together and the pairs alternate A B A B.
  const spawns = { a: [] as number[], b: [] as number[] };
  const destroys = { a: [] as number[], b: [] as number[] };
  ctx.progress('spawn and destroy');
  await alternateRounds(
    ctx.runs(9),
    async (keep) => {
      const s = await driverSpawn();
      const d = await driverDestroy();
      if (keep) {
        spawns.a.push(s);
        destroys.a.push(d);
      }
    },
    async (keep) => {
      const s = await rawSpawn();
      const d = await rawDestroy();
      if (keep) {
        spawns.b.push(s);
        destroys.b.push(d);
      }
    },
  );
  const pair = (x: { a: number[]; b: number[] }) => {
    const a = stats(x.a);
    const b = stats(x.b);
    return { a, b, ratio: a.median / b.median };
  };
  figures.push(
    ratioFigure(
      'spawn (disk setup, define, start, checks), unpartitioned file volume',
      'raw script (losetup, mount, virsh define, virsh start, umount)',
      'ms',
      pair(spawns),
      1.25,
    ),
  );
  const destroy = pair(destroys);
  figures.push({
    ...ratioFigure(
      'destroy of a container whose init ignores SIGTERM (driver)',
      'raw script (virsh destroy, virsh undefine, losetup -d)',
      'ms',
      destroy,
    ),
    target: '< 200 ms',
    met: destroy.a.median < 200,
  });
  return figures;
}

/**
 * Spawn and destroy through `nova-lxc serve` on the real backend (in this process, on its unix
 * socket): what Nova's compute driver calls. The volume is a block device already on the host
 * (Cinder's LVM, an iSCSI disk): here a loop device the bench attached. The raw side runs the
 * same commands for its own device; its domains are removed untimed.
 */
async function serviceFigures(ctx: BenchContext, harness: BackendHarness): Promise<Figure[]> {
  const { startService } = await import('../../service/index.js');
  const { ServiceClient } = await import('../../service/client.js');
  const { createNovaLogger } = await import('../../service/log.js');
  const dir = await harness.makeDir('service');
  const instancesPath = join(dir, 'instances');
  await mkdir(instancesPath, { recursive: true });
  const service = await startService({
    backend: 'real',
    socketPath: join(dir, 'api.sock'),
    stateDir: join(dir, 'state'),
    driver: { instancesPath, imagesType: 'raw' },
    connectionUri: URI,
    logger: createNovaLogger({ level: 'error', write: () => undefined }),
  });
  const client = new ServiceClient(join(dir, 'api.sock'));
  const devices: string[] = [];
  const rawDomains: string[] = [];
  // Untimed, through the adapter's destroy: libvirt's fast (paused) destroy path leaves the
  // domain's cgroup directories behind, and the adapter removes them (a bare `virsh suspend;
  // virsh destroy` left 7 per domain).
  const removeDomain = async (name: string) => {
    await harness.host.hypervisor.destroy(name);
    await harness.host.hypervisor.undefine(name);
  };
  try {
    for (const name of ['service-volume', 'service-raw']) {
      devices.push(
        await sh('losetup --find --show "$1"', [await harness.makeDiskFile(plainDisk(), name)]),
      );
    }
    const [serviceDevice, rawDevice] = devices as [string, string];
    const spawns = { a: [] as number[], b: [] as number[] };
    const destroys: number[] = [];
    const viaService = async (keep: boolean) => {
      const uuid = randomUUID();
      const spec = {
        name: `instance-${uuid.slice(0, 8)}`,
        flavor: { name: 'm1.tiny', memory_mb: 128, vcpus: 1, root_gb: 1 },
        root_volume: { device_path: serviceDevice, mount_device: '/dev/vda' },
      };
      let start = performance.now();
      await client.call('PUT', `/v1/instances/${uuid}`, spec);
      const spawned = performance.now() - start;
      start = performance.now();
      await client.call('DELETE', `/v1/instances/${uuid}`);
      const destroyed = performance.now() - start;
      if (keep) {
        spawns.a.push(spawned);
        destroys.push(destroyed);
      }
    };
    const raw = async (keep: boolean) => {
      const { name, rootfs, xmlPath } = await rawDomain(join(dir, 'raw'));
      const start = performance.now();
      await sh(RAW_SPAWN_DEVICE, [rawDevice, rootfs, xmlPath, name]);
      if (keep) spawns.b.push(performance.now() - start);
      rawDomains.push(name);
      await removeDomain(name);
      rawDomains.pop();
    };
    ctx.progress('spawn and destroy through nova-lxc serve');
    await alternateRounds(ctx.runs(9), viaService, raw);
    const a = stats(spawns.a);
    const b = stats(spawns.b);
    const destroy = stats(destroys);
    return [
      ratioFigure(
        'spawn through nova-lxc serve (PUT /v1/instances), unpartitioned local block device',
        'raw script (mount, virsh define, virsh start, umount)',
        'ms',
        { a, b, ratio: a.median / b.median },
        1.25,
      ),
      {
        what: 'destroy through nova-lxc serve (DELETE /v1/instances), init ignoring SIGTERM',
        unit: 'ms',
        a: destroy,
        target: '< 200 ms',
        met: destroy.median < 200,
      },
    ];
  } finally {
    for (const name of rawDomains) await removeDomain(name).catch(() => undefined);
    client.close();
    await service.close();
    for (const device of devices) await sh('losetup --detach "$1"', [device]).catch(() => '');
  }
}

/** A runner that notes each command's tool and subcommand (`virsh dominfo`, `losetup --detach`). */
class CountingRunner implements CommandRunner {
  readonly commands: string[] = [];
  private readonly inner = new HelperCommandRunner();
  run(argv: readonly string[], options?: RunOptions) {
    const [tool = '', ...rest] = argv;
    // The subcommand that tells the steps apart: virsh's verb, losetup's first option.
    const sub =
      tool === 'virsh'
        ? (rest.find((a, i) => i > 1 && !a.startsWith('-')) ?? '')
        : tool === 'losetup'
          ? (rest[0] ?? '')
          : '';
    this.commands.push(`${tool} ${sub}`.trim());
    return this.inner.run(argv, options);
  }
}

/**
 * How many processes the driver runs per step, next to the raw script's: one run each over a
 * host whose runner counts. A count, not a timing: the difference is what no tuning of the
 * driver's own code can take back (each process costs ~1-3 ms, a virsh one ~15-25 ms).
 */
async function processFigures(
  harness: BackendHarness,
  images: { raw: string; gptDevice: string },
): Promise<Figure[]> {
  const runner = new CountingRunner();
  const host = createRealHost({ imagesDir: join(harness.instancesPath, 'none'), runner });
  const dir = join(harness.instancesPath, 'counts');
  await mkdir(join(dir, 'rootfs'), { recursive: true });
  const handler = new LxcDiskHandler(host, silentLogger);
  const count = async (run: () => Promise<void>) => {
    runner.commands.length = 0;
    await run();
    return [...runner.commands];
  };
  const disk = (source: RootfsRequest['source']) => async () => {
    const record = await handler.setup(volumeRequest(dir, source), () => {});
    await handler.release(record, () => {});
  };
  const figure = (what: string, raw: string[], commands: string[]): Figure => ({
    what: `processes: ${what}`,
    reference: `raw script: ${raw.join(', ')}`,
    unit: 'processes',
    a: stats([commands.length]),
    b: stats([raw.length]),
    ratio: commands.length / raw.length,
    note: commands.join(', '),
  });
  const figures: Figure[] = [];
  figures.push(
    figure(
      'disk setup+teardown, unpartitioned file volume',
      ['losetup', 'mount', 'umount', 'losetup -d'],
      await count(disk(fileVolume(images.raw))),
    ),
  );
  figures.push(
    figure(
      'disk setup+teardown, GPT partition 1 of a local block device',
      ['losetup --offset', 'mount', 'umount', 'losetup -d'],
      await count(disk(localVolume(images.gptDevice))),
    ),
  );
  const volume = await harness.makeDiskFile(plainDisk(), 'counts');
  const driver = new LxcDriver(host, {
    instancesPath: harness.instancesPath,
    stateDir: await harness.makeDir('state-counts'),
  });
  const bdi = {
    root_device_name: '/dev/vda',
    block_device_mapping: [
      {
        boot_index: 0,
        mount_device: '/dev/vda',
        device_type: 'disk',
        connection_info: { driver_volume_type: 'file', data: { path: volume } },
      },
    ],
  };
  // One spawn and destroy first: a driver's first spawn asks virsh dominfo whether the domain
  // exists (from then on libvirt's own files answer, once seen written); the counts below are
  // the steady state of a long-lived process.
  const first = makeInstance({ image_ref: null });
  await driver.spawn({}, first, {}, [], null, null, null, bdi);
  await driver.destroy({}, first, null, bdi);
  const instance = makeInstance({ image_ref: null });
  figures.push(
    figure(
      'spawn, unpartitioned file volume',
      ['losetup', 'mount', 'virsh define', 'virsh start', 'umount'],
      await count(() => driver.spawn({}, instance, {}, [], null, null, null, bdi)),
    ),
  );
  figures.push(
    figure(
      'destroy',
      ['virsh destroy', 'virsh undefine', 'losetup -d'],
      await count(() => driver.destroy({}, instance, null, bdi)),
    ),
  );
  return figures;
}

async function runReal(ctx: BenchContext): Promise<Figure[]> {
  const { createRealHarness } = await import('../../harness/real-harness.js');
  const harness = await createRealHarness();
  const figures: Figure[] = [];
  const others: string[] = [];
  let gptDevice = '';
  try {
    ctx.progress('building images');
    const raw = await harness.makeDiskFile(plainDisk(), 'raw');
    const gpt = await harness.makeDiskFile(twoPartitionDisk('gpt'), 'gpt');
    // The "local" volume: a block device already on the host (Cinder LVM, an iSCSI disk).
    // A copy of its own: the driver refuses a file volume some loop device already serves.
    const gptLocal = await harness.makeDiskFile(twoPartitionDisk('gpt'), 'gpt-local');
    gptDevice = await sh('losetup --find --show "$1"', [gptLocal]);
    const images = { raw, gpt, gptDevice };
    ctx.progress('process counts');
    figures.push(...(await processFigures(harness, images)));
    figures.push(...(await diskFigures(ctx, harness, images, 0)));
    const filler = await harness.makeDiskFile({ size: '1M', table: 'none' }, 'filler');
    for (let i = 0; i < 64; i++) others.push(await sh('losetup --find --show "$1"', [filler]));
    figures.push(...(await diskFigures(ctx, harness, images, 64)));
    for (const device of others.splice(0)) await sh('losetup --detach "$1"', [device]);
    figures.push(...(await lifecycleFigures(ctx, harness)));
    figures.push(...(await serviceFigures(ctx, harness)));
  } finally {
    for (const device of others) await sh('losetup --detach "$1"', [device]).catch(() => '');
    if (gptDevice) await sh('losetup --detach "$1"', [gptDevice]).catch(() => '');
    await harness.cleanup();
  }
  return figures;
}

export const section: BenchSection = {
  name: 'real',
  title: 'Real host (root, loop devices, libvirt LXC)',
  order: 30,
  skipReason,
  run: runReal,
};
