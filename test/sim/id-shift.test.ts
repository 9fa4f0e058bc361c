import { describe, expect, it } from 'vitest';
import { LxcDriver } from '../../driver/index.js';
import { readRootfsRecord } from '../../driver/core/rootfs-record.js';
import { makeInstance, volumeBdi } from '../../harness/instances.js';
import { buildDisk } from '../../harness/sim-disks/seed.js';
import { createSimulatedHost } from '../../simulator/index.js';

// Issue 9 item 10: over a spawn and two hard reboots a file owner went
// 0 → 100000 → 65534 → 165534, and /bin/su lost its setuid bit.
describe('id-mapped instances across hard reboots (simulator)', () => {
  it('shifts the volume once, keeps setuid and setgid, and records that it did', async () => {
    const host = createSimulatedHost();
    const disk = buildDisk(host.state, '/vols/root.img', {
      size: '64M',
      table: 'none',
      filesystem: {
        type: 'ext4',
        files: {
          '/bin/su': { content: 'su', mode: 0o4755 },
          '/usr/bin/wall': { content: 'wall', mode: 0o2755 },
          '/etc/shadow': { content: 'root:*:1::::::\n', mode: 0o640 },
        },
        init: { then: 'run' },
      },
    });
    const driver = new LxcDriver(host, {
      instancesPath: '/var/lib/nova/instances',
      uidMaps: ['0:100000:65536'],
      gidMaps: ['0:100000:65536'],
    });
    const instance = makeInstance({ image_ref: null });
    const bdi = volumeBdi('/vols/root.img');
    const tree = host.state.filesystems.get(disk.contentId)!.get(0)!.tree;
    const owner = (path: string) => {
      const stat = tree.lstatSync(path);
      return [Number(stat.uid), Number(stat.gid), Number(stat.mode) & 0o7777];
    };

    await driver.spawn({}, instance, {}, [], null, null, null, bdi);
    const record = () => readRootfsRecord(instance['system_metadata'] as Record<string, string>);
    expect(record()?.idShift?.changed).toBe(true);
    for (let boot = 0; boot < 2; boot++) {
      await driver.reboot({}, instance, null, 'HARD', bdi);
      expect(record()?.idShift?.changed).toBe(false);
    }
    expect(owner('/bin/su')).toEqual([100000, 100000, 0o4755]);
    expect(owner('/usr/bin/wall')).toEqual([100000, 100000, 0o2755]);
    expect(owner('/etc/shadow')).toEqual([100000, 100000, 0o640]);
    expect(owner('/')).toEqual([100000, 100000, expect.any(Number)]);

    // A second instance booted from the same volume later finds it shifted already.
    await driver.destroy({}, instance, null, bdi);
    const second = makeInstance({ image_ref: null });
    await driver.spawn({}, second, {}, [], null, null, null, volumeBdi('/vols/root.img'));
    expect(owner('/bin/su')).toEqual([100000, 100000, 0o4755]);
    await driver.destroy({}, second, null, volumeBdi('/vols/root.img'));
  });
});
