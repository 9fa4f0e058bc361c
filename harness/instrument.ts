/**
 * The one decorator over a Host's ports that a harness applies, once: every async port call
 * first consults the armed faults, and is recorded (with its result or error) when a trace
 * recorder is attached. The clock is passed through untouched (its timings are not part of
 * any contract, and the simulator's clock must stay instant).
 */
import { PortVolumeConnector } from '../driver/core/volume-connector.js';
import { isDriverError } from '../driver/errors.js';
import { PORT_NAMES, type Host } from '../driver/ports/index.js';
import { Faults, operationNames } from './faults.js';
import type { TraceRecorder } from './trace.js';

/** What the decorator consults on every call; the harness owns one per host. */
export class Instruments {
  readonly faults: Faults;
  /** Where calls are recorded; none by default (recording copies every argument). */
  recorder: TraceRecorder | undefined;

  constructor(host: Host) {
    this.faults = new Faults(operationNames(host));
  }
}

/**
 * Wraps every async port method: the call is traced outside the fault check, so an injected
 * failure is recorded as the call's outcome.
 */
export function instrument(host: Host, instruments: Instruments): Host {
  const wrapped = wrapPorts(host, instruments);
  if (!(host.volumes instanceof PortVolumeConnector)) return wrapped;
  // The volume connector is driver code over two ports: rebuilt over the instrumented ones,
  // so faults (and traces) reach its inner calls as well as the connect/disconnect around them.
  const volumes = new PortVolumeConnector(wrapped.blockDevices, wrapped.files);
  return wrapPorts({ ...host, volumes }, instruments);
}

/** The parts of a BackendHarness that the decorator provides. */
export interface Instrumented<H extends Host> {
  /** `bare` with faults and tracing; the same shape (the simulator's state and dump stay). */
  host: H;
  bare: H;
  faults: Faults;
  trace(recorder: TraceRecorder | undefined): void;
}

/** Instruments `bare` once, for a harness: its host, bare host, faults and trace switch. */
export function instrumented<H extends Host>(bare: H): Instrumented<H> {
  const instruments = new Instruments(bare);
  return {
    host: { ...bare, ...instrument(bare, instruments) },
    bare,
    faults: instruments.faults,
    trace(recorder) {
      instruments.recorder = recorder;
    },
  };
}

function wrapPorts(host: Host, instruments: Instruments): Host {
  const wrapped = {} as Record<string, unknown>;
  for (const port of PORT_NAMES) {
    const target = host[port] as unknown as Record<string, unknown>;
    if (port === 'clock') {
      wrapped[port] = target;
      continue;
    }
    wrapped[port] = new Proxy(target, {
      get(object, key, receiver) {
        const value = Reflect.get(object, key, receiver) as unknown;
        if (typeof value !== 'function' || typeof key !== 'string') return value;
        const op = `${port}.${key}`;
        return async (...args: unknown[]) => {
          const recorder = instruments.recorder;
          if (!recorder) {
            instruments.faults.check(op, args);
            return (value as (...a: unknown[]) => unknown).apply(object, args);
          }
          // Copy the arguments now: the driver mutates some (connection_info gets device_path).
          const recordedArgs = snapshot(args) as unknown[];
          try {
            instruments.faults.check(op, args);
            const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(
              object,
              args,
            );
            recorder.record({ op, args: recordedArgs, result: snapshot(result) });
            return result;
          } catch (error) {
            recorder.record({ op, args: recordedArgs, error: errorOutcome(error) });
            throw error;
          }
        };
      },
    });
  }
  return wrapped as unknown as Host;
}

function errorOutcome(error: unknown): { code: string; message: string } {
  if (isDriverError(error)) return { code: error.code, message: error.message };
  return { code: 'Error', message: error instanceof Error ? error.message : String(error) };
}

function snapshot(value: unknown): unknown {
  if (value instanceof Uint8Array) {
    // Bytes differ between backends (filesystem UUIDs, timestamps): keep only how many.
    return { bytes: value.length };
  }
  if (Array.isArray(value)) return value.map(snapshot);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = snapshot(v);
    return out;
  }
  return value;
}
