/** Declarative scenarios that run identically on the simulator and a real host. */
export {
  parseBlockDeviceArg,
  CLIENT_BDM2_KEYS,
  OSC_BDM_KEYS,
  type BdmV2,
} from '../driver/nova/novaclient-block-device.js';
export {
  findScenarioFiles,
  loadScenarioFiles,
  loadScenarios,
  parseScenarioText,
  SCENARIOS_DIR,
  type LoadError,
  type LoadResult,
} from './load.js';
export {
  EXIT_CODES,
  REPORTERS,
  loadErrorEntry,
  progressLine,
  renderReport,
  totals,
  type ReportEntry,
  type Reporter,
  type Totals,
} from './report.js';
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
