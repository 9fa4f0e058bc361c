/**
 * A step's expectations, checked against what the host holds (through the harness's
 * observer, never the traced host) and named as the scenario names things.
 */
import { PowerState } from '../driver/driver.js';
import { hasCode } from '../driver/errors.js';
import { journalDir } from '../driver/journal.js';
import type { RunState } from './run-state.js';
import { createHash } from 'node:crypto';
import { XMLParser } from 'fast-xml-parser';
import { DOMParser } from '@xmldom/xmldom';
import xpath from 'xpath';
import type {
  AttachedExpectation,
  DiskBytesExpectation,
  Expectations,
  HeartbeatExpectation,
  InitEnvExpectation,
  XPathValue,
} from './schema.js';
import { waitUntil } from '../driver/core/wait.js';

const DOMAIN_XML = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  parseAttributeValue: false,
});

/** A host id as the container sees it through `guest:host:count` maps (65534, nobody, if unmapped). */
function insideId(hostId: number, maps: string[] | undefined): number {
  if (!maps || maps.length === 0) return hostId;
  for (const map of maps) {
    const [guest, host, count] = map.split(':').map(Number) as [number, number, number];
    if (hostId >= host && hostId < host + count) return hostId - host + guest;
  }
  return 65534;
}

/** A region of a volume file, compared by hash or as all zeros. */
async function checkDiskBytes(state: RunState, region: DiskBytesExpectation): Promise<string[]> {
  const path = state.volumes.get(region.volume);
  const what = `bytes ${region.offset}-${region.offset + region.length - 1} of volume ${region.volume}`;
  if (path === undefined) return [`${what}: the volume was never made`];
  const bytes = await state.observer.host.blockDevices.read(path, region.offset, region.length);
  if (bytes.length !== region.length) return [`${what}: the volume ends after ${bytes.length}`];
  if (region.zero) {
    const at = bytes.findIndex((b) => b !== 0);
    return at < 0 ? [] : [`${what}: expected zeros, byte ${region.offset + at} is ${bytes[at]}`];
  }
  const hash = createHash('sha256').update(bytes).digest('hex');
  return hash === region.sha256 ? [] : [`${what}: expected sha256 ${region.sha256}, got ${hash}`];
}

/** The XML the driver last gave hypervisor.define for an instance's domain. */
function definedXml(state: RunState, name: string): string | undefined {
  const domain = state.instances.get(name)?.record['name'];
  const defined = state.recorder.entries
    .filter((e) => e.op === 'hypervisor.define' && e.error === undefined)
    .map((e) => String(e.args[0]))
    .filter((xml) => xml.includes(`<name>${String(domain)}</name>`));
  return defined.at(-1);
}

/**
 * Where `actual` does not contain `expected`: every key of a mapping must be there with a
 * matching value, every item of a list must match some item (one element stands for a list of
 * one), scalars compare as text.
 */
function subsetDifferences(expected: unknown, actual: unknown, at: string): string[] {
  if (expected === null || typeof expected !== 'object') {
    const text = (v: unknown) => (v === undefined ? undefined : String(v));
    const got = Array.isArray(actual) ? actual.map(text) : [text(actual)];
    return got.includes(text(expected))
      ? []
      : [`${at}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`];
  }
  if (Array.isArray(expected)) {
    const items = Array.isArray(actual) ? actual : [actual];
    return expected.flatMap((item, i) =>
      items.some((a) => subsetDifferences(item, a, at).length === 0)
        ? []
        : [`${at}[${i}]: no element matches ${JSON.stringify(item)}`],
    );
  }
  const candidates = Array.isArray(actual) ? actual : [actual];
  const failures = candidates.map((candidate) =>
    Object.entries(expected).flatMap(([key, value]) => {
      const inner =
        candidate !== null && typeof candidate === 'object'
          ? (candidate as Record<string, unknown>)[key]
          : undefined;
      if (inner === undefined) return [`${at}.${key}: missing`];
      return subsetDifferences(value, inner, `${at}.${key}`);
    }),
  );
  return failures.some((f) => f.length === 0) ? [] : (failures[0] ?? [`${at}: missing`]);
}

/**
 * An XPath result in the form the expectation is written in: a scalar as it is (numbers and
 * booleans compared as such), a node set as its nodes' string values, or the one value when the
 * expectation is a scalar and the set has exactly one node.
 */
function xpathResult(expression: string, doc: Node, expected: XPathValue): unknown {
  const result = xpath.select(expression, doc);
  if (!Array.isArray(result)) return result;
  const values = result.map((node) =>
    xpath.isAttribute(node) ? node.value : (node.textContent ?? ''),
  );
  if (Array.isArray(expected)) return values;
  return values.length === 1 ? values[0] : values;
}

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
    if (actual !== null && 'none' in actual) {
      // Why no root could be shown: a failure on a loaded real host says what libvirt said.
      want(`root of ${name}`, root, null);
      if (root !== null) problems[problems.length - 1] += ` (${actual.none})`;
      continue;
    }
    // Only what the expectation names, in its order, so the comparison reads the same way.
    const shown =
      actual &&
      Object.fromEntries(Object.keys(root).map((k) => [k, actual[k as keyof typeof actual]]));
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
  for (const f of exp.instanceDiskFiles ?? []) {
    const inst = state.instances.get(f.instance);
    const disk = inst && `${state.instanceDir(inst)}/disk`;
    const actual =
      disk === undefined
        ? null
        : (await state.observer.host.files.exists(disk))
          ? await state.harness.readFileOnDisk(disk, f.partition, f.path)
          : `(the instance disk of ${f.instance} does not exist)`;
    want(
      `${f.path} on the instance disk of ${f.instance}${f.partition === null ? '' : ` partition ${f.partition}`}`,
      f.content,
      actual,
    );
  }
  for (const [name, subset] of Object.entries(exp.record ?? {})) {
    const differences = subsetDifferences(
      subset,
      await persistedRecord(state, name),
      `record of ${name}`,
    );
    problems.push(...differences.slice(0, 3));
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
  for (const [key, mapped] of [
    ['fileOwners', true],
    ['fileOwnersHost', false],
  ] as const) {
    for (const [name, files] of Object.entries(exp[key] ?? {})) {
      for (const [path, expected] of Object.entries(files)) {
        const inst = state.instances.get(name);
        const seen = inst
          ? await state.observer.ownerInContainer(
              String(inst.record['name']),
              path,
              await state.harness.makeDir('peek'),
            )
          : null;
        const actual = seen && {
          uid: mapped ? insideId(seen.uid, state.scenario.host.uidMaps) : seen.uid,
          gid: mapped ? insideId(seen.gid, state.scenario.host.gidMaps) : seen.gid,
          mode: (seen.mode & 0o7777).toString(8).padStart(4, '0'),
          kind: seen.kind,
        };
        want(
          `owner of ${path} ${mapped ? 'inside' : 'on the host, in'} ${name}`,
          expected,
          only(expected, actual),
        );
      }
    }
  }
  for (const [name, expected] of Object.entries(exp.initUser ?? {})) {
    const inst = state.instances.get(name);
    const ids = inst ? await state.harness.initIds(String(inst.record['name'])) : null;
    want(`ids of the init of ${name}`, expected, ids && only(expected, ids));
  }
  for (const [name, env] of Object.entries(exp.initEnv ?? {})) {
    problems.push(...(await checkInitEnv(state, name, env)));
  }
  for (const [name, beat] of Object.entries(exp.heartbeat ?? {})) {
    problems.push(...(await checkHeartbeat(state, name, beat)));
  }
  for (const region of exp.diskBytes ?? []) {
    problems.push(...(await checkDiskBytes(state, region)));
  }
  for (const [name, subset] of Object.entries(exp.domainXml ?? {})) {
    const xml = definedXml(state, name);
    if (xml === undefined) {
      problems.push(`domain XML of ${name}: the driver never defined a domain for it`);
      continue;
    }
    const differences = subsetDifferences(subset, DOMAIN_XML.parse(xml), 'domain XML of ' + name);
    problems.push(...differences.slice(0, 3));
  }
  for (const [name, expressions] of Object.entries(exp.domainXpath ?? {})) {
    const xml = definedXml(state, name);
    if (xml === undefined) {
      problems.push(`domain XML of ${name}: the driver never defined a domain for it`);
      continue;
    }
    const doc = new DOMParser().parseFromString(xml, 'text/xml') as unknown as Node;
    for (const [expression, expected] of Object.entries(expressions)) {
      want(
        `${expression} on the domain XML of ${name}`,
        expected,
        xpathResult(expression, doc, expected),
      );
    }
  }
  if (exp.clean) {
    const left = await leftovers(state);
    if (left.length > 0) problems.push(`expected nothing left behind, found ${left.join(', ')}`);
  }
  return problems;
}

/** Only the keys the expectation names, in its order, so that the comparison reads the same way. */
function only<T extends object>(
  expected: object,
  actual: T | null,
): Record<string, unknown> | null {
  return actual && Object.fromEntries(Object.keys(expected).map((k) => [k, actual[k as keyof T]]));
}

/**
 * The variables an init copied with `environ_to`, against the expectation; `<uuid:NAME>` and
 * `<name:NAME>` in a value stand for that instance's uuid and domain name.
 */
async function checkInitEnv(
  state: RunState,
  name: string,
  env: InitEnvExpectation,
): Promise<string[]> {
  const copy = await readInContainer(state, name, env.file);
  const what = `environment of the init of ${name} (${env.file})`;
  if (copy === null) return [`${what}: no such file in the running container`];
  const vars = new Map<string, string>();
  for (const entry of copy.split('\0').filter((e) => e !== '')) {
    const eq = entry.indexOf('=');
    vars.set(eq < 0 ? entry : entry.slice(0, eq), eq < 0 ? '' : entry.slice(eq + 1));
  }
  const problems: string[] = [];
  for (const [key, value] of Object.entries(env.vars)) {
    const expected = value === null ? null : placeholders(state, value);
    const actual = vars.get(key) ?? null;
    if (expected !== actual) {
      problems.push(
        `${what}: ${key} expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`,
      );
    }
  }
  return problems;
}

/** `<uuid:web>` and `<name:web>` replaced by instance web's uuid and domain name. */
function placeholders(state: RunState, text: string): string {
  return text.replace(/<(uuid|name):([A-Za-z0-9_-]+)>/g, (whole, kind: string, inst: string) => {
    const record = state.instances.get(inst)?.record;
    return record ? String(record[kind]) : whole;
  });
}

/**
 * Whether a heartbeat has advanced, read by read: past the count read first, or to `atLeast`.
 * An init started again (power on, a hard reboot) counts from 1, and its file still holds the
 * old init's count until the first beat: a first read that came before it sees that old
 * count. A count lower than the one read before is that new start, so "advanced" is then one
 * past it. A stopped init changes nothing and never passes.
 */
export function heartbeatWatch(first: number, atLeast?: number): (count: number) => boolean {
  let target = atLeast ?? first + 1;
  let last = first;
  return (count) => {
    if (atLeast === undefined && count < last) target = count + 1;
    last = count;
    return count >= target;
  };
}

/**
 * A heartbeat counter that must advance past the count read first (or reach `at_least`),
 * read again every half second on the host's clock for at most `within_s`: real hosts keep
 * time only roughly, and a loaded one may run the init late, but a stopped init never counts on.
 */
async function checkHeartbeat(
  state: RunState,
  name: string,
  beat: HeartbeatExpectation,
): Promise<string[]> {
  const what = `heartbeat ${beat.path} of ${name}`;
  const read = async (): Promise<number | string> => {
    if (!state.instances.has(name)) return 'never booted';
    try {
      const text = await readInContainer(state, name, beat.path);
      if (text === null) return 'no such file';
      return /^[0-9]+$/.test(text) ? Number(text) : `not a count: ${JSON.stringify(text)}`;
    } catch (error) {
      if (hasCode(error, 'FailedPrecondition') || hasCode(error, 'NotFound')) return 'not running';
      throw error;
    }
  };
  const first = await read();
  if (typeof first === 'string') return [`${what}: ${first}`];
  const reached = heartbeatWatch(first, beat.atLeast);
  const result = await waitUntil<number>(
    state.observer.host.clock,
    { timeoutMs: beat.withinS * 1000, intervalMs: 500 },
    async () => {
      const count = await read();
      if (typeof count === 'string') return { done: false, why: count };
      return reached(count) ? { done: true, value: count } : { done: false, why: `${count}` };
    },
  );
  if (result.ok) return [];
  return [
    `${what}: expected ${beat.atLeast === undefined ? `to advance past ${first}` : `a count of at least ${beat.atLeast}`} within ${beat.withinS} s, last read ${result.why}`,
  ];
}

/** The Nova power state get_info gives an instance, by name; `absent` when it has none. */
/**
 * What the driver persisted for an instance: Nova's system_metadata keys (the rootfs record
 * parsed) and the driver's journal entry, normalised together with the run's trace so that
 * devices keep the trace's `<loop#N>` names.
 */
async function persistedRecord(state: RunState, name: string): Promise<Record<string, unknown>> {
  const inst = state.instances.get(name);
  const meta = (inst?.record['system_metadata'] ?? {}) as Record<string, string>;
  const parse = (text: string | null | undefined): unknown => {
    if (typeof text !== 'string') return null;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  };
  const journal = inst
    ? await state.observer.host.journal.read(
        journalDir(state.stateDir),
        String(inst.record['uuid']),
      )
    : null;
  const view = {
    rootfs_device_name: meta['rootfs_device_name'] ?? null,
    nova_lxc_rootfs: parse(meta['nova_lxc_rootfs']),
    journal: parse(journal),
  };
  return state.normaliseWithTrace(view) as Record<string, unknown>;
}

export async function stateOf(state: RunState, name: string): Promise<string> {
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
): Promise<
  | {
      source: string;
      partition: number | null;
      fstype: string;
      offset: number;
      sizeLimit: number;
    }
  | { none: string }
  | null
> {
  const inst = state.instances.get(name);
  if (!inst) return null;
  const root = await state.observer.containerRoot(String(inst.record['name']));
  if ('none' in root) return root;
  const loop = await state.observer.loop(root.source);
  const fstype = root.fstype;
  if (!loop) {
    const source = await state.nameOfDevice(root.source);
    return { source, partition: null, fstype, offset: 0, sizeLimit: 0 };
  }
  const source = await state.nameOfDevice(loop.backingFile);
  const { offset, sizeLimit } = loop;
  if (offset === 0 && sizeLimit === 0)
    return { source, partition: null, fstype, offset, sizeLimit };
  return { source, partition: await state.observer.partitionAt(loop), fstype, offset, sizeLimit };
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
