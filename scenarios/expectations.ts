/**
 * A step's expectations, checked against what the host holds (through the harness's
 * observer, never the traced host) and named as the scenario names things.
 */
import { PowerState } from '../driver/driver.js';
import { hasCode } from '../driver/errors.js';
import type { RunState } from './run-state.js';
import type { AttachedExpectation, Expectations } from './schema.js';

/** Names of devices and files the scenario made. */
const OURS = /^(volume|disk|nbd):/;

const POWER_NAMES = new Map<number, string>(
  Object.entries(PowerState).map(([name, value]) => [value, name.toLowerCase()]),
);

/** What differs from the expectations, one line each; empty when all hold. */
export async function checkExpectations(state: RunState, exp: Expectations): Promise<string[]> {
  const problems: string[] = [];
  const want = (what: string, expected: unknown, actual: unknown) => {
    if (JSON.stringify(expected) !== JSON.stringify(actual)) {
      problems.push(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
    }
  };
  for (const [name, power] of Object.entries(exp.state ?? {})) {
    want(`state of ${name}`, power, await stateOf(state, name));
  }
  for (const [name, root] of Object.entries(exp.root ?? {})) {
    const actual = await rootOf(state, name);
    const shown = actual && {
      source: actual.source,
      ...(root.partition === undefined ? {} : { partition: actual.partition }),
      ...(root.fstype === undefined ? {} : { fstype: actual.fstype }),
    };
    want(`root of ${name}`, root, shown);
  }
  for (const [name, files] of Object.entries(exp.files ?? {})) {
    for (const [path, content] of Object.entries(files)) {
      want(`${path} inside ${name}`, content, await readInContainer(state, name, path));
    }
  }
  for (const vf of exp.volumeFiles ?? []) {
    const path = state.volumes.get(vf.volume);
    const actual =
      path === undefined
        ? `(volume ${vf.volume} was never made)`
        : await state.harness.readFileOnDisk(path, vf.partition, vf.path);
    want(
      `${vf.path} on volume ${vf.volume}${vf.partition === null ? '' : ` partition ${vf.partition}`}`,
      vf.content,
      actual,
    );
  }
  if (exp.hostMounts) {
    want('host mounts under instances_path', [...exp.hostMounts].sort(), await hostMounts(state));
  }
  if (exp.attached) {
    const actual = await attached(state);
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
    want('defined domains', [...exp.domains].sort(), await domains(state));
  }
  if (exp.clean) {
    const left = await leftovers(state);
    if (left.length > 0) problems.push(`expected nothing left behind, found ${left.join(', ')}`);
  }
  return problems;
}

async function stateOf(state: RunState, name: string): Promise<string> {
  const inst = state.instances.get(name);
  if (!inst) return 'never booted';
  try {
    const info = await state.newDriver(state.observer.host).getInfo(inst.record);
    return POWER_NAMES.get(info.state) ?? String(info.state);
  } catch (error) {
    if (hasCode(error, 'NotFound')) return 'absent';
    throw error;
  }
}

async function rootOf(
  state: RunState,
  name: string,
): Promise<{ source: string; partition: number | null; fstype: string } | null> {
  const inst = state.instances.get(name);
  if (!inst) return null;
  const root = await state.observer.containerRoot(String(inst.record['name']));
  if (!root) return null;
  const loop = await state.observer.loop(root.source);
  if (!loop)
    return { source: await state.nameOfDevice(root.source), partition: null, fstype: root.fstype };
  const source = await state.nameOfDevice(loop.backingFile);
  if (loop.offset === 0 && loop.sizeLimit === 0)
    return { source, partition: null, fstype: root.fstype };
  return { source, partition: await state.observer.partitionAt(loop), fstype: root.fstype };
}

async function readInContainer(
  state: RunState,
  name: string,
  path: string,
): Promise<string | null> {
  const inst = state.instances.get(name);
  if (!inst) return null;
  return state.observer.readInContainer(
    String(inst.record['name']),
    path,
    await state.harness.makeDir('peek'),
  );
}

async function hostMounts(state: RunState): Promise<string[]> {
  const prefix = `${state.instancesPath}/`;
  const out: string[] = [];
  for (const m of await state.observer.mounts()) {
    if (!m.target.startsWith(prefix)) continue;
    let shown = m.target.slice(prefix.length);
    for (const inst of state.instances.values()) {
      shown = shown.replace(String(inst.record['uuid']), inst.name);
    }
    out.push(shown);
  }
  return out.sort();
}

async function attached(state: RunState): Promise<AttachedExpectation[]> {
  const out: AttachedExpectation[] = [];
  for (const loop of await state.observer.loops()) {
    const name = await state.nameOfDevice(loop.backingFile);
    if (!OURS.test(name)) continue; // Someone else's on a shared host.
    out.push({ loop: name, offset: loop.offset, sizeLimit: loop.sizeLimit });
  }
  for (const conn of await state.observer.nbdConnections()) {
    const name = await state.nameOfDevice(conn.device);
    if (!OURS.test(name) || name === `nbd:${conn.file}`) continue;
    out.push({ nbd: name });
  }
  return out;
}

async function domains(state: RunState): Promise<string[]> {
  const byDomain = new Map(
    [...state.instances.values()].map((i) => [String(i.record['name']), i.name]),
  );
  return (await state.observer.domains())
    .map((d) => byDomain.get(d.name))
    .filter((n): n is string => n !== undefined)
    .sort();
}

/** What the scenario made and the host still holds. */
export async function leftovers(state: RunState): Promise<string[]> {
  const left = [
    ...(await attached(state)).map((a) =>
      a.loop ? `loop device over ${a.loop}` : `nbd device for ${a.nbd}`,
    ),
    ...(await hostMounts(state)).map((m) => `mount ${m}`),
    ...(await domains(state)).map((d) => `domain of ${d}`),
  ];
  for (const inst of state.instances.values()) {
    if (await state.observer.host.files.exists(state.instanceDir(inst)))
      left.push(`instance directory of ${inst.name}`);
  }
  return left;
}
