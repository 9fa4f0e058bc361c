import { describe, expect, it } from 'vitest';
import { makeInstance, volumeBdi } from '../../harness/instances.js';
import { useDriverSuite } from '../helpers/driver-suite.js';

const suite = useDriverSuite();

const MAPS = { uidMaps: ['0:100000:65536'], gidMaps: ['0:100000:65536'] };
const FILES = ['/', '/bin/su', '/usr/bin/wall', '/etc/shadow', '/marker'] as const;

/** Owners and modes of FILES on the volume, read through a loop device and a mount. */
async function ownersOn(volume: string): Promise<Record<string, unknown>> {
  const loop = await suite.host.blockDevices.attachLoop(volume);
  const dir = await suite.harness.makeDir('inspect');
  await suite.host.mounts.mount(loop.device, dir, { fstype: 'ext4' });
  try {
    const out: Record<string, unknown> = {};
    for (const file of FILES) out[file] = await suite.host.files.owner(`${dir}${file}`);
    return out;
  } finally {
    await suite.host.mounts.unmount(dir);
    await suite.host.blockDevices.detachLoop(loop.device);
  }
}

// Issue 9 item 10: over a spawn and two hard reboots a file owner went 0 → 100000 → 65534
// → 165534 (on the real host every file ended as 65534), and /bin/su lost its setuid bit.
describe(`id-mapped instances on the ${process.env['NOVA_LXC_BACKEND'] ?? 'sim'} backend`, () => {
  it('shifts a volume once over spawn, two hard reboots and a second instance, keeping modes', async () => {
    const volume = await suite.harness.makeDiskFile(
      {
        size: '64M',
        table: 'none',
        filesystem: {
          type: 'ext4',
          files: {
            '/bin/su': { content: '#!/bin/sh\n', mode: 0o4755 },
            '/usr/bin/wall': { content: '#!/bin/sh\n', mode: 0o2755 },
            '/etc/shadow': { content: 'root:*:1::::::\n', mode: 0o640 },
          },
          init: { writes: [{ path: '/marker', content: 'booted' }], then: 'run' },
        },
      },
      'volume',
    );
    const driver = suite.driver(MAPS);
    const instance = makeInstance({ image_ref: null });
    const bdi = volumeBdi(volume);
    await driver.spawn({}, instance, {}, [], null, null, null, bdi);
    await driver.reboot({}, instance, null, 'HARD', bdi);
    await driver.reboot({}, instance, null, 'HARD', bdi);
    await driver.destroy({}, instance, null, bdi);
    const after = await ownersOn(volume);
    expect(after).toEqual({
      '/': { uid: 100000, gid: 100000, mode: expect.any(Number) },
      '/bin/su': { uid: 100000, gid: 100000, mode: 0o4755 },
      '/usr/bin/wall': { uid: 100000, gid: 100000, mode: 0o2755 },
      '/etc/shadow': { uid: 100000, gid: 100000, mode: 0o640 },
      // Written by the container's root, which is host 100000.
      '/marker': expect.objectContaining({ uid: 100000, gid: 100000 }),
    });

    const second = makeInstance({ image_ref: null });
    const bdi2 = volumeBdi(volume);
    await driver.spawn({}, second, {}, [], null, null, null, bdi2);
    await driver.destroy({}, second, null, bdi2);
    expect(await ownersOn(volume)).toEqual(after);
  });
});
