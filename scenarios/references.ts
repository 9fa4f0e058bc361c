/**
 * Load-time check that every instance a step or an expectation names was booted by that step
 * or an earlier one, so a misspelt instance is reported with its YAML path before anything runs.
 */
import type { Expectations, Outcome, Reader, Scenario, Step } from './schema.js';

/** Fails at the first step or expectation naming an instance no step up to it boots. */
export function checkInstanceReferences(r: Reader, scenario: Scenario): void {
  const booted = new Set<string>();
  const bootedAt = new Map<string, Set<string>>();
  const visit = (step: Step) => {
    for (const name of bootsOf(step)) booted.add(name);
    const named = namedBy(step);
    if (named && !booted.has(named.instance)) fail(r, named.path, named.instance, booted);
    if (step.action.kind === 'wait') {
      for (const [key, yaml] of [
        ['for', 'for'],
        ['forFiles', 'for_files'],
      ] as const) {
        for (const name of Object.keys(step.action[key] ?? {})) {
          if (!booted.has(name)) fail(r, `${step.path}.wait.${yaml}.${name}`, name, booted);
        }
      }
    }
    checkOutcome(r, step.outcome, `${step.path}`, booted);
    for (const [cap, outcome] of Object.entries(step.byCapability)) {
      checkOutcome(r, outcome, `${step.path}.by_capability.${cap}`, booted);
    }
    bootedAt.set(step.label, new Set(booted));
  };
  scenario.steps.forEach(visit);
  const fe = scenario.faultEach;
  if (fe) {
    // The variants replace the steps after the faulted one with `then`.
    booted.clear();
    for (const name of bootedAt.get(fe.step) ?? []) booted.add(name);
    fe.then.forEach(visit);
  }
}

function bootsOf(step: Step): string[] {
  const a = step.action;
  if (a.kind === 'boot') return [a.instance];
  if (a.kind === 'concurrent') return a.steps.flatMap(bootsOf);
  return [];
}

/** The instance an action other than boot works on, and where the file names it. */
function namedBy(step: Step): { instance: string; path: string } | undefined {
  const a = step.action;
  if (a.kind === 'concurrent') {
    for (const sub of a.steps) {
      const named = namedBy(sub);
      if (named) return named;
    }
    return undefined;
  }
  if ('instance' in a && a.kind !== 'boot') {
    // A host action's instance is under `host_action:` in the file.
    const hostAction = a.kind === 'stop_domain' || a.kind === 'kill_init';
    return {
      instance: a.instance,
      path: `${step.path}.${hostAction ? 'host_action.' : ''}${a.kind}`,
    };
  }
  return undefined;
}

function checkOutcome(r: Reader, outcome: Outcome, path: string, booted: Set<string>): void {
  if (!outcome.expect) return;
  for (const [instance, at] of instancesIn(outcome.expect, `${path}.expect`)) {
    if (!booted.has(instance)) fail(r, at, instance, booted);
  }
}

/** Each instance an expectation names, with its path. */
function instancesIn(e: Expectations, path: string): [string, string][] {
  const out: [string, string][] = [];
  const keys = {
    state: 'state',
    root: 'root',
    files: 'files',
    domainXml: 'domain_xml',
    domainXpath: 'domain_xpath',
    record: 'record',
    fileOwners: 'file_owners',
    fileOwnersHost: 'file_owners_host',
    initUser: 'init_user',
    initEnv: 'init_env',
    heartbeat: 'heartbeat',
  } as const;
  for (const [key, yaml] of Object.entries(keys) as [keyof typeof keys, string][]) {
    for (const name of Object.keys(e[key] ?? {})) out.push([name, `${path}.${yaml}.${name}`]);
  }
  (e.domains ?? []).forEach((name, i) => out.push([name, `${path}.domains[${i}]`]));
  (e.instanceDiskFiles ?? []).forEach((f, i) =>
    out.push([f.instance, `${path}.instance_disk_files[${i}].instance`]),
  );
  (e.hostMounts ?? []).forEach((mount, i) => {
    out.push([mount.split('/', 1)[0]!, `${path}.host_mounts[${i}]`]);
  });
  for (const [name, root] of Object.entries(e.root ?? {})) {
    const m = /^(disk|nbd):(.+)$/.exec(root.source);
    if (m) out.push([m[2]!, `${path}.root.${name}.source`]);
  }
  (e.attached ?? []).forEach((a, i) => {
    for (const source of [a.loop, a.nbd]) {
      const m = source === undefined ? null : /^(disk|nbd):(.+)$/.exec(source);
      if (m) out.push([m[2]!, `${path}.attached[${i}]`]);
    }
  });
  return out;
}

function fail(r: Reader, path: string, instance: string, booted: Set<string>): never {
  const known = [...booted];
  return r.fail(
    path,
    known.length > 0
      ? `an instance booted by this or an earlier step (${known.join(', ')})`
      : 'an instance booted by this or an earlier step (none is booted yet)',
    instance,
  );
}
