import { afterEach, beforeEach } from 'vitest';
import { LxcDriver, type LxcDriverOptions } from '../../driver/driver.js';
import type { Host, LoopAttachOptions, LoopDevice } from '../../driver/ports/index.js';
import { makeHarness } from '../../harness/backend.js';
import type { BackendHarness, HarnessFactory } from '../../harness/harness.js';
import { HostObserver } from '../../harness/observer.js';
import { TraceRecorder } from '../../harness/trace.js';

/** What a backend-neutral driver test works with; fresh for every test. */
export interface DriverSuite {
  /** The backend, made before each test and cleaned up after it. */
  readonly harness: BackendHarness;
  /** `harness.host`. */
  readonly host: Host;
  /**
   * This test's state directory (the drivers' journal), inside the harness's scratch space:
   * no test writes into the default /var/lib/nova-lxc, and the harness's clean-up removes it.
   */
  readonly stateDir: string;
  /** A driver over `host` with this test's instances_path and state directory. */
  driver(options?: Partial<LxcDriverOptions>): LxcDriver;
  /** The port calls (`port.method`) `run` makes through `host`, in order. */
  portCalls(run: () => Promise<unknown>): Promise<string[]>;
  /**
   * Another process attaches `path` to the first free loop device (through the harness's bare
   * ports: no trace, no faults); it is detached after the test, before the clean-up checks for
   * leaks.
   */
  otherProcessAttaches(path: string, options?: LoopAttachOptions): Promise<LoopDevice>;
}

/**
 * Registers the hooks every driver test file needs and returns the suite whose fields are the
 * current test's: a fresh harness per test from `backend` (the one NOVA_LXC_BACKEND names by
 * default); when the test failed, the host's state printed before the clean-up releases it
 * (the simulator's whole JSON dump, or on the real host what the ports show); the clean-up.
 * Call once per file, at the top level. `defaults` apply to every `driver()`.
 */
export function useDriverSuite(
  defaults: Partial<LxcDriverOptions> = {},
  backend: HarnessFactory = makeHarness,
): DriverSuite {
  let current: { harness: BackendHarness; stateDir: string; others: string[] } | undefined;
  const live = () => {
    if (!current) throw new Error('the driver suite is used outside a test');
    return current;
  };
  beforeEach(async () => {
    const harness = await backend();
    current = { harness, stateDir: await harness.makeDir('state'), others: [] };
  });
  afterEach(async ({ task }) => {
    const done = current;
    current = undefined;
    if (!done) return;
    if (task.result?.state === 'fail') {
      const host = done.harness.host as Host & { dump?: () => unknown };
      const state = host.dump ? host.dump() : await new HostObserver(host).snapshot();
      console.error(`host state after "${task.name}" failed:\n${JSON.stringify(state, null, 2)}`);
    }
    for (const device of done.others) {
      await done.harness.bare.blockDevices.detachLoop(device).catch(() => undefined);
    }
    await done.harness.cleanup();
  });
  return {
    get harness() {
      return live().harness;
    },
    get host() {
      return live().harness.host;
    },
    get stateDir() {
      return live().stateDir;
    },
    async portCalls(run) {
      const { harness } = live();
      const recorder = new TraceRecorder();
      harness.trace(recorder);
      try {
        await run();
      } finally {
        harness.trace(undefined);
      }
      return recorder.entries.map((e) => e.op);
    },
    async otherProcessAttaches(path, options) {
      const { harness, others } = live();
      const loop = await harness.bare.blockDevices.attachLoop(path, options);
      others.push(loop.device);
      return loop;
    },
    driver(options = {}) {
      const { harness, stateDir } = live();
      return new LxcDriver(harness.host, {
        instancesPath: harness.instancesPath,
        stateDir,
        ...defaults,
        ...options,
      });
    },
  };
}
