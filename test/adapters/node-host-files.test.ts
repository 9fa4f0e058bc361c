import { mkdtemp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeHostFiles } from '../../driver/adapters/node-host-files.js';
import { NOBODY_ID, shiftId } from '../../driver/core/id-shift.js';
import { ScriptedHost } from '../../harness/scripted-runner.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nova-lxc-files-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function mountinfo(...targets: string[]): ScriptedHost {
  const text = targets
    .map((t, i) => `${100 + i} 1 7:${i} / ${t.replaceAll(' ', '\\040')} rw - ext4 /dev/loop${i} rw`)
    .join('\n');
  return new ScriptedHost({
    name: 'mountinfo',
    steps: [
      {
        op: 'readText',
        path: '/proc/self/mountinfo',
        text: `27 1 254:0 / / rw - ext4 /dev/vda rw\n${text}\n`,
      },
    ],
  });
}

describe('NodeHostFiles', () => {
  it('creates a directory and says whether it was new', async () => {
    const files = new NodeHostFiles(mountinfo());
    await expect(files.ensureDir(join(dir, 'a/b'))).resolves.toBe(true);
    await expect(files.ensureDir(join(dir, 'a/b'))).resolves.toBe(false);
    await expect(files.exists(join(dir, 'a/b'))).resolves.toBe(true);
  });

  it('reads and writes files, NotFound for a missing parent', async () => {
    const files = new NodeHostFiles(mountinfo());
    await files.writeFile(join(dir, 'x'), 'hello');
    await expect(files.readFile(join(dir, 'x'))).resolves.toBe('hello');
    await expect(files.readFile(join(dir, 'nope'))).rejects.toMatchObject({ code: 'NotFound' });
    await expect(files.writeFile(join(dir, 'no/x'), '')).rejects.toMatchObject({
      code: 'NotFound',
    });
  });

  it('removes a tree with no mount point below it, and a missing one', async () => {
    await mkdir(join(dir, 'inst/rootfs'), { recursive: true });
    await writeFile(join(dir, 'inst/rootfs/f'), 'x');
    const scripted = new ScriptedHost({
      name: 'twice',
      steps: [
        {
          op: 'readText',
          path: '/proc/self/mountinfo',
          text: '27 1 254:0 / / rw - ext4 /dev/vda rw\n',
        },
        {
          op: 'readText',
          path: '/proc/self/mountinfo',
          text: '27 1 254:0 / / rw - ext4 /dev/vda rw\n',
        },
      ],
    });
    const files = new NodeHostFiles(scripted);
    await files.removeTree(join(dir, 'inst'));
    await files.removeTree(join(dir, 'inst'));
    await expect(readdir(dir)).resolves.toEqual([]);
  });

  it.each([
    ['a mount point below it', 'inst/with space/rootfs'],
    ['the path itself mounted', 'inst'],
  ])('refuses and removes nothing with %s', async (_what, mounted) => {
    await mkdir(join(dir, 'inst/with space/rootfs'), { recursive: true });
    await writeFile(join(dir, 'inst/keep'), 'x');
    const files = new NodeHostFiles(mountinfo(join(dir, mounted)));
    await expect(files.removeTree(join(dir, 'inst'))).rejects.toMatchObject({ code: 'Busy' });
    await expect(readdir(join(dir, 'inst'))).resolves.toContain('keep');
  });

  it('does not mistake a sibling with a common prefix for a mount below', async () => {
    await mkdir(join(dir, 'inst'), { recursive: true });
    const files = new NodeHostFiles(mountinfo(join(dir, 'inst2')));
    await expect(files.removeTree(join(dir, 'inst'))).resolves.toBeUndefined();
  });
});

describe('shiftId', () => {
  const maps = [
    { start: 0, target: 100000, count: 1000 },
    { start: 1000, target: 200000, count: 10 },
  ];

  it.each([
    [0, 100000],
    [999, 100999],
    [1000, 200000],
    [1009, 200009],
    [1010, NOBODY_ID],
    [65534, NOBODY_ID],
  ])('maps %i to %i', (id, shifted) => {
    expect(shiftId(id, maps)).toBe(shifted);
  });
});
