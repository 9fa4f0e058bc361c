/**
 * Runs a scenario's steps on the traced host: each action through LxcDriver as Nova would
 * call it, its error (or success) checked against the step's outcome, then its expectations.
 */
import { bootDisks } from '../driver/nova/bdm-v2.js';
import { isDriverError } from '../driver/errors.js';
import { makeInstance } from '../harness/instances.js';
import { waitUntil } from '../driver/core/wait.js';
import { checkExpectations, stateOf } from './expectations.js';
import { propertiesOf, volumeFor } from './fixtures.js';
import { StepFailure, describe, type InstanceState, type RunState } from './run-state.js';
import type { BootStep, ErrorExpectation, HostAction, Outcome, Step } from './schema.js';

/** Runs every step of the run (for a fault_each variant: up to the faulted one, then `then`). */
export async function runSteps(state: RunState): Promise<void> {
  const { fault } = state.run;
  const fe = state.scenario.faultEach;
  let steps = state.scenario.steps;
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
      state.harness.faults.inject(fault.op, { times: 1 });
    }
    await runStep(state, step);
  }
  if (!fault && fe) checkFaultList(state, fe.step, fe.operations);
}

/** fault_each lists the operations by hand; this keeps the list true to what the step calls. */
function checkFaultList(state: RunState, step: string, declared: string[]): void {
  const called = [
    ...new Set(state.recorder.entries.filter((e) => e.step === step).map((e) => e.op)),
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

function outcomeOf(state: RunState, step: Step): Outcome {
  let outcome = step.outcome;
  for (const [cap, override] of Object.entries(step.byCapability)) {
    if (state.capabilities.has(cap)) outcome = { ...outcome, ...override };
  }
  return outcome;
}

async function runStep(state: RunState, step: Step): Promise<void> {
  const outcome = outcomeOf(state, step);
  const action = step.action;
  if (action.kind === 'concurrent') {
    const settled = await Promise.all(
      action.steps.map((sub, branch) =>
        state.recorder
          .within({ step: step.label, branch }, () => act(state, sub))
          .then(
            () => undefined,
            (e: unknown) => e,
          ),
      ),
    );
    action.steps.forEach((sub, i) =>
      checkError(state, sub, outcomeOf(state, sub).error, settled[i]),
    );
  } else {
    const clock = state.observer.host.clock;
    const started = clock.now();
    const error = await state.recorder
      .within({ step: step.label }, () => act(state, step))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    const took = clock.now() - started;
    checkError(state, step, outcome.error, error);
    if (step.withinMs !== undefined && took > step.withinMs) {
      throw new StepFailure(
        `${step.label}: expected to take at most ${step.withinMs} ms, took ${took} ms`,
      );
    }
  }
  if (outcome.expect) {
    const problems = await checkExpectations(state, outcome.expect);
    if (problems.length > 0) {
      throw new StepFailure(`${step.label}: ${problems.join('; ')}`);
    }
  }
}

function checkError(
  state: RunState,
  step: Step,
  expected: ErrorExpectation | undefined,
  error: unknown,
): void {
  state.outcomes.push({
    step: step.label,
    outcome:
      error === undefined
        ? 'ok'
        : state.normalise(isDriverError(error) ? `${error.code}: ${error.message}` : String(error)),
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

function expectedText(e: ErrorExpectation): string {
  const parts = [
    e.code,
    e.message && `"${e.message}"`,
    e.messageRegex && `/${e.messageRegex}/`,
  ].filter(Boolean);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

async function act(state: RunState, step: Step): Promise<void> {
  const action = step.action;
  const driver = state.driver!;
  switch (action.kind) {
    case 'boot':
      return boot(state, action);
    case 'destroy': {
      const inst = instance(state, action.instance, step);
      return driver.destroy({}, inst.record, null, inst.bdi, action.destroyDisks);
    }
    case 'reboot': {
      const inst = instance(state, action.instance, step);
      return driver.reboot({}, inst.record, null, action.type, inst.bdi);
    }
    case 'power_off': {
      const inst = instance(state, action.instance, step);
      return driver.powerOff(inst.record, { timeoutMs: action.timeoutMs });
    }
    case 'power_on': {
      const inst = instance(state, action.instance, step);
      return driver.powerOn({}, inst.record, null, inst.bdi);
    }
    case 'wait':
      if (action.for || action.forFiles) return waitFor(state, action, step);
      return state.host.clock.sleep(action.ms);
    case 'stop_domain':
    case 'kill_init':
    case 'attach_loop':
    case 'detach_loop':
    case 'hold_loop':
    case 'release_loop':
    case 'churn_loops':
    case 'mount_partition':
    case 'unmount_partition':
      return hostAction(state, action, step);
    case 'restart_driver':
      restartDriver(state);
      return;
    case 'host_reboot':
      if (state.localDevices.size > 0) {
        throw new StepFailure(
          `${step.path}: host_reboot with local_device volumes is not supported (the harness would have to attach them again after the reboot)`,
        );
      }
      // The kernel's state goes with the boot, then the driver starts again from the records.
      await state.harness.hostReboot();
      state.holders.clear();
      state.outOfBandLoops.clear();
      state.outOfBandMounts.clear();
      await state.noteBoot();
      restartDriver(state);
      return;
    case 'resume': {
      const inst = instance(state, action.instance, step);
      return driver.resumeStateOnHostBoot({}, inst.record, null, inst.bdi);
    }
    case 'fault':
      state.harness.faults.inject(action.at, {
        times: action.times,
        ...(action.match === undefined ? {} : { match: action.match }),
        ...(action.error === undefined ? {} : { error: action.error }),
      });
      return;
    case 'clear_faults':
      state.harness.faults.clear();
      return;
    case 'concurrent':
    case 'expect':
      return;
  }
}

/** A new driver process: only what Nova persists (the instance and its BDMs) survives. */
function restartDriver(state: RunState): void {
  for (const inst of state.instances.values()) {
    inst.record = JSON.parse(JSON.stringify(inst.record)) as Record<string, unknown>;
    inst.bdi = JSON.parse(JSON.stringify(inst.bdi)) as Record<string, unknown> | null;
  }
  state.driver = state.newDriver(state.host);
}

/**
 * Waits on the host's clock until get_info gives each instance its state and each file has
 * its content, at most `ms`: an init acts at a time that real hosts keep only roughly.
 */
async function waitFor(
  state: RunState,
  action: Extract<Step['action'], { kind: 'wait' }>,
  step: Step,
): Promise<void> {
  const states = action.for ?? {};
  const files = action.forFiles ?? {};
  for (const name of [...Object.keys(states), ...Object.keys(files)]) instance(state, name, step);
  const result = await waitUntil(
    state.observer.host.clock,
    { timeoutMs: action.ms, intervalMs: 250 },
    async () => {
      const differ: string[] = [];
      for (const [name, want] of Object.entries(states)) {
        const got = await stateOf(state, name);
        if (got !== want) differ.push(`${name} is ${got}, not ${want}`);
      }
      const expectations = { files } as Parameters<typeof checkExpectations>[1];
      if (Object.keys(files).length > 0)
        differ.push(...(await checkExpectations(state, expectations)));
      return differ.length === 0
        ? { done: true, value: undefined }
        : { done: false, why: differ.join('; ') };
    },
  );
  if (!result.ok) throw new StepFailure(`${step.label}: after ${action.ms} ms ${result.why}`);
}

/** What another process or an operator does on the host, through the bare ports. */
async function hostAction(state: RunState, action: HostAction, step: Step): Promise<void> {
  const bare = state.observer.host;
  if (action.kind === 'stop_domain') {
    // `virsh destroy` behind the driver's back: the domain stops, its definition stays.
    await bare.hypervisor.destroy(String(instance(state, action.instance, step).record['name']));
    return;
  }
  if (action.kind === 'kill_init') {
    // kill -9 of the container's init (proven to be the domain's), as another process would.
    await state.harness.killInit(String(instance(state, action.instance, step).record['name']));
    return;
  }
  const path = state.volumes.get(action.volume)!;
  if (action.kind === 'attach_loop') {
    const loop = await bare.blockDevices.attachLoop(path);
    state.outOfBandLoops.add(loop.device);
    return;
  }
  if (action.kind === 'churn_loops') {
    // Another process taking and freeing loop devices, while the steps beside it run.
    for (let i = 0; i < action.times; i += 1) {
      const loop = await bare.blockDevices.attachLoop(path);
      state.outOfBandLoops.add(loop.device);
      await bare.blockDevices.detachLoop(loop.device);
      state.outOfBandLoops.delete(loop.device);
    }
    return;
  }
  if (action.kind === 'hold_loop') {
    // Another process opens the loop device over the volume's file and keeps it open.
    const loop = (await state.observer.loops()).find((l) => l.backingFile === path);
    if (!loop)
      throw new StepFailure(`${step.label}: no loop device serves volume ${action.volume}`);
    if (state.holders.has(action.volume))
      throw new StepFailure(`${step.label}: volume ${action.volume}'s loop device is held already`);
    state.holders.set(action.volume, await state.harness.holdDevice(loop.device));
    return;
  }
  if (action.kind === 'release_loop') {
    const release = state.holders.get(action.volume);
    if (!release)
      throw new StepFailure(`${step.label}: no hold_loop of volume ${action.volume} before`);
    state.holders.delete(action.volume);
    await release();
    return;
  }
  if (action.kind === 'mount_partition' || action.kind === 'unmount_partition') {
    return partitionMount(state, action, path, step);
  }
  for (const loop of await state.observer.loops()) {
    if (loop.backingFile !== path) continue;
    await bare.blockDevices.detachLoop(loop.device);
    state.outOfBandLoops.delete(loop.device);
  }
}

/** An operator looking at another partition of the disk: its own loop device and mount. */
async function partitionMount(
  state: RunState,
  action: Extract<HostAction, { kind: 'mount_partition' | 'unmount_partition' }>,
  path: string,
  step: Step,
): Promise<void> {
  const bare = state.observer.host;
  const key = `${action.volume}#${action.partition}`;
  const what = `volume ${action.volume} partition ${action.partition}`;
  if (action.kind === 'mount_partition') {
    const part = await state.observer.partitionRange(path, action.partition);
    if (!part) throw new StepFailure(`${step.label}: ${what} does not exist`);
    const loop = await bare.blockDevices.attachLoop(path, {
      offset: part.offset,
      sizeLimit: part.size,
    });
    state.outOfBandLoops.add(loop.device);
    const dir = await state.harness.makeDir(`mnt-${action.volume}-${action.partition}`);
    await bare.mounts.mount(loop.device, dir, { fstype: 'ext4' });
    state.outOfBandMounts.set(key, { dir, device: loop.device });
    return;
  }
  const held = state.outOfBandMounts.get(key);
  if (!held) throw new StepFailure(`${step.label}: no mount_partition of ${what} before`);
  await bare.mounts.unmount(held.dir);
  state.outOfBandMounts.delete(key);
  await bare.blockDevices.detachLoop(held.device);
  state.outOfBandLoops.delete(held.device);
}

function instance(state: RunState, name: string, step: Step): InstanceState {
  const inst = state.instances.get(name);
  if (!inst)
    throw new StepFailure(`${step.path}: no instance "${name}" was booted before this step`);
  return inst;
}

async function boot(state: RunState, step: BootStep): Promise<void> {
  const earlier = state.instances.get(step.instance);
  if (earlier && !step.retry) {
    throw new StepFailure(
      `boot: instance "${step.instance}" already exists in this scenario; use another name, ` +
        'or retry: true to boot the same instance again',
    );
  }
  // The scenario's volumes are files: Cinder's connection_info for them is the file driver's.
  const disks = await bootDisks(step.bdms, step.image ?? null, async (bdm) => {
    // A local_device volume is a block device the harness attached itself.
    const local = bdm.source_type === 'volume' ? state.localDevices.get(bdm.uuid ?? '') : undefined;
    return local
      ? { driver_volume_type: 'local', data: { device_path: local } }
      : { driver_volume_type: 'file', data: { path: await volumeFor(state, step.instance, bdm) } };
  });
  const imageRef = disks.imageRef;
  const properties = disks.rootVolume ? propertiesOf(state, disks.rootVolume) : {};
  // A retry is Nova's after a failed spawn: the same instance record, uuid and name.
  const record = earlier ? earlier.record : makeInstance({ image_ref: imageRef });
  const bdi = disks.blockDeviceInfo as Record<string, unknown> | null;
  const image = imageRef === null ? undefined : state.scenario.images[imageRef];
  const imageMeta: Record<string, unknown> = image
    ? { id: imageRef, disk_format: image.format, properties: image.properties }
    : { properties };
  const inst: InstanceState = { name: step.instance, record, bdi, imageMeta };
  state.instances.set(step.instance, inst);
  state.replacements.set(String(record['uuid']), `<uuid:${step.instance}>`);
  state.replacements.set(String(record['name']), `<name:${step.instance}>`);
  await state.driver!.spawn({}, record, imageMeta, [], null, null, null, bdi, step.powerOn);
}
