import { spawn as spawnProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProcessCommandRunner } from '../../driver/adapters/command-runner.js';
import { makeHarness } from '../../harness/backend.js';
import type { BackendHarness } from '../../harness/harness.js';
import { makeInstance, twoPartitionDisk, volumeBdi } from '../../harness/instances.js';
import { otherProcessHolds } from '../helpers/other-process.js';

const ROOT = join(import.meta.dirname, '../..');
const runner = new ProcessCommandRunner();

let harness: BackendHarness;
let foreignDevice: string;
let foreignFile: string;

beforeEach(async () => {
  harness = await makeHarness();
  // Someone else's loop device, present the whole time: reclaim must never touch it.
  foreignFile = await harness.makeDiskFile(twoPartitionDisk('gpt'), 'foreign');
  foreignDevice = (await harness.bare.blockDevices.attachLoop(foreignFile)).device;
});

afterEach(async () => {
  await harness.bare.blockDevices.detachLoop(foreignDevice).catch(() => undefined);
  await harness.cleanup();
});

/** `nova-lxc reclaim` of the harness's instances with `stateDir`, as an operator runs it. */
function reclaimCli(stateDir: string) {
  return runner.run(
    [
      process.execPath,
      join(ROOT, 'bin/nova-lxc.js'),
      'reclaim',
      '--instances-path',
      harness.instancesPath,
      '--state-dir',
      stateDir,
    ],
    { timeoutMs: 90_000 },
  );
}

/** Runs spawn in another process, kills it with SIGKILL right after `op` returned. */
async function spawnAndKill(op: string, args: Record<string, unknown>): Promise<void> {
  const child = spawnProcess(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'test/real/spawn-until-killed.ts'), JSON.stringify(args)],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.once('exit', (_code, signal) => resolve(signal)),
  );
  await new Promise<void>((resolve, reject) => {
    const seen = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(`PAUSED ${op}`)) resolve();
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    void exited.then(() => reject(new Error(`spawn ended before ${op}: ${output}`)));
  });
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
}

describe('a spawn killed with SIGKILL, then nova-lxc reclaim', () => {
  it.each([
    'files.ensureDir',
    'volumes.connect',
    'blockDevices.attachLoop',
    'mounts.mount',
    'hypervisor.define',
    'hypervisor.start',
  ])(
    'leaves no loop device, mount, domain or directory when killed after %s, and the foreign device survives',
    async (op) => {
      const stateDir = await harness.makeDir('state');
      const volume = await harness.makeDiskFile(twoPartitionDisk('gpt'), 'volume');
      const instance = makeInstance({ image_ref: null });
      const dir = `${await harness.bare.files.realpath(harness.instancesPath)}/${String(instance['uuid'])}`;
      const before = (await harness.bare.blockDevices.listLoops()).map((l) => l.device).sort();
      await spawnAndKill(op, {
        pauseAfter: op,
        instancesPath: harness.instancesPath,
        stateDir,
        imagesDir: await harness.makeDir('images'),
        instance,
        bdi: volumeBdi(volume),
      });

      const result = await reclaimCli(stateDir);
      expect(result.stdout).toMatch(/\d+ released, 0 left alone, 0 failed/);

      // Nothing new is attached: exactly the devices there before the spawn (the foreign one).
      const loops = await harness.bare.blockDevices.listLoops();
      expect(loops.map((l) => l.device).sort()).toEqual(before);
      expect(loops.find((l) => l.device === foreignDevice)?.backingFile).toBe(foreignFile);
      expect((await harness.bare.mounts.list()).filter((m) => m.target.startsWith(dir))).toEqual(
        [],
      );
      expect((await harness.bare.hypervisor.list()).map((d) => d.name)).not.toContain(
        instance['name'],
      );
      expect(await harness.bare.files.exists(dir)).toBe(false);
    },
  );
});

describe('nova-lxc reclaim beside a live service', () => {
  it('refuses with one line naming the process that holds the state directory, and exit 1', async () => {
    const stateDir = await harness.makeDir('state');
    const service = await otherProcessHolds(harness, stateDir, 'driver', 'nova-lxc serve');
    try {
      const result = await reclaimCli(stateDir).then(
        () => ({ exitCode: 0, stderr: '' }),
        (error: { exitCode?: number; stderr?: string }) => error,
      );
      expect(result.exitCode).toBe(1);
      expect(result.stderr?.split('\n')[0]).toMatch(
        new RegExp(
          `^nova-lxc: Failed to reclaim .*: nova-lxc serve \\(pid ${service.pid}, since [^)]*\\) holds ${stateDir} and may be working on these instances$`,
        ),
      );
      expect(result.stderr).toContain('hint: Stop it first (systemctl stop nova-lxc)');
    } finally {
      await service.end();
    }
  });
});
