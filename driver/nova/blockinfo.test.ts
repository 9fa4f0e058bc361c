import { describe, expect, it } from 'vitest';
import {
  defaultDeviceNames,
  findDiskDevForDiskBus,
  getBootOrder,
  getConfigDriveType,
  getDevCountForDiskBus,
  getDevPrefixForDiskBus,
  getDiskBusForDeviceType,
  getDiskBusForDiskDev,
  getDiskInfo,
  getDiskMapping,
  getInfoFromBdm,
  getNextDiskInfo,
  getRescueBus,
  getRescueDevice,
  getRootInfo,
  isDiskBusValidForVirt,
  mappingKeys,
  mappingToJson,
  plainDictImageMeta,
  updateBdm,
  type DiskInfo,
} from './blockinfo.js';
import type { BlockinfoContext } from './conf.js';
import { getBlockDeviceInfo } from './driver-block-device.js';
import type { BlockDeviceInfo, DriverBdm } from './model.js';
import { normalizeImageMeta, normalizeInstance } from './model.js';

function instance(overrides: Record<string, unknown> = {}) {
  return {
    uuid: '32dfcb37-5af1-552b-357c-be8c3aa38310',
    ephemeral_gb: 0,
    flavor: { memory_mb: 128, vcpus: 1, swap: 0 },
    config_drive: null,
    launched_at: null,
    system_metadata: {},
    ...overrides,
  };
}

const LXC_ROOT: DiskInfo = { bus: 'lxc', dev: null, type: 'disk', boot_index: '1' };

function lxcMapping(
  bdi: BlockDeviceInfo | null,
  inst = instance(),
  ctx: BlockinfoContext = {},
  imageMeta: Record<string, unknown> = { disk_format: 'raw' },
) {
  const info = getDiskInfo(
    { virt_type: 'lxc', instance: inst, image_meta: imageMeta, block_device_info: bdi },
    ctx,
  );
  return { keys: mappingKeys(info.mapping), json: mappingToJson(info.mapping), info };
}

describe('getDiskInfo on lxc (generic mapping, no LXC special case)', () => {
  it('maps an image-backed instance to root and disk without device names', () => {
    const { keys, json, info } = lxcMapping(null);
    expect(info.disk_bus).toBe('lxc');
    expect(info.cdrom_bus).toBe('lxc');
    expect(keys).toEqual(['root', 'disk']);
    expect(json).toEqual({ root: LXC_ROOT, disk: LXC_ROOT });
  });

  it('adds disk.local and disk.swap from instance.ephemeral_gb and the flavor swap', () => {
    const { keys, json } = lxcMapping(null, instance({ ephemeral_gb: 1, flavor: { swap: 512 } }));
    expect(keys).toEqual(['root', 'disk', 'disk.local', 'disk.swap']);
    expect(json['disk.local']).toEqual({ bus: 'lxc', dev: null, type: 'disk' });
    expect(json['disk.swap']).toEqual({ bus: 'lxc', dev: null, type: 'disk' });
  });

  it('names the root from root_device_name but keeps bus lxc', () => {
    const { json } = lxcMapping({ root_device_name: '/dev/vda' });
    expect(json['root']).toEqual({ bus: 'lxc', dev: 'vda', type: 'disk', boot_index: '1' });
  });

  it('maps a named root volume without a disk key and writes bus lxc into the BDM', () => {
    const vol: DriverBdm = { mount_device: '/dev/vda', boot_index: 0, connection_info: {} };
    const { keys, json } = lxcMapping({ block_device_mapping: [vol] });
    expect(keys).toEqual(['root', '/dev/vda']);
    expect(json['/dev/vda']).toEqual({ bus: 'lxc', dev: 'vda', type: 'disk', boot_index: '1' });
    expect(vol).toEqual({
      mount_device: '/dev/vda',
      boot_index: 0,
      connection_info: {},
      disk_bus: 'lxc',
      device_type: 'disk',
    });
  });

  it.each([
    ['virtio', '/dev/vda', 'virtio'],
    ['scsi', '/dev/sda', 'scsi'],
    ['sata', '/dev/sda', 'scsi'],
    ['usb', '/dev/sdb', 'scsi'],
    ['ide', '/dev/hda', 'ide'],
    ['fdc', '/dev/fda', 'fdc'],
  ])('re-derives a root volume bus %s on %s from the name prefix (%s)', (bus, name, expected) => {
    const vol: DriverBdm = { mount_device: name, boot_index: 0, disk_bus: bus };
    const { json } = lxcMapping({ block_device_mapping: [vol] });
    expect(json['root']?.bus).toBe(expected);
  });

  it('raises InternalError for a root volume name with an unknown prefix', () => {
    const vol: DriverBdm = { mount_device: '/dev/xvda', boot_index: 0, disk_bus: 'xen' };
    expect(() => lxcMapping({ block_device_mapping: [vol] })).toThrow(
      expect.objectContaining({
        novaType: 'InternalError',
        message: "Unable to determine disk bus for 'x'",
      }),
    );
  });

  it('keys unnamed volumes under null, the last one winning the slot of the first', () => {
    const root: DriverBdm = { mount_device: null, boot_index: 0 };
    const named: DriverBdm = { mount_device: '/dev/vdb', boot_index: -1 };
    const unnamed: DriverBdm = { mount_device: null, boot_index: -1 };
    const { keys, json } = lxcMapping({ block_device_mapping: [root, named, unnamed] });
    expect(keys).toEqual(['root', null, '/dev/vdb']);
    expect(json['null']).toEqual({ bus: 'lxc', dev: null, type: 'disk' });
    expect(json['/dev/vdb']).toEqual({ bus: 'virtio', dev: 'vdb', type: 'disk' });
    expect(root.mount_device).toBeNull();
  });

  it('falls back to the image root when no volume has boot_index 0', () => {
    const vol: DriverBdm = { mount_device: '/dev/vdb', boot_index: 1 };
    const { keys, json } = lxcMapping({ block_device_mapping: [vol] });
    expect(keys).toEqual(['root', 'disk', '/dev/vdb']);
    expect(json['/dev/vdb']?.boot_index).toBe('2');
  });

  it('drops the flavor swap next to an unnamed volume (None is "in mapping")', () => {
    const vol: DriverBdm = { mount_device: null, boot_index: -1 };
    const { keys } = lxcMapping({ block_device_mapping: [vol] }, instance({ flavor: { swap: 1 } }));
    expect(keys).toEqual(['root', 'disk', null]);
  });

  it('uses [libvirt]disk_prefix for lxc devices', () => {
    const { json } = lxcMapping(null, instance({ ephemeral_gb: 1 }), {
      conf: { libvirt: { disk_prefix: 'sd' } },
    });
    expect(json['root']).toEqual({ bus: 'lxc', dev: 'sda', type: 'disk', boot_index: '1' });
    expect(json['disk.local']).toEqual({ bus: 'lxc', dev: 'sdb', type: 'disk' });
  });

  it.each([
    [{ hw_disk_bus: 'virtio' }, 'virtio'],
    [{ hw_cdrom_bus: 'ide' }, 'ide'],
  ])('rejects image property %j with UnsupportedHardware', (properties, model) => {
    expect(() => lxcMapping(null, instance(), {}, { properties })).toThrow(
      expect.objectContaining({
        novaType: 'UnsupportedHardware',
        module: 'nova.exception',
        message: `Requested hardware '${model}' is not supported by the 'lxc' virt driver`,
      }),
    );
  });

  it('accepts a normalized Instance and ImageMeta and a Nova primitive instance', () => {
    const raw = instance({ ephemeral_gb: 2 });
    const normalized = normalizeInstance(raw);
    const a = lxcMapping(null, normalized as never, {}, normalizeImageMeta({}) as never);
    const b = lxcMapping(null, {
      'nova_object.name': 'Instance',
      'nova_object.data': raw,
    } as never);
    expect(a.keys).toEqual(['root', 'disk', 'disk.local']);
    expect(b.keys).toEqual(['root', 'disk', 'disk.local']);
  });

  it('adds disk.config when the image makes the config drive mandatory', () => {
    const inst = instance({ system_metadata: { image_img_config_drive: 'mandatory' } });
    const { json } = lxcMapping(null, inst);
    expect(json['disk.config']).toEqual({ bus: 'lxc', dev: null, type: 'cdrom' });
  });

  it('ignores force_config_drive for an instance that was launched already', () => {
    const ctx = { conf: { DEFAULT: { force_config_drive: true } } };
    expect(lxcMapping(null, instance({ launched_at: '2024-01-01T00:00:00Z' }), ctx).keys).toEqual([
      'root',
      'disk',
    ]);
    expect(lxcMapping(null, instance(), ctx).keys).toEqual(['root', 'disk', 'disk.config']);
  });

  it('raises ConfigDriveUnknownFormat for an unknown config_drive_format', () => {
    const ctx = { conf: { DEFAULT: { force_config_drive: true, config_drive_format: 'ext4' } } };
    expect(() => lxcMapping(null, instance(), ctx)).toThrow(
      'Unknown config drive format ext4. Select one of iso9660 or vfat.',
    );
  });
});

describe('getDiskMapping', () => {
  const base = {
    virt_type: 'kvm',
    disk_bus: 'virtio',
    cdrom_bus: 'ide',
    image_meta: { disk_format: 'raw' },
  };

  it('appends a stable-rescue cdrom on the bus of the rescue image', () => {
    const mapping = getDiskMapping({
      ...base,
      instance: instance(),
      rescue: true,
      rescue_image_meta: { properties: { hw_rescue_device: 'cdrom', hw_rescue_bus: 'scsi' } },
    });
    expect(mappingKeys(mapping)).toEqual(['root', 'disk', 'disk.rescue']);
    expect(mapping.get('disk.rescue')).toEqual({ bus: 'scsi', dev: 'sda', type: 'cdrom' });
  });

  it.each([
    [
      { hw_rescue_device: 'fs' },
      'UnsupportedRescueDevice',
      "Requested rescue device 'fs' is not supported",
    ],
    [
      { hw_rescue_bus: 'lxc' },
      'UnsupportedRescueBus',
      "Requested rescue bus 'lxc' is not supported by the 'kvm' virt driver",
    ],
  ])('rejects rescue image properties %j', (properties, novaType, message) => {
    expect(() =>
      getDiskMapping({
        ...base,
        instance: instance(),
        rescue: true,
        rescue_image_meta: { properties },
      }),
    ).toThrow(expect.objectContaining({ novaType, message }));
  });

  it('raises KeyError when the flavor has no swap', () => {
    expect(() => getDiskMapping({ ...base, instance: instance({ flavor: {} }) })).toThrow(
      expect.objectContaining({ novaType: 'KeyError', message: "'swap'" }),
    );
  });

  it('raises TypeError for a string boot_index', () => {
    const vol: DriverBdm = { mount_device: '/dev/vdb', boot_index: '1' };
    expect(() =>
      getDiskMapping({
        ...base,
        instance: instance(),
        block_device_info: { block_device_mapping: [vol] },
      }),
    ).toThrow(expect.objectContaining({ novaType: 'TypeError', module: 'builtins' }));
  });

  it('raises TooManyDiskDevices past [compute]max_disk_devices_to_attach', () => {
    const ctx = { conf: { compute: { max_disk_devices_to_attach: 1 } } };
    expect(() => getDiskMapping({ ...base, instance: instance({ ephemeral_gb: 1 }) }, ctx)).toThrow(
      'The maximum allowed number of disk devices (1) to attach to a single instance has been exceeded.',
    );
  });
});

describe('getRootInfo', () => {
  it.each([
    [null, 'NoneType'],
    [plainDictImageMeta({}), 'dict'],
  ])('raises AttributeError without a root BDM for image_meta %j', (imageMeta, owner) => {
    expect(() =>
      getRootInfo({
        virt_type: 'kvm',
        image_meta: imageMeta,
        root_bdm: null,
        disk_bus: 'virtio',
        cdrom_bus: 'ide',
      }),
    ).toThrow(`'${owner}' object has no attribute 'obj_attr_is_set'`);
  });

  it('treats an API image→local BDM as no root BDM', () => {
    const info = getRootInfo({
      virt_type: 'kvm',
      image_meta: { disk_format: 'iso' },
      root_bdm: { source_type: 'image', destination_type: 'local' },
      disk_bus: 'virtio',
      cdrom_bus: 'ide',
    });
    expect(info).toEqual({ bus: 'ide', type: 'cdrom', dev: 'hda', boot_index: '1' });
  });
});

describe('getInfoFromBdm', () => {
  it('decodes encryption options only when the BDM is encrypted', () => {
    const bdm: DriverBdm = { device_name: '/dev/vdb', encrypted: false, encryption_options: '{' };
    expect(getInfoFromBdm({ virt_type: 'kvm', image_meta: {}, bdm })).toEqual({
      bus: 'virtio',
      dev: 'vdb',
      type: 'disk',
    });
  });

  it('raises ValueError for encryption options that are not JSON', () => {
    const bdm: DriverBdm = { device_name: '/dev/vdb', encrypted: true, encryption_options: '{' };
    expect(() => getInfoFromBdm({ virt_type: 'kvm', image_meta: {}, bdm })).toThrow(
      expect.objectContaining({ novaType: 'ValueError' }),
    );
  });

  it.each([
    [false, '1'],
    [true, '2'],
    [0, '1'],
  ])('turns boot_index %j into %j', (bootIndex, expected) => {
    const bdm: DriverBdm = { device_name: '/dev/vdb', boot_index: bootIndex };
    expect(getInfoFromBdm({ virt_type: 'kvm', image_meta: {}, bdm }).boot_index).toBe(expected);
  });

  it('honours allowed_types', () => {
    const bdm: DriverBdm = { device_name: '/dev/vdb', device_type: 'cdrom' };
    expect(
      getInfoFromBdm({ virt_type: 'kvm', image_meta: {}, bdm, allowed_types: ['disk'] }).type,
    ).toBe('disk');
  });
});

describe('bus and device helpers', () => {
  it.each([
    ['ide', 'hd'],
    ['virtio', 'vd'],
    ['scsi', 'sd'],
    ['usb', 'sd'],
    ['sata', 'sd'],
    ['fdc', 'fd'],
    ['lxc', null],
  ])('gives bus %s the prefix %j', (bus, prefix) => {
    expect(getDevPrefixForDiskBus(bus)).toBe(prefix);
  });

  it.each([['xen'], ['uml'], [null]])('has no prefix for bus %j', (bus) => {
    expect(() => getDevPrefixForDiskBus(bus)).toThrow(
      `Unable to determine disk prefix for ${bus ?? 'None'}`,
    );
  });

  it('counts 4 ide devices and unlimited others by default', () => {
    expect(getDevCountForDiskBus('ide')).toBe(4);
    expect(getDevCountForDiskBus('virtio')).toBeNull();
  });

  it('continues past z with two-letter names', () => {
    const mapping = new Map<string | null, DiskInfo>();
    for (let i = 0; i < 26; i++) {
      mapping.set(`d${i}`, {
        bus: 'virtio',
        dev: `vd${String.fromCharCode(97 + i)}`,
        type: 'disk',
      });
    }
    expect(findDiskDevForDiskBus(mapping, 'virtio')).toBe('vdaa');
    expect(findDiskDevForDiskBus(mapping, 'virtio', ['vdaa'])).toBe('vdab');
  });

  it('raises KeyError for a mapping entry without dev', () => {
    expect(() => findDiskDevForDiskBus({ x: { bus: 'virtio' } as DiskInfo }, 'virtio')).toThrow(
      "'dev'",
    );
  });

  it.each([
    ['kvm', 'sata', true],
    ['kvm', 'lxc', false],
    ['lxc', 'lxc', true],
    ['parallels', 'sata', false],
    ['xen', 'xen', true],
  ])('validates %s with bus %s as %j', (virt, bus, valid) => {
    expect(isDiskBusValidForVirt(virt, bus)).toBe(valid);
  });

  it.each([
    ['kvm', 'lun'],
    ['kvm', 'floppy'],
    ['parallels', 'floppy'],
  ])('picks a default bus on %s for %s', (virt, deviceType) => {
    const call = () =>
      getDiskBusForDeviceType({ virt_type: virt, image_meta: {}, device_type: deviceType });
    if (deviceType === 'lun') {
      expect(call).toThrow("'ImageMetaProps' object has no attribute 'hw_lun_bus'");
    } else {
      expect(call()).toBe(virt === 'kvm' ? 'fdc' : null);
    }
  });

  it('reads hw_architecture and the arch default machine type for a cdrom', () => {
    expect(
      getDiskBusForDeviceType({
        virt_type: 'qemu',
        image_meta: { properties: { hw_architecture: 'AMD64' } },
        device_type: 'cdrom',
      }),
    ).toBe('ide');
    expect(() =>
      getDiskBusForDeviceType({ virt_type: 'qemu', image_meta: null, device_type: 'floppy' }),
    ).toThrow("'NoneType' object has no attribute 'properties'");
    expect(
      getDiskBusForDeviceType(
        { virt_type: 'kvm', image_meta: {}, device_type: 'cdrom' },
        { conf: { libvirt: { hw_machine_type: ['bogus', 'x86_64=', 'x86_64=pc-q35-8.0'] } } },
      ),
    ).toBe('sata');
  });

  it.each([['ppc64le'], ['s390x']])('uses scsi cdroms on a %s host', (arch) => {
    expect(
      getDiskBusForDeviceType(
        { virt_type: 'kvm', image_meta: {}, device_type: 'cdrom' },
        { host_arch: arch },
      ),
    ).toBe('scsi');
  });

  it('derives the bus of a disk name', () => {
    expect(getDiskBusForDiskDev('lxc', 'fdb')).toBe('fdc');
  });

  it('gives the next disk info with a boot index', () => {
    expect(getNextDiskInfo({ mapping: null, disk_bus: 'lxc', boot_index: 0 })).toEqual({
      bus: 'lxc',
      dev: null,
      type: 'disk',
      boot_index: '0',
    });
  });

  it.each([
    ['iso9660', 'cdrom'],
    ['vfat', 'disk'],
  ])('maps config drive format %s to %s', (format, type) => {
    expect(getConfigDriveType({ conf: { DEFAULT: { config_drive_format: format } } })).toBe(type);
  });

  it('defaults rescue device and bus from the rescue image', () => {
    expect(getRescueDevice({ properties: {} })).toBe('disk');
    expect(getRescueBus(null, 'lxc', { properties: {} }, 'disk')).toBe('lxc');
  });
});

describe('updateBdm', () => {
  it.each([
    [{ device_name: null }, { device_name: '/dev/vdb', disk_bus: 'virtio', device_type: 'disk' }],
    [
      { mount_device: '/dev/sdc' },
      { mount_device: '/dev/sdc', disk_bus: 'virtio', device_type: 'disk' },
    ],
    [{}, { mount_device: '/dev/vdb', disk_bus: 'virtio', device_type: 'disk' }],
  ])('fills %j as Nova does', (bdm, expected) => {
    updateBdm(bdm as DriverBdm, { bus: 'virtio', dev: 'vdb', type: 'disk' });
    expect(bdm).toEqual(expected);
  });
});

describe('getBootOrder', () => {
  it('sorts boot indexes as strings (10 before 2)', () => {
    const mapping = {
      root: { bus: 'virtio', dev: 'vda', type: 'disk', boot_index: '1' },
      a: { bus: 'ide', dev: 'hda', type: 'cdrom', boot_index: '2' },
      b: { bus: 'fdc', dev: 'fda', type: 'floppy', boot_index: '10' },
      c: { bus: 'virtio', dev: 'vdb', type: 'disk', boot_index: '1' },
      d: { bus: 'virtio', dev: 'vdc', type: 'disk', boot_index: '3' },
    };
    expect(getBootOrder({ mapping })).toEqual(['hd', 'fd', 'cdrom']);
  });

  it('raises KeyError for a non-root lun with a boot index (Zed)', () => {
    const mapping = new Map<string | null, DiskInfo>([
      [null, { bus: 'scsi', dev: 'sda', type: 'lun', boot_index: '1' }],
    ]);
    expect(() => getBootOrder({ mapping })).toThrow("'lun'");
  });
});

describe('defaultDeviceNames', () => {
  it('saves the chosen names into the BDM objects', () => {
    const bdms: Record<string, unknown>[] = [
      {
        source_type: 'volume',
        destination_type: 'volume',
        device_name: null,
        boot_index: 0,
        connection_info: '{"data": {}}',
      },
      {
        source_type: 'blank',
        destination_type: 'volume',
        device_name: null,
        boot_index: -1,
        no_device: true,
      },
    ];
    const inst = instance();
    const bdi = getBlockDeviceInfo(inst, bdms);
    defaultDeviceNames({
      virt_type: 'lxc',
      instance: inst,
      block_device_info: bdi,
      image_meta: {},
    });
    expect(bdms[0]).toMatchObject({ device_name: null, disk_bus: 'lxc', device_type: 'disk' });
    expect(bdi.block_device_mapping?.[0]?.connection_info).toEqual({ data: {} });
  });

  it('raises AttributeError for plain dicts, which have no save()', () => {
    const bdi: BlockDeviceInfo = {
      image: [],
      ephemerals: [],
      swap: null,
      block_device_mapping: [{ mount_device: '/dev/vdb' }],
    };
    expect(() =>
      defaultDeviceNames({
        virt_type: 'kvm',
        instance: instance(),
        block_device_info: bdi,
        image_meta: {},
      }),
    ).toThrow("'dict' object has no attribute 'save'");
  });
});
