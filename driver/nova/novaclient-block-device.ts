/**
 * novaclient's `--block-device` parsing (novaclient/v2/shell.py `_parse_device_spec` and
 * `_parse_block_device_mapping_v2`), so a scenario can quote the command line of a bug report.
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
}

/** novaclient's CLIENT_BDM2_KEYS without `tag` and `volume_type`, which the driver never sees. */
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
};

/** Parses one `--block-device` value; throws an Error with novaclient's wording on bad input. */
export function parseBlockDeviceArg(spec: string): BdmV2 {
  const pairs: Record<string, string> = {};
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
    // Later keys win, as dict.update does.
    pairs[parts[0]!] = parts[1]!;
  }
  const bdm: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(pairs)) {
    const mapped = CLIENT_BDM2_KEYS[key];
    if (!mapped) {
      // novaclient fails with a bare KeyError here; name the keys instead.
      throw new Error(
        `keys among ${Object.keys(CLIENT_BDM2_KEYS).join(', ')} (unknown key '${key}')`,
      );
    }
    bdm[mapped] = value;
  }
  const source = bdm['source_type'];
  if (source === undefined || source === '') {
    bdm['source_type'] = 'blank';
  } else if (!['volume', 'image', 'snapshot', 'blank'].includes(String(source))) {
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
