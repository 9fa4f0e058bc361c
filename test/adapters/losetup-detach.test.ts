/**
 * losetup -d on a device still held exits 0 and the kernel defers the detach (autoclear): the
 * adapter checks, with pauses doubling from 2 ms (about 1 s in all), and only
 * then calls it Busy.
 */
import { describe, expect, it } from 'vitest';
import type { CommandRunner } from '../../driver/adapters/command-runner.js';
import { LosetupBlockDevices } from '../../driver/adapters/losetup-block-devices.js';
import type { SystemFiles } from '../../driver/adapters/system-files.js';
import { FakeClock } from '../../simulator/fake-clock.js';

const BOUND = ['/vols/v1.img\n', '0\n', '0\n', '1\n', '0\n', '512\n', '7\n'];

/** loop3 stays bound with autoclear set until the clock reaches `freedAtMs`. */
function host(freedAtMs: number) {
  const clock = new FakeClock();
  const commands: string[] = [];
  const runner: CommandRunner = {
    run: async (argv) => {
      commands.push(argv.join(' '));
      return { stdout: '', stderr: '', exitCode: 0 };
    },
  };
  const files = {
    readAttributes: async (paths: readonly string[]) =>
      clock.now() >= freedAtMs
        ? paths.map((p) => (p.endsWith('/diskseq') ? '8\n' : p.includes('/loop/') ? null : '0\n'))
        : BOUND.slice(0, paths.length),
  } as unknown as SystemFiles;
  return { clock, commands, devices: new LosetupBlockDevices(runner, files, clock) };
}

describe('losetup detach the kernel deferred', () => {
  it('waits for a deferred detach that finishes within a second (it took over 40 ms under load)', async () => {
    const { clock, commands, devices } = host(300);
    await expect(devices.detachLoop('/dev/loop3')).resolves.toBeUndefined();
    expect(commands).toEqual(['losetup --detach /dev/loop3']);
    expect(clock.now()).toBeGreaterThanOrEqual(300);
    expect(clock.now()).toBeLessThan(600); // checks at 0, 2, 6, 14, ... 254, 510 ms
  });

  it('calls a device still held after a second Busy, saying the kernel frees it on last close', async () => {
    const { clock, devices } = host(Number.POSITIVE_INFINITY);
    await expect(devices.detachLoop('/dev/loop3')).rejects.toMatchObject({
      code: 'Busy',
      message: 'Failed to detach loop device: /dev/loop3 is still in use',
      hint: expect.stringContaining('autoclear'),
    });
    expect(clock.now()).toBeGreaterThanOrEqual(1000);
  });
});
