import { describe, expect, it } from 'vitest';
import { isDriverError } from '../errors.js';
import {
  normalizeBlockDeviceInfo,
  normalizeFlavor,
  normalizeImageMeta,
  normalizeInstance,
} from './model.js';

const UUID = '32dfcb37-5af1-552b-357c-be8c3aa38310';

function rawInstance(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { uuid: UUID, flavor: { memory_mb: 128, vcpus: 1 }, ...overrides };
}

function primitive(name: string, data: Record<string, unknown>) {
  return {
    'nova_object.name': name,
    'nova_object.namespace': 'nova',
    'nova_object.version': '1.0',
    'nova_object.data': data,
  };
}

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (isDriverError(error)) {
      expect(error.code).toBe('InvalidInput');
      return error.message;
    }
    throw error;
  }
  throw new Error('expected a DriverError');
}

describe('normalizeInstance', () => {
  it('reads a plain dict with defaults', () => {
    const inst = normalizeInstance(rawInstance());
    expect(inst).toMatchObject({
      uuid: UUID,
      name: `instance-${UUID}`,
      flavor: { memory_mb: 128, vcpus: 1, root_gb: 0, ephemeral_gb: 0, swap: 0, extra_specs: {} },
      image_ref: null,
      root_device_name: null,
      ephemeral_gb: null,
      config_drive: null,
      launched_at: null,
    });
  });

  it('keeps the caller’s system_metadata object', () => {
    const sysmeta = { image_disk_format: 'raw' };
    const raw = rawInstance({ system_metadata: sysmeta });
    const inst = normalizeInstance(raw);
    inst.system_metadata['rootfs_device_name'] = '/dev/loop0';
    expect(sysmeta).toEqual({ image_disk_format: 'raw', rootfs_device_name: '/dev/loop0' });
  });

  it('creates system_metadata in the input when absent', () => {
    const raw = rawInstance();
    const inst = normalizeInstance(raw);
    expect(raw['system_metadata']).toBe(inst.system_metadata);
  });

  it('reads Nova primitives, nested flavor included, and writes into the primitive', () => {
    const data = rawInstance({
      id: 42,
      flavor: primitive('Flavor', {
        memory_mb: '256',
        vcpus: 2,
        swap: 512,
        extra_specs: { a: 'b' },
      }),
      root_device_name: '/dev/vda',
      config_drive: 'True',
    });
    const inst = normalizeInstance(primitive('Instance', data));
    expect(inst.name).toBe('instance-0000002a');
    expect(inst.flavor).toMatchObject({
      memory_mb: 256,
      vcpus: 2,
      swap: 512,
      extra_specs: { a: 'b' },
    });
    expect(inst.config_drive).toBe('True');
    expect(data['system_metadata']).toBe(inst.system_metadata);
  });

  it('prefers a given name', () => {
    expect(normalizeInstance(rawInstance({ name: 'web-1', id: 1 })).name).toBe('web-1');
  });

  it.each([
    [null, 'instance must be an object (a dict or a Instance primitive), got null'],
    [rawInstance({ uuid: 7 }), 'instance.uuid must be a non-empty string, got 7'],
    [rawInstance({ uuid: '' }), 'instance.uuid must be a non-empty string, got ""'],
    [rawInstance({ flavor: undefined }), 'instance.flavor must be an object, got nothing'],
    [
      rawInstance({ flavor: { memory_mb: 'abc', vcpus: 1 } }),
      'instance.flavor.memory_mb must be a whole number, got "abc"',
    ],
    [
      rawInstance({ flavor: { memory_mb: 1.5, vcpus: 1 } }),
      'instance.flavor.memory_mb must be a whole number, got 1.5',
    ],
    [
      rawInstance({ flavor: { memory_mb: 1 } }),
      'instance.flavor.vcpus must be a whole number, got nothing',
    ],
    [
      rawInstance({ flavor: { memory_mb: 1, vcpus: 1, swap: 'x' } }),
      'instance.flavor.swap must be a whole number or null, got "x"',
    ],
    [
      rawInstance({ flavor: { memory_mb: 1, vcpus: 1, extra_specs: { a: 1 } } }),
      'instance.flavor.extra_specs.a must be a string, got 1',
    ],
    [
      rawInstance({ system_metadata: { a: 1 } }),
      'instance.system_metadata.a must be a string, got 1',
    ],
    [
      rawInstance({ system_metadata: [] }),
      'instance.system_metadata must be an object of strings, got []',
    ],
    [
      rawInstance({ ephemeral_gb: 'x' }),
      'instance.ephemeral_gb must be a whole number or null, got "x"',
    ],
    [rawInstance({ image_ref: 5 }), 'instance.image_ref must be a string or null, got 5'],
    [
      rawInstance({ config_drive: 1 }),
      'instance.config_drive must be a boolean, a string or null, got 1',
    ],
    [primitive('Flavor', {}), 'instance["nova_object.name"] must be "Instance", got "Flavor"'],
    [
      { 'nova_object.name': 'Instance', 'nova_object.data': 3 },
      'instance["nova_object.data"] must be an object, got 3',
    ],
  ])('rejects %j', (raw, message) => {
    expect(messageOf(() => normalizeInstance(raw))).toBe(`Failed to read instance: ${message}`);
  });

  it('names the field it was given', () => {
    expect(messageOf(() => normalizeInstance(null, 'args.instance'))).toMatch(
      /^Failed to read args\.instance: /,
    );
  });
});

describe('normalizeFlavor', () => {
  it('keeps a flavorid as a string', () => {
    expect(normalizeFlavor({ memory_mb: 1, vcpus: 1, flavorid: 7, name: 'm1' })).toMatchObject({
      flavorid: '7',
      name: 'm1',
    });
  });
});

describe('normalizeImageMeta', () => {
  it.each([[null], [undefined]])('gives an empty ImageMeta for %j', (raw) => {
    expect(normalizeImageMeta(raw)).toEqual({ properties: {} });
  });

  it('reads a Glance dict', () => {
    expect(
      normalizeImageMeta({
        id: 'i',
        disk_format: 'qcow2',
        min_disk: 1,
        properties: { hw_disk_bus: 'virtio' },
      }),
    ).toEqual({
      id: 'i',
      disk_format: 'qcow2',
      min_disk: 1,
      properties: { hw_disk_bus: 'virtio' },
    });
  });

  it('reads ImageMeta and ImageMetaProps primitives', () => {
    const raw = primitive('ImageMeta', {
      disk_format: 'raw',
      properties: primitive('ImageMetaProps', {
        hw_cdrom_bus: 'ide',
        img_config_drive: 'mandatory',
      }),
    });
    expect(normalizeImageMeta(raw)).toEqual({
      disk_format: 'raw',
      properties: { hw_cdrom_bus: 'ide', img_config_drive: 'mandatory' },
    });
  });

  it.each([
    [
      { properties: { hw_disk_bus: 'nvme' } },
      'image_meta.properties.hw_disk_bus must be one of fdc, ide, sata, scsi, usb, virtio, xen, lxc, uml, got "nvme"',
    ],
    [
      { properties: { hw_rescue_device: 'tape' } },
      'image_meta.properties.hw_rescue_device must be one of cdrom, disk, floppy, fs, lun, got "tape"',
    ],
    [
      { properties: { img_config_drive: 'yes' } },
      'image_meta.properties.img_config_drive must be one of optional, mandatory, got "yes"',
    ],
    [
      { properties: { hw_architecture: 64 } },
      'image_meta.properties.hw_architecture must be a string or null, got 64',
    ],
    [
      { properties: 'x' },
      'image_meta.properties must be an object (a dict or a ImageMetaProps primitive), got "x"',
    ],
    [{ disk_format: 3 }, 'image_meta.disk_format must be a string or null, got 3'],
    [{ size: 'big' }, 'image_meta.size must be a whole number or null, got "big"'],
    ['raw', 'image_meta must be an object (a dict or a ImageMeta primitive), got "raw"'],
  ])('rejects %j', (raw, message) => {
    expect(messageOf(() => normalizeImageMeta(raw))).toBe(`Failed to read image_meta: ${message}`);
  });
});

describe('normalizeBlockDeviceInfo', () => {
  it.each([[null], [undefined]])('gives {} for %j', (raw) => {
    expect(normalizeBlockDeviceInfo(raw)).toEqual({});
  });

  it('returns the caller’s object, BDMs included', () => {
    const bdm = { mount_device: '/dev/vda', boot_index: 0 };
    const raw = {
      root_device_name: '/dev/vda',
      block_device_mapping: [bdm],
      swap: null,
      image: null,
    };
    const bdi = normalizeBlockDeviceInfo(raw);
    expect(bdi).toBe(raw);
    expect(bdi.block_device_mapping?.[0]).toBe(bdm);
  });

  it.each([
    [[], 'block_device_info must be an object or null, got []'],
    [{ root_device_name: 1 }, 'block_device_info.root_device_name must be a string or null, got 1'],
    [{ ephemerals: {} }, 'block_device_info.ephemerals must be a list of objects or null, got {}'],
    [
      { block_device_mapping: [1] },
      'block_device_info.block_device_mapping[0] must be an object, got 1',
    ],
    [{ swap: [] }, 'block_device_info.swap must be an object or null, got []'],
  ])('rejects %j', (raw, message) => {
    expect(messageOf(() => normalizeBlockDeviceInfo(raw))).toBe(
      `Failed to read block_device_info: ${message}`,
    );
  });
});
