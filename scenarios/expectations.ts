/**
 * A step's expectations, checked against what the host holds (through the harness's
 * observer, never the traced host) and named as the scenario names things.
 */
import { PowerState } from '../driver/driver.js';
import { hasCode } from '../driver/errors.js';
import type { RunState } from './run-state.js';
import { createHash } from 'node:crypto';
import { XMLParser } from 'fast-xml-parser';
import { DOMParser } from '@xmldom/xmldom';
import xpath from 'xpath';
import type {
  AttachedExpectation,
  DiskBytesExpectation,
  Expectations,
  XPathValue,
} from './schema.js';

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
  for (const [name, files] of Object.entries(exp.fileOwners ?? {})) {
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
        uid: insideId(seen.uid, state.scenario.host.uidMaps),
        gid: insideId(seen.gid, state.scenario.host.gidMaps),
        mode: (seen.mode & 0o7777).toString(8).padStart(4, '0'),
        kind: seen.kind,
      };
      const shown =
        actual &&
        Object.fromEntries(Object.keys(expected).map((k) => [k, actual[k as keyof typeof actual]]));
      want(`owner of ${path} inside ${name}`, expected, shown);
    }
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
): Promise<{
  source: string;
  partition: number | null;
  fstype: string;
  offset: number;
  sizeLimit: number;
} | null> {
  const inst = state.instances.get(name);
  if (!inst) return null;
  const root = await state.observer.containerRoot(String(inst.record['name']));
  if (!root) return null;
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
