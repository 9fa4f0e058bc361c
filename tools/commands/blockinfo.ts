/**
 * `nova-lxc blockinfo`: runs one call of Nova's blockinfo port (a case `input` of
 * nova-blockinfo-cases.json) or a list of them, and prints the answers in the cases'
 * `expected` shape, so our port can be compared with real Nova call by call.
 */
import type { Command } from 'commander';
import { DriverError } from '../../driver/errors.js';
import {
  defaultDeviceNames,
  findDiskDevForDiskBus,
  getBdmsToConnect,
  getBootOrder,
  getConfigDriveType,
  getDevPrefixForDiskBus,
  getDiskBusForDeviceType,
  getDiskBusForDiskDev,
  getDiskInfo,
  getDiskMapping,
  getInfoFromBdm,
  getNextDiskInfo,
  getRootBdm,
  getRootInfo,
  isDiskBusValidForVirt,
  mappingKeys,
  mappingToJson,
  plainDictImageMeta,
  prependDev,
  stripDev,
  volumeInMapping,
  type BlockinfoInstance,
  type DiskInfo,
  type ImageMetaInput,
  type MappingLike,
} from '../../driver/nova/blockinfo.js';
import type { BlockinfoContext, NovaConf } from '../../driver/nova/conf.js';
import { getBlockDeviceInfo } from '../../driver/nova/driver-block-device.js';
import { isNovaError } from '../../driver/nova/exceptions.js';
import type { BlockDeviceInfo, DriverBdm } from '../../driver/nova/model.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Dict = Record<string, unknown>;

/** One answer, in the shape of a case's `expected`. */
export type BlockinfoAnswer =
  | ({ ok: true; result: unknown } & Record<string, unknown>)
  | { ok: false; error: { type: string; module: string; message: string } };

function isDict(value: unknown): value is Dict {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function bad(path: string, expected: string, got: unknown): DriverError {
  const shown = got === undefined ? 'nothing' : JSON.stringify(got);
  return new DriverError(
    'InvalidInput',
    `Failed to run blockinfo: ${path} must be ${expected}, got ${shown}`,
    {
      hint: 'Pass a case "input" object of nova-blockinfo-cases.json, or a JSON list of them.',
    },
  );
}

function str(input: Dict, key: string): string {
  const value = input[key];
  if (typeof value !== 'string') {
    throw bad(`input.${key}`, 'a string', value);
  }
  return value;
}

/** An optional field: null or undefined → null, otherwise it must pass `is`. */
function optional<T>(
  input: Dict,
  key: string,
  is: (value: unknown) => value is T,
  expected: string,
): T | null {
  const value = input[key];
  if (value === undefined || value === null) {
    return null;
  }
  if (!is(value)) {
    throw bad(`input.${key}`, `${expected} or null`, value);
  }
  return value;
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isNumber = (value: unknown): value is number => typeof value === 'number';
const isList = (value: unknown): value is unknown[] => Array.isArray(value);

function optStr(input: Dict, key: string): string | null {
  return optional(input, key, isString, 'a string');
}

function optDict(input: Dict, key: string): Dict | null {
  return optional(input, key, isDict, 'an object');
}

function optList(input: Dict, key: string): unknown[] | null {
  return optional(input, key, isList, 'a list');
}

function optInt(input: Dict, key: string): number | null {
  return optional(input, key, isNumber, 'a number');
}

function dictList(input: Dict, key: string): Dict[] {
  const value = input[key];
  if (!Array.isArray(value) || !value.every(isDict)) {
    throw bad(`input.${key}`, 'a list of objects', value);
  }
  return value;
}

function context(input: Dict): BlockinfoContext {
  const flags = optDict(input, 'flags');
  const arch = optStr(input, 'host_arch');
  return {
    ...(flags ? { conf: flags as NovaConf } : {}),
    ...(arch ? { host_arch: arch } : {}),
  };
}

function imageMeta(input: Dict, key = 'image_meta'): ImageMetaInput {
  const raw = optDict(input, key);
  // The cases mark where Nova's test passed a raw dict instead of an ImageMeta object.
  if (raw !== null && key === 'image_meta' && input['image_meta_plain'] === true) {
    return plainDictImageMeta(raw);
  }
  return raw;
}

function instance(input: Dict): BlockinfoInstance {
  return (optDict(input, 'instance') ?? {}) as BlockinfoInstance;
}

function mapping(input: Dict, key = 'mapping'): MappingLike {
  return (optDict(input, key) ?? {}) as Record<string, DiskInfo>;
}

// Driver BDMs are dicts whose keys come from a Python set; the cases record them sorted.
function sortedKeys(bdm: DriverBdm | null | undefined): Json {
  if (!bdm) {
    return null;
  }
  const out: Record<string, Json> = {};
  for (const key of Object.keys(bdm).sort()) {
    out[key] = bdm[key] as Json;
  }
  return out;
}

function driverBdiJson(bdi: BlockDeviceInfo): Json {
  return {
    root_device_name: bdi.root_device_name ?? null,
    image: (bdi.image ?? []).map(sortedKeys),
    ephemerals: (bdi.ephemerals ?? []).map(sortedKeys),
    block_device_mapping: (bdi.block_device_mapping ?? []).map(sortedKeys),
    swap: sortedKeys(bdi.swap),
  };
}

type Handler = (input: Dict, ctx: BlockinfoContext) => Record<string, unknown>;

/** The arguments get_disk_mapping and get_disk_info share, read from a case input. */
function mappingArgs(input: Dict) {
  return {
    virt_type: str(input, 'virt_type'),
    instance: instance(input),
    image_meta: imageMeta(input),
    block_device_info: optDict(input, 'block_device_info') as BlockDeviceInfo | null,
    rescue: input['rescue'] === true,
    rescue_image_meta: imageMeta(input, 'rescue_image_meta'),
  };
}

const HANDLERS: Record<string, Handler> = {
  get_disk_mapping: (input, ctx) => {
    const args = mappingArgs(input);
    const bdi = args.block_device_info;
    const result = getDiskMapping(
      { ...args, disk_bus: optStr(input, 'disk_bus'), cdrom_bus: optStr(input, 'cdrom_bus') },
      ctx,
    );
    return {
      result: mappingToJson(result),
      mapping_keys: mappingKeys(result),
      block_device_info_after: bdi,
    };
  },
  get_disk_info: (input, ctx) => {
    const args = mappingArgs(input);
    const bdi = args.block_device_info;
    const result = getDiskInfo(args, ctx);
    return {
      result: { ...result, mapping: mappingToJson(result.mapping) },
      mapping_keys: mappingKeys(result.mapping),
      block_device_info_after: bdi,
    };
  },
  get_root_info: (input, ctx) => {
    const rootBdm = optDict(input, 'root_bdm') as DriverBdm | null;
    const result = getRootInfo(
      {
        instance: instance(input),
        virt_type: str(input, 'virt_type'),
        image_meta: imageMeta(input),
        root_bdm: rootBdm,
        disk_bus: optStr(input, 'disk_bus'),
        cdrom_bus: optStr(input, 'cdrom_bus'),
        root_device_name: optStr(input, 'root_device_name'),
      },
      ctx,
    );
    return { result, root_bdm_after: rootBdm };
  },
  get_info_from_bdm: (input, ctx) => {
    const bdm = optDict(input, 'bdm');
    if (bdm === null) {
      throw bad('input.bdm', 'an object', input['bdm']);
    }
    return {
      result: getInfoFromBdm(
        {
          instance: instance(input),
          virt_type: str(input, 'virt_type'),
          image_meta: imageMeta(input),
          bdm: bdm as DriverBdm,
          mapping: mapping(input),
          disk_bus: optStr(input, 'disk_bus'),
          dev_type: optStr(input, 'dev_type'),
          allowed_types: optList(input, 'allowed_types') as string[] | null,
          assigned_devices: optList(input, 'assigned_devices'),
        },
        ctx,
      ),
    };
  },
  get_disk_bus_for_device_type: (input, ctx) => ({
    result: getDiskBusForDeviceType(
      {
        instance: instance(input),
        virt_type: str(input, 'virt_type'),
        image_meta: imageMeta(input),
        device_type: optStr(input, 'device_type') ?? 'disk',
      },
      ctx,
    ),
  }),
  get_disk_bus_for_disk_dev: (input) => ({
    result: getDiskBusForDiskDev(str(input, 'virt_type'), str(input, 'disk_dev')),
  }),
  find_disk_dev_for_disk_bus: (input, ctx) => ({
    result: findDiskDevForDiskBus(
      mapping(input),
      optStr(input, 'bus'),
      optList(input, 'assigned_devices'),
      ctx,
    ),
  }),
  get_next_disk_info: (input, ctx) => ({
    result: getNextDiskInfo(
      {
        mapping: mapping(input),
        disk_bus: optStr(input, 'disk_bus'),
        device_type: optStr(input, 'device_type') ?? 'disk',
        boot_index: optInt(input, 'boot_index'),
        assigned_devices: optList(input, 'assigned_devices'),
      },
      ctx,
    ),
  }),
  get_dev_prefix_for_disk_bus: (input, ctx) => ({
    result: getDevPrefixForDiskBus(optStr(input, 'disk_bus'), ctx),
  }),
  is_disk_bus_valid_for_virt: (input) => ({
    result: isDiskBusValidForVirt(str(input, 'virt_type'), input['disk_bus']),
  }),
  get_boot_order: (input) => {
    const diskInfo = optDict(input, 'disk_info');
    if (diskInfo === null || !isDict(diskInfo['mapping'])) {
      throw bad('input.disk_info.mapping', 'an object', diskInfo?.['mapping']);
    }
    return { result: getBootOrder({ mapping: diskInfo['mapping'] as Record<string, DiskInfo> }) };
  },
  volume_in_mapping: (input) => ({
    result: volumeInMapping(
      optStr(input, 'mount_device'),
      optDict(input, 'block_device_info') as BlockDeviceInfo,
    ),
  }),
  get_root_bdm: (input) => ({ result: getRootBdm(dictList(input, 'bdms')) }),
  get_bdms_to_connect: (input) => ({
    result: getBdmsToConnect(dictList(input, 'bdms'), input['exclude_root_mapping'] === true),
  }),
  get_config_drive_type: (_input, ctx) => ({ result: getConfigDriveType(ctx) }),
  strip_dev: (input) => ({ result: stripDev(optStr(input, 'device_name')) }),
  prepend_dev: (input) => ({ result: prependDev(optStr(input, 'device_name')) }),
  default_device_names: (input, ctx) => {
    const inst = optDict(input, 'instance') ?? {};
    const bdms = dictList(input, 'bdms');
    // Nova's test builds block_device_info with driver.get_block_device_info(instance, bdms).
    const bdi = getBlockDeviceInfo(inst, bdms);
    defaultDeviceNames(
      {
        virt_type: str(input, 'virt_type'),
        instance: inst as BlockinfoInstance,
        block_device_info: bdi,
        image_meta: imageMeta(input),
      },
      ctx,
    );
    return {
      result: bdms.map((bdm) => bdm['device_name'] ?? null),
      block_device_info_after: driverBdiJson(bdi),
    };
  },
};

/** The `fn` names `runBlockinfo` understands. */
export const BLOCKINFO_FUNCTIONS: readonly string[] = Object.keys(HANDLERS);

/** Runs one case input; Nova exceptions become `{ok: false, error}`, bad input throws DriverError. */
export function runBlockinfoCall(input: unknown, path = 'input'): BlockinfoAnswer {
  if (!isDict(input)) {
    throw bad(path, 'an object with a "fn"', input);
  }
  const fn = input['fn'];
  if (typeof fn !== 'string' || !Object.prototype.hasOwnProperty.call(HANDLERS, fn)) {
    throw new DriverError(
      'InvalidInput',
      `Failed to run blockinfo: ${path}.fn ${JSON.stringify(fn)} is not a known function`,
      { hint: `Use one of: ${BLOCKINFO_FUNCTIONS.join(', ')}.` },
    );
  }
  const handler = HANDLERS[fn] as Handler;
  try {
    const { result, ...rest } = handler(input, context(input));
    // Round-trip through JSON so the answer is what the caller will see (a Map never leaks).
    return JSON.parse(
      JSON.stringify({ ok: true, result: result ?? null, ...rest }),
    ) as BlockinfoAnswer;
  } catch (error) {
    if (isNovaError(error)) {
      return {
        ok: false,
        error: { type: error.novaType, module: error.module, message: error.message },
      };
    }
    throw error;
  }
}

/** Runs a JSON case input, or a JSON list of them, and returns the answer(s) as JSON text. */
export function runBlockinfo(inputText: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(inputText);
  } catch (error) {
    throw new DriverError(
      'InvalidInput',
      `Failed to run blockinfo: the input is not valid JSON (${error instanceof Error ? error.message : String(error)})`,
      { hint: 'Pass a case "input" object, or a JSON list of them.', cause: error },
    );
  }
  const answer = Array.isArray(parsed)
    ? parsed.map((item, index) => runBlockinfoCall(item, `input[${index}]`))
    : runBlockinfoCall(parsed);
  return JSON.stringify(answer, null, 2);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Adds `blockinfo` (reads a case input or a list of them on stdin, prints Nova-shaped answers). */
export function registerBlockinfoCommand(program: Command): Command {
  return program
    .command('blockinfo')
    .description(
      "Run Nova's libvirt blockinfo (disk mapping, buses, device names) on a JSON call read from stdin " +
        '(one {"fn": ..., ...} object or a list of them) and print the answers as JSON, ' +
        'in the shape of nova-blockinfo-cases.json "expected".',
    )
    .action(async () => {
      process.stdout.write(`${runBlockinfo(await readStdin())}\n`);
    });
}
