import { DriverError, type ErrorCode } from '../driver/errors.js';
import { PORT_NAMES, type Host } from '../driver/ports/index.js';

/** How an injected fault fails and how often. */
export interface FaultOptions {
  /** How many calls fail: a count (default 1), or 'always'. */
  times?: number | 'always';
  /** Only calls whose JSON-encoded arguments contain this text fail. */
  match?: string;
  /** The error to throw; default: code Internal, "Failed to <op>: injected fault <name>". */
  error?: { code: ErrorCode; message: string };
}

interface ActiveFault extends FaultOptions {
  name: string;
  fired: number;
}

/** Named faults (`<port>.<method>`, e.g. `hypervisor.start`) injected into a Host's ports. */
export class Faults {
  private readonly active: ActiveFault[] = [];
  /** How many port calls were checked so far: the index the next call gets. */
  calls = 0;
  /**
   * Sees every port call (the volume connector's inner ones included) with its index before
   * the named faults do, and may throw to fail it: the fault matrix fails call k this way.
   */
  gate: ((call: { name: string; args: unknown[]; index: number }) => void) | undefined;

  constructor(private readonly names: ReadonlySet<string>) {}

  /** Makes the named operation fail; an unknown name is a mistake and throws. */
  inject(name: string, options: FaultOptions = {}): void {
    if (!this.names.has(name)) {
      throw new DriverError('InvalidInput', `Failed to inject fault: unknown operation '${name}'`, {
        hint: `Known operations: ${[...this.names].sort().join(', ')}`,
      });
    }
    this.active.push({ ...options, name, fired: 0 });
  }

  /** Removes every fault and the gate. */
  clear(): void {
    this.active.length = 0;
    this.gate = undefined;
  }

  /** Throws the error of the first armed fault matching this call, if any. */
  check(name: string, args: unknown[]): void {
    const index = this.calls++;
    this.gate?.({ name, args, index });
    const encoded = this.active.some((f) => f.match !== undefined) ? safeJson(args) : '';
    const fault = this.active.find(
      (f) =>
        f.name === name &&
        (f.times === 'always' || f.fired < (f.times ?? 1)) &&
        (f.match === undefined || encoded.includes(f.match)),
    );
    if (!fault) {
      return;
    }
    fault.fired += 1;
    const error = fault.error ?? {
      code: 'Internal' as const,
      message: `Failed to ${name}: injected fault`,
    };
    throw new DriverError(error.code, error.message, { details: { fault: name } });
  }

  /** Faults still armed, for dumps. */
  toJSON(): unknown[] {
    return this.active.map(({ name, times, match, fired }) => ({
      name,
      times: times ?? 1,
      match,
      fired,
    }));
  }
}

/** The `<port>.<method>` names of a Host's async operations. */
export function operationNames(host: Host): Set<string> {
  const names = new Set<string>();
  for (const port of PORT_NAMES) {
    if (port === 'clock') continue;
    let proto = Object.getPrototypeOf(host[port]) as object | null;
    while (proto && proto !== Object.prototype) {
      for (const key of Object.getOwnPropertyNames(proto)) {
        if (key !== 'constructor') names.add(`${port}.${key}`);
      }
      proto = Object.getPrototypeOf(proto) as object | null;
    }
  }
  return names;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
}
