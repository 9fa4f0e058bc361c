/** The simulator part of the benchmark: runs anywhere, no root. */
import { readPartitionTable } from '../../driver/core/partition-table.js';
import { crc32 } from '../../driver/core/crc32.js';
import { LxcDriver } from '../../driver/driver.js';
import { getDiskInfo } from '../../driver/nova/blockinfo.js';
import {
  normalizeBlockDeviceInfo,
  normalizeImageMeta,
  normalizeInstance,
} from '../../driver/nova/model.js';
import { expandScenario, loadScenarios, runScenario } from '../../scenarios/index.js';
import {
  makeInstance,
  plainDisk,
  rootFs,
  twoPartitionDisk,
  volumeBdi,
} from '../../harness/instances.js';
import { createSimulatedHost, type SimulatedHost } from '../../simulator/index.js';
import { writeDiskLayout } from '../../harness/sim-disks/disk-layout.js';
import { SparseDisk } from '../../simulator/sparse-disk.js';
import { buildDisk } from '../../harness/sim-disks/seed.js';
import { harnessFor } from '../commands/scenario.js';
import { compare, measure, ratioFigure, stats, timeOnce, type Figure } from './measure.js';
import type { BenchContext, BenchSection } from './section.js';

/** The byte-wise table CRC the driver used before it called zlib: the reference. */
const TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function bytewiseCrc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = (TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** A simulated host and driver with `alive` GPT-volume instances already running. */
async function simHost(alive: number, volumes: number) {
  const host: SimulatedHost = createSimulatedHost({ loopDevices: 2 * (alive + volumes) + 8 });
  host.state.host.mkdirSync('/var/lib/nova/instances', { recursive: true });
  const driver = new LxcDriver(host, { instancesPath: '/var/lib/nova/instances' });
  const disk = (i: number, kind: string) => {
    const path = `/var/lib/bench/${kind}-${i}.img`;
    buildDisk(host.state, path, kind === 'gpt' ? twoPartitionDisk('gpt', rootFs()) : plainDisk());
    return path;
  };
  for (let i = 0; i < alive; i++) {
    const bdi = volumeBdi(disk(i, 'alive'));
    await driver.spawn({}, makeInstance({ image_ref: null }), {}, [], null, null, null, bdi);
  }
  const paths = Array.from({ length: volumes }, (_, i) => disk(i, 'gpt'));
  const spawnDestroy = async (path: string) => {
    const instance = makeInstance({ image_ref: null });
    const bdi = volumeBdi(path);
    await driver.spawn({}, instance, {}, [], null, null, null, bdi);
    await driver.destroy({}, instance, null, bdi);
  };
  return { host, driver, paths, spawnDestroy };
}

async function scenarioSuite(): Promise<() => Promise<number>> {
  const runs = (await loadScenarios([])).flatMap(expandScenario);
  const harness = harnessFor('sim');
  return async () => {
    let failed = 0;
    for (const run of runs) {
      const result = await runScenario(run, { backend: 'sim', harness });
      if (result.status === 'failed') failed += 1;
    }
    return failed;
  };
}

function heapNow(): number {
  globalThis.gc?.();
  globalThis.gc?.();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

async function run(ctx: BenchContext): Promise<Figure[]> {
  const figures: Figure[] = [];

  ctx.progress('CRC-32 and GPT parse');
  const entries = Uint8Array.from({ length: 16_384 }, (_, i) => (i * 2654435761) >>> 24);
  figures.push(
    ratioFigure(
      'CRC-32 of a 16 KiB GPT entry array (zlib.crc32)',
      'the byte-wise table loop it replaced',
      'µs',
      await compare(
        { label: 'zlib', run: () => void crc32(entries) },
        { label: 'bytewise', run: () => void bytewiseCrc32(entries) },
        { runs: ctx.runs(15), repeat: 200, scale: 1000 },
      ),
      0.25,
    ),
  );
  const disk = new SparseDisk(64 * 2 ** 20);
  writeDiskLayout(disk, twoPartitionDisk('gpt'));
  const reader = { size: disk.size, read: async (o: number, l: number) => disk.read(o, l) };
  figures.push({
    what: 'GPT table parse (2 of 128 entries, both CRCs checked)',
    unit: 'µs',
    a: await measure(
      { label: 'parse', run: () => readPartitionTable(reader) },
      { runs: ctx.runs(15), repeat: 200, scale: 1000 },
    ),
  });

  const instance = normalizeInstance(makeInstance());
  const meta = normalizeImageMeta({});
  figures.push({
    what: 'blockinfo get_disk_info (lxc, root volume)',
    unit: 'µs',
    a: await measure(
      {
        label: 'blockinfo',
        run: () => {
          const bdi = normalizeBlockDeviceInfo(volumeBdi('/var/lib/bench/v.img'));
          getDiskInfo({ virt_type: 'lxc', instance, image_meta: meta, block_device_info: bdi });
        },
      },
      { runs: ctx.runs(15), repeat: 500, scale: 1000 },
    ),
  });

  ctx.progress('1000 instances alive');
  const crowded = await simHost(1000, 1);
  const empty = await simHost(0, 1);
  figures.push(
    ratioFigure(
      'simulated spawn+destroy (GPT volume) with 1000 instances alive',
      'the same on an empty simulated host',
      'ms',
      await compare(
        { label: '1000', run: () => crowded.spawnDestroy(crowded.paths[0]!) },
        { label: '0', run: () => empty.spawnDestroy(empty.paths[0]!) },
        { runs: ctx.runs(21), repeat: 10 },
      ),
      1.25,
      'flat spawn cost: the target is a ratio near 1',
    ),
  );

  ctx.progress('scenario suite');
  const suite = await scenarioSuite();
  const samples: number[] = [];
  let failures = 0;
  for (let i = 0; i < ctx.runs(20); i++) {
    const ms = await timeOnce(async () => {
      failures += await suite();
    });
    samples.push(ms);
  }
  const all = stats(samples);
  figures.push({
    what: 'whole scenario suite, in process, simulator',
    unit: 'ms',
    a: all,
    target: '< 1000 ms',
    met: all.median < 1000,
    ...(failures > 0 ? { note: `${failures} scenario runs FAILED` } : {}),
  });
  const half = Math.floor(samples.length / 2);
  const late = stats(samples.slice(half));
  const early = stats(samples.slice(0, half));
  figures.push({
    what: `scenario suite, runs ${half + 1}–${samples.length} in one process`,
    reference: `runs 1–${half} of the same process (sequential by nature)`,
    unit: 'ms',
    a: late,
    b: early,
    ratio: late.median / early.median,
    target: '≤ 1.1×',
    met: late.median / early.median <= 1.1,
    note: 'repeated runs must not slow down',
  });

  ctx.progress('16 TiB disk');
  const memory: number[] = [];
  // The first round (not kept) pays for code and caches the later rounds share.
  for (let i = -1; i < ctx.runs(5); i++) {
    const before = heapNow();
    const huge = new SparseDisk(16 * 2 ** 40);
    writeDiskLayout(huge, {
      size: '16T',
      table: 'gpt',
      partitions: [{ number: 1, start: 2048, size: 2 ** 34, filesystem: rootFs() }],
    });
    const grewBy = (heapNow() - before) / 1024;
    if (i >= 0) memory.push(grewBy + huge.size * 0); // `huge` stays alive until measured
  }
  const grew = stats(memory);
  figures.push({
    what: '16 TiB simulated GPT disk with an ext4 partition: memory it adds',
    unit: 'KiB',
    a: grew,
    target: '< 1024 KiB',
    met: grew.max < 1024,
    ...(globalThis.gc ? {} : { note: 'run with node --expose-gc for exact figures' }),
  });
  return figures;
}

export const section: BenchSection = {
  name: 'sim',
  title: 'Simulator (runs anywhere)',
  order: 10,
  run,
};
