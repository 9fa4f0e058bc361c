import { posix } from 'node:path';
import { assertJournalKey } from '../driver/core/journal-key.js';
import { HoldingJournal, ProcessHolds } from '../driver/core/state-holders.js';
import { DriverError } from '../driver/errors.js';
import type { Clock } from '../driver/ports/clock.js';
import { SIM_PID, type SimState } from './state.js';

const SUFFIX = '.json';

/**
 * The journal as files in the simulated host's own tree: it outlives any driver object, so a
 * new driver over the same SimulatedHost is a restarted process after a crash. A write is
 * atomic (one memfs write), as the real adapter's rename makes it.
 */
export class SimulatedJournal extends HoldingJournal {
  /** `pid`: the simulated process this journal belongs to (the test's own by default). */
  constructor(
    private readonly state: SimState,
    clock: Clock,
    pid = SIM_PID,
  ) {
    super(processHolds(state, clock, pid));
  }

  async write(dir: string, key: string, content: string): Promise<void> {
    assertJournalKey('write', key);
    const tree = this.state.host;
    const path = posix.join(dir, key + SUFFIX);
    if (tree.existsSync(dir) && !tree.statSync(dir).isDirectory()) {
      throw new DriverError(
        'NotFound',
        `Failed to write journal record ${path}: ENOTDIR: not a directory, open '${path}'`,
      );
    }
    tree.mkdirSync(dir, { recursive: true, mode: 0o700 });
    tree.writeFileSync(path, content, { mode: 0o600 });
    this.state.journalDirs.add(dir);
  }

  async read(dir: string, key: string): Promise<string | null> {
    assertJournalKey('read', key);
    const path = posix.join(dir, key + SUFFIX);
    const tree = this.state.host;
    return tree.existsSync(path) ? String(tree.readFileSync(path, 'utf8')) : null;
  }

  async keys(dir: string): Promise<string[]> {
    const tree = this.state.host;
    if (!tree.existsSync(dir)) return [];
    return (tree.readdirSync(dir) as string[])
      .filter((name) => name.endsWith(SUFFIX))
      .map((name) => name.slice(0, -SUFFIX.length))
      .sort();
  }

  async remove(dir: string, key: string): Promise<void> {
    assertJournalKey('remove', key);
    const path = posix.join(dir, key + SUFFIX);
    this.state.host.rmSync(path, { force: true });
  }
}

/**
 * The holds of simulated process `pid`, one object per process and host. A simulated process
 * is alive while SimState.livePids has it (a host reboot ends all but the test's own); its
 * start is its pid, which the simulator never reuses.
 */
function processHolds(state: SimState, clock: Clock, pid: number): ProcessHolds {
  let holds = state.processHolds.get(pid);
  if (!holds) {
    holds = new ProcessHolds({
      self: async () => ({ pid, start: String(pid), boot: await clock.bootId() }),
      alive: async (p) => state.livePids.has(p.pid) && p.boot === (await clock.bootId()),
      now: () => new Date(clock.now()).toISOString(),
    });
    state.processHolds.set(pid, holds);
  }
  return holds;
}
