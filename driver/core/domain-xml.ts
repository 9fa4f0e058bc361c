import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { DriverError } from '../errors.js';
import type { IdMap } from '../ports/host-files.js';

/** A volume attached to the container as a block device (Nova's non-root volume `<disk>`). */
export interface DomainDiskSpec {
  sourceDev: string;
  targetDev: string;
  bus: string;
  /** `<driver type=>`, 'raw' for Nova's volumes. */
  driverType?: string;
  /** `<driver cache=>`, 'none' for Nova's volumes. */
  cache?: string;
  serial?: string;
}

/** Nova's `nova:instance` metadata, the part of it this driver writes and reads back. */
export interface LxcDomainMetadata {
  instanceName?: string;
  flavorName?: string;
  memoryMb?: number;
  vcpus?: number;
  creationTime?: string;
  projectId?: string;
  userId?: string;
}

/** Everything the driver puts into a libvirt LXC domain, as Nova configures it. */
export interface LxcDomainSpec {
  name: string;
  uuid: string;
  memoryKiB: number;
  vcpus: number;
  /** `<os><init>`, always '/sbin/init' with Nova. */
  init: string;
  cmdline: string;
  initenv: Record<string, string>;
  rootfsDir: string;
  consoleLog: string;
  disks: DomainDiskSpec[];
  idmap: { uid: IdMap[]; gid: IdMap[] };
  metadata?: LxcDomainMetadata;
  cputune?: { shares?: number; period?: number; quota?: number };
}

/** What Nova knows about an instance when it builds an LXC guest config. */
export interface LxcInstanceFacts {
  name: string;
  uuid: string;
  memoryMb: number;
  vcpus: number;
  /** `<instances_path>/<uuid>`: holds `rootfs/` and `console.log`. */
  instanceDir: string;
  /** Non-root volumes; the root volume is the rootfs and never a `<disk>`. */
  disks?: DomainDiskSpec[];
  uidMaps?: IdMap[];
  gidMaps?: IdMap[];
  metadata?: LxcDomainMetadata;
  cputune?: LxcDomainSpec['cputune'];
}

/** The namespace Nova (26, Zed) writes its instance metadata in. */
export const NOVA_METADATA_NS = 'http://openstack.org/xmlns/libvirt/nova/1.1';

/** The kernel command line Nova sets for every LXC guest. */
export const NOVA_LXC_CMDLINE = 'console=tty0 console=ttyS0 console=hvc0';

/** The init Nova sets for every LXC guest; no image property or flavor changes it. */
export const NOVA_LXC_INIT = '/sbin/init';

// Older Nova releases wrote 1.0; the elements this module reads are the same.
const NOVA_NAMESPACES = new Set([NOVA_METADATA_NS, 'http://openstack.org/xmlns/libvirt/nova/1.0']);

const ATTR = '@_';
const TEXT = '#text';

type XmlNode = Record<string, unknown>;

/** Builds Nova's guest config for an instance: the defaults of `_get_guest_config` for lxc. */
export function lxcDomainSpecForInstance(facts: LxcInstanceFacts): LxcDomainSpec {
  const dir = facts.instanceDir.replace(/\/+$/, '');
  const spec: LxcDomainSpec = {
    name: facts.name,
    uuid: facts.uuid,
    memoryKiB: facts.memoryMb * 1024,
    vcpus: facts.vcpus,
    init: NOVA_LXC_INIT,
    cmdline: NOVA_LXC_CMDLINE,
    initenv: { product_name: 'OpenStack Nova' },
    rootfsDir: `${dir}/rootfs`,
    consoleLog: `${dir}/console.log`,
    disks: facts.disks ?? [],
    idmap: { uid: facts.uidMaps ?? [], gid: facts.gidMaps ?? [] },
  };
  if (facts.metadata) {
    spec.metadata = facts.metadata;
  }
  if (facts.cputune) {
    spec.cputune = facts.cputune;
  }
  return spec;
}

/**
 * Renders a spec as the domain XML Nova writes for virt_type=lxc (element order included);
 * InvalidInput when a value cannot be expressed (non-integer sizes, characters XML forbids).
 */
export function buildLxcDomainXml(spec: LxcDomainSpec): string {
  const fail = (reason: string): DriverError =>
    invalid(`build domain XML for '${String(spec.name)}'`, reason);
  checkSpec(spec, fail);
  const t = (value: string): string => escapeXml(value, false, fail);
  const a = (value: string): string => escapeXml(value, true, fail);
  const n = (value: number): string => String(value);

  const domain: XmlNode = {
    [`${ATTR}type`]: 'lxc',
    uuid: t(spec.uuid),
    name: t(spec.name),
    memory: n(spec.memoryKiB),
    vcpu: n(spec.vcpus),
  };
  if (spec.metadata) {
    domain.metadata = { 'nova:instance': buildMetadata(spec.metadata, t, a) };
  }
  const os: XmlNode = { type: 'exe' };
  if (spec.cmdline !== '') {
    os.cmdline = t(spec.cmdline);
  }
  os.init = t(spec.init);
  const initenv = Object.entries(spec.initenv);
  if (initenv.length > 0) {
    os.initenv = initenv.map(([name, value]) => ({ [`${ATTR}name`]: a(name), [TEXT]: t(value) }));
  }
  domain.os = os;
  if (spec.cputune) {
    const cputune: XmlNode = {};
    for (const key of ['shares', 'period', 'quota'] as const) {
      const value = spec.cputune[key];
      if (value !== undefined) {
        cputune[key] = n(value);
      }
    }
    domain.cputune = cputune;
  }
  domain.clock = { [`${ATTR}offset`]: 'utc' };
  domain.devices = {
    filesystem: {
      [`${ATTR}type`]: 'mount',
      source: { [`${ATTR}dir`]: a(spec.rootfsDir) },
      target: { [`${ATTR}dir`]: '/' },
    },
    disk: spec.disks.map((disk) => buildDisk(disk, t, a)),
    console: {
      [`${ATTR}type`]: 'pty',
      log: { [`${ATTR}file`]: a(spec.consoleLog), [`${ATTR}append`]: 'off' },
    },
    controller: { [`${ATTR}type`]: 'usb', [`${ATTR}index`]: '0', [`${ATTR}model`]: 'none' },
  };
  if (spec.idmap.uid.length > 0 || spec.idmap.gid.length > 0) {
    // Nova appends uid maps before gid maps; libvirt keeps that order.
    domain.idmap = {
      uid: spec.idmap.uid.map(buildIdMap),
      gid: spec.idmap.gid.map(buildIdMap),
    };
  }
  return builder.build({ domain }) as string;
}

/**
 * Reads a domain XML (the driver's own, or libvirt's dumpxml of it) back into a spec;
 * InvalidInput naming the problem when it is not an LXC domain this driver can represent.
 */
export function parseLxcDomainXml(xml: string): LxcDomainSpec {
  const fail = (reason: string): DriverError => invalid('parse domain XML', reason);
  if (/<!DOCTYPE/i.test(xml)) {
    // libvirt never writes one, and entity definitions are a way to blow up memory.
    throw fail('a DOCTYPE is not accepted');
  }
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    throw fail(`malformed XML at line ${valid.err.line}: ${valid.err.msg}`);
  }
  const doc = parser.parse(xml) as XmlNode;
  const rootNames = Object.keys(doc).filter((key) => !key.startsWith('?'));
  const domain = doc.domain;
  if (!isNode(domain)) {
    throw fail(`the root element is <${rootNames[0] ?? ''}>, not <domain>`);
  }
  const type = attr(domain, 'type');
  if (type !== 'lxc') {
    throw fail(`domain type is '${type ?? ''}', expected 'lxc'`);
  }
  const name = requiredText(domain, 'name', fail);
  const uuid = requiredText(domain, 'uuid', fail);
  const memory = single(domain, 'memory', fail);
  if (memory === undefined) {
    throw fail('<memory> is missing');
  }
  const memoryKiB = toKiB(textOf(memory), attr(memory, 'unit'), fail);
  const vcpus = integer(requiredText(domain, 'vcpu', fail), '<vcpu>', fail);

  const os = single(domain, 'os', fail);
  if (os === undefined) {
    throw fail('<os> is missing');
  }
  const osType = optionalText(os, 'type', fail);
  if (osType?.trim() !== 'exe') {
    throw fail(`os type is '${osType ?? ''}', expected 'exe' (a container)`);
  }
  const init = requiredText(os, 'init', fail);
  const cmdline = optionalText(os, 'cmdline', fail) ?? '';
  const initenv: Record<string, string> = {};
  for (const env of many(os, 'initenv')) {
    const envName = attr(env, 'name');
    if (envName === undefined) {
      throw fail('an <initenv> has no name');
    }
    initenv[envName] = textOf(env);
  }

  const devices = single(domain, 'devices', fail);
  if (devices === undefined) {
    throw fail('<devices> is missing');
  }
  const rootfsDir = parseRootFilesystem(devices, fail);
  const disks = many(devices, 'disk').map((disk) => parseDisk(disk, fail));
  const consoleLog = many(devices, 'console')
    .map((console) => single(console, 'log', fail))
    .map((log) => (log ? attr(log, 'file') : undefined))
    .find((file) => file !== undefined);
  if (consoleLog === undefined) {
    throw fail('no <console> has a <log file=>');
  }

  const idmapNode = single(domain, 'idmap', fail);
  const idmap = {
    uid: idmapNode ? many(idmapNode, 'uid').map((m) => parseIdMap(m, 'uid', fail)) : [],
    gid: idmapNode ? many(idmapNode, 'gid').map((m) => parseIdMap(m, 'gid', fail)) : [],
  };

  const spec: LxcDomainSpec = {
    name,
    uuid,
    memoryKiB,
    vcpus,
    init,
    cmdline,
    initenv,
    rootfsDir,
    consoleLog,
    disks,
    idmap,
  };
  const metadataNode = single(domain, 'metadata', fail);
  const metadata = metadataNode ? parseMetadata(metadataNode, fail) : undefined;
  if (metadata) {
    spec.metadata = metadata;
  }
  const cputuneNode = single(domain, 'cputune', fail);
  if (cputuneNode) {
    const cputune: NonNullable<LxcDomainSpec['cputune']> = {};
    for (const key of ['shares', 'period', 'quota'] as const) {
      const value = optionalText(cputuneNode, key, fail);
      if (value !== undefined) {
        cputune[key] = integer(value, `<cputune><${key}>`, fail);
      }
    }
    spec.cputune = cputune;
  }
  checkSpec(spec, fail);
  return spec;
}

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: ATTR,
  textNodeName: TEXT,
  format: true,
  indentBy: '  ',
  suppressEmptyNode: true,
  // Values are escaped by escapeXml, which also encodes what the builder would not (newlines
  // in attributes, which XML parsers otherwise fold into spaces).
  processEntities: false,
});

const ARRAYS = new Set([
  'domain.os.initenv',
  'domain.devices.filesystem',
  'domain.devices.disk',
  'domain.devices.console',
  'domain.idmap.uid',
  'domain.idmap.gid',
]);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: ATTR,
  textNodeName: TEXT,
  // Names, paths and numbers stay strings: '007' is a name, and numbers are checked here.
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  // Numeric character references (&#10;) are how newlines survive in attributes.
  htmlEntities: true,
  isArray: (_name, jpath) => typeof jpath === 'string' && ARRAYS.has(jpath),
});

function buildMetadata(
  metadata: LxcDomainMetadata,
  t: (value: string) => string,
  a: (value: string) => string,
): XmlNode {
  // Nova's order: package, name, creationTime, flavor, owner, root, ports; this driver
  // writes the ones it knows.
  const instance: XmlNode = { [`${ATTR}xmlns:nova`]: NOVA_METADATA_NS };
  if (metadata.instanceName !== undefined) {
    instance['nova:name'] = t(metadata.instanceName);
  }
  if (metadata.creationTime !== undefined) {
    instance['nova:creationTime'] = t(metadata.creationTime);
  }
  if (
    metadata.flavorName !== undefined ||
    metadata.memoryMb !== undefined ||
    metadata.vcpus !== undefined
  ) {
    const flavor: XmlNode = {};
    if (metadata.flavorName !== undefined) {
      flavor[`${ATTR}name`] = a(metadata.flavorName);
    }
    if (metadata.memoryMb !== undefined) {
      flavor['nova:memory'] = String(metadata.memoryMb);
    }
    if (metadata.vcpus !== undefined) {
      flavor['nova:vcpus'] = String(metadata.vcpus);
    }
    instance['nova:flavor'] = flavor;
  }
  if (metadata.userId !== undefined || metadata.projectId !== undefined) {
    const owner: XmlNode = {};
    if (metadata.userId !== undefined) {
      owner['nova:user'] = { [`${ATTR}uuid`]: a(metadata.userId) };
    }
    if (metadata.projectId !== undefined) {
      owner['nova:project'] = { [`${ATTR}uuid`]: a(metadata.projectId) };
    }
    instance['nova:owner'] = owner;
  }
  return instance;
}

function buildDisk(
  disk: DomainDiskSpec,
  t: (value: string) => string,
  a: (value: string) => string,
): XmlNode {
  const node: XmlNode = { [`${ATTR}type`]: 'block', [`${ATTR}device`]: 'disk' };
  // No driver name: Nova's pick_disk_driver_name returns None for lxc (see the observed XML).
  if (disk.driverType !== undefined || disk.cache !== undefined) {
    const driver: XmlNode = {};
    if (disk.driverType !== undefined) {
      driver[`${ATTR}type`] = a(disk.driverType);
    }
    if (disk.cache !== undefined) {
      driver[`${ATTR}cache`] = a(disk.cache);
    }
    node.driver = driver;
  }
  node.source = { [`${ATTR}dev`]: a(disk.sourceDev) };
  node.target = { [`${ATTR}dev`]: a(disk.targetDev), [`${ATTR}bus`]: a(disk.bus) };
  if (disk.serial !== undefined) {
    node.serial = t(disk.serial);
  }
  return node;
}

function buildIdMap(map: IdMap): XmlNode {
  return {
    [`${ATTR}start`]: String(map.start),
    [`${ATTR}target`]: String(map.target),
    [`${ATTR}count`]: String(map.count),
  };
}

function parseRootFilesystem(devices: XmlNode, fail: Fail): string {
  let rootfsDir: string | undefined;
  for (const fs of many(devices, 'filesystem')) {
    const target = single(fs, 'target', fail);
    const targetDir = target ? attr(target, 'dir') : undefined;
    if (targetDir !== '/') {
      // A spec has no place for extra mounts; dropping one would change the container.
      throw fail(`a <filesystem> with target '${targetDir ?? ''}' is not supported`);
    }
    const type = attr(fs, 'type') ?? 'mount';
    if (type !== 'mount') {
      throw fail(`the root <filesystem> has type '${type}', expected 'mount'`);
    }
    if (rootfsDir !== undefined) {
      throw fail("more than one <filesystem> has target '/'");
    }
    const source = single(fs, 'source', fail);
    const dir = source ? attr(source, 'dir') : undefined;
    if (dir === undefined || dir === '') {
      throw fail('the root <filesystem> has no <source dir=>');
    }
    rootfsDir = dir;
  }
  if (rootfsDir === undefined) {
    throw fail("no <filesystem type='mount'> has target '/'");
  }
  return rootfsDir;
}

function parseDisk(node: XmlNode, fail: Fail): DomainDiskSpec {
  const type = attr(node, 'type');
  if (type !== 'block') {
    throw fail(`a <disk> has type '${type ?? ''}'; only 'block' is supported`);
  }
  const device = attr(node, 'device') ?? 'disk';
  if (device !== 'disk') {
    throw fail(`a <disk> has device '${device}'; only 'disk' is supported`);
  }
  const source = single(node, 'source', fail);
  const sourceDev = source ? attr(source, 'dev') : undefined;
  const target = single(node, 'target', fail);
  const targetDev = target ? attr(target, 'dev') : undefined;
  const bus = target ? attr(target, 'bus') : undefined;
  if (sourceDev === undefined || targetDev === undefined || bus === undefined) {
    throw fail('a <disk> lacks <source dev=> or <target dev= bus=>');
  }
  const disk: DomainDiskSpec = { sourceDev, targetDev, bus };
  const driver = single(node, 'driver', fail);
  const driverType = driver ? attr(driver, 'type') : undefined;
  const cache = driver ? attr(driver, 'cache') : undefined;
  if (driverType !== undefined) {
    disk.driverType = driverType;
  }
  if (cache !== undefined) {
    disk.cache = cache;
  }
  const serial = optionalText(node, 'serial', fail);
  if (serial !== undefined) {
    disk.serial = serial;
  }
  return disk;
}

function parseIdMap(node: XmlNode, kind: string, fail: Fail): IdMap {
  const field = (key: string): number =>
    integer(attr(node, key) ?? '', `<idmap><${kind} ${key}=>`, fail);
  return { start: field('start'), target: field('target'), count: field('count') };
}

function parseMetadata(metadata: XmlNode, fail: Fail): LxcDomainMetadata | undefined {
  // The prefix is whatever the writer bound to Nova's namespace; Nova uses `nova`.
  for (const key of Object.keys(metadata)) {
    const match = /^(?:([^:@#]+):)?instance$/.exec(key);
    if (!match) {
      continue;
    }
    const prefix = match[1];
    const value = many(metadata, key).find((node) => {
      const ns = attr(node, prefix === undefined ? 'xmlns' : `xmlns:${prefix}`);
      return ns !== undefined && NOVA_NAMESPACES.has(ns);
    });
    if (value === undefined) {
      continue;
    }
    const q = (local: string): string => (prefix === undefined ? local : `${prefix}:${local}`);
    const result: LxcDomainMetadata = {};
    const instanceName = optionalText(value, q('name'), fail);
    if (instanceName !== undefined) {
      result.instanceName = instanceName;
    }
    const creationTime = optionalText(value, q('creationTime'), fail);
    if (creationTime !== undefined) {
      result.creationTime = creationTime;
    }
    const flavor = single(value, q('flavor'), fail);
    if (flavor) {
      const flavorName = attr(flavor, 'name');
      if (flavorName !== undefined) {
        result.flavorName = flavorName;
      }
      const memoryMb = optionalText(flavor, q('memory'), fail);
      if (memoryMb !== undefined) {
        result.memoryMb = integer(memoryMb, '<nova:memory>', fail);
      }
      const vcpus = optionalText(flavor, q('vcpus'), fail);
      if (vcpus !== undefined) {
        result.vcpus = integer(vcpus, '<nova:vcpus>', fail);
      }
    }
    const owner = single(value, q('owner'), fail);
    const user = owner ? single(owner, q('user'), fail) : undefined;
    const project = owner ? single(owner, q('project'), fail) : undefined;
    const userId = user ? attr(user, 'uuid') : undefined;
    const projectId = project ? attr(project, 'uuid') : undefined;
    if (projectId !== undefined) {
      result.projectId = projectId;
    }
    if (userId !== undefined) {
      result.userId = userId;
    }
    return result;
  }
  return undefined;
}

type Fail = (reason: string) => DriverError;

function invalid(action: string, reason: string): DriverError {
  return new DriverError('InvalidInput', `Failed to ${action}: ${reason}`, {
    hint: 'Pass a libvirt LXC domain as Nova builds it (see nova-lxc-reference §3).',
  });
}

/** Rejects what libvirt or Nova would reject, so build and parse agree on what is valid. */
function checkSpec(spec: LxcDomainSpec, fail: Fail): void {
  const nonEmpty = (value: unknown, what: string): void => {
    if (typeof value !== 'string' || value.trim() === '') {
      throw fail(`${what} is empty`);
    }
  };
  const whole = (value: unknown, what: string, min: number): void => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
      throw fail(`${what} is ${String(value)}, expected a whole number of at least ${min}`);
    }
  };
  nonEmpty(spec.name, 'the name');
  nonEmpty(spec.uuid, 'the uuid');
  whole(spec.memoryKiB, 'memory (KiB)', 1);
  whole(spec.vcpus, 'vcpus', 1);
  nonEmpty(spec.init, 'the init path');
  nonEmpty(spec.rootfsDir, 'the rootfs directory');
  nonEmpty(spec.consoleLog, 'the console log path');
  for (const name of Object.keys(spec.initenv)) {
    nonEmpty(name, 'an initenv name');
  }
  for (const disk of spec.disks) {
    nonEmpty(disk.sourceDev, 'a disk source');
    nonEmpty(disk.targetDev, 'a disk target');
    nonEmpty(disk.bus, 'a disk bus');
  }
  for (const kind of ['uid', 'gid'] as const) {
    for (const map of spec.idmap[kind]) {
      whole(map.start, `${kind} map start`, 0);
      whole(map.target, `${kind} map target`, 0);
      whole(map.count, `${kind} map count`, 1);
    }
  }
  for (const key of ['shares', 'period', 'quota'] as const) {
    const value = spec.cputune?.[key];
    // quota -1 means unlimited to libvirt.
    if (value !== undefined) {
      whole(value, `cputune ${key}`, key === 'quota' ? -1 : 0);
    }
  }
  for (const key of ['memoryMb', 'vcpus'] as const) {
    const value = spec.metadata?.[key];
    if (value !== undefined) {
      whole(value, `metadata ${key}`, 0);
    }
  }
}

// Characters XML 1.0 cannot carry at all, even as references (with `u`, a surrogate class
// matches only unpaired halves).
// eslint-disable-next-line no-control-regex
const NOT_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF\uD800-\uDFFF]/u;

function escapeXml(value: string, attribute: boolean, fail: Fail): string {
  if (NOT_XML.test(value)) {
    throw fail(`${JSON.stringify(value)} contains a character XML cannot represent`);
  }
  let escaped = value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('\r', '&#13;');
  if (attribute) {
    escaped = escaped
      .replaceAll('"', '&quot;')
      .replaceAll("'", '&apos;')
      .replaceAll('\n', '&#10;')
      .replaceAll('\t', '&#9;');
  }
  return escaped;
}

function isNode(value: unknown): value is XmlNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function attr(node: XmlNode, name: string): string | undefined {
  const value = node[`${ATTR}${name}`];
  return typeof value === 'string' ? value : undefined;
}

/** The text of a leaf: a string, or the text node of an element with attributes. */
function textOf(value: unknown): string {
  if (typeof value === 'string') {
    return value;
  }
  if (isNode(value) && typeof value[TEXT] === 'string') {
    return value[TEXT];
  }
  return '';
}

/** The one child called `key` (as a node, text wrapped), undefined when absent. */
function single(node: XmlNode, key: string, fail: Fail): XmlNode | undefined {
  const value = node[key];
  if (value === undefined) {
    return undefined;
  }
  if (Array.isArray(value)) {
    throw fail(`more than one <${key}>`);
  }
  return isNode(value) ? value : { [TEXT]: value };
}

function many(node: XmlNode, key: string): XmlNode[] {
  const value = node[key];
  const list = Array.isArray(value) ? (value as unknown[]) : value === undefined ? [] : [value];
  return list.map((item) => (isNode(item) ? item : { [TEXT]: item }));
}

function optionalText(node: XmlNode, key: string, fail: Fail): string | undefined {
  const child = single(node, key, fail);
  return child === undefined ? undefined : textOf(child);
}

function requiredText(node: XmlNode, key: string, fail: Fail): string {
  const value = optionalText(node, key, fail);
  if (value === undefined || value.trim() === '') {
    throw fail(`<${key}> is missing or empty`);
  }
  return value;
}

function integer(text: string, what: string, fail: Fail): number {
  const trimmed = text.trim();
  const value = Number(trimmed);
  if (!/^[+-]?\d+$/.test(trimmed) || !Number.isSafeInteger(value)) {
    throw fail(`${what} is '${text}', not a whole number`);
  }
  return value;
}

// libvirt's scaled units: bare letters and *iB are powers of 1024, *B powers of 1000.
const UNITS: Record<string, number> = {
  b: 1,
  bytes: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
  t: 1024 ** 4,
  tib: 1024 ** 4,
  tb: 1000 ** 4,
};

function toKiB(text: string, unit: string | undefined, fail: Fail): number {
  const value = integer(text, '<memory>', fail);
  if (unit === undefined) {
    return value;
  }
  const scale = UNITS[unit.toLowerCase()];
  if (scale === undefined) {
    throw fail(`<memory unit='${unit}'> is not a unit libvirt knows`);
  }
  // libvirt rounds a byte count up to whole KiB.
  return Math.ceil((value * scale) / 1024);
}
