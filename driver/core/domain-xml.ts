import { XMLBuilder } from 'fast-xml-parser';
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

/** How fast-xml-parser names attributes and text nodes, for the builder and for parsers. */
export const ATTR = '@_';
export const TEXT = '#text';

/** An element as fast-xml-parser represents it. */
export type XmlNode = Record<string, unknown>;

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

/** Makes the error for one reason a spec or document is rejected. */
export type Fail = (reason: string) => DriverError;

/** InvalidInput for `action` ("parse domain XML") failing for `reason`. */
export function invalid(action: string, reason: string): DriverError {
  return new DriverError('InvalidInput', `Failed to ${action}: ${reason}`, {
    hint: 'Pass a libvirt LXC domain as Nova builds it for virt_type=lxc: <domain type="lxc"> with <os><type>exe</type><init>, a <filesystem> for / and a <console> log.',
  });
}

/** Rejects what libvirt or Nova would reject, so build and parse agree on what is valid. */
export function checkSpec(spec: LxcDomainSpec, fail: Fail): void {
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
