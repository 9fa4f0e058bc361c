/**
 * `--block-device` strings as the two clients a bug report quotes parse them:
 * - novaclient (`nova boot`, novaclient/v2/shell.py `_parse_device_spec` and
 *   `_parse_block_device_mapping_v2`): short keys `source=volume,id=…,dest=volume,bootindex=0`;
 * - openstackclient (`openstack server create`, openstackclient/compute/v2/server.py `BDMAction`
 *   and `CreateServer.take_action`): the API's own keys `uuid=…,source_type=volume,boot_index=0`.
 * The form is told by the keys; mixing both in one string is refused. `boot_index` must be a whole
 * number, as Nova's API schema (`^-?[0-9]+$`) and openstackclient require: novaclient passes
 * `bootindex=zero` on and Nova rejects the request.
 */

/** One block_device_mapping_v2 entry as the Nova API receives it (values stay strings). */
export interface BdmV2 {
  source_type: 'volume' | 'image' | 'snapshot' | 'blank';
  destination_type?: 'local' | 'volume';
  uuid?: string;
  boot_index?: string;
  device_name?: string;
  disk_bus?: string;
  device_type?: string;
  volume_size?: string;
  guest_format?: string;
  delete_on_termination?: boolean;
  /** Device metadata tag (API 2.42+); the driver never sees it. */
  tag?: string;
  /** Cinder volume type for a volume Nova creates (API 2.67+); the driver never sees it. */
  volume_type?: string;
}

/** novaclient's CLIENT_BDM2_KEYS: its short keys and the API field each sets. */
export const CLIENT_BDM2_KEYS: Readonly<Record<string, keyof BdmV2>> = {
  id: 'uuid',
  source: 'source_type',
  dest: 'destination_type',
  bus: 'disk_bus',
  device: 'device_name',
  size: 'volume_size',
  format: 'guest_format',
  bootindex: 'boot_index',
  type: 'device_type',
  shutdown: 'delete_on_termination',
  tag: 'tag',
  volume_type: 'volume_type',
};

/** openstackclient's BDMAction keys: the API field names themselves. */
export const OSC_BDM_KEYS: readonly (keyof BdmV2)[] = [
  'uuid',
  'source_type',
  'destination_type',
  'disk_bus',
  'device_type',
  'device_name',
  'volume_size',
  'guest_format',
  'boot_index',
  'delete_on_termination',
  'tag',
  'volume_type',
];

const SOURCES = ['volume', 'image', 'snapshot', 'blank'];

/** Keys both clients spell the same way; they do not tell the form. */
const SHARED = new Set(['tag', 'volume_type']);

/**
 * Parses one `--block-device` value; throws an Error whose message completes "expected …" with
 * the clients' wording on bad input.
 */
export function parseBlockDeviceArg(spec: string): BdmV2 {
  if (spec.trim() === '') {
    throw new Error(
      'a --block-device string such as "source=volume,id=vol1,dest=volume,bootindex=0" (this one is empty)',
    );
  }
  const pairs: [string, string][] = [];
  for (const arg of spec.split(',')) {
    if (!arg.includes('=')) {
      throw new Error(
        `a comma-separated list of key=value pairs ('${arg}' is not a key=value pair)`,
      );
    }
    const parts = arg.split('=');
    // Python's dict.update([arg.split('=')]) rejects a pair with a second '='.
    if (parts.length !== 2) {
      throw new Error(`key=value pairs with a single '=' ('${arg}' has ${parts.length - 1})`);
    }
    pairs.push([parts[0]!, parts[1]!]);
  }
  const keys = pairs.map(([key]) => key).filter((key) => !SHARED.has(key));
  const osc = keys.filter((key) => (OSC_BDM_KEYS as readonly string[]).includes(key));
  const nova = keys.filter((key) => key in CLIENT_BDM2_KEYS);
  if (osc.length > 0 && nova.length > 0) {
    throw new Error(
      `the keys of one client: novaclient's (${nova.join(', ')}) or openstackclient's ` +
        `(${osc.join(', ')}), not both`,
    );
  }
  const bdm = osc.length > 0 ? parseOsc(pairs) : parseNova(pairs);
  if (bdm.boot_index !== undefined && !/^-?[0-9]+$/.test(bdm.boot_index)) {
    const key = osc.length > 0 ? 'boot_index' : 'bootindex';
    throw new Error(`${key} as a whole number such as 0 (Nova's API refuses '${bdm.boot_index}')`);
  }
  return bdm;
}

/** novaclient's rules: later keys win, as dict.update does; `dest` defaults from `source`. */
function parseNova(pairs: [string, string][]): BdmV2 {
  const bdm: Record<string, unknown> = {};
  for (const [key, value] of pairs) {
    const mapped = CLIENT_BDM2_KEYS[key];
    if (!mapped) {
      // novaclient fails with a bare KeyError here; name the keys instead.
      throw new Error(
        `keys among ${Object.keys(CLIENT_BDM2_KEYS).join(', ')} (novaclient) or ` +
          `${OSC_BDM_KEYS.join(', ')} (openstackclient) (unknown key '${key}')`,
      );
    }
    bdm[mapped] = value;
  }
  const source = bdm['source_type'];
  if (source === undefined || source === '') {
    bdm['source_type'] = 'blank';
  } else if (!SOURCES.includes(String(source))) {
    throw new Error(
      `source one of 'volume', 'image', 'snapshot' or 'blank' (it was '${String(source)}')`,
    );
  }
  const dest = bdm['destination_type'];
  if (dest === undefined || dest === '') {
    const s = bdm['source_type'];
    if (s === 'image' || s === 'blank') bdm['destination_type'] = 'local';
    if (s === 'snapshot' || s === 'volume') bdm['destination_type'] = 'volume';
  } else if (dest !== 'local' && dest !== 'volume') {
    throw new Error(`dest either 'local' or 'volume' (it was '${String(dest)}')`);
  }
  if ('delete_on_termination' in bdm) {
    const action = bdm['delete_on_termination'];
    if (action !== 'remove' && action !== 'preserve') {
      throw new Error(`shutdown either 'remove' or 'preserve' (it was '${String(action)}')`);
    }
    bdm['delete_on_termination'] = action === 'remove';
  } else if (bdm['destination_type'] === 'local') {
    bdm['delete_on_termination'] = true;
  }
  return bdm as unknown as BdmV2;
}

/** oslo's bool_from_string(strict=True) spellings. */
const TRUE = ['1', 't', 'true', 'on', 'y', 'yes'];
const FALSE = ['0', 'f', 'false', 'off', 'n', 'no'];

/**
 * openstackclient's rules: `destination_type` defaults to local only for a blank source (volume
 * otherwise, unlike novaclient), `delete_on_termination` is a boolean string.
 */
function parseOsc(pairs: [string, string][]): BdmV2 {
  const bdm: Record<string, unknown> = {};
  for (const [key, value] of pairs) {
    if (!(OSC_BDM_KEYS as readonly string[]).includes(key)) {
      throw new Error(
        `keys among ${OSC_BDM_KEYS.join(', ')} (openstackclient) (unknown key '${key}')`,
      );
    }
    bdm[key] = value;
  }
  const source = bdm['source_type'];
  if (source === undefined) {
    bdm['source_type'] = 'blank';
  } else if (!SOURCES.includes(String(source))) {
    throw new Error(
      `source_type one of: volume, image, snapshot, blank (it was '${String(source)}')`,
    );
  }
  const dest = bdm['destination_type'];
  if (dest === undefined) {
    bdm['destination_type'] = bdm['source_type'] === 'blank' ? 'local' : 'volume';
  } else if (dest !== 'local' && dest !== 'volume') {
    throw new Error(`destination_type one of: local, volume (it was '${String(dest)}')`);
  }
  if ('delete_on_termination' in bdm) {
    const value = String(bdm['delete_on_termination']).trim().toLowerCase();
    if (!TRUE.includes(value) && !FALSE.includes(value)) {
      throw new Error(
        `delete_on_termination a boolean-like value such as true or false (it was '${String(bdm['delete_on_termination'])}')`,
      );
    }
    bdm['delete_on_termination'] = TRUE.includes(value);
  } else if (bdm['destination_type'] === 'local') {
    bdm['delete_on_termination'] = true;
  }
  if (bdm['boot_index'] !== undefined) {
    // openstackclient sends int(boot_index); keep the string form the runner compares.
    const text = String(bdm['boot_index']).trim();
    bdm['boot_index'] = /^[+-]?\d+$/.test(text) ? String(Number(text)) : text;
  }
  return bdm as unknown as BdmV2;
}
