import { createSimHarness } from '../../harness/sim-harness.js';
import { expandScenario, parseScenarioText, runScenario } from '../../scenarios/index.js';

/**
 * Runs a scenario written as `head` (its name, images, volumes and first steps) plus `steps`
 * on the simulator; returns the failure message ('' when it passed).
 */
export async function runSimScenario(head: string, steps: string): Promise<string> {
  const scenario = parseScenarioText(head + steps, 'demo.yaml');
  const result = await runScenario(expandScenario(scenario)[0]!, {
    backend: 'sim',
    harness: () => createSimHarness(),
  });
  return result.error ?? '';
}
