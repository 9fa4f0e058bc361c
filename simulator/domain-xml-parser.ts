/**
 * Reads a libvirt LXC domain XML back into the driver's spec: what the simulated libvirt
 * (simulator/hypervisor.ts) does with the XML the driver defines. The driver itself only
 * builds domain XML (driver/core/domain-xml.ts); build and parse share `checkSpec`, so they
 * agree on what is valid.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { DriverError } from '../driver/errors.js';
import type { IdMap } from '../driver/ports/host-files.js';
import {
  ATTR,
  NOVA_METADATA_NS,
  TEXT,
  checkSpec,
  invalid,
  type DomainDiskSpec,
  type Fail,
  type LxcDomainMetadata,
  type LxcDomainSpec,
  type XmlNode,
} from '../driver/core/domain-xml.js';

// Older Nova releases wrote 1.0; the elements this module reads are the same.
const NOVA_NAMESPACES = new Set([NOVA_METADATA_NS, 'http://openstack.org/xmlns/libvirt/nova/1.0']);

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
