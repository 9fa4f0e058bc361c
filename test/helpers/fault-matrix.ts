import { afterAll } from 'vitest';
/**
 * Shared by the fault and crash matrices (issue 9 item 14): for every disk layout, every port call k of spawn and of
 * destroy fails (once, and from then on always), a second fault hits every call of spawn's
 * rollback, and the process dies after every call k. Each combination runs on a fresh simulated
 * host and must end with nothing left (no loop or nbd device, mount, domain, instance directory
 * or journal record) and the volume bytes unchanged.
 */
import { createHash } from 'node:crypto';
import { LxcDriver, type LxcDriverOptions } from '../../driver/index.js';
import { DEFAULT_STATE_DIR, journalDir } from '../../driver/journal.js';
import type { DiskSpec } from '../../harness/disk-spec.js';
import {
  makeInstance,
  plainDisk,
  rootFs,
  twoPartitionDisk,
  volumeBdi,
} from '../../harness/instances.js';
import { buildDisk } from '../../harness/sim-disks/seed.js';
import { createSimHarness } from '../../harness/sim-harness.js';

type Harness = Awaited<ReturnType<typeof createSimHarness>>;

/** What one layout boots: the Nova arguments, driver options and the disks that must not change. */
export interface Setup {
  instance: Record<string, unknown>;
  imageMeta: Record<string, unknown>;
  bdi: Record<string, unknown> | null;
  options: Partial<LxcDriverOptions>;
  volumes: string[];
}

const ID_MAPS = { uidMaps: ['0:100000:65536'], gidMaps: ['0:100000:65536'] };

const mbrDisk: DiskSpec = {
  size: '64M',
  table: 'mbr',
  partitions: [{ number: 1, start: 2048, size: 61440, filesystem: rootFs() }],
};

/** The layouts of item 14. */
export const LAYOUTS: Record<string, (h: Harness) => Promise<Setup>> = {
  'file volume GPT': async (h) => {
    const volume = await h.makeDiskFile(twoPartitionDisk('gpt'), 'volume');
    return volumeSetup([volume]);
  },
  'file volume unpartitioned': async (h) => {
    const volume = await h.makeDiskFile(plainDisk(), 'volume');
    return volumeSetup([volume]);
  },
  'block device MBR': async (h) => {
    const device = '/dev/sdq';
    buildDisk(h.host.state, device, mbrDisk, 'block');
    const bdi = {
      root_device_name: '/dev/vda',
      block_device_mapping: [
        {
          boot_index: 0,
          mount_device: '/dev/vda',
          connection_info: { driver_volume_type: 'local', data: { device_path: device } },
        },
      ],
    };
    return {
      instance: makeInstance({ image_ref: null }),
      imageMeta: {},
      bdi,
      options: { imagesType: 'raw' },
      volumes: [device],
    };
  },
  'raw image': async (h) => imageSetup(h, plainDisk(), 'raw'),
  'qcow2 partitioned': async (h) => imageSetup(h, twoPartitionDisk('gpt'), 'qcow2'),
  'qcow2 unpartitioned': async (h) => imageSetup(h, plainDisk(), 'qcow2'),
  'extra volume with id maps': async (h) => {
    const root = await h.makeDiskFile(twoPartitionDisk('mbr'), 'volume');
    const extra = await h.makeDiskFile({ size: '16M', table: 'none' }, 'extra');
    return { ...volumeSetup([root, extra]), options: { imagesType: 'raw', ...ID_MAPS } };
  },
};

function volumeSetup(paths: string[]): Setup {
  const [root, ...others] = paths;
  return {
    instance: makeInstance({ image_ref: null }),
    imageMeta: {},
    bdi: volumeBdi(root!, ...others),
    options: { imagesType: 'raw' },
    volumes: paths,
  };
}

async function imageSetup(h: Harness, spec: DiskSpec, format: 'raw' | 'qcow2'): Promise<Setup> {
  const raw = await h.makeDiskFile(spec, 'image');
  const file = format === 'qcow2' ? await h.makeQcow2(raw) : raw;
  await h.addImage(`img-${format}`, file, format);
  return {
    instance: makeInstance({ image_ref: `img-${format}` }),
    imageMeta: { disk_format: format },
    bdi: null,
    options: { imagesType: format },
    volumes: [file],
  };
}

/** A digest of a disk's stored bytes (sparse: only what was ever written). */
export function digest(h: Harness, path: string): string {
  const disk = h.host.state.disks.get(path);
  if (!disk) return 'missing';
  const hash = createHash('sha256');
  for (const extent of disk.content.extents()) {
    hash.update(`${extent.offset}:`);
    hash.update(disk.content.read(extent.offset, extent.length));
  }
  return hash.digest('hex');
}

/** The process died: every later port call fails this way, and nothing more reaches the host. */
class Crash extends Error {}

export interface Run {
  h: Harness;
  setup: Setup;
  driver: () => LxcDriver;
  before: string[];
  spawn: () => Promise<unknown>;
  destroy: (instance?: unknown, bdi?: unknown) => Promise<unknown>;
  /** Nova's record as it was saved before the operation (a crash loses the in-memory one). */
  saved: { instance: Record<string, unknown>; bdi: Record<string, unknown> | null };
}

export async function prepare(layout: string): Promise<Run> {
  const h = await createSimHarness();
  const setup = await LAYOUTS[layout]!(h);
  const driver = () => new LxcDriver(h.host, { instancesPath: h.instancesPath, ...setup.options });
  const d = driver();
  const before = setup.volumes.map((v) => digest(h, v));
  const outcome = (p: Promise<void>) =>
    p.then(
      () => undefined,
      (e: unknown) => e,
    );
  return {
    h,
    setup,
    driver,
    before,
    saved: { instance: structuredClone(setup.instance), bdi: structuredClone(setup.bdi) },
    spawn: () =>
      outcome(d.spawn({}, setup.instance, setup.imageMeta, [], null, null, null, setup.bdi)),
    destroy: (instance = setup.instance, bdi = setup.bdi) =>
      outcome(d.destroy({}, instance, null, bdi)),
  };
}

/** Everything the host may still hold for the run; empty when clean. */
export async function leftovers(run: Run): Promise<string[]> {
  const { h, setup } = run;
  const bare = h.bare;
  const dir = `${h.instancesPath}/${String(setup.instance['uuid'])}`;
  const left = [
    ...(await bare.blockDevices.listLoops()).map((l) => `loop ${l.device} <- ${l.backingFile}`),
    ...(await bare.nbd.list()).map((n) => `nbd ${n.device} <- ${n.file}`),
    ...(await bare.mounts.list()).map((m) => `mount ${m.source} on ${m.target}`),
    ...(await bare.hypervisor.list()).map((d) => `domain ${d.name} (${d.state})`),
    ...((await bare.files.exists(dir)) ? [`directory ${dir}`] : []),
    ...(await bare.journal.keys(journalDir(DEFAULT_STATE_DIR))).map((k) => `journal ${k}`),
  ];
  setup.volumes.forEach((v, i) => {
    if (digest(h, v) !== run.before[i]) left.push(`bytes of ${v} changed`);
  });
  return left;
}

/** Counts the port calls `act` makes. */
export async function countCalls(run: Run, act: () => Promise<unknown>): Promise<number> {
  const start = run.h.faults.calls;
  await act();
  return run.h.faults.calls - start;
}

export const injected = (name: string) =>
  Object.assign(new Error(`Failed to ${name}: injected fault`), {});

/** Fails call `k` (counted from now); with `always`, every later call of the same operation too. */
export function failAt(
  run: Run,
  k: number,
  mode: 'once' | 'always',
): { fired: () => string | undefined } {
  const start = run.h.faults.calls;
  let failing: string | undefined;
  run.h.faults.gate = ({ name, index }) => {
    const i = index - start;
    if (i === k || (mode === 'always' && failing === name && i > k)) {
      failing = name;
      throw injected(name);
    }
  };
  return { fired: () => failing };
}

/** Lets calls 0..k through (counted from now) and fails every later one: the process died. */
export function crashAfter(run: Run, k: number): void {
  const start = run.h.faults.calls;
  run.h.faults.gate = ({ index }) => {
    if (index - start > k) throw new Crash(`process killed after call ${k}`);
  };
}

/** Counts combinations by kind and prints the total when the file's tests are done. */
export function combinationCounter(title: string): (kind: string) => void {
  const combinations = new Map<string, number>();
  afterAll(() => {
    const total = [...combinations.values()].reduce((a, b) => a + b, 0);
    const parts = [...combinations].map(([kind, n]) => `${kind} ${n}`).join(', ');
    console.log(`${title}: ${total} combinations (${parts})`);
  });
  return (kind) => combinations.set(kind, (combinations.get(kind) ?? 0) + 1);
}

/** Collects a failure line per bad combination; the test fails with all of them listed. */
export function problems() {
  const lines: string[] = [];
  return {
    lines,
    check(label: string, left: string[]) {
      if (left.length > 0) lines.push(`${label}: ${left.join('; ')}`);
    },
  };
}
