/**
 * What one scenario run knows while it runs: the harness, the driver, the names of what it
 * made, the trace and the step outcomes. The runner's parts (fixtures, steps, expectations,
 * teardown) share it.
 */
import { LxcDriver, type LxcDriverOptions } from '../driver/driver.js';
import { isDriverError } from '../driver/errors.js';
import { DEFAULT_STATE_DIR } from '../driver/journal.js';
import type { Host } from '../driver/ports/index.js';
import type { BackendHarness } from '../harness/harness.js';
import { HostObserver } from '../harness/observer.js';
import { TraceRecorder, normaliseTrace, type TraceEntry } from '../harness/trace.js';
import type { Scenario } from './schema.js';

/** One run of a scenario: the scenario itself, or one of its fault_each variants. */
export interface ScenarioRun {
  /** The scenario name, plus ` [fault <op>]` for a variant. */
  id: string;
  scenario: Scenario;
  /** For a fault_each variant: the operation that fails once in the named step. */
  fault?: { op: string; step: string };
}

/** A step did not come out as the scenario says; the message says how. */
export class StepFailure extends Error {}

/** The backend cannot run this scenario; the message says why. */
export class SkipRun extends Error {}

/** A booted instance: what Nova would persist for it. */
export interface InstanceState {
  name: string;
  record: Record<string, unknown>;
  bdi: Record<string, unknown> | null;
  imageMeta: Record<string, unknown>;
}

/** How an error reads in a result: step failures as they are, driver errors with their code. */
export function describe(error: unknown): string {
  if (error instanceof StepFailure || error instanceof SkipRun) return error.message;
  if (isDriverError(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

export class RunState {
  readonly outcomes: { step: string; outcome: string }[] = [];
  readonly recorder = new TraceRecorder();
  /** The driver's host: faults and tracing applied. */
  readonly host: Host;
  /** What the host holds, read through the bare ports (no faults, no trace). */
  readonly observer: HostObserver;
  /** Volume name → its file. */
  readonly volumes = new Map<string, string>();
  /** Image id → its file in the image cache. */
  readonly images = new Map<string, string>();
  readonly instances = new Map<string, InstanceState>();
  /** Host-specific strings → placeholders, for traces and outcomes that compare across hosts. */
  readonly replacements = new Map<string, string>();
  readonly capabilities: Set<string>;
  instancesPath = '';
  /** The run's own state directory for the drivers (journal), made with the fixtures. */
  runStateDir = '';
  /** What the driver is given as instances_path when it differs (a symlink to instancesPath). */
  driverInstancesPath: string | undefined;
  driver: LxcDriver | undefined;
  /** Loop devices host actions attached behind the driver's back; teardown detaches them. */
  readonly outOfBandLoops = new Set<string>();
  /** Mounts host actions made (`<volume>#<partition>` → mount and its loop device). */
  readonly outOfBandMounts = new Map<string, { dir: string; device: string }>();
  /** Volume name → the loop device the harness attached for `local_device`. */
  readonly localDevices = new Map<string, string>();
  /** Volume name → the release of a holder process that keeps its loop device open. */
  readonly holders = new Map<string, () => Promise<void>>();
  /** Boot ids seen so far (named `<boot#1>`, `<boot#2>` in traces, in the order seen). */
  private boots = 0;

  constructor(
    readonly run: ScenarioRun,
    readonly harness: BackendHarness,
  ) {
    this.host = harness.host;
    this.observer = new HostObserver(harness.bare);
    harness.trace(this.recorder);
    const caps = harness.capabilities;
    this.capabilities = new Set([
      caps.nbd === true ? 'nbd' : 'no_nbd',
      caps.qcow2 === true ? 'qcow2' : 'no_qcow2',
    ]);
  }

  get scenario(): Scenario {
    return this.run.scenario;
  }

  capabilityNames(): string[] {
    return [...this.capabilities].sort();
  }

  private driverOptions(): LxcDriverOptions {
    const h = this.scenario.host;
    return {
      instancesPath: this.driverInstancesPath ?? this.instancesPath,
      ...(this.runStateDir ? { stateDir: this.runStateDir } : {}),
      ...(h.uidMaps ? { uidMaps: h.uidMaps } : {}),
      ...(h.gidMaps ? { gidMaps: h.gidMaps } : {}),
      ...(h.imagesType ? { imagesType: h.imagesType } : {}),
      ...(h.useCowImages === undefined ? {} : { useCowImages: h.useCowImages }),
      ...(h.rootPartition ? { rootPartition: h.rootPartition } : {}),
      ...(h.hostArch ? { hostArch: h.hostArch } : {}),
      // The simulator's clock is instant; a real stop takes a moment, never 30 s in a scenario.
      destroyTimeoutMs: 20_000,
      // A busybox init ignores the shutdown request; do not wait Nova's 120 s for it.
      softRebootTimeoutMs: 2_000,
    };
  }

  /** A driver over `host` (the traced one for steps, the bare one for checks and teardown). */
  newDriver(host: Host): LxcDriver {
    return new LxcDriver(host, this.driverOptions());
  }

  instanceDir(inst: InstanceState): string {
    return `${this.instancesPath}/${String(inst.record['uuid'])}`;
  }

  /** `volume:NAME`, `disk:INSTANCE` or `nbd:INSTANCE` for a path the scenario made. */
  nameOfPath(shown: string): string {
    // The kernel shows an unlinked backing file as "PATH (deleted)": still the scenario's file.
    const path = shown.replace(/ \(deleted\)$/, '');
    for (const [name, p] of this.volumes) if (p === path) return `volume:${name}`;
    for (const inst of this.instances.values()) {
      if (path === `${this.instanceDir(inst)}/disk`) return `disk:${inst.name}`;
    }
    return shown;
  }

  /** The scenario's name for a device: what it is attached over, followed down to a file. */
  async nameOfDevice(device: string): Promise<string> {
    if (/^\/dev\/nbd\d+$/.test(device)) {
      const conn = await this.observer.nbdConnection(device);
      const file = conn ? this.nameOfPath(conn.file) : device;
      return file.startsWith('disk:') ? `nbd:${file.slice(5)}` : `nbd:${file}`;
    }
    if (/^\/dev\/loop\d+$/.test(device)) {
      // A partition's loop device sits on the volume's own loop device: name the volume.
      const loop = await this.observer.loop(device);
      if (loop) return this.nameOfDevice(loop.backingFile);
    }
    return this.nameOfPath(device);
  }

  /** Names the host's current boot id `<boot#N>` in traces and outcomes, once. */
  async noteBoot(): Promise<void> {
    const id = await this.observer.host.clock.bootId();
    if (!this.replacements.has(id)) this.replacements.set(id, `<boot#${(this.boots += 1)}>`);
  }

  /** The driver's state directory (its journal): the run's own once the fixtures are made. */
  get stateDir(): string {
    return this.driverOptions().stateDir ?? DEFAULT_STATE_DIR;
  }

  /** A value with host-specific strings normalised as the trace is, its devices named as there. */
  normaliseWithTrace(value: unknown): unknown {
    const entries = normaliseTrace(
      [...this.recorder.entries, { step: '', op: 'record', args: [value] }],
      {
        replacements: this.replacements,
        domainNames: new Set([...this.instances.values()].map((i) => String(i.record['name']))),
      },
    );
    return (entries.at(-1)?.args as unknown[] | undefined)?.[0];
  }

  /** A host-specific message with the scenario's placeholders in. */
  normalise(text: string): string {
    const [entry] = normaliseTrace(
      [{ step: '', op: '', args: [], error: { code: '', message: text } }],
      {
        replacements: this.replacements,
        domainNames: new Set(),
      },
    );
    return entry?.error?.message ?? text;
  }

  trace(): TraceEntry[] {
    return normaliseTrace(this.recorder.entries, {
      replacements: this.replacements,
      domainNames: new Set([...this.instances.values()].map((i) => String(i.record['name']))),
    });
  }
}
