import type { BackendHarness } from './harness.js';
import { createSimHarness } from './sim-harness.js';

/** The backend this vitest project runs on: `sim` (default) or `real`. */
export const BACKEND = process.env['NOVA_LXC_BACKEND'] === 'real' ? 'real' : 'sim';

/** A fresh harness for the current backend. */
export async function makeHarness(): Promise<BackendHarness> {
  if (BACKEND === 'real') {
    const { createRealHarness } = await import('./real-harness.js');
    return createRealHarness();
  }
  return createSimHarness();
}
