import { describe, expect, it } from 'vitest';
import type { HarnessFactory } from '../../harness/harness.js';
import { otherProcessHolds } from '../helpers/other-process.js';
import { useHarness } from './contract-helpers.js';

/** The Journal port's documented semantics, for every backend. */
export function describeJournalContract(makeHarness: HarnessFactory): void {
  describe('Journal contract', () => {
    const harness = useHarness(makeHarness);

    it('reads back what it wrote, and a rewrite replaces the whole record', async () => {
      const h = harness();
      const dir = `${await h.makeDir('state')}/journal`;
      await h.host.journal.write(dir, 'a-1', '{"long":"' + 'x'.repeat(5000) + '"}');
      await h.host.journal.write(dir, 'a-1', '{"short":1}');
      expect(await h.host.journal.read(dir, 'a-1')).toBe('{"short":1}');
    });

    it('creates the directory, private to root, on the first write', async () => {
      const h = harness();
      const dir = `${await h.makeDir('state')}/deep/journal`;
      expect(await h.host.journal.keys(dir)).toEqual([]);
      await h.host.journal.write(dir, 'k', 'v');
      expect(await h.host.files.kind(dir)).toBe('directory');
    });

    it('answers null and an empty list for what was never written', async () => {
      const h = harness();
      const dir = `${await h.makeDir('state')}/journal`;
      expect(await h.host.journal.read(dir, 'nothing')).toBeNull();
      expect(await h.host.journal.keys(dir)).toEqual([]);
    });

    it('lists keys sorted, without temp files or other names', async () => {
      const h = harness();
      const dir = `${await h.makeDir('state')}/journal`;
      for (const key of ['b', 'a', 'c.d_e-f']) await h.host.journal.write(dir, key, key);
      await h.host.files.writeFile(`${dir}/stray.txt`, 'not a record');
      await h.host.files.writeFile(`${dir}/a.json.tmp-1234`, 'torn');
      expect(await h.host.journal.keys(dir)).toEqual(['a', 'b', 'c.d_e-f']);
    });

    it('removes a record, and removing it again is success', async () => {
      const h = harness();
      const dir = `${await h.makeDir('state')}/journal`;
      await h.host.journal.write(dir, 'gone', 'x');
      await h.host.journal.write(dir, 'kept', 'y');
      await h.host.journal.remove(dir, 'gone');
      await h.host.journal.remove(dir, 'gone');
      await h.host.journal.remove(`${dir}/missing`, 'gone');
      expect(await h.host.journal.keys(dir)).toEqual(['kept']);
      expect(await h.host.journal.read(dir, 'gone')).toBeNull();
    });

    it.each([
      ['empty', ''],
      ['dot', '.'],
      ['dot-dot', '..'],
      ['parent path', '../escape'],
      ['slash', 'a/b'],
      ['absolute', '/abs'],
      ['NUL byte', 'nul\0byte'],
      ['201 characters', 'x'.repeat(201)],
      ['leading dash', '-dash'],
    ])('refuses a key that is %s before touching anything', async (_what, key) => {
      const h = harness();
      const dir = `${await h.makeDir('state')}/journal`;
      for (const call of [
        () => h.host.journal.write(dir, key, 'x'),
        () => h.host.journal.read(dir, key),
        () => h.host.journal.remove(dir, key),
      ]) {
        await expect(call()).rejects.toMatchObject({
          code: 'InvalidInput',
          message: expect.stringContaining('is not a plain name'),
        });
      }
      expect(await h.host.files.exists(dir)).toBe(false);
    });

    it('fails with a clear error when the directory is a file', async () => {
      const h = harness();
      const dir = `${await h.makeDir('state')}/journal`;
      await h.host.files.writeFile(dir, 'in the way');
      await expect(h.host.journal.write(dir, 'k', 'v')).rejects.toMatchObject({
        message: expect.stringContaining(`Failed to write journal record ${dir}/k.json`),
      });
    });

    it("lists another live process's hold with its pid, role and name, never this process's own", async () => {
      const h = harness();
      const dir = await h.makeDir('state');
      await h.host.journal.hold(dir, 'driver', 'this test');
      expect(await h.host.journal.holders(dir)).toEqual([]);
      const other = await otherProcessHolds(h, dir, 'reclaim', 'nova-lxc reclaim');
      try {
        expect(await h.host.journal.holders(dir)).toEqual([
          { pid: other.pid, role: 'reclaim', name: 'nova-lxc reclaim', since: expect.any(String) },
        ]);
      } finally {
        await other.end();
      }
      await h.host.journal.release(dir, 'driver');
      await h.host.journal.release(dir, 'driver');
    });

    it('forgets a holder whose process ended without releasing, and a new hold drops its record', async () => {
      const h = harness();
      const dir = await h.makeDir('state');
      const other = await otherProcessHolds(h, dir, 'driver', 'nova-lxc serve');
      expect(await h.host.journal.keys(`${dir}/holders`)).toContain(String(other.pid));
      await other.end();
      expect(await h.host.journal.holders(dir)).toEqual([]);
      await h.host.journal.hold(dir, 'reclaim', 'this test');
      expect(await h.host.journal.keys(`${dir}/holders`)).not.toContain(String(other.pid));
      await h.host.journal.release(dir, 'reclaim');
      expect(await h.host.journal.keys(`${dir}/holders`)).toEqual([]);
    });
  });
}
