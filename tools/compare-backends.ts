/**
 * Runs each scenario on two backends (the simulator and the real host) and reports the first
 * place where their outcomes or normalised traces differ: the simulator is only worth its
 * results while it behaves like the real host.
 */
import {
  capabilitiesUsed,
  expandScenario,
  firstTraceDifference,
  runScenario,
  type Scenario,
  type ScenarioResult,
} from '../scenarios/index.js';
import type { HarnessFactory } from '../harness/harness.js';

/** A backend to compare: its name and how to make a fresh harness on it. */
export interface ComparedBackend {
  name: string;
  harness: HarnessFactory;
}

/** How one scenario run compared. */
export interface Comparison {
  name: string;
  /** `same`, `different`, or `skipped` when the scenario says the real host cannot run it. */
  verdict: 'same' | 'different' | 'skipped';
  /** The first difference, or the skip reason. */
  detail?: string;
}

/** The first difference between two results of the same run, or null when they agree. */
export function compareResults(
  left: ScenarioResult,
  right: ScenarioResult,
  names: [string, string],
): string | null {
  const [l, r] = names;
  if (left.status !== right.status) {
    return `status: ${l} ${left.status}${left.error ? ` (${left.error})` : ''}, ${r} ${right.status}${right.error ? ` (${right.error})` : ''}`;
  }
  const steps = Math.max(left.outcomes.length, right.outcomes.length);
  for (let i = 0; i < steps; i++) {
    const a = left.outcomes[i];
    const b = right.outcomes[i];
    if (JSON.stringify(a) !== JSON.stringify(b)) {
      return `outcome of ${a?.step ?? b?.step}: ${l} ${a?.outcome ?? '(not run)'}, ${r} ${b?.outcome ?? '(not run)'}`;
    }
  }
  const diff = firstTraceDifference(left.trace, right.trace);
  if (diff) {
    const show = (entry: unknown) => (entry === undefined ? '(no call)' : JSON.stringify(entry));
    return `trace call #${diff.index + 1}:\n  ${l}: ${show(diff.left)}\n  ${r}: ${show(diff.right)}`;
  }
  return null;
}

/** Runs every run of `scenarios` on both backends, one after the other, and compares them. */
export async function compareBackends(
  scenarios: Scenario[],
  left: ComparedBackend,
  right: ComparedBackend,
  onResult: (comparison: Comparison) => void = () => {},
): Promise<Comparison[]> {
  const out: Comparison[] = [];
  for (const run of scenarios.flatMap(expandScenario)) {
    let comparison: Comparison;
    if (run.scenario.realSkip !== undefined && [left.name, right.name].includes('real')) {
      comparison = { name: run.id, verdict: 'skipped', detail: run.scenario.realSkip };
    } else {
      const a = await runScenario(run, { backend: left.name, harness: left.harness });
      const b = await runScenario(run, { backend: right.name, harness: right.harness });
      const differing = [...capabilitiesUsed(run.scenario)].filter(
        (cap) => a.capabilities.includes(cap) !== b.capabilities.includes(cap),
      );
      const detail = compareResults(a, b, [left.name, right.name]);
      if (differing.length > 0 && a.status !== 'failed' && b.status !== 'failed') {
        // Each passed the outcome of its own capability; their traces cannot be the same.
        comparison = {
          name: run.id,
          verdict: 'skipped',
          detail: `its outcome depends on ${differing.join(', ')}, which only one backend has (${left.name}: ${a.capabilities.join(' ')}; ${right.name}: ${b.capabilities.join(' ')})`,
        };
      } else {
        comparison =
          detail === null
            ? { name: run.id, verdict: 'same' }
            : { name: run.id, verdict: 'different', detail };
      }
    }
    out.push(comparison);
    onResult(comparison);
  }
  return out;
}
