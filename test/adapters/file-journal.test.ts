import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileJournal } from '../../driver/adapters/file-journal.js';

let root: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'nova-lxc-journal-'));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('FileJournal (node:fs, no root needed)', () => {
  it('keeps one <key>.json per record, private to its owner, and no temp file after a write', async () => {
    const journal = new FileJournal();
    const dir = join(root, 'state/journal');
    await journal.write(dir, 'abc', 'one');
    await journal.write(dir, 'abc', 'two');
    expect(await readdir(dir)).toEqual(['abc.json']);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, 'abc.json'))).mode & 0o777).toBe(0o600);
    expect(await journal.read(dir, 'abc')).toBe('two');
  });

  it('ignores a temp file a crash left mid-write, and the record keeps its old content', async () => {
    const journal = new FileJournal();
    const dir = join(root, 'journal');
    await journal.write(dir, 'abc', 'old');
    await writeFile(join(dir, 'abc.json.tmp-deadbeef'), 'half-writ');
    expect(await journal.keys(dir)).toEqual(['abc']);
    expect(await journal.read(dir, 'abc')).toBe('old');
  });

  it('answers a missing directory with nothing, and removes what is absent without error', async () => {
    const journal = new FileJournal();
    const dir = join(root, 'none');
    expect(await journal.keys(dir)).toEqual([]);
    expect(await journal.read(dir, 'x')).toBeNull();
    await journal.remove(dir, 'x');
  });

  it('names the record when the directory cannot be made', async () => {
    const journal = new FileJournal();
    await writeFile(join(root, 'file'), '');
    await expect(journal.write(join(root, 'file'), 'k', 'v')).rejects.toMatchObject({
      message: expect.stringContaining(`Failed to write journal record ${root}/file/k.json`),
    });
    await expect(journal.keys(join(root, 'file'))).rejects.toMatchObject({
      message: expect.stringContaining('Failed to list journal'),
    });
    await expect(journal.read(join(root, 'file'), 'k')).rejects.toMatchObject({
      message: expect.stringContaining('Failed to read journal record'),
    });
  });
});
