import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  LosetupBlockDevices,
  attachedLoopNames,
} from '../../driver/adapters/losetup-block-devices.js';
import { NodeSystemFiles } from '../../driver/adapters/system-files.js';
import { ScriptedHost, type TranscriptStep } from '../../harness/scripted-runner.js';
import { FakeClock } from '../../simulator/fake-clock.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nova-lxc-attrs-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('NodeSystemFiles.readAttributes', () => {
  it('reads every file in the order asked, null for the missing ones', async () => {
    await writeFile(join(dir, 'a'), '1\n');
    await writeFile(join(dir, 'b'), '/var/lib/x.img\n');
    const texts = await new NodeSystemFiles().readAttributes([
      join(dir, 'b'),
      join(dir, 'missing'),
      join(dir, 'no/such/dir'),
      join(dir, 'a'),
    ]);
    expect(texts).toEqual(['/var/lib/x.img\n', null, null, '1\n']);
  });

  it('reads a file larger than one read whole (a long mountinfo), and an empty one', async () => {
    const long = Array.from(
      { length: 4000 },
      (_, i) => `${i} 27 0:${i} / /mnt/m${i} rw - ext4 /dev/x rw`,
    ).join('\n');
    await writeFile(join(dir, 'long'), long);
    await writeFile(join(dir, 'empty'), '');
    expect(long.length).toBeGreaterThan(128 * 1024);
    const [text, empty] = await new NodeSystemFiles().readAttributes([
      join(dir, 'long'),
      join(dir, 'empty'),
    ]);
    expect(text).toBe(long);
    expect(empty).toBe('');
  });

  it('rejects a failure other than absence, naming the path (never read as "not there")', async () => {
    await mkdir(join(dir, 'sub'));
    await expect(new NodeSystemFiles().readAttributes([join(dir, 'sub')])).rejects.toMatchObject({
      code: 'InvalidInput',
      message: expect.stringContaining(join(dir, 'sub')),
    });
  });
});

/**
 * A kernel with loop0..loop9 made, of which loop1 serves the volume and loop3 another file:
 * /proc/partitions lists those two (and vda, and loop3's partition); the free ones (no size)
 * are not read at all.
 */
const PARTITIONS = `major minor  #blocks  name

 254        0  268435456 vda
   7        3      65536 loop3
 259        0      30720 loop3p1
   7        1      65536 loop1
`;

function sysBlock(): TranscriptStep[] {
  const attrs = (n: string) =>
    [
      'loop/backing_file',
      'loop/offset',
      'loop/sizelimit',
      'loop/autoclear',
      'ro',
      'queue/logical_block_size',
      'diskseq',
    ].map((a) => `/sys/block/${n}/${a}`);
  return [
    { op: 'readAttributes', paths: ['/proc/partitions'], texts: [PARTITIONS] },
    {
      op: 'readAttributes',
      // Numeric order of the whole loop devices only; vda and loop3p1 are none.
      paths: ['loop1', 'loop3'].map((n) => `/sys/block/${n}/loop/backing_file`),
      texts: ['/vols/v1.img\n', '/vols/other.img\n'],
    },
    {
      op: 'readAttributes',
      paths: attrs('loop1'),
      texts: ['/vols/v1.img\n', '0\n', '0\n', '0\n', '0\n', '512\n', '51234\n'],
    },
  ];
}

describe('LosetupBlockDevices scans', () => {
  const devices = (steps: TranscriptStep[]) => {
    const host = new ScriptedHost({ name: 'scan', steps });
    return { host, devices: new LosetupBlockDevices(host, host, new FakeClock()) };
  };

  it('loopsOver reads every backing file in one batch and the attributes of the matches only', async () => {
    const { host, devices: d } = devices(sysBlock());
    expect(await d.loopsOver('/vols/v1.img')).toEqual([
      {
        device: '/dev/loop1',
        backingFile: '/vols/v1.img',
        offset: 0,
        sizeLimit: 0,
        readOnly: false,
        sectorSize: 512,
        autoclear: false,
        diskseq: 51234,
      },
    ]);
    host.assertDone();
  });

  it('describes a device on a kernel without diskseq (before 5.15), with no diskseq', async () => {
    const steps = sysBlock();
    const last = steps[2] as Extract<TranscriptStep, { op: 'readAttributes' }>;
    last.texts = ['/vols/v1.img\n', '0\n', '0\n', '0\n', '0\n', '512\n', null];
    const { host, devices: d } = devices(steps);
    const [loop] = await d.loopsOver('/vols/v1.img');
    expect(loop).toMatchObject({ device: '/dev/loop1', backingFile: '/vols/v1.img' });
    expect(loop).not.toHaveProperty('diskseq');
    host.assertDone();
  });

  it('loopsOver matches the kernel spelling exactly and asks nothing more when none match', async () => {
    const { host, devices: d } = devices(sysBlock().slice(0, 2));
    expect(await d.loopsOver('/vols/v1')).toEqual([]);
    host.assertDone();
  });

  it('drops a device detached between the two batches', async () => {
    const steps = sysBlock();
    const last = steps[2] as Extract<TranscriptStep, { op: 'readAttributes' }>;
    // A free device keeps its diskseq (and ro, queue): only loop/* goes.
    last.texts = [null, null, null, null, '0\n', '512\n', '51236\n'];
    const { host, devices: d } = devices(steps);
    expect(await d.loopsOver('/vols/v1.img')).toEqual([]);
    host.assertDone();
  });
});

describe('attachedLoopNames', () => {
  it('names the whole loop devices of /proc/partitions in device order, nothing else', () => {
    expect(attachedLoopNames(PARTITIONS)).toEqual(['loop1', 'loop3']);
    expect(attachedLoopNames('major minor  #blocks  name\n\n')).toEqual([]);
    expect(
      attachedLoopNames('   7       10      1024 loop10\n   7        2      1024 loop2'),
    ).toEqual(['loop2', 'loop10']);
  });
});
