/** Declarative scenarios that run identically on the simulator and a real host. */
export {
  parseBlockDeviceArg,
  CLIENT_BDM2_KEYS,
  type BdmV2,
} from '../driver/nova/novaclient-block-device.js';
export { findScenarioFiles, loadScenarios, parseScenarioText, SCENARIOS_DIR } from './load.js';
export { REPORTERS, progressLine, renderReport, type Reporter } from './report.js';
export {
  capabilitiesUsed,
  expandScenario,
  runScenario,
  type RunOptions,
  type ScenarioResult,
  type ScenarioRun,
} from './runner.js';
export { parseScenario, CAPABILITY_KEYS, type Scenario, type Step } from './schema.js';
export {
  TraceRecorder,
  firstTraceDifference,
  normaliseTrace,
  type TraceEntry,
} from '../harness/trace.js';
export { Instruments, instrument } from '../harness/instrument.js';
