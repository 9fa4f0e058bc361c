import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { isDriverError } from '../../driver/errors.js';
import { BLOCKINFO_FUNCTIONS, registerBlockinfoCommand, runBlockinfo } from './blockinfo.js';

const INSTANCE = {
  uuid: 'u',
  ephemeral_gb: 0,
  flavor: { memory_mb: 1, vcpus: 1, swap: 0 },
  system_metadata: {},
};

function run(input: unknown): unknown {
  return JSON.parse(runBlockinfo(JSON.stringify(input)));
}

function errorOf(text: string) {
  try {
    runBlockinfo(text);
  } catch (error) {
    if (isDriverError(error)) {
      return error;
    }
    throw error;
  }
  throw new Error('expected a DriverError');
}

describe('runBlockinfo', () => {
  it('answers a list with a list, in order', () => {
    expect(
      run([
        { fn: 'strip_dev', device_name: '/dev/vda' },
        { fn: 'get_disk_bus_for_disk_dev', virt_type: 'kvm', disk_dev: 'xvda' },
      ]),
    ).toEqual([
      { ok: true, result: 'vda' },
      {
        ok: false,
        error: {
          type: 'InternalError',
          module: 'nova.exception',
          message: "Unable to determine disk bus for 'x'",
        },
      },
    ]);
  });

  it('answers get_disk_info with buses, mapping, keys and the mutated BDMs', () => {
    const answer = run({
      fn: 'get_disk_info',
      virt_type: 'lxc',
      instance: INSTANCE,
      image_meta: { disk_format: 'raw' },
      block_device_info: { block_device_mapping: [{ mount_device: null, boot_index: 0 }] },
    });
    expect(answer).toEqual({
      ok: true,
      result: {
        disk_bus: 'lxc',
        cdrom_bus: 'lxc',
        mapping: {
          root: { bus: 'lxc', dev: null, type: 'disk', boot_index: '1' },
          null: { bus: 'lxc', dev: null, type: 'disk', boot_index: '1' },
        },
      },
      mapping_keys: ['root', null],
      block_device_info_after: {
        block_device_mapping: [
          { mount_device: null, boot_index: 0, disk_bus: 'lxc', device_type: 'disk' },
        ],
      },
    });
  });

  it.each([
    [{ fn: 'prepend_dev', device_name: 'vda' }, '/dev/vda'],
    [
      {
        fn: 'get_dev_prefix_for_disk_bus',
        disk_bus: 'lxc',
        flags: { libvirt: { disk_prefix: 'sd' } },
      },
      'sd',
    ],
    [{ fn: 'is_disk_bus_valid_for_virt', virt_type: 'lxc', disk_bus: 'virtio' }, false],
    [
      { fn: 'get_root_bdm', bdms: [{ boot_index: '0' }, { boot_index: false, id: 2 }] },
      { boot_index: false, id: 2 },
    ],
    [{ fn: 'get_root_bdm', bdms: [] }, null],
    [
      {
        fn: 'get_bdms_to_connect',
        bdms: [{ boot_index: 0 }, { boot_index: 1 }],
        exclude_root_mapping: true,
      },
      [{ boot_index: 1 }],
    ],
    [
      { fn: 'find_disk_dev_for_disk_bus', bus: 'virtio', mapping: {}, assigned_devices: ['vda'] },
      'vdb',
    ],
    [{ fn: 'get_config_drive_type', flags: { DEFAULT: { config_drive_format: 'vfat' } } }, 'disk'],
  ])('answers %j', (input, result) => {
    expect(run(input)).toEqual({ ok: true, result });
  });

  it('reports a Nova error as ok:false', () => {
    expect(
      run({ fn: 'get_config_drive_type', flags: { DEFAULT: { config_drive_format: 'ext4' } } }),
    ).toEqual({
      ok: false,
      error: {
        type: 'ConfigDriveUnknownFormat',
        module: 'nova.exception',
        message: 'Unknown config drive format ext4. Select one of iso9660 or vfat.',
      },
    });
  });

  it.each([
    ['{', /^Failed to run blockinfo: the input is not valid JSON/],
    ['{"fn": "nope"}', /^Failed to run blockinfo: input\.fn "nope" is not a known function$/],
    ['[{"fn": 1}]', /^Failed to run blockinfo: input\[0\]\.fn 1 is not a known function$/],
    ['3', /^Failed to run blockinfo: input must be an object with a "fn", got 3$/],
    [
      '{"fn": "get_disk_bus_for_disk_dev", "virt_type": 1}',
      /input\.virt_type must be a string, got 1$/,
    ],
    ['{"fn": "get_root_bdm", "bdms": [1]}', /input\.bdms must be a list of objects, got \[1\]$/],
    [
      '{"fn": "get_info_from_bdm", "virt_type": "kvm"}',
      /input\.bdm must be an object, got nothing$/,
    ],
    [
      '{"fn": "get_boot_order", "disk_info": {}}',
      /input\.disk_info\.mapping must be an object, got nothing$/,
    ],
    [
      '{"fn": "get_next_disk_info", "disk_bus": "virtio", "boot_index": "1"}',
      /input\.boot_index must be a number or null/,
    ],
    [
      '{"fn": "find_disk_dev_for_disk_bus", "bus": "virtio", "assigned_devices": "vda"}',
      /input\.assigned_devices must be a list or null/,
    ],
    [
      '{"fn": "strip_dev", "device_name": 1}',
      /input\.device_name must be a string or null, got 1$/,
    ],
    [
      '{"fn": "get_config_drive_type", "flags": []}',
      /input\.flags must be an object or null, got \[\]$/,
    ],
  ])('rejects %s with InvalidInput', (text, message) => {
    const error = errorOf(text);
    expect(error.code).toBe('InvalidInput');
    expect(error.message).toMatch(message);
  });

  it('lists every supported function in the unknown-fn hint', () => {
    expect(errorOf('{"fn": "x"}').hint).toContain(BLOCKINFO_FUNCTIONS.join(', '));
    expect(BLOCKINFO_FUNCTIONS).toContain('get_disk_mapping');
  });
});

describe('registerBlockinfoCommand', () => {
  it('adds a described blockinfo command', () => {
    const program = new Command('nova-lxc');
    registerBlockinfoCommand(program);
    const command = program.commands.find((c) => c.name() === 'blockinfo');
    expect(command?.description()).toMatch(/blockinfo/);
  });
});
