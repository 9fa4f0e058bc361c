/**
 * Benchmarks: prints figures, asserts nothing. Speed and memory targets are read from here,
 * never from timed assertions in tests. Run with `npm run bench` (simulator, no root).
 */
import { performance } from 'node:perf_hooks';
import { readPartitionTable } from '../driver/core/partition-table.js';
import { chooseRootFilesystem } from '../driver/core/root-choice.js';
import { LxcDriver } from '../driver/driver.js';
import { getDiskInfo } from '../driver/nova/blockinfo.js';
import {
  normalizeBlockDeviceInfo,
  normalizeImageMeta,
  normalizeInstance,
} from '../driver/nova/model.js';
import { createSimulatedHost } from '../simulator/index.js';
import { SparseDisk } from '../simulator/sparse-disk.js';
import { writeDiskLayout } from '../harness/sim-disks/disk-layout.js';
import { buildDisk } from '../harness/sim-disks/seed.js';
import { makeInstance, rootFs, twoPartitionDisk, volumeBdi } from '../harness/instances.js';

interface Figure {
  name: string;
  value: number;
  unit: string;
  note?: string;
}

async function time(iterations: number, fn: (i: number) => Promise<void> | void): Promise<number> {
  for (let i = 0; i < Math.min(20, iterations); i++) await fn(i);
  const start = performance.now();
  for (let i = 0; i < iterations; i++) await fn(i);
  return (performance.now() - start) / iterations;
}

async function spawnDestroy(concurrency: number, rounds: number): Promise<number> {
  const host = createSimulatedHost({ loopDevices: Math.max(8, concurrency * 2) });
  host.state.host.mkdirSync('/var/lib/nova/instances', { recursive: true });
  const driver = new LxcDriver(host, { instancesPath: '/var/lib/nova/instances' });
  const volumes = Array.from({ length: concurrency }, (_, i) => {
    const path = `/var/lib/bench/vol-${i}.img`;
    buildDisk(host.state, path, twoPartitionDisk('gpt', rootFs()));
    return path;
  });
  const start = performance.now();
  for (let r = 0; r < rounds; r++) {
    await Promise.all(
      volumes.map(async (path) => {
        const instance = makeInstance({ image_ref: null });
        const bdi = volumeBdi(path);
        await driver.spawn({}, instance, {}, [], null, null, null, bdi);
        await driver.destroy({}, instance, null, bdi);
      }),
    );
  }
  return (performance.now() - start) / (rounds * concurrency);
}

/** Runs every benchmark and returns the figures. */
export async function runBenchmarks(): Promise<Figure[]> {
  const figures: Figure[] = [];

  const disk = new SparseDisk(64 * 2 ** 20);
  writeDiskLayout(disk, twoPartitionDisk('gpt'));
  const reader = { size: disk.size, read: async (o: number, l: number) => disk.read(o, l) };
  figures.push({
    name: 'GPT table parse (2 of 128 entries, CRCs checked)',
    value: (await time(2000, () => readPartitionTable(reader).then(() => undefined))) * 1000,
    unit: 'µs/op',
  });
  figures.push({
    name: 'root filesystem choice (table + superblock probe)',
    value:
      (await time(2000, () =>
        chooseRootFilesystem(reader, '/dev/bench', { kind: 'first' }).then(() => undefined),
      )) * 1000,
    unit: 'µs/op',
  });

  const instance = normalizeInstance(makeInstance());
  const meta = normalizeImageMeta({});
  figures.push({
    name: 'blockinfo get_disk_info (lxc, root volume)',
    value:
      (await time(5000, () => {
        const bdi = normalizeBlockDeviceInfo(volumeBdi('/var/lib/bench/v.img'));
        getDiskInfo({ virt_type: 'lxc', instance, image_meta: meta, block_device_info: bdi });
      })) * 1000,
    unit: 'µs/op',
  });

  figures.push({
    name: 'simulated spawn+destroy, GPT volume, one at a time',
    value: await spawnDestroy(1, 300),
    unit: 'ms/instance',
  });
  figures.push({
    name: 'simulated spawn+destroy, GPT volume, 5 concurrent',
    value: await spawnDestroy(5, 60),
    unit: 'ms/instance',
  });

  const before = process.memoryUsage().heapUsed;
  const huge = new SparseDisk(16 * 2 ** 40);
  writeDiskLayout(huge, {
    size: '16T',
    table: 'gpt',
    partitions: [{ number: 1, start: 2048, size: 2 ** 34, filesystem: rootFs() }],
  });
  const after = process.memoryUsage().heapUsed;
  figures.push({
    name: '16 TiB simulated GPT disk: bytes stored',
    value: huge.bytesStored / 1024,
    unit: 'KiB',
    note: `heap grew ~${Math.max(0, Math.round((after - before) / 1024))} KiB`,
  });
  return figures;
}

const figures = await runBenchmarks();
const width = Math.max(...figures.map((f) => f.name.length));
for (const f of figures) {
  console.log(
    `${f.name.padEnd(width)}  ${f.value.toFixed(2).padStart(10)} ${f.unit}${f.note ? `  (${f.note})` : ''}`,
  );
}
