import { describe, expect, it } from 'vitest';
import { parseBlockDeviceArg } from './novaclient-block-device.js';

describe('novaclient --block-device parsing', () => {
  it.each([
    [
      'source=volume,id=vol1,dest=volume,bootindex=0',
      { source_type: 'volume', uuid: 'vol1', destination_type: 'volume', boot_index: '0' },
    ],
    ['source=volume,id=v', { source_type: 'volume', uuid: 'v', destination_type: 'volume' }],
    [
      'source=image,id=img',
      { source_type: 'image', uuid: 'img', destination_type: 'local', delete_on_termination: true },
    ],
    [
      'size=1',
      {
        source_type: 'blank',
        volume_size: '1',
        destination_type: 'local',
        delete_on_termination: true,
      },
    ],
    [
      'source=image,id=i,dest=volume,size=1,shutdown=remove,bus=virtio,device=/dev/vda,type=disk,format=ext4',
      {
        source_type: 'image',
        uuid: 'i',
        destination_type: 'volume',
        volume_size: '1',
        delete_on_termination: true,
        disk_bus: 'virtio',
        device_name: '/dev/vda',
        device_type: 'disk',
        guest_format: 'ext4',
      },
    ],
    [
      'source=volume,id=a,shutdown=preserve,id=b',
      {
        source_type: 'volume',
        uuid: 'b',
        destination_type: 'volume',
        delete_on_termination: false,
      },
    ],
  ])('parses %s as novaclient does', (arg, expected) => {
    expect(parseBlockDeviceArg(arg)).toEqual(expected);
  });

  it.each([
    ['source=volume,vol1', /not a key=value pair/],
    ['source=volume,id=a=b', /single '='/],
    ['source=volume,colour=blue', /unknown key 'colour'/],
    ['source=disk,id=x', /it was 'disk'/],
    ['source=volume,dest=remote', /either 'local' or 'volume'/],
    ['source=volume,shutdown=keep', /'remove' or 'preserve'/],
  ])('rejects %s', (arg, message) => {
    expect(() => parseBlockDeviceArg(arg)).toThrow(message);
  });
});
