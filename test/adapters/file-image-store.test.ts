import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ProcessCommandRunner } from '../../driver/adapters/command-runner.js';
import { FileImageStore } from '../../driver/adapters/file-image-store.js';
import { NodeSystemFiles } from '../../driver/adapters/system-files.js';

// The real image store on files made by qemu-img (Debian package qemu-utils): it needs no
// root, only the tool; without it the cases are skipped with the reason.
// NOVA_LXC_REQUIRE_HOST_TOOLS=1 (set by .ci/run, which installs qemu-utils) makes a missing
// qemu-img a failure rather than a skip.
const qemuImg = (() => {
  try {
    execFileSync('qemu-img', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return process.env['NOVA_LXC_REQUIRE_HOST_TOOLS'] === '1';
  }
})();

const work = mkdtempSync(join(tmpdir(), 'nova-lxc-images-'));
const cache = join(work, 'cache');
afterAll(() => rmSync(work, { recursive: true, force: true }));

function qemu(...args: string[]): void {
  execFileSync('qemu-img', args);
}

/** A store whose every command is recorded, so a refusal is seen to run none. */
function store() {
  const ran: string[][] = [];
  const runner = new ProcessCommandRunner();
  const images = new FileImageStore(
    {
      run: (argv, options) => (ran.push([...argv]), runner.run(argv, options)),
    },
    new NodeSystemFiles(),
    cache,
  );
  return { images, ran };
}

describe.skipIf(!qemuImg)(
  `FileImageStore on qemu-img files${qemuImg ? '' : ' (skipped: qemu-img is not installed; Debian package qemu-utils)'}`,
  () => {
    execFileSync('mkdir', ['-p', cache, join(work, 'inst')]);
    qemu('create', '-q', '-f', 'raw', join(cache, 'raw'), '1M');
    qemu('create', '-q', '-f', 'qcow2', join(cache, 'clean.qcow2'), '1M');
    // OSSA-2024-001: a qcow2 whose backing file is the host's disk, uploaded as raw.
    qemu(
      'create',
      '-q',
      '-f',
      'qcow2',
      '-F',
      'raw',
      '-b',
      '/dev/sda',
      '-u',
      join(cache, 'evil'),
      '1M',
    );
    qemu('create', '-q', '-f', 'qcow2', '-o', `data_file=${work}/d.raw`, join(cache, 'data'), '1M');
    writeFileSync(join(work, 'outside'), '');
    symlinkSync(join(work, 'outside'), join(cache, 'link'));
    symlinkSync('/etc/passwd', join(cache, 'passwd'));

    it.each([
      [
        'a qcow2 with a backing file',
        'evil',
        'raw',
        /does not pass the safety checks: it has a backing file \("\/dev\/sda"\)/,
      ],
      ['a qcow2 with an external data file', 'data', 'qcow2', /it has an external data file/],
      [
        'a clean qcow2 declared raw',
        'clean.qcow2',
        'raw',
        /content does not match disk_format: declared raw, found qcow2/,
      ],
      ['a raw image declared qcow2', 'raw', 'qcow2', /declared qcow2, found raw/],
      [
        'a symlink out of the cache',
        'link',
        'raw',
        /link is a symlink, not a file in the image cache/,
      ],
      ['a symlink to a host file', 'passwd', 'raw', /passwd is a symlink/],
      ['an id that is a path', '../outside', 'raw', /bad image id '..\/outside'/],
    ])('refuses %s and runs nothing', async (_what, id, declared, pattern) => {
      const { images, ran } = store();
      for (const format of ['raw', 'qcow2'] as const) {
        await expect(
          images.createInstanceDisk(id, join(work, 'inst', `${id}-${format}`), format, declared),
        ).rejects.toMatchObject({ code: 'InvalidInput', message: expect.stringMatching(pattern) });
      }
      expect(ran).toEqual([]);
    });

    it('refuses a disk_format it cannot boot with Unsupported', async () => {
      const { images } = store();
      await expect(
        images.createInstanceDisk('raw', join(work, 'inst', 'vmdk'), 'raw', 'vmdk'),
      ).rejects.toMatchObject({ code: 'Unsupported' });
    });

    it('converts a declared qcow2 with its format named, and keeps the disk on repeat', async () => {
      const { images, ran } = store();
      const path = join(work, 'inst', 'converted');
      const disk = await images.createInstanceDisk('clean.qcow2', path, 'raw', 'qcow2');
      expect(disk).toEqual({ path, format: 'raw', size: 1024 * 1024 });
      expect(ran).toEqual([
        ['qemu-img', 'convert', '-f', 'qcow2', '-O', 'raw', join(cache, 'clean.qcow2'), path],
      ]);
      expect(await images.createInstanceDisk('clean.qcow2', path, 'raw', 'qcow2')).toEqual(disk);
      expect(ran).toHaveLength(1);
    });

    it('reuses a qcow2 overlay only when it is backed by the cached image', async () => {
      const { images } = store();
      const ours = join(work, 'inst', 'overlay');
      await images.createInstanceDisk('raw', ours, 'qcow2', 'raw');
      await expect(images.createInstanceDisk('raw', ours, 'qcow2', 'raw')).resolves.toMatchObject({
        format: 'qcow2',
      });
      const foreign = join(work, 'inst', 'foreign');
      qemu('create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', '/dev/sda', '-u', foreign, '1M');
      await expect(images.createInstanceDisk('raw', foreign, 'qcow2', 'raw')).rejects.toMatchObject(
        {
          code: 'InvalidInput',
          message: expect.stringMatching(/backing file "\/dev\/sda" is not the cached image/),
        },
      );
    });
  },
);
