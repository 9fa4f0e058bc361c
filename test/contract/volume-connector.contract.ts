import { describe, expect, it } from 'vitest';
import type { ConnectionInfo } from '../../driver/ports/volume-connector.js';
import type { HarnessFactory } from '../../harness/harness.js';
import { BLANK_DISK, useHarness } from './contract-helpers.js';

/** The VolumeConnector port's documented semantics, for every backend. */
export function describeVolumeConnectorContract(makeHarness: HarnessFactory): void {
  describe('VolumeConnector contract', () => {
    const harness = useHarness(makeHarness);

    it('connects a file volume as a loop device once, refuses a second connect, and disconnects it', async () => {
      const h = harness();
      const path = await h.makeDiskFile(BLANK_DISK, 'volume');
      const info: ConnectionInfo = { driver_volume_type: 'file', data: { path } };
      const { devicePath, attached } = await h.host.volumes.connect(info);
      expect(devicePath).toMatch(/^\/dev\/loop\d+$/);
      expect(info.data).toEqual({ path });
      await expect(h.host.volumes.connect(info)).rejects.toMatchObject({ code: 'AlreadyExists' });
      expect(await h.host.blockDevices.listLoops()).toContainEqual(
        expect.objectContaining({ device: devicePath, backingFile: path }),
      );
      await h.host.volumes.disconnect(info, attached);
      await h.host.volumes.disconnect(info, attached);
      expect((await h.host.blockDevices.listLoops()).map((l) => l.device)).not.toContain(
        devicePath,
      );
    });

    it('never detaches a loop device that now serves another file', async () => {
      const h = harness();
      const mine = await h.makeDiskFile(BLANK_DISK, 'mine');
      const theirs = await h.makeDiskFile(BLANK_DISK, 'theirs');
      const info: ConnectionInfo = { driver_volume_type: 'file', data: { path: mine } };
      const { devicePath, attached } = await h.host.volumes.connect(info);
      await h.host.blockDevices.detachLoop(devicePath);
      const other = await h.host.blockDevices.attachLoop(theirs);
      await h.host.volumes.disconnect(info, attached);
      expect(await h.host.blockDevices.listLoops()).toContainEqual(other);
      await h.host.blockDevices.detachLoop(other.device);
    });

    it('connects a local block device as it is and leaves it attached on disconnect', async () => {
      const h = harness();
      const loop = await h.host.blockDevices.attachLoop(await h.makeDiskFile(BLANK_DISK));
      const info: ConnectionInfo = {
        driver_volume_type: 'local',
        data: { device_path: loop.device },
      };
      expect(await h.host.volumes.connect(info)).toEqual({ devicePath: loop.device });
      await h.host.volumes.disconnect(info);
      expect(await h.host.blockDevices.listLoops()).toContainEqual(loop);
      await h.host.blockDevices.detachLoop(loop.device);
    });

    it.each([
      [
        'an unknown driver_volume_type',
        'Unsupported',
        () => ({ driver_volume_type: 'iscsi', data: {} }),
      ],
      [
        'a missing local device',
        'NotFound',
        () => ({ driver_volume_type: 'local', data: { device_path: '/dev/nova-lxc-none' } }),
      ],
    ])('fails to connect %s with %s', async (_what, code, info) => {
      const h = harness();
      await expect(h.host.volumes.connect(info())).rejects.toMatchObject({ code });
    });

    it('fails to connect a missing file volume with NotFound', async () => {
      const h = harness();
      const dir = await h.makeDir();
      await expect(
        h.host.volumes.connect({ driver_volume_type: 'file', data: { path: `${dir}/none.img` } }),
      ).rejects.toMatchObject({ code: 'NotFound' });
    });
  });
}
