import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { assertJournalKey } from '../core/journal-key.js';
import type { Journal } from '../ports/journal.js';
import { fsError } from './system-files.js';

/** Suffix of a record; temp files end in `.tmp-<random>` and are never listed. */
const SUFFIX = '.json';

/**
 * Journal over plain files: `<dir>/<key>.json`, replaced by write-to-temp, fsync, rename,
 * fsync of the directory (the sequence that makes a rename durable on ext4 and xfs).
 */
export class FileJournal implements Journal {
  async write(dir: string, key: string, content: string): Promise<void> {
    assertJournalKey('write', key);
    const path = join(dir, key + SUFFIX);
    const temp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const handle = await open(temp, 'wx', 0o600);
      try {
        await handle.writeFile(content, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, path);
      await syncDir(dir);
    } catch (error) {
      await rm(temp, { force: true }).catch(() => undefined);
      throw fsError('write journal record', path, error);
    }
  }

  async read(dir: string, key: string): Promise<string | null> {
    assertJournalKey('read', key);
    const path = join(dir, key + SUFFIX);
    try {
      return await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw fsError('read journal record', path, error);
    }
  }

  async keys(dir: string): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fsError('list journal', dir, error);
    }
    return names
      .filter((name) => name.endsWith(SUFFIX))
      .map((name) => name.slice(0, -SUFFIX.length))
      .sort();
  }

  async remove(dir: string, key: string): Promise<void> {
    assertJournalKey('remove', key);
    const path = join(dir, key + SUFFIX);
    try {
      await rm(path, { force: true });
      await syncDir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw fsError('remove journal record', path, error);
    }
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
