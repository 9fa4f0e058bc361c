/**
 * Runs a scenario on any backend: builds its disks through the backend's harness, drives
 * LxcDriver through a traced and fault-injectable Host, checks expectations through the
 * ports, and leaves nothing behind.
 */
import { LxcDriver, PowerState, type LxcDriverOptions } from '../driver/driver.js';
import { hasCode, isDriverError } from '../driver/errors.js';
import { readPartitionTable } from '../driver/core/partition-table.js';
import type { Host, LoopDevice } from '../driver/ports/index.js';
import type { Faults } from '../harness/faults.js';
import type { BackendHarness, HarnessFactory } from '../harness/harness.js';
import { makeInstance } from '../harness/instances.js';
import type { BdmV2 } from '../driver/nova/novaclient-block-device.js';
import type {
  BootStep,
  ErrorExpectation,
  Expectations,
  Outcome,
  Scenario,
  Step,
} from './schema.js';
import { TraceRecorder, normaliseTrace, type TraceEntry } from '../harness/trace.js';

/** One run of a scenario: the scenario itself, or one of its fault_each variants. */
export interface ScenarioRun {
  /** The scenario name, plus ` [fault <op>]` for a variant. */
  id: string;
  scenario: Scenario;
  /** For a fault_each variant: the operation that fails once in the named step. */
  fault?: { op: string; step: string };
}

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

class StepFailure extends Error {}

interface InstanceState {
  name: string;
  record: Record<string, unknown>;
  bdi: Record<string, unknown> | null;
  imageMeta: Record<string, unknown>;
}

/** Runs one scenario run on a fresh harness; never throws for a scenario failure. */
export async function runScenario(run: ScenarioRun, options: RunOptions): Promise<ScenarioResult> {
  const { scenario } = run;
  const started = Date.now();
  const base = { name: run.id, file: scenario.file, outcomes: [], trace: [], capabilities: [] };
  if (options.backend === 'real' && scenario.realSkip !== undefined) {
    return { ...base, status: 'skipped', error: scenario.realSkip, durationMs: 0 };
  }
  const harness = await options.harness();
  const ctx = new RunContext(run, harness);
  let status: ScenarioResult['status'] = 'passed';
  let error: string | undefined;
  try {
    await ctx.prepare();
    await ctx.runSteps();
  } catch (e) {
    status = e instanceof SkipRun ? 'skipped' : 'failed';
    error = describe(e);
  }
  const leftovers = await ctx.teardown();
  if (leftovers && status !== 'skipped') {
    status = 'failed';
    error = error ? `${error}\n${leftovers}` : leftovers;
  }
  return {
    ...base,
    status,
    ...(error === undefined ? {} : { error }),
    outcomes: ctx.outcomes,
    trace: ctx.trace(),
    capabilities: ctx.capabilityNames(),
    durationMs: Date.now() - started,
  };
}

class SkipRun extends Error {}

function describe(error: unknown): string {
  if (error instanceof StepFailure || error instanceof SkipRun) return error.message;
  if (isDriverError(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

/** Names of devices and files the scenario made. */
const OURS = /^(volume|disk|nbd):/;

const POWER_NAMES = new Map<number, string>(
  Object.entries(PowerState).map(([name, value]) => [value, name.toLowerCase()]),
);

class RunContext {
  readonly outcomes: { step: string; outcome: string }[] = [];
  private readonly recorder = new TraceRecorder();
  private readonly faults: Faults;
  private readonly host: Host;
  private readonly observer: Host;
  private readonly volumes = new Map<string, string>();
  private readonly images = new Map<string, string>();
  private readonly instances = new Map<string, InstanceState>();
  private readonly replacements = new Map<string, string>();
  private readonly capabilities: Set<string>;
  private instancesPath = '';
  private driver!: LxcDriver;

  constructor(
    private readonly run: ScenarioRun,
    private readonly harness: BackendHarness,
  ) {
    this.observer = harness.bare;
    this.faults = harness.faults;
    this.host = harness.host;
    harness.trace(this.recorder);
    const caps = harness.capabilities;
    this.capabilities = new Set([
      caps.nbd === true ? 'nbd' : 'no_nbd',
      caps.qcow2 === true ? 'qcow2' : 'no_qcow2',
    ]);
  }

  capabilityNames(): string[] {
    return [...this.capabilities].sort();
  }

  private get scenario(): Scenario {
    return this.run.scenario;
  }

  async prepare(): Promise<void> {
    const sub = this.scenario.host.instancesSubdir;
    this.instancesPath = sub
      ? `${this.harness.instancesPath.replace(/\/+$/, '')}/${sub}`
      : this.harness.instancesPath;
    await this.observer.files.ensureDir(this.instancesPath);
    this.replacements.set(this.instancesPath, '<instances>');
    for (const [name, volume] of Object.entries(this.scenario.volumes)) {
      const path = await this.harness.makeDiskFile(volume.disk, `vol-${name}`);
      this.volumes.set(name, path);
      this.replacements.set(path, `<volume:${name}>`);
    }
    for (const [name, image] of Object.entries(this.scenario.images)) {
      let path = await this.harness.makeDiskFile(image.disk, `img-${name}`);
      this.replacements.set(path, `<image-source:${name}>`);
      if (image.format === 'qcow2') {
        if (this.harness.capabilities.qcow2 !== true) {
          throw new SkipRun(
            `the backend cannot make qcow2 images: ${this.harness.capabilities.qcow2}`,
          );
        }
        path = await this.harness.makeQcow2(path);
        this.replacements.set(path, `<image-source:${name}>`);
      }
      await this.harness.addImage(name, path, image.format);
      const cached = await this.observer.images.lookup(name);
      this.images.set(name, cached.path);
      this.replacements.set(cached.path, `<image:${name}>`);
    }
    this.driver = this.newDriver(this.host);
  }

  private driverOptions(): LxcDriverOptions {
    const h = this.scenario.host;
    return {
      instancesPath: this.instancesPath,
      ...(h.uidMaps ? { uidMaps: h.uidMaps } : {}),
      ...(h.gidMaps ? { gidMaps: h.gidMaps } : {}),
      ...(h.imagesType ? { imagesType: h.imagesType } : {}),
      ...(h.useCowImages === undefined ? {} : { useCowImages: h.useCowImages }),
      ...(h.rootPartition ? { rootPartition: h.rootPartition } : {}),
      ...(h.hostArch ? { hostArch: h.hostArch } : {}),
      // The simulator's clock is instant; a real stop takes a moment, never 30 s in a scenario.
      destroyTimeoutMs: 20_000,
    };
  }

  private newDriver(host: Host): LxcDriver {
    return new LxcDriver(host, this.driverOptions());
  }

  async runSteps(): Promise<void> {
    const { fault } = this.run;
    const fe = this.scenario.faultEach;
    let steps = this.scenario.steps;
    if (fault && fe) {
      const index = steps.findIndex((s) => s.label === fault.step);
      const target = steps[index]!;
      steps = [
        ...steps.slice(0, index),
        { ...target, outcome: { error: fe.error }, byCapability: {} },
        ...fe.then,
      ];
    }
    for (const step of steps) {
      if (fault && step.label === fault.step) {
        this.faults.inject(fault.op, { times: 1 });
      }
      await this.step(step);
    }
    if (!fault && fe) this.checkFaultList(fe.step, fe.operations);
  }

  /** fault_each lists the operations by hand; this keeps the list true to what the step calls. */
  private checkFaultList(step: string, declared: string[]): void {
    const called = [
      ...new Set(this.recorder.entries.filter((e) => e.step === step).map((e) => e.op)),
    ];
    const missing = called.filter((op) => !declared.includes(op));
    const extra = declared.filter((op) => !called.includes(op));
    if (missing.length > 0 || extra.length > 0) {
      throw new StepFailure(
        `fault_each.operations is out of date for step ${step}: it calls ${called.join(', ')}` +
          (missing.length ? `; add ${missing.join(', ')}` : '') +
          (extra.length ? `; remove ${extra.join(', ')}` : ''),
      );
    }
  }

  private outcomeOf(step: Step): Outcome {
    let outcome = step.outcome;
    for (const [cap, override] of Object.entries(step.byCapability)) {
      if (this.capabilities.has(cap)) outcome = { ...outcome, ...override };
    }
    return outcome;
  }

  private async step(step: Step): Promise<void> {
    const outcome = this.outcomeOf(step);
    const action = step.action;
    if (action.kind === 'concurrent') {
      const settled = await Promise.all(
        action.steps.map((sub, branch) =>
          this.recorder
            .within({ step: step.label, branch }, () => this.act(sub))
            .then(
              () => undefined,
              (e: unknown) => e,
            ),
        ),
      );
      action.steps.forEach((sub, i) => this.checkError(sub, this.outcomeOf(sub).error, settled[i]));
    } else {
      const error = await this.recorder
        .within({ step: step.label }, () => this.act(step))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      this.checkError(step, outcome.error, error);
    }
    if (outcome.expect) {
      const problems = await this.check(outcome.expect);
      if (problems.length > 0) {
        throw new StepFailure(`${step.label}: ${problems.join('; ')}`);
      }
    }
  }

  private checkError(step: Step, expected: ErrorExpectation | undefined, error: unknown): void {
    this.outcomes.push({
      step: step.label,
      outcome:
        error === undefined
          ? 'ok'
          : this.normalise(
              isDriverError(error) ? `${error.code}: ${error.message}` : String(error),
            ),
    });
    if (error === undefined) {
      if (expected && !expected.optional) {
        throw new StepFailure(
          `${step.label}: expected an error${expectedText(expected)}, but the step succeeded`,
        );
      }
      return;
    }
    if (!expected) {
      throw new StepFailure(`${step.label}: the step failed: ${describe(error)}`);
    }
    const code = isDriverError(error) ? error.code : 'Error';
    const message = error instanceof Error ? error.message : String(error);
    if (expected.code && expected.code !== code) {
      throw new StepFailure(
        `${step.label}: expected error code ${expected.code}, got ${code}: ${message}`,
      );
    }
    if (expected.message && !message.includes(expected.message)) {
      throw new StepFailure(
        `${step.label}: expected the error message to contain "${expected.message}", got "${message}"`,
      );
    }
    if (expected.messageRegex && !new RegExp(expected.messageRegex).test(message)) {
      throw new StepFailure(
        `${step.label}: expected the error message to match /${expected.messageRegex}/, got "${message}"`,
      );
    }
  }

  private async act(step: Step): Promise<void> {
    const action = step.action;
    switch (action.kind) {
      case 'boot':
        return this.boot(action);
      case 'destroy': {
        const inst = this.instance(action.instance, step);
        return this.driver.destroy({}, inst.record, null, inst.bdi, action.destroyDisks);
      }
      case 'reboot': {
        const inst = this.instance(action.instance, step);
        return this.driver.reboot({}, inst.record, null, 'HARD', inst.bdi);
      }
      case 'restart_driver':
        // A new process: only what Nova persists (the instance and its BDMs) survives.
        for (const inst of this.instances.values()) {
          inst.record = JSON.parse(JSON.stringify(inst.record)) as Record<string, unknown>;
          inst.bdi = JSON.parse(JSON.stringify(inst.bdi)) as Record<string, unknown> | null;
        }
        this.driver = this.newDriver(this.host);
        return;
      case 'fault':
        this.faults.inject(action.at, {
          times: action.times,
          ...(action.match === undefined ? {} : { match: action.match }),
          ...(action.error === undefined ? {} : { error: action.error }),
        });
        return;
      case 'clear_faults':
        this.faults.clear();
        return;
      case 'concurrent':
      case 'expect':
        return;
    }
  }

  private instance(name: string, step: Step): InstanceState {
    const inst = this.instances.get(name);
    if (!inst)
      throw new StepFailure(`${step.path}: no instance "${name}" was booted before this step`);
    return inst;
  }

  private async boot(step: BootStep): Promise<void> {
    if (this.instances.has(step.instance)) {
      throw new StepFailure(
        `boot: instance "${step.instance}" already exists in this scenario; use another name`,
      );
    }
    let imageRef: string | null = step.image ?? null;
    const mappings: Record<string, unknown>[] = [];
    let rootDevice = '/dev/vda';
    let properties: Record<string, string> = {};
    for (const [i, bdm] of step.bdms.entries()) {
      const isRoot = bdm.boot_index === '0';
      if (bdm.source_type === 'image' && bdm.destination_type !== 'volume') {
        // An image to a local disk: Nova boots it as the instance's image.
        if (isRoot) imageRef = bdm.uuid ?? null;
        continue;
      }
      const path = await this.volumeFor(step.instance, bdm);
      const device = bdm.device_name ?? `/dev/vd${String.fromCharCode(97 + i)}`;
      if (isRoot) {
        rootDevice = device;
        properties = this.propertiesOf(bdm);
      }
      mappings.push({
        boot_index: bdm.boot_index === undefined ? null : Number(bdm.boot_index),
        mount_device: device,
        device_type: bdm.device_type ?? 'disk',
        disk_bus: bdm.disk_bus ?? null,
        delete_on_termination: bdm.delete_on_termination ?? false,
        connection_info: { driver_volume_type: 'file', data: { path } },
      });
    }
    const record = makeInstance({ image_ref: imageRef });
    const bdi =
      mappings.length === 0
        ? null
        : {
            root_device_name: rootDevice,
            image: [],
            ephemerals: [],
            swap: null,
            block_device_mapping: mappings,
          };
    const image = imageRef === null ? undefined : this.scenario.images[imageRef];
    const imageMeta: Record<string, unknown> = image
      ? { id: imageRef, disk_format: image.format, properties: image.properties }
      : { properties };
    const inst: InstanceState = { name: step.instance, record, bdi, imageMeta };
    this.instances.set(step.instance, inst);
    this.replacements.set(String(record['uuid']), `<uuid:${step.instance}>`);
    this.replacements.set(String(record['name']), `<name:${step.instance}>`);
    await this.driver.spawn({}, record, imageMeta, [], null, null, null, bdi, step.powerOn);
  }

  private propertiesOf(bdm: BdmV2): Record<string, string> {
    const id = bdm.uuid ?? '';
    return bdm.source_type === 'image'
      ? (this.scenario.images[id]?.properties ?? {})
      : (this.scenario.volumes[id]?.properties ?? {});
  }

  /** The volume file a BDM names; source=image,dest=volume makes `<instance>-root` from the image. */
  private async volumeFor(instance: string, bdm: BdmV2): Promise<string> {
    const id = bdm.uuid ?? '';
    if (bdm.source_type === 'volume') return this.volumes.get(id)!;
    const name = `${instance}-root`;
    // Cinder's image-to-volume: a new volume with the image's bytes, built from its declaration.
    const path = await this.harness.makeDiskFile(this.scenario.images[id]!.disk, `vol-${name}`);
    this.volumes.set(name, path);
    this.replacements.set(path, `<volume:${name}>`);
    return path;
  }

  // ---- expectations, observed through the ports of the untraced host ----

  private async check(exp: Expectations): Promise<string[]> {
    const problems: string[] = [];
    const want = (what: string, expected: unknown, actual: unknown) => {
      if (JSON.stringify(expected) !== JSON.stringify(actual)) {
        problems.push(
          `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`,
        );
      }
    };
    for (const [name, state] of Object.entries(exp.state ?? {})) {
      want(`state of ${name}`, state, await this.stateOf(name));
    }
    for (const [name, root] of Object.entries(exp.root ?? {})) {
      const actual = await this.rootOf(name);
      const shown = actual && {
        source: actual.source,
        ...(root.partition === undefined ? {} : { partition: actual.partition }),
        ...(root.fstype === undefined ? {} : { fstype: actual.fstype }),
      };
      want(`root of ${name}`, root, shown);
    }
    for (const [name, files] of Object.entries(exp.files ?? {})) {
      for (const [path, content] of Object.entries(files)) {
        want(`${path} inside ${name}`, content, await this.readInContainer(name, path));
      }
    }
    for (const vf of exp.volumeFiles ?? []) {
      const path = this.volumes.get(vf.volume);
      const actual =
        path === undefined
          ? `(volume ${vf.volume} was never made)`
          : await this.harness.readFileOnDisk(path, vf.partition, vf.path);
      want(
        `${vf.path} on volume ${vf.volume}${vf.partition === null ? '' : ` partition ${vf.partition}`}`,
        vf.content,
        actual,
      );
    }
    if (exp.hostMounts) {
      want('host mounts under instances_path', [...exp.hostMounts].sort(), await this.hostMounts());
    }
    if (exp.attached) {
      const actual = await this.attached();
      const unmatched = [...actual];
      const missing = exp.attached.filter((e) => {
        const i = unmatched.findIndex(
          (a) =>
            (e.loop === undefined || a.loop === e.loop) &&
            (e.nbd === undefined || a.nbd === e.nbd) &&
            (e.offset === undefined || a.offset === e.offset) &&
            (e.sizeLimit === undefined || a.sizeLimit === e.sizeLimit),
        );
        if (i >= 0) unmatched.splice(i, 1);
        return i < 0;
      });
      if (missing.length > 0 || unmatched.length > 0) {
        problems.push(
          `attached devices: expected ${JSON.stringify(exp.attached)}, got ${JSON.stringify(actual)}`,
        );
      }
    }
    if (exp.domains) {
      want('defined domains', [...exp.domains].sort(), await this.domains());
    }
    if (exp.clean) {
      const left = await this.leftovers();
      if (left.length > 0) problems.push(`expected nothing left behind, found ${left.join(', ')}`);
    }
    return problems;
  }

  private async stateOf(name: string): Promise<string> {
    const inst = this.instances.get(name);
    if (!inst) return 'never booted';
    try {
      const info = await this.newDriver(this.observer).getInfo(inst.record);
      return POWER_NAMES.get(info.state) ?? String(info.state);
    } catch (error) {
      if (hasCode(error, 'NotFound')) return 'absent';
      throw error;
    }
  }

  /** `volume:NAME`, `disk:INSTANCE` or `nbd:INSTANCE` for a path the scenario made. */
  private nameOfPath(path: string): string {
    for (const [name, p] of this.volumes) if (p === path) return `volume:${name}`;
    for (const inst of this.instances.values()) {
      if (path === `${this.instanceDir(inst)}/disk`) return `disk:${inst.name}`;
    }
    return path;
  }

  private instanceDir(inst: InstanceState): string {
    return `${this.instancesPath}/${String(inst.record['uuid'])}`;
  }

  private async nameOfDevice(device: string): Promise<string> {
    if (/^\/dev\/nbd\d+$/.test(device)) {
      const conn = (await this.observer.nbd.list()).find((n) => n.device === device);
      const file = conn ? this.nameOfPath(conn.file) : device;
      return file.startsWith('disk:') ? `nbd:${file.slice(5)}` : `nbd:${file}`;
    }
    if (/^\/dev\/loop\d+$/.test(device)) {
      // A partition's loop device sits on the volume's own loop device: name the volume.
      const loop = (await this.observer.blockDevices.listLoops()).find((l) => l.device === device);
      if (loop) return this.nameOfDevice(loop.backingFile);
    }
    return this.nameOfPath(device);
  }

  private async rootOf(
    name: string,
  ): Promise<{ source: string; partition: number | null; fstype: string } | null> {
    const inst = this.instances.get(name);
    if (!inst) return null;
    const root = await this.observer.hypervisor
      .containerRoot(String(inst.record['name']))
      .catch(() => null);
    if (!root) return null;
    const loop = (await this.observer.blockDevices.listLoops()).find(
      (l) => l.device === root.source,
    );
    if (!loop)
      return { source: await this.nameOfDevice(root.source), partition: null, fstype: root.fstype };
    const source = await this.nameOfDevice(loop.backingFile);
    if (loop.offset === 0 && loop.sizeLimit === 0)
      return { source, partition: null, fstype: root.fstype };
    return { source, partition: await this.partitionAt(loop), fstype: root.fstype };
  }

  private async partitionAt(loop: LoopDevice): Promise<number | null> {
    const geometry = await this.observer.blockDevices.geometry(loop.backingFile);
    const table = await readPartitionTable({
      size: geometry.size,
      sectorSizeHint: geometry.logicalSectorSize,
      read: (offset, length) => this.observer.blockDevices.read(loop.backingFile, offset, length),
    });
    return table?.partitions.find((p) => p.start === loop.offset)?.number ?? null;
  }

  /**
   * Reads a file as the running container sees it: its root device mounted a second time
   * (the kernel shares the one filesystem instance) on a scratch directory, then unmounted.
   */
  private async readInContainer(name: string, path: string): Promise<string | null> {
    const inst = this.instances.get(name);
    if (!inst) return null;
    const root = await this.observer.hypervisor.containerRoot(String(inst.record['name']));
    const dir = await this.harness.makeDir('peek');
    await this.observer.mounts.mount(root.source, dir, { fstype: root.fstype });
    try {
      return await this.observer.files.readFile(`${dir}${path}`).catch((e: unknown) => {
        if (hasCode(e, 'NotFound')) return null;
        throw e;
      });
    } finally {
      await this.observer.mounts.unmount(dir);
    }
  }

  private async hostMounts(): Promise<string[]> {
    const prefix = `${this.instancesPath}/`;
    const out: string[] = [];
    for (const m of await this.observer.mounts.list()) {
      if (!m.target.startsWith(prefix)) continue;
      let shown = m.target.slice(prefix.length);
      for (const inst of this.instances.values()) {
        shown = shown.replace(String(inst.record['uuid']), inst.name);
      }
      out.push(shown);
    }
    return out.sort();
  }

  private async attached(): Promise<
    { loop?: string; nbd?: string; offset?: number; sizeLimit?: number }[]
  > {
    const out: { loop?: string; nbd?: string; offset?: number; sizeLimit?: number }[] = [];
    for (const loop of await this.observer.blockDevices.listLoops()) {
      const name = await this.nameOfDevice(loop.backingFile);
      if (!OURS.test(name)) continue; // Someone else's on a shared host.
      out.push({ loop: name, offset: loop.offset, sizeLimit: loop.sizeLimit });
    }
    for (const conn of await this.observer.nbd.list()) {
      const name = await this.nameOfDevice(conn.device);
      if (!OURS.test(name) || name === `nbd:${conn.file}`) continue;
      out.push({ nbd: name });
    }
    return out;
  }

  private async domains(): Promise<string[]> {
    const byDomain = new Map(
      [...this.instances.values()].map((i) => [String(i.record['name']), i.name]),
    );
    return (await this.observer.hypervisor.list())
      .map((d) => byDomain.get(d.name))
      .filter((n): n is string => n !== undefined)
      .sort();
  }

  private async leftovers(): Promise<string[]> {
    const left = [
      ...(await this.attached()).map((a) =>
        a.loop ? `loop device over ${a.loop}` : `nbd device for ${a.nbd}`,
      ),
      ...(await this.hostMounts()).map((m) => `mount ${m}`),
      ...(await this.domains()).map((d) => `domain of ${d}`),
    ];
    for (const inst of this.instances.values()) {
      if (await this.observer.files.exists(this.instanceDir(inst)))
        left.push(`instance directory of ${inst.name}`);
    }
    return left;
  }

  /** Destroys what the scenario left running, then lets the harness prove nothing leaked. */
  async teardown(): Promise<string | undefined> {
    this.faults.clear();
    const problems: string[] = [];
    if (this.driver) {
      const driver = this.newDriver(this.observer);
      for (const inst of this.instances.values()) {
        await driver.destroy({}, inst.record, null, inst.bdi, true).catch((e: unknown) => {
          problems.push(`teardown could not destroy ${inst.name}: ${describe(e)}`);
        });
      }
    }
    await this.harness.cleanup().catch((e: unknown) => {
      problems.push(e instanceof Error ? e.message : String(e));
    });
    return problems.length > 0 ? problems.join('\n') : undefined;
  }

  private normalise(text: string): string {
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

function expectedText(e: ErrorExpectation): string {
  const parts = [
    e.code,
    e.message && `"${e.message}"`,
    e.messageRegex && `/${e.messageRegex}/`,
  ].filter(Boolean);
  return parts.length ? ` (${parts.join(', ')})` : '';
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
