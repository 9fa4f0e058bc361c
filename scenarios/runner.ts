/**
 * Runs a scenario on any backend: builds its fixtures through the backend's harness
 * (fixtures.ts), drives LxcDriver through the harness's traced, fault-injectable host
 * (steps.ts), checks expectations through the bare ports (expectations.ts), and leaves
 * nothing behind (teardown below, then the harness's own cleanup).
 */
import type { HarnessFactory } from '../harness/harness.js';
import type { TraceEntry } from '../harness/trace.js';
import { prepareFixtures } from './fixtures.js';
import { RunState, SkipRun, describe, type ScenarioRun } from './run-state.js';
import { runSteps } from './steps.js';
import type { Scenario, Step } from './schema.js';

export type { ScenarioRun } from './run-state.js';

/** What a run came to. */
export interface ScenarioResult {
  name: string;
  file: string;
  status: 'passed' | 'failed' | 'skipped';
  /** Why it failed (the step and what differed) or was skipped. */
  error?: string;
  /** The outcome of each step, for comparing backends: `ok` or `<code>: <message>`. */
  outcomes: { step: string; outcome: string }[];
  trace: TraceEntry[];
  /** The host's capabilities as outcomes see them, e.g. `nbd`, `no_qcow2`. */
  capabilities: string[];
  durationMs: number;
}

/** Where the runner runs. */
export interface RunOptions {
  /** `sim` or `real`; only used to honour a scenario's `real: { skip }`. */
  backend: string;
  harness: HarnessFactory;
}

/** The runs of a scenario: itself, then one per fault_each operation. */
export function expandScenario(scenario: Scenario): ScenarioRun[] {
  const runs: ScenarioRun[] = [{ id: scenario.name, scenario }];
  for (const op of scenario.faultEach?.operations ?? []) {
    runs.push({
      id: `${scenario.name} [fault ${op}]`,
      scenario,
      fault: { op, step: scenario.faultEach!.step },
    });
  }
  return runs;
}

/** Runs one scenario run on a fresh harness; never throws for a scenario failure. */
export async function runScenario(run: ScenarioRun, options: RunOptions): Promise<ScenarioResult> {
  const { scenario } = run;
  const started = Date.now();
  const base = { name: run.id, file: scenario.file, outcomes: [], trace: [], capabilities: [] };
  if (options.backend === 'real' && scenario.realSkip !== undefined) {
    return { ...base, status: 'skipped', error: scenario.realSkip, durationMs: 0 };
  }
  const state = new RunState(run, await options.harness());
  let status: ScenarioResult['status'] = 'passed';
  let error: string | undefined;
  try {
    await state.noteBoot();
    await prepareFixtures(state);
    await runSteps(state);
  } catch (e) {
    status = e instanceof SkipRun ? 'skipped' : 'failed';
    error = describe(e);
  }
  const leftovers = await teardown(state);
  if (leftovers && status !== 'skipped') {
    status = 'failed';
    error = error ? `${error}\n${leftovers}` : leftovers;
  }
  return {
    ...base,
    status,
    ...(error === undefined ? {} : { error }),
    outcomes: state.outcomes,
    trace: state.trace(),
    capabilities: state.capabilityNames(),
    durationMs: Date.now() - started,
  };
}

/** Destroys what the scenario left running, then lets the harness prove nothing leaked. */
async function teardown(state: RunState): Promise<string | undefined> {
  state.harness.faults.clear();
  const problems: string[] = [];
  for (const release of state.holders.values()) {
    await release().catch((e: unknown) => {
      problems.push(`teardown could not end a holder process: ${describe(e)}`);
    });
  }
  for (const { dir } of state.outOfBandMounts.values()) {
    await state.observer.host.mounts.unmount(dir).catch((e: unknown) => {
      problems.push(`teardown could not unmount the host action's ${dir}: ${describe(e)}`);
    });
  }
  for (const device of state.outOfBandLoops) {
    await state.observer.host.blockDevices.detachLoop(device).catch((e: unknown) => {
      problems.push(`teardown could not detach the host action's ${device}: ${describe(e)}`);
    });
  }
  if (state.driver) {
    const driver = state.newDriver(state.observer.host);
    for (const inst of state.instances.values()) {
      await driver.destroy({}, inst.record, null, inst.bdi, true).catch((e: unknown) => {
        problems.push(`teardown could not destroy ${inst.name}: ${describe(e)}`);
      });
    }
  }
  await state.harness.cleanup().catch((e: unknown) => {
    problems.push(e instanceof Error ? e.message : String(e));
  });
  return problems.length > 0 ? problems.join('\n') : undefined;
}

/** The capabilities (`nbd`, `qcow2`) some outcome of the scenario depends on. */
export function capabilitiesUsed(scenario: Scenario): Set<string> {
  const used = new Set<string>();
  const visit = (steps: Step[]) => {
    for (const step of steps) {
      for (const key of Object.keys(step.byCapability)) used.add(key.replace(/^no_/, ''));
      if (step.action.kind === 'concurrent') visit(step.action.steps);
    }
  };
  visit(scenario.steps);
  visit(scenario.faultEach?.then ?? []);
  return used;
}
