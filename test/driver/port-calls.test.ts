/**
 * What spawn and destroy ask the host, counted from the trace of port calls: each question
 * that costs a process on the real host (a virsh dominfo, a scan of every loop device) is
 * asked once, and the answers are passed along. Counts only; speed is `npm run bench`'s.
 */
import { describe, expect, it } from 'vitest';
import { makeInstance, plainDisk, twoPartitionDisk, volumeBdi } from '../../harness/instances.js';
import { useDriverSuite } from '../helpers/driver-suite.js';

const suite = useDriverSuite();

const calls = (run: () => Promise<unknown>) => suite.portCalls(run);

const count = (ops: string[], op: string) => ops.filter((o) => o === op).length;

describe(`port calls of spawn and destroy on the ${process.env['NOVA_LXC_BACKEND'] ?? 'sim'} backend`, () => {
  it('spawn asks the domain info once (before anything changes), scans the loop devices once and reads the disk head once', async () => {
    const volume = await suite.harness.makeDiskFile(plainDisk(), 'volume');
    const driver = suite.driver();
    const instance = makeInstance({ image_ref: null });
    const bdi = volumeBdi(volume);
    const spawn = await calls(() => driver.spawn({}, instance, {}, [], null, null, null, bdi));
    // The state after the start is start's own answer, not a second dominfo.
    expect(count(spawn, 'hypervisor.info')).toBe(1);
    expect(spawn.indexOf('hypervisor.info')).toBeLessThan(spawn.indexOf('volumes.connect'));
    expect(count(spawn, 'blockDevices.loopsOver')).toBe(1);
    expect(count(spawn, 'blockDevices.listLoops')).toBe(0);
    // The partition table probe and the whole-device superblock: one read of the first 64 KiB.
    expect(count(spawn, 'blockDevices.read')).toBe(1);
    // Durable journal writes: the intents of the instance directory, the loop attach, the
    // mount and the define; the attach's done mark (it names the device); the finish. The
    // done marks of the directory, mount and define change nothing on disk, and the host
    // mount's drop is proven again before any use: they go with the next write (it was 10
    // writes, ~1 ms each on the real host).
    expect(count(spawn, 'journal.write')).toBe(6);

    const destroy = await calls(() => driver.destroy({}, instance, null, bdi));
    // One dominfo proves the domain ours and gives its state; a destroy that returned has
    // stopped it, so nothing is polled afterwards.
    expect(count(destroy, 'hypervisor.info')).toBe(1);
    expect(count(destroy, 'hypervisor.destroy')).toBe(1);
    expect(count(destroy, 'hypervisor.undefine')).toBe(1);
    // Before the instance directory goes: one question about the loop devices over files in
    // it, not a listing of every loop device with all its attributes (a compute node has
    // hundreds).
    expect(count(destroy, 'blockDevices.loopsUnder')).toBe(1);
    expect(count(destroy, 'blockDevices.listLoops')).toBe(0);
  });

  it('the root choice of a GPT volume reads the device three times: its start, its end, the partition', async () => {
    const volume = await suite.harness.makeDiskFile(twoPartitionDisk('gpt'), 'gpt-volume');
    const driver = suite.driver();
    const instance = makeInstance({ image_ref: null });
    const bdi = volumeBdi(volume);
    // Primary header and entries; backup header and entries; partition 1's superblocks: each
    // cluster is one 64 KiB read (it was 7 reads, each an open, a read and a close).
    const spawn = await calls(() => driver.spawn({}, instance, {}, [], null, null, null, bdi));
    expect(count(spawn, 'blockDevices.read')).toBe(3);
    // Each loop device (the partition's, the volume's) is read once before its detach: the
    // proof that it is ours is also the first attempt's state.
    const destroy = await calls(() => driver.destroy({}, instance, null, bdi));
    expect(count(destroy, 'blockDevices.loopDevice')).toBe(2);
    expect(count(destroy, 'blockDevices.detachLoop')).toBe(2);
  });

  it('a power off without a timeout asks the domain info once', async () => {
    const volume = await suite.harness.makeDiskFile(plainDisk(), 'volume');
    const driver = suite.driver();
    const instance = makeInstance({ image_ref: null });
    const bdi = volumeBdi(volume);
    await driver.spawn({}, instance, {}, [], null, null, null, bdi);
    const off = await calls(() => driver.powerOff(instance));
    expect(count(off, 'hypervisor.info')).toBe(1);
    expect(count(off, 'hypervisor.destroy')).toBe(1);
    await driver.destroy({}, instance, null, bdi);
  });
});
