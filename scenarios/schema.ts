/**
 * The scenario file format: types, and the validation that turns a parsed YAML document into
 * them. Every mistake is a DriverError('InvalidInput') naming the file, the path inside the
 * document and what was expected, e.g. `steps[2].boot.volume: expected ...`.
 */
import type { LxcDriverOptions } from '../driver/driver.js';
import { ERROR_CODES, type ErrorCode } from '../driver/errors.js';
import type {
  DiskSpec,
  FileSpec,
  FilesystemSpec,
  InitSpec,
  PartitionSpec,
} from '../harness/disk-spec.js';
import { FS_TYPES, parseSize } from '../harness/disk-spec.js';
import { parseBlockDeviceArg, type BdmV2 } from '../driver/nova/novaclient-block-device.js';
import { DOMParser } from '@xmldom/xmldom';
import xpath from 'xpath';
import { checkDiskLayout } from './disk-checks.js';
import { checkInstanceReferences } from './references.js';
import { Reader, type Locator } from './reader.js';
import {
  always,
  checkOnly,
  keysOf,
  optional,
  readFields,
  renamed,
  type FieldRead,
  type Read,
  type Fits,
  type Same,
} from './fields.js';

export { Reader, type Locator } from './reader.js';

/**
 * Host options: the driver's own (named as nova.conf names them), placed below the harness
 * (read by HOST_FIELDS).
 */
export type HostOptions = Read<typeof HOST_FIELDS>;

/** A Glance image the scenario caches on the host (read by IMAGE_FIELDS). */
export type ImageDecl = Read<typeof IMAGE_FIELDS>;

/** A file-backed Cinder volume (read by VOLUME_FIELDS). */
export type VolumeDecl = Read<typeof VOLUME_FIELDS>;

/** How a boot names its disks: an image, or block_device_mapping_v2 entries. */
export interface BootStep {
  kind: 'boot';
  instance: string;
  /** Boot the same instance (name and uuid) again, as Nova retries after a failed spawn. */
  retry: boolean;
  image?: string;
  bdms: BdmV2[];
  powerOn: boolean;
}

/** A scenario step; `error` and `expect` may follow any of them. */
export type StepAction =
  | BootStep
  | { kind: 'destroy'; instance: string; destroyDisks: boolean }
  | { kind: 'reboot'; instance: string; type: 'HARD' | 'SOFT' }
  | { kind: 'power_off'; instance: string; timeoutMs: number }
  | { kind: 'power_on'; instance: string }
  | {
      kind: 'wait';
      ms: number;
      /** Until get_info gives each instance this state (at most `ms`). */
      for?: Record<string, string>;
      /** Until each file inside each running container has this content (null: absent). */
      forFiles?: Record<string, Record<string, string | null>>;
    }
  | HostAction
  | { kind: 'restart_driver' }
  | { kind: 'host_reboot' }
  | { kind: 'resume'; instance: string }
  | {
      kind: 'fault';
      at: string;
      times: number | 'always';
      match?: string;
      error?: { code: ErrorCode; message: string };
    }
  | { kind: 'clear_faults' }
  | { kind: 'concurrent'; steps: Step[] }
  | { kind: 'expect' };

/**
 * Something that happens on the host behind the driver's back, through the bare ports (no
 * fault, no trace): the domain stopped (`virsh destroy`), another process attaching a volume's
 * file to a loop device (a squatter, or a holder) or detaching one.
 */
export type HostAction =
  | { kind: 'stop_domain'; instance: string }
  | { kind: 'kill_init'; instance: string }
  | { kind: 'attach_loop'; volume: string }
  | { kind: 'hold_loop'; volume: string }
  | { kind: 'release_loop'; volume: string }
  | { kind: 'detach_loop'; volume: string }
  | { kind: 'churn_loops'; volume: string; times: number }
  | { kind: 'mount_partition'; volume: string; partition: number }
  | { kind: 'unmount_partition'; volume: string; partition: number };

/** What a failing step must have thrown (read by ERROR_FIELDS). */
export type ErrorExpectation = Read<typeof ERROR_FIELDS>;

/** A device the scenario attached, as `attached` describes it (read by ATTACHED_FIELDS). */
export type AttachedExpectation = Read<typeof ATTACHED_FIELDS>;

/** Which filesystem is a container's root (read by ROOT_FIELDS). */
export type RootExpectation = Read<typeof ROOT_FIELDS>;

/** Bytes of a region of a volume file, by SHA-256 or as all zeros (DISK_BYTES_FIELDS). */
export type DiskBytesExpectation = Read<typeof DISK_BYTES_FIELDS>;

/** A file on a volume, read from the volume file without attaching anything. */
export type VolumeFileExpectation = Read<typeof VOLUME_FILE_FIELDS>;

/** Everything that can be checked after a step (read by EXPECT_FIELDS). */
export type Expectations = Read<typeof EXPECT_FIELDS>;

/** The outcome a step must have on a host with (or without) a capability. */
export interface Outcome {
  error?: ErrorExpectation;
  expect?: Expectations;
}

/** One step with its expected outcome. */
export interface Step {
  /** `steps[2]`, or the step's `id`. */
  label: string;
  /** Where it is in the document, for messages. */
  path: string;
  action: StepAction;
  outcome: Outcome;
  /** Overrides of `outcome` by host capability: `nbd`, `no_nbd`, `qcow2`, `no_qcow2`. */
  byCapability: Record<string, Outcome>;
  /** The longest the step may take on the host's clock (simulated time on the simulator). */
  withinMs?: number;
}

/** A fault at each port operation a step calls: one extra run per operation. */
export interface FaultEach {
  step: string;
  operations: string[];
  error: ErrorExpectation;
  /** Steps run after the faulted one in each variant (e.g. destroy, then expect clean). */
  then: Step[];
}

/** A validated scenario file. */
export interface Scenario {
  name: string;
  file: string;
  description: string;
  /** Why the real host cannot run it; absent when it can. */
  realSkip?: string;
  host: HostOptions;
  images: Record<string, ImageDecl>;
  volumes: Record<string, VolumeDecl>;
  steps: Step[];
  faultEach?: FaultEach;
}

/** Capability names an outcome can depend on. */
export const CAPABILITY_KEYS = ['nbd', 'no_nbd', 'qcow2', 'no_qcow2'] as const;

/** `[libvirt]images_type` values the driver supports for LXC. */
const IMAGES_TYPES = ['default', 'raw', 'flat', 'qcow2'] as const;

type Dict = Record<string, unknown>;

/**
 * Validates a parsed YAML document as a scenario; `file` names it in error messages and
 * `locate` adds the line and column of a path.
 */
export function parseScenario(doc: unknown, file: string, locate?: Locator): Scenario {
  const r = new Reader(file, locate);
  const top = r.dict(doc, '(document)', [
    'name',
    'description',
    'real',
    'host',
    'images',
    'volumes',
    'steps',
    'fault_each',
  ]);
  const name = r.string(top['name'], 'name');
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(name)) {
    r.fail('name', 'lower-case letters, digits, ".", "_" or "-"', name);
  }
  let realSkip: string | undefined;
  if (top['real'] !== undefined) {
    const real = r.dict(top['real'], 'real', ['skip']);
    realSkip = r.string(real['skip'], 'real.skip', 'the reason the real host cannot run it');
  }
  const images: Record<string, ImageDecl> = {};
  if (top['images'] !== undefined) {
    const dict = r.dict(top['images'], 'images', Object.keys(top['images'] as Dict));
    for (const [id, value] of Object.entries(dict)) {
      images[id] = parseImage(r, value, `images.${id}`);
    }
  }
  const volumes: Record<string, VolumeDecl> = {};
  if (top['volumes'] !== undefined) {
    const dict = r.dict(top['volumes'], 'volumes', Object.keys(top['volumes'] as Dict));
    for (const [id, value] of Object.entries(dict)) {
      volumes[id] = readFields(r, value, `volumes.${id}`, VOLUME_FIELDS, undefined);
    }
  }
  const ctx: StepContext = { r, images, volumes, ids: new Set() };
  const steps = r
    .list(top['steps'], 'steps')
    .map((value, index) => parseStep(ctx, value, `steps[${index}]`));
  if (steps.length === 0) r.fail('steps', 'at least one step', []);
  const scenario: Scenario = {
    name,
    file,
    description:
      top['description'] === undefined ? '' : r.string(top['description'], 'description'),
    ...(realSkip === undefined ? {} : { realSkip }),
    host: parseHost(r, top['host']),
    images,
    volumes,
    steps,
  };
  if (top['fault_each'] !== undefined) {
    scenario.faultEach = parseFaultEach(ctx, top['fault_each'], steps);
  }
  checkInstanceReferences(r, scenario);
  return scenario;
}

function parseHost(r: Reader, value: unknown): HostOptions {
  if (value === undefined) return {};
  return readFields(r, value, 'host', HOST_FIELDS, undefined);
}

/** `uid_maps`/`gid_maps`: a list, or as nova.conf has it pasted (`0:100000:65536`, or a comma list). */
function idMaps(r: Reader, value: unknown, path: string): string[] {
  const list = typeof value === 'string' ? value.split(',').map((m) => m.trim()) : value;
  return r.list(list, path).map((m, i) => {
    const text = r.string(m, `${path}[${i}]`);
    if (!/^\d+:\d+:\d+$/.test(text)) r.fail(`${path}[${i}]`, '"guest:host:count"', text);
    return text;
  });
}

/** The keys of `host:`, each once: what it is called in the file, how it is read. */
const HOST_FIELDS = {
  /** A directory below the harness's instances path (the real host decides where that is). */
  instances_path: renamed(
    'instancesSubdir',
    optional((r, v, path) => {
      const sub = r.string(v, path);
      if (sub.startsWith('/') || sub.split('/').includes('..')) {
        r.fail(path, "a relative directory below the backend's instances path", sub);
      }
      return sub;
    }),
  ),
  uid_maps: optional(idMaps),
  gid_maps: optional(idMaps),
  images_type: optional((r, v, path) =>
    r.oneOf(v, path, IMAGES_TYPES, ' (lvm, rbd and ploop are not supported for LXC by nova-lxc)'),
  ),
  use_cow_images: optional((r, v, path) => r.bool(v, path)),
  root_partition: optional((r, v, path) => r.scalar(v, path)),
  host_arch: optional((r, v, path) => r.string(v, path)),
  /** instances_path is a symlink to the real directory, as operators often have it. */
  instances_path_symlink: optional((r, v, path) => r.bool(v, path)),
  /** Checked only: nova-lxc is the LXC driver. */
  virt_type: checkOnly((r, v, path) => r.oneOf(v, path, ['lxc'], ' (nova-lxc is the LXC driver)')),
};

// The driver options a scenario sets have the driver's own types.
const _hostOptionsFit: Fits<
  Pick<
    HostOptions,
    'uidMaps' | 'gidMaps' | 'imagesType' | 'useCowImages' | 'rootPartition' | 'hostArch'
  >,
  Pick<
    LxcDriverOptions,
    'uidMaps' | 'gidMaps' | 'imagesType' | 'useCowImages' | 'rootPartition' | 'hostArch'
  >
> = true;
void _hostOptionsFit;

function parseImage(r: Reader, value: unknown, path: string): ImageDecl {
  return readFields(r, value, path, IMAGE_FIELDS, undefined);
}

/** Volume or image `properties`: a mapping of names to strings (numbers written bare too). */
const properties = always((r, v, path) => r.stringMap(v, path));

/** The keys of an image declaration. */
const IMAGE_FIELDS = {
  format: always((r, v, path) =>
    v === undefined ? 'raw' : r.oneOf(v, path, ['raw', 'qcow2'] as const),
  ),
  /** Image properties (e.g. lxc_root_partition), passed as image_meta.properties. */
  properties,
  disk: always((r, v, path) => parseDisk(r, v, path)),
};

/** The keys of a volume declaration. */
const VOLUME_FIELDS = {
  /** volume_image_metadata, passed as image_meta.properties when booting from it. */
  properties,
  disk: always((r, v, path) => parseDisk(r, v, path)),
  /**
   * The harness attaches the file to a loop device of its own with this logical sector size and
   * hands the device to the driver as a local block device (`driver_volume_type: local`).
   */
  local_device: optional((r, v, path): { sectorSize: 512 | 4096 } => {
    const d = r.dict(v, path, ['sector_size']);
    const size = d['sector_size'] ?? 512;
    return {
      sectorSize:
        size === 512 || size === 4096 ? size : r.fail(`${path}.sector_size`, '512 or 4096', size),
    };
  }),
};

function parseDisk(r: Reader, value: unknown, path: string): DiskSpec {
  const spec = readFields(r, value, path, DISK_FIELDS, value as Dict);
  checkDiskLayout(r, spec, path);
  return spec;
}

/** The keys of a disk declaration (harness/disk-spec.ts DiskSpec); `raw` is the mapping read. */
const DISK_FIELDS = {
  size: always((r, size, path): number | string => {
    if (typeof size !== 'number' && typeof size !== 'string') {
      return r.fail(path, 'a size such as 64M', size);
    }
    try {
      parseSize(size);
    } catch {
      r.fail(path, 'bytes or a number with K, M, G or T (e.g. 64M)', size);
    }
    return size;
  }),
  sector_size: optional((r, s, path): 512 | 4096 => {
    if (s !== 512 && s !== 4096) return r.fail(path, '512 or 4096', s);
    return s;
  }),
  table: always((r, v, path) =>
    v === undefined ? 'none' : r.oneOf(v, path, ['none', 'mbr', 'gpt'] as const),
  ),
  filesystem: optional((r, v, path, raw: Dict) => {
    if ((raw['table'] ?? 'none') !== 'none') {
      r.fail(path, 'no whole-disk filesystem on a partitioned disk (use partitions)', v);
    }
    return parseFilesystem(r, v, path);
  }),
  partitions: optional((r, v, path, raw: Dict) => {
    if ((raw['table'] ?? 'none') === 'none') {
      r.fail(path, 'table: mbr or gpt before partitions', raw['table'] ?? 'none');
    }
    return r
      .list(v, path)
      .map((p, i) => readFields(r, p, `${path}[${i}]`, PARTITION_FIELDS, p as Dict));
  }),
  damage_primary_gpt: optional((r, v, path) => r.bool(v, path)),
};

/** The keys of a partition (PartitionSpec). */
const PARTITION_FIELDS = {
  number: always((r, v, path) => r.int(v, path, 1)),
  start: always((r, v, path) => r.int(v, path, 1)),
  size: always((r, v, path) => r.int(v, path, 1)),
  type: optional((r, v, path) => r.scalar(v, path)),
  /**
   * The GPT partition name (PARTLABEL); `name` is accepted too, as DiskSpec spells it. `label`
   * wins when both are given, a null one counts as absent, and either is reported as `label`.
   */
  label: renamed(
    'name',
    optional((r, v, path) => (v === null ? undefined : r.string(v, path))),
  ),
  name: optional((r, v, path, raw: Dict) =>
    raw['label'] !== undefined && raw['label'] !== null
      ? undefined
      : r.string(v, path.replace(/\.name$/, '.label')),
  ),
  filesystem: optional((r, v, path) => parseFilesystem(r, v, path)),
};

function parseFilesystem(r: Reader, value: unknown, path: string): FilesystemSpec {
  return readFields(r, value, path, FILESYSTEM_FIELDS, undefined);
}

/** The keys of a filesystem (FilesystemSpec). */
const FILESYSTEM_FIELDS = {
  type: always((r, v, path) => r.oneOf(v, path, FS_TYPES)),
  label: optional((r, v, path) => r.string(v, path)),
  files: optional((r, v, path) => {
    const files = r.dict(v, path, Object.keys(v as Dict));
    const out: Record<string, string | FileSpec> = {};
    for (const [file, content] of Object.entries(files)) {
      const at = `${path}["${file}"]`;
      if (!file.startsWith('/')) r.fail(at, 'an absolute path as the key', file);
      if (typeof content === 'string') {
        out[file] = content;
        continue;
      }
      const spec = readFields(r, content, at, FILE_FIELDS, {
        files,
        raw: (content ?? {}) as Dict,
      });
      if (spec.symlink !== undefined && spec.link !== undefined)
        r.fail(at, 'one of symlink or link', content);
      out[file] = spec;
    }
    return out;
  }),
  init: optional((r, v, path) => readFields(r, v, path, INIT_FIELDS, undefined)),
};

/** What a file's row sees: the filesystem's other files, and this file's own mapping. */
interface FileContext {
  files: Dict;
  raw: Dict;
}

/** The keys of a file given as a mapping (FileSpec). */
const FILE_FIELDS = {
  content: always((r, v, path, { raw }: FileContext) => {
    if (typeof v === 'string') return v;
    const linked = raw['symlink'] !== undefined || raw['link'] !== undefined;
    return linked && v === undefined ? '' : r.fail(path, 'a string', v);
  }),
  mode: optional((r, v, path) => parseMode(r, v, path)),
  owner: optional((r, v, path) => r.int(v, path)),
  group: optional((r, v, path) => r.int(v, path)),
  symlink: optional((r, v, path) => r.string(v, path)),
  link: optional((r, v, path, { files }: FileContext) => {
    const other = r.string(v, path);
    const target = files[other];
    if (typeof target === 'object' && (target as Dict)['symlink'] !== undefined)
      r.fail(path, 'a regular fixture file to hard-link to', other);
    if (target === undefined) r.fail(path, 'another path of this filesystem', other);
    return other;
  }),
};

function parseMode(r: Reader, value: unknown, path: string): number {
  if (typeof value === 'string' && /^0?[0-7]{3,4}$/.test(value)) return parseInt(value, 8);
  return r.fail(path, 'an octal mode as a string, e.g. "0755"', value);
}

/** An absolute path inside the container. */
const absolutePath: FieldRead<string, unknown> = (r, v, path) => {
  const file = r.string(v, path);
  if (!file.startsWith('/')) r.fail(path, 'an absolute path', file);
  return file;
};

/** The keys of a container init (InitSpec). */
const INIT_FIELDS = {
  writes: optional((r, v, path) =>
    r.list(v, path).map((w, n) => readFields(r, w, `${path}[${n}]`, WRITE_FIELDS, undefined)),
  ),
  environ_to: optional(absolutePath),
  fill: optional((r, v, path) => readFields(r, v, path, FILL_FIELDS, undefined)),
  heartbeat: optional((r, v, path) => readFields(r, v, path, HEARTBEAT_FIELDS, undefined)),
  then: always((r, then, path): InitSpec['then'] => {
    if (then === undefined || then === 'run') return 'run';
    if (typeof then === 'object' && then !== null) {
      return readFields(r, then, path, THEN_FIELDS, undefined);
    }
    return r.fail(path, '"run" or {exit: N}', then);
  }),
};

/** `then: { exit: N, after_s: S }`: the init's exit status, at once or after S seconds. */
const THEN_FIELDS = {
  exit: always((r, v, path) => {
    const status = r.int(v, path);
    if (status > 255) r.fail(path, 'an exit status from 0 to 255', status);
    return status;
  }),
  after_s: optional((r, v, path) => r.int(v, path, 1)),
};

/** `fill: { path, status_to }`: zeros until ENOSPC, then dd's exit status to a file. */
const FILL_FIELDS = {
  path: always(absolutePath),
  status_to: always(absolutePath),
};

/** `heartbeat: { path, every_s }`: a counter rewritten every N seconds in the background. */
const HEARTBEAT_FIELDS = {
  path: always(absolutePath),
  every_s: always((r, v, path) => r.int(v, path, 1)),
};

/** The keys of one file an init writes. */
const WRITE_FIELDS = {
  path: always(absolutePath),
  content: always((r, v, path) => (typeof v === 'string' ? v : r.fail(path, 'a string', v))),
};

// The tables declare harness/disk-spec.ts's types exactly: a key added there fails to compile
// here until its row exists.
const _diskTables: [
  Same<Read<typeof DISK_FIELDS>, DiskSpec>,
  Same<Read<typeof PARTITION_FIELDS>, PartitionSpec>,
  Same<Read<typeof FILESYSTEM_FIELDS>, FilesystemSpec>,
  Same<Read<typeof FILE_FIELDS>, FileSpec>,
  Same<Read<typeof INIT_FIELDS>, InitSpec>,
] = [true, true, true, true, true];
void _diskTables;

interface StepContext {
  r: Reader;
  images: Record<string, ImageDecl>;
  volumes: Record<string, VolumeDecl>;
  ids: Set<string>;
}

const ACTIONS = [
  'boot',
  'destroy',
  'reboot',
  'power_off',
  'power_on',
  'wait',
  'host_action',
  'restart_driver',
  'host_reboot',
  'resume',
  'fault',
  'clear_faults',
  'concurrent',
  'expect',
] as const;

function parseStep(ctx: StepContext, value: unknown, path: string): Step {
  const { r } = ctx;
  const s = r.dict(value, path, [...ACTIONS, 'id', 'error', 'by_capability', 'within_ms']);
  const actions = ACTIONS.filter((a) => s[a] !== undefined && a !== 'expect');
  if (actions.length > 1) {
    r.fail(path, 'one action per step', actions.join(' and '));
  }
  let label = path;
  if (s['id'] !== undefined) {
    label = r.string(s['id'], `${path}.id`);
    if (ctx.ids.has(label)) r.fail(`${path}.id`, 'an id no other step has', label);
    ctx.ids.add(label);
  }
  const kind = actions[0] ?? 'expect';
  const action = parseAction(ctx, kind, s[kind], `${path}.${kind}`);
  const outcome: Outcome = {};
  if (s['error'] !== undefined) outcome.error = parseError(r, s['error'], `${path}.error`);
  if (kind !== 'expect' && s['expect'] !== undefined) {
    outcome.expect = parseExpect(ctx, s['expect'], `${path}.expect`);
  }
  if (kind === 'expect') outcome.expect = parseExpect(ctx, s['expect'], `${path}.expect`);
  const byCapability: Record<string, Outcome> = {};
  if (s['by_capability'] !== undefined) {
    const caps = r.dict(s['by_capability'], `${path}.by_capability`, CAPABILITY_KEYS);
    for (const [cap, o] of Object.entries(caps)) {
      const at = `${path}.by_capability.${cap}`;
      const d = r.dict(o, at, ['error', 'expect']);
      byCapability[cap] = {
        ...(d['error'] === undefined ? {} : { error: parseError(r, d['error'], `${at}.error`) }),
        ...(d['expect'] === undefined
          ? {}
          : { expect: parseExpect(ctx, d['expect'], `${at}.expect`) }),
      };
    }
  }
  return {
    label,
    path,
    action,
    outcome,
    byCapability,
    ...(s['within_ms'] === undefined
      ? {}
      : { withinMs: r.int(s['within_ms'], `${path}.within_ms`) }),
  };
}

function instanceName(r: Reader, value: unknown, path: string): string {
  const name = r.string(value, path, 'an instance name');
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(name))
    r.fail(path, 'an instance name of letters, digits, "_" or "-"', name);
  return name;
}

function parseAction(
  ctx: StepContext,
  kind: (typeof ACTIONS)[number],
  value: unknown,
  path: string,
): StepAction {
  const { r } = ctx;
  switch (kind) {
    case 'boot':
      return parseBoot(ctx, value, path);
    case 'destroy': {
      if (typeof value === 'string')
        return { kind, instance: instanceName(r, value, path), destroyDisks: true };
      const d = r.dict(value, path, ['instance', 'destroy_disks']);
      return {
        kind,
        instance: instanceName(r, d['instance'], `${path}.instance`),
        destroyDisks:
          d['destroy_disks'] === undefined
            ? true
            : r.bool(d['destroy_disks'], `${path}.destroy_disks`),
      };
    }
    case 'reboot': {
      if (typeof value === 'string')
        return { kind, instance: instanceName(r, value, path), type: 'HARD' };
      const d = r.dict(value, path, ['instance', 'type']);
      const type =
        d['type'] === undefined ? 'hard' : r.oneOf(d['type'], `${path}.type`, ['hard', 'soft']);
      return {
        kind,
        instance: instanceName(r, d['instance'], `${path}.instance`),
        type: type === 'soft' ? 'SOFT' : 'HARD',
      };
    }
    case 'power_off': {
      if (typeof value === 'string')
        return { kind, instance: instanceName(r, value, path), timeoutMs: 0 };
      const d = r.dict(value, path, ['instance', 'timeout_ms']);
      return {
        kind,
        instance: instanceName(r, d['instance'], `${path}.instance`),
        timeoutMs: d['timeout_ms'] === undefined ? 0 : r.int(d['timeout_ms'], `${path}.timeout_ms`),
      };
    }
    case 'power_on':
      return { kind, instance: instanceName(r, value, path) };
    case 'wait': {
      const d = r.dict(value, path, ['ms', 'for', 'for_files']);
      const ms = r.int(d['ms'], `${path}.ms`);
      const out: StepAction = { kind, ms };
      if (d['for'] !== undefined) {
        const states = r.stringMap(d['for'], `${path}.for`);
        if (Object.keys(states).length === 0)
          r.fail(`${path}.for`, 'instances and their states', d['for']);
        for (const name of Object.keys(states)) instanceName(r, name, `${path}.for.${name}`);
        out.for = states;
      }
      if (d['for_files'] !== undefined) {
        out.forFiles = EXPECT_FIELDS.files.read(r, d['for_files'], `${path}.for_files`, ctx);
      }
      return out;
    }
    case 'host_action': {
      const kinds = [
        'stop_domain',
        'kill_init',
        'attach_loop',
        'detach_loop',
        'churn_loops',
        'mount_partition',
        'unmount_partition',
        'hold_loop',
        'release_loop',
      ] as const;
      const d = r.dict(value, path, kinds);
      const keys = Object.keys(d);
      if (keys.length !== 1) r.fail(path, `exactly one of ${kinds.join(', ')}`, keys.join(', '));
      for (const on of ['stop_domain', 'kill_init'] as const) {
        if (d[on] !== undefined)
          return { kind: on, instance: instanceName(r, d[on], `${path}.${on}`) };
      }
      const which = keys[0] as Exclude<(typeof kinds)[number], 'stop_domain' | 'kill_init'>;
      const at = `${path}.${which}`;
      const volumeAt = (v: unknown, p: string) => {
        const volume = r.string(v, p, 'the name of a declared volume');
        if (!ctx.volumes[volume]) r.fail(p, 'the name of a declared volume', volume);
        return volume;
      };
      if (
        which === 'attach_loop' ||
        which === 'detach_loop' ||
        which === 'hold_loop' ||
        which === 'release_loop'
      )
        return { kind: which, volume: volumeAt(d[which], at) };
      if (which === 'churn_loops') {
        const c = r.dict(d[which], at, ['volume', 'times']);
        return {
          kind: which,
          volume: volumeAt(c['volume'], `${at}.volume`),
          times: r.int(c['times'], `${at}.times`, 1),
        };
      }
      const m = r.dict(d[which], at, ['volume', 'partition']);
      return {
        kind: which,
        volume: volumeAt(m['volume'], `${at}.volume`),
        partition: r.int(m['partition'], `${at}.partition`, 1),
      };
    }
    case 'restart_driver':
    case 'host_reboot':
      if (value !== true) r.fail(path, 'true', value);
      return { kind };
    case 'resume':
      return { kind, instance: instanceName(r, value, path) };
    case 'clear_faults':
      if (value !== true) r.fail(path, 'true', value);
      return { kind };
    case 'fault': {
      const d = r.dict(value, path, ['at', 'times', 'match', 'error']);
      const at = r.string(d['at'], `${path}.at`, 'an operation <port>.<method>');
      if (!/^[a-zA-Z]+\.[a-zA-Z]+$/.test(at))
        r.fail(`${path}.at`, 'an operation <port>.<method>, e.g. hypervisor.start', at);
      const t = d['times'];
      const times =
        t === undefined || t === 'once'
          ? 1
          : t === 'always'
            ? ('always' as const)
            : r.int(t, `${path}.times`, 1);
      const out: StepAction = { kind, at, times };
      if (d['match'] !== undefined) out.match = r.string(d['match'], `${path}.match`);
      if (d['error'] !== undefined) {
        const e = r.dict(d['error'], `${path}.error`, ['code', 'message']);
        out.error = {
          code: r.oneOf(e['code'], `${path}.error.code`, ERROR_CODES),
          message: r.string(e['message'], `${path}.error.message`),
        };
      }
      return out;
    }
    case 'concurrent': {
      const steps = r.list(value, path).map((v, i) => parseStep(ctx, v, `${path}[${i}]`));
      for (const step of steps) {
        const allowed = ['boot', 'destroy', 'reboot', 'power_off', 'power_on', 'churn_loops'];
        if (!allowed.includes(step.action.kind)) {
          r.fail(step.path, `one of ${allowed.join(', ')} inside concurrent`, step.action.kind);
        }
        if (step.outcome.expect)
          r.fail(`${step.path}.expect`, 'expectations after the whole concurrent group', 'expect');
      }
      if (steps.length < 2) r.fail(path, 'at least two steps', steps.length);
      return { kind, steps };
    }
    case 'expect':
      return { kind };
  }
}

function parseBoot(ctx: StepContext, value: unknown, path: string): BootStep {
  const { r } = ctx;
  const b = r.dict(value, path, [
    'instance',
    'image',
    'volume',
    'block_device',
    'block_device_mapping_v2',
    'power_on',
    'retry',
  ]);
  const boot: BootStep = {
    kind: 'boot',
    instance: instanceName(r, b['instance'], `${path}.instance`),
    retry: b['retry'] === undefined ? false : r.bool(b['retry'], `${path}.retry`),
    bdms: [],
    powerOn: b['power_on'] === undefined ? true : r.bool(b['power_on'], `${path}.power_on`),
  };
  const sources = ['image', 'volume', 'block_device', 'block_device_mapping_v2'].filter(
    (k) => b[k] !== undefined,
  );
  if (sources.length !== 1) {
    r.fail(
      path,
      'exactly one of image, volume, block_device, block_device_mapping_v2',
      sources.join(', ') || 'none',
    );
  }
  if (b['image'] !== undefined) {
    boot.image = r.string(b['image'], `${path}.image`);
    if (!ctx.images[boot.image])
      r.fail(`${path}.image`, 'the name of a declared image', boot.image);
  }
  if (b['volume'] !== undefined) {
    // `volume: vol1` is novaclient's --boot-volume.
    const id = r.string(b['volume'], `${path}.volume`);
    if (!ctx.volumes[id]) r.fail(`${path}.volume`, 'the name of a declared volume', id);
    boot.bdms = [
      {
        uuid: id,
        source_type: 'volume',
        destination_type: 'volume',
        boot_index: '0',
        delete_on_termination: false,
      },
    ];
  }
  if (b['block_device'] !== undefined) {
    boot.bdms = r.list(b['block_device'], `${path}.block_device`).map((arg, i) => {
      const at = `${path}.block_device[${i}]`;
      const text = typeof arg === 'string' ? arg : r.fail(at, 'a --block-device string', arg);
      try {
        return parseBlockDeviceArg(text);
      } catch (error) {
        return r.fail(at, error instanceof Error ? error.message : String(error), arg);
      }
    });
  }
  if (b['block_device_mapping_v2'] !== undefined) {
    boot.bdms = r
      .list(b['block_device_mapping_v2'], `${path}.block_device_mapping_v2`)
      .map((item, i) => {
        const at = `${path}.block_device_mapping_v2[${i}]`;
        const bdm: BdmV2 = readFields(r, item, at, BDM_V2_FIELDS, undefined);
        if (bdm.boot_index !== undefined && !/^-?[0-9]+$/.test(bdm.boot_index))
          r.fail(
            `${at}.boot_index`,
            "a whole number such as 0 (Nova's API schema)",
            bdm.boot_index,
          );
        return bdm;
      });
  }
  boot.bdms.forEach((bdm, i) => {
    const at = `${path}.${b['block_device'] !== undefined ? 'block_device' : 'block_device_mapping_v2'}[${i}]`;
    if (bdm.source_type === 'snapshot' || bdm.source_type === 'blank') {
      r.fail(
        at,
        'source volume or image (the runner has no snapshots or blank volumes)',
        bdm.source_type,
      );
    }
    const id = bdm.uuid;
    if (bdm.source_type === 'volume' && (id === undefined || !ctx.volumes[id])) {
      r.fail(`${at}.id`, 'the name of a declared volume', id);
    }
    if (bdm.source_type === 'image' && (id === undefined || !ctx.images[id])) {
      r.fail(`${at}.id`, 'the name of a declared image', id);
    }
  });
  return boot;
}

/** A value as the API receives it in JSON: a string (numbers written bare become strings). */
const apiString = <K extends string>(key: K) =>
  renamed(
    key,
    optional((r, v, path) => r.scalar(v, path)),
  );

/** The keys of one block_device_mapping_v2 entry (BdmV2), as the Nova API names them. */
const BDM_V2_FIELDS = {
  uuid: optional((r, v, path) => r.scalar(v, path)),
  source_type: renamed(
    'source_type',
    always((r, v, path) => r.oneOf(v, path, ['volume', 'image', 'snapshot', 'blank'] as const)),
  ),
  // Not checked here, as before: the runner reads only 'volume' and the rest is Nova's.
  destination_type: renamed(
    'destination_type',
    optional((r, v, path) => r.scalar(v, path) as 'local' | 'volume'),
  ),
  boot_index: apiString('boot_index'),
  device_name: apiString('device_name'),
  disk_bus: apiString('disk_bus'),
  device_type: apiString('device_type'),
  volume_size: apiString('volume_size'),
  guest_format: apiString('guest_format'),
  delete_on_termination: renamed(
    'delete_on_termination',
    optional((r, v, path) => r.bool(v, path)),
  ),
  tag: optional((r, v, path) => r.scalar(v, path)),
  volume_type: apiString('volume_type'),
};

const _bdmTable: Same<Read<typeof BDM_V2_FIELDS>, BdmV2> = true;
void _bdmTable;

function parseError(r: Reader, value: unknown, path: string): ErrorExpectation {
  return readFields(r, value, path, ERROR_FIELDS, undefined);
}

const ERROR_FIELDS = {
  code: optional((r, v, path) => r.oneOf(v, path, ERROR_CODES)),
  /** A substring of the message. */
  message: optional((r, v, path) => r.string(v, path)),
  /** A regular expression the message must match. */
  message_regex: optional((r, v, path) => {
    const source = r.string(v, path);
    try {
      new RegExp(source);
    } catch {
      r.fail(path, 'a valid regular expression', source);
    }
    return source;
  }),
  /** The step may also succeed (a fault the driver tolerates). */
  optional: optional((r, v, path) => r.bool(v, path)),
};

function parseExpect(ctx: StepContext, value: unknown, path: string): Expectations {
  return readFields(ctx.r, value, path, EXPECT_FIELDS, ctx);
}

/** A volume the scenario declares, or one made from an image at boot. */
function volumeName(r: Reader, value: unknown, path: string, ctx: StepContext): string {
  const volume = r.string(value, path);
  if (!ctx.volumes[volume] && !isImageVolume(ctx, volume))
    r.fail(path, 'the name of a declared volume', volume);
  return volume;
}

/** A mapping whose keys are names the scenario chooses (instances), each read by `item`. */
function byName<T>(item: FieldRead<T, StepContext>): FieldRead<Record<string, T>, StepContext> {
  return (r, value, path, ctx) => {
    const dict = r.dict(value, path, Object.keys((value ?? {}) as Dict));
    const out: Record<string, T> = {};
    for (const [name, v] of Object.entries(dict)) out[name] = item(r, v, `${path}.${name}`, ctx);
    return out;
  };
}

/** A list, each item read by `item` at `<path>[i]`. */
function listOf<T, C>(item: FieldRead<T, C>): FieldRead<T[], C> {
  return (r, value, path, ctx) =>
    r.list(value, path).map((v, i) => item(r, v, `${path}[${i}]`, ctx));
}

const sourceName: FieldRead<string, StepContext> = (_r, v, path, ctx) =>
  parseSourceName(ctx, v, path);

const ROOT_FIELDS = {
  source: always(sourceName),
  partition: optional((r, v, path) => (v === null ? null : r.int(v, path, 1))),
  fstype: optional((r, v, path) => r.string(v, path)),
  /** Byte offset and size limit of the loop device that backs the root (0 = whole file). */
  offset: optional((r, v, path) => r.int(v, path)),
  size_limit: optional((r, v, path) => r.int(v, path)),
};

const ATTACHED_FIELDS = {
  loop: optional(sourceName),
  nbd: optional(sourceName),
  offset: optional((r, v, path) => r.int(v, path)),
  size_limit: optional((r, v, path) => r.int(v, path)),
};

const VOLUME_FILE_FIELDS = {
  volume: always(volumeName),
  partition: always((r, v, path) => (v === undefined || v === null ? null : r.int(v, path, 1))),
  path: always((r, v, path) => r.string(v, path)),
  content: always((r, v, path) =>
    v === null ? null : r.string(v, path, 'the content, or null for absent'),
  ),
};

const INSTANCE_DISK_FILE_FIELDS = {
  instance: always((r, v, path) => instanceName(r, v, path)),
  partition: always((r, v, path) => (v === undefined || v === null ? null : r.int(v, path, 1))),
  path: always((r, v, path) => r.string(v, path)),
  content: always((r, v, path) =>
    v === null ? null : r.string(v, path, 'the content, or null for absent'),
  ),
};

/** A file in an instance disk, read from the disk file (after a destroy that kept it). */
export type InstanceDiskFileExpectation = Read<typeof INSTANCE_DISK_FILE_FIELDS>;

/** What `record:` can show of an instance: Nova's two system_metadata keys and the journal. */
export const RECORD_KEYS = ['rootfs_device_name', 'nova_lxc_rootfs', 'journal'] as const;

const DISK_BYTES_FIELDS = {
  volume: always(volumeName),
  offset: always((r, v, path) => r.int(v, path)),
  length: always((r, v, path) => r.int(v, path, 1)),
  sha256: optional((r, v, path) => {
    const hash = r.string(v, path);
    if (!/^[0-9a-f]{64}$/.test(hash)) r.fail(path, '64 lower-case hex digits', hash);
    return hash;
  }),
  zero: optional((r, v, path) => r.bool(v, path)),
};

const FILE_OWNER_FIELDS = {
  uid: optional((r, v, path) => r.int(v, path)),
  gid: optional((r, v, path) => r.int(v, path)),
  /** Octal, setuid/setgid/sticky included, e.g. "4755". */
  mode: optional((r, v, path) => parseMode(r, v, path).toString(8).padStart(4, '0')),
  kind: optional((r, v, path) => r.oneOf(v, path, ['file', 'directory', 'symlink'] as const)),
};

/** A path's owner inside the container (ids through the uid/gid maps), mode and kind. */
export type FileOwnerExpectation = Read<typeof FILE_OWNER_FIELDS>;

/** Per instance and path: a FILE_OWNER_FIELDS mapping each. */
const ownersByPath = byName((r, v, at) => {
  const d = r.dict(v, at, Object.keys((v ?? {}) as Dict));
  const per: Record<string, FileOwnerExpectation> = {};
  for (const [file, o] of Object.entries(d)) {
    const fat = `${at}["${file}"]`;
    if (!file.startsWith('/')) r.fail(fat, 'an absolute path as the key', file);
    per[file] = readFields(r, o, fat, FILE_OWNER_FIELDS, undefined);
  }
  return per;
});

/** The ids a container's init runs as, inside and on the host (INIT_USER_FIELDS). */
const INIT_USER_FIELDS = {
  uid: optional((r, v, path) => r.int(v, path)),
  gid: optional((r, v, path) => r.int(v, path)),
  host_uid: optional((r, v, path) => r.int(v, path)),
  host_gid: optional((r, v, path) => r.int(v, path)),
};

/** What the init's environment holds (INIT_ENV_FIELDS). */
export type InitEnvExpectation = Read<typeof INIT_ENV_FIELDS>;

/** The copy an init made with `environ_to`, and the variables it must (null: must not) hold. */
const INIT_ENV_FIELDS = {
  file: always(absolutePath),
  vars: always((r, v, path) => {
    const dict = r.dict(v, path, Object.keys((v ?? {}) as Dict));
    const out: Record<string, string | null> = {};
    for (const [name, value] of Object.entries(dict)) {
      out[name] = value === null ? null : r.scalar(value, `${path}.${name}`);
    }
    if (Object.keys(out).length === 0) r.fail(path, 'at least one variable', v);
    return out;
  }),
};

/** A heartbeat file that must keep counting (HEARTBEAT_EXPECT_FIELDS). */
export type HeartbeatExpectation = Read<typeof HEARTBEAT_EXPECT_FIELDS>;

const HEARTBEAT_EXPECT_FIELDS = {
  path: always(absolutePath),
  /** The count read now must be exceeded by a later read. */
  advances: optional((r, v, path) => {
    if (v !== true) r.fail(path, 'true', v);
    return true as const;
  }),
  /** A count of at least N must be read. */
  at_least: optional((r, v, path) => r.int(v, path, 1)),
  /** How long on the host's clock it may take; default 30. */
  within_s: always((r, v, path) => (v === undefined ? 30 : r.int(v, path, 1))),
};

/** The keys of `expect:`, each once: what it is called in the file, how it is read. */
const EXPECT_FIELDS = {
  state: optional((r, v, path) => r.stringMap(v, path)),
  root: optional(byName((r, v, path, ctx) => readFields(r, v, path, ROOT_FIELDS, ctx))),
  files: optional(
    byName((r, v, at) => {
      const d = r.dict(v, at, Object.keys((v ?? {}) as Dict));
      const per: Record<string, string | null> = {};
      for (const [file, content] of Object.entries(d)) {
        if (!file.startsWith('/')) r.fail(`${at}`, 'absolute paths as keys', file);
        // An empty file is '' (r.string refuses empty names, not empty contents).
        per[file] =
          content === null || content === ''
            ? content
            : r.string(content, `${at}["${file}"]`, 'the content, or null for absent');
      }
      return per;
    }),
  ),
  volume_files: optional(
    listOf((r, v, path, ctx: StepContext) => readFields(r, v, path, VOLUME_FILE_FIELDS, ctx)),
  ),
  /** A file in an instance's disk file (`<instance dir>/disk`), read without attaching it. */
  instance_disk_files: optional(
    listOf((r, v, path) => readFields(r, v, path, INSTANCE_DISK_FILE_FIELDS, undefined)),
  ),
  /**
   * Per instance: a subset of what the driver persisted for it (system_metadata's
   * rootfs_device_name and nova_lxc_rootfs, and its journal entry), normalised as traces are.
   */
  record: optional(byName((r, v, path): Record<string, unknown> => r.dict(v, path, RECORD_KEYS))),
  host_mounts: optional(listOf((r, v, path) => r.string(v, path, '"<instance>/<path>"'))),
  attached: optional(
    listOf((r, v, at, ctx: StepContext) => {
      const d = r.dict(v, at, keysOf(ATTACHED_FIELDS));
      if ((d['loop'] === undefined) === (d['nbd'] === undefined))
        r.fail(at, 'exactly one of loop or nbd', v);
      return readFields(r, v, at, ATTACHED_FIELDS, ctx);
    }),
  ),
  domains: optional(listOf((r, v, path) => instanceName(r, v, path))),
  clean: optional((r, v, path) => r.bool(v, path)),
  disk_bytes: optional(
    listOf((r, v, at, ctx: StepContext) => {
      const region = readFields(r, v, at, DISK_BYTES_FIELDS, ctx);
      if ((region.sha256 === undefined) === (region.zero !== true))
        r.fail(at, 'exactly one of sha256 or zero: true', v);
      return region;
    }),
  ),
  /** Per instance and path: owner, group, mode and kind as seen inside the container. */
  file_owners: optional(ownersByPath),
  /** The same with the host's ids (not mapped back through uid_maps/gid_maps). */
  file_owners_host: optional(ownersByPath),
  /** Per instance: the ids its init runs as, inside and on the host. */
  init_user: optional(byName((r, v, path) => readFields(r, v, path, INIT_USER_FIELDS, undefined))),
  /** Per instance: variables of the environment its init copied with environ_to. */
  init_env: optional(byName((r, v, path) => readFields(r, v, path, INIT_ENV_FIELDS, undefined))),
  /** Per instance: a heartbeat that advances, or reaches a count, within a bound. */
  heartbeat: optional(
    byName((r, v, path) => {
      const beat = readFields(r, v, path, HEARTBEAT_EXPECT_FIELDS, undefined);
      if ((beat.advances === undefined) === (beat.atLeast === undefined))
        r.fail(path, 'exactly one of advances: true or at_least: N', v);
      return beat;
    }),
  ),
  /** Per instance: a subset of the domain XML the driver last defined, as fast-xml-parser reads it. */
  domain_xml: optional((r, v, path): Record<string, unknown> => {
    const dict = r.dict(v, path, Object.keys(v as Dict));
    for (const [inst, subset] of Object.entries(dict)) {
      r.dict(subset, `${path}.${inst}`, Object.keys((subset ?? {}) as Dict));
    }
    return dict;
  }),
  /**
   * Per instance: XPath 1.0 expressions (the xpath package over @xmldom/xmldom) on the domain
   * XML the driver last defined, each with the value it must give: a string, number or boolean
   * for a string(), count() or boolean() result, or for a node set the string value of its one
   * node (a list: of its nodes, in document order).
   */
  domain_xpath: optional(
    byName((r, v, at) => {
      const d = r.dict(v, at, Object.keys((v ?? {}) as Dict));
      const per: Record<string, XPathValue> = {};
      for (const [expression, expected] of Object.entries(d)) {
        const eat = `${at}["${expression}"]`;
        try {
          // Evaluated once on an empty domain: a syntax error or an unknown function shows here.
          xpath.select(expression, EMPTY_DOMAIN);
        } catch (error) {
          r.fail(
            eat,
            `a valid XPath 1.0 expression (${String((error as Error).message)})`,
            expression,
          );
        }
        per[expression] = xpathValue(r, expected, eat);
      }
      return per;
    }),
  ),
};

const EMPTY_DOMAIN = new DOMParser().parseFromString('<domain/>', 'text/xml') as unknown as Node;

/** What an XPath expression must give: a scalar, or the string values of a node set. */
export type XPathValue = string | number | boolean | string[];

function xpathValue(r: Reader, value: unknown, path: string): XPathValue {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    return value;
  }
  if (Array.isArray(value)) return value.map((item, i) => r.scalar(item, `${path}[${i}]`));
  return r.fail(path, 'a string, number, boolean or a list of strings', value);
}

/** `volume:NAME` (a volume file), `disk:INSTANCE` (an instance disk) or `nbd:INSTANCE`. */
function parseSourceName(ctx: StepContext, value: unknown, path: string): string {
  const text = ctx.r.string(value, path, 'volume:NAME, disk:INSTANCE or nbd:INSTANCE');
  const match = /^(volume|disk|nbd):(.+)$/.exec(text);
  if (!match) ctx.r.fail(path, 'volume:NAME, disk:INSTANCE or nbd:INSTANCE', text);
  if (match[1] === 'volume' && !ctx.volumes[match[2]!] && !isImageVolume(ctx, match[2]!)) {
    ctx.r.fail(path, 'volume: followed by the name of a declared volume', text);
  }
  return text;
}

/** Volumes made from an image at boot (source=image,dest=volume) are named `<instance>-root`. */
function isImageVolume(ctx: StepContext, name: string): boolean {
  return /-root$/.test(name) && Object.keys(ctx.images).length > 0;
}

function parseFaultEach(ctx: StepContext, value: unknown, steps: Step[]): FaultEach {
  const { r } = ctx;
  const f = r.dict(value, 'fault_each', ['step', 'operations', 'error', 'then']);
  const step = r.string(f['step'], 'fault_each.step', 'the id of a step');
  if (!steps.some((s) => s.label === step))
    r.fail('fault_each.step', 'the id of a top-level step', step);
  const operations = r.list(f['operations'], 'fault_each.operations').map((o, i) => {
    const op = r.string(o, `fault_each.operations[${i}]`, 'an operation <port>.<method>');
    if (!/^[a-zA-Z]+\.[a-zA-Z]+$/.test(op))
      r.fail(`fault_each.operations[${i}]`, 'an operation <port>.<method>', op);
    return op;
  });
  const then =
    f['then'] === undefined
      ? []
      : r
          .list(f['then'], 'fault_each.then')
          .map((v, i) => parseStep(ctx, v, `fault_each.then[${i}]`));
  return {
    step,
    operations,
    error: f['error'] === undefined ? {} : parseError(r, f['error'], 'fault_each.error'),
    then,
  };
}
