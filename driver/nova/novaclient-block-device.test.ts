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
    [
      'source=volume,id=v,bootindex=0,tag=root,volume_type=fast',
      {
        source_type: 'volume',
        uuid: 'v',
        destination_type: 'volume',
        boot_index: '0',
        tag: 'root',
        volume_type: 'fast',
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
    [
      'source=volume,id=v,bootindex=zero',
      /bootindex as a whole number such as 0 \(Nova's API refuses 'zero'\)/,
    ],
    ['source=volume,id=v,bootindex=', /refuses ''/],
    ['', /this one is empty/],
    [
      'source=volume,uuid=v',
      /the keys of one client: novaclient's \(source\) or openstackclient's \(uuid\)/,
    ],
    ['uuid=v,source_type=volume,boot_index=first', /boot_index as a whole number/],
    ['uuid=v,source_type=disk', /source_type one of: volume, image, snapshot, blank/],
    ['uuid=v,source_type=volume,delete_on_termination=maybe', /boolean-like/],
  ])('rejects %j', (arg, message) => {
    expect(() => parseBlockDeviceArg(arg)).toThrow(message);
  });
});

describe('openstackclient --block-device parsing', () => {
  it.each([
    [
      'uuid=vol1,source_type=volume,destination_type=volume,boot_index=0',
      { uuid: 'vol1', source_type: 'volume', destination_type: 'volume', boot_index: '0' },
    ],
    // openstackclient, unlike novaclient, defaults an image's destination to volume.
    [
      'uuid=img,source_type=image',
      { uuid: 'img', source_type: 'image', destination_type: 'volume' },
    ],
    [
      'source_type=blank,volume_size=1',
      {
        source_type: 'blank',
        destination_type: 'local',
        volume_size: '1',
        delete_on_termination: true,
      },
    ],
    [
      'uuid=v,source_type=volume,boot_index=0,delete_on_termination=Yes,tag=root,volume_type=ssd',
      {
        uuid: 'v',
        source_type: 'volume',
        destination_type: 'volume',
        boot_index: '0',
        delete_on_termination: true,
        tag: 'root',
        volume_type: 'ssd',
      },
    ],
    [
      'uuid=v,source_type=volume,delete_on_termination=false',
      {
        uuid: 'v',
        source_type: 'volume',
        destination_type: 'volume',
        delete_on_termination: false,
      },
    ],
  ])('parses %s as openstackclient does', (arg, expected) => {
    expect(parseBlockDeviceArg(arg)).toEqual(expected);
  });
});
