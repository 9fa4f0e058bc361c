import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { HolderRole } from '../../driver/ports/journal.js';
import type { BackendHarness } from '../../harness/harness.js';
import type { SimulatedHost } from '../../simulator/index.js';

const ROOT = join(import.meta.dirname, '../..');

/** Another process on the harness's host that holds a state directory until it ends. */
export interface OtherProcess {
  pid: number;
  /** Ends it as a crash does (SIGKILL on the real host): it releases nothing itself. */
  end(): Promise<void>;
}

/**
 * Starts another process that holds `dir` in `role` as `name`: on the simulator a simulated
 * process of the same host, on the real host a node process (test/helpers/hold-state-dir.ts).
 */
export async function otherProcessHolds(
  harness: BackendHarness,
  dir: string,
  role: HolderRole,
  name: string,
): Promise<OtherProcess> {
  const sim = harness.bare as Partial<SimulatedHost>;
  if (sim.startProcess) {
    const other = sim.startProcess();
    await other.journal.hold(dir, role, name);
    return { pid: other.pid, end: async () => other.end() };
  }
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'test/helpers/hold-state-dir.ts'), dir, role, name],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('HELD')) resolve();
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    void exited.then(() => reject(new Error(`the holder process ended first: ${output}`)));
  });
  return {
    pid: child.pid!,
    end: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
