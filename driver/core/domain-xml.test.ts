import { describe, expect, it } from 'vitest';
import { hasCode } from '../errors.js';
import {
  buildLxcDomainXml,
  lxcDomainSpecForInstance,
  NOVA_METADATA_NS,
  type LxcDomainSpec,
} from './domain-xml.js';
// The parser is the simulated libvirt's; round trips prove build and parse agree.
import { parseLxcDomainXml } from '../../simulator/domain-xml-parser.js';

const UUID = 'b6a4d5f4-7c9e-4c55-9e2c-1f3a2b9e0c11';
const INST = `/var/lib/nova/instances/${UUID}`;

const MINIMAL: LxcDomainSpec = {
  name: 'instance-00000001',
  uuid: UUID,
  memoryKiB: 2097152,
  vcpus: 2,
  init: '/sbin/init',
  cmdline: 'console=tty0 console=ttyS0 console=hvc0',
  initenv: { product_name: 'OpenStack Nova' },
  rootfsDir: `${INST}/rootfs`,
  consoleLog: `${INST}/console.log`,
  disks: [],
  idmap: { uid: [], gid: [] },
};

// The XML observed from Nova 26.2.2 for an image boot with uid/gid maps 0:1000:100
// (nova/virt/libvirt/driver.py _get_guest_config for virt_type=lxc), with the elided uuid and
// metadata filled in as Nova writes them.
const NOVA_SAMPLE = `<domain type="lxc">
  <uuid>${UUID}</uuid>
  <name>instance-00000001</name>
  <memory>2097152</memory>
  <vcpu>2</vcpu>
  <metadata>
    <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
      <nova:package version="26.2.2"/>
      <nova:name>test-instance</nova:name>
      <nova:creationTime>2024-05-02 10:11:12</nova:creationTime>
      <nova:flavor name="m1.small">
        <nova:memory>2048</nova:memory>
        <nova:disk>20</nova:disk>
        <nova:swap>0</nova:swap>
        <nova:ephemeral>0</nova:ephemeral>
        <nova:vcpus>2</nova:vcpus>
      </nova:flavor>
      <nova:owner>
        <nova:user uuid="fake-user-id">fake-user</nova:user>
        <nova:project uuid="fake-project-id">fake-project</nova:project>
      </nova:owner>
      <nova:root type="image" uuid="155d900f-4e14-4e4c-a73d-069cbf4541e6"/>
      <nova:ports/>
    </nova:instance>
  </metadata>
  <os>
    <type>exe</type>
    <cmdline>console=tty0 console=ttyS0 console=hvc0</cmdline>
    <init>/sbin/init</init>
    <initenv name="product_name">OpenStack Nova</initenv>
  </os>
  <clock offset="utc"/>
  <devices>
    <filesystem type="mount">
      <source dir="/var/lib/nova/instances/${UUID}/rootfs"/>
      <target dir="/"/>
    </filesystem>
    <console type="pty">
      <log file="/var/lib/nova/instances/${UUID}/console.log" append="off"/>
    </console>
    <controller type="usb" index="0" model="none"/>
  </devices>
  <idmap>
    <uid start="0" target="1000" count="100"/>
    <gid start="0" target="1000" count="100"/>
  </idmap>
</domain>
`;

const NOVA_SAMPLE_SPEC: LxcDomainSpec = {
  ...MINIMAL,
  idmap: {
    uid: [{ start: 0, target: 1000, count: 100 }],
    gid: [{ start: 0, target: 1000, count: 100 }],
  },
  metadata: {
    instanceName: 'test-instance',
    creationTime: '2024-05-02 10:11:12',
    flavorName: 'm1.small',
    memoryMb: 2048,
    vcpus: 2,
    projectId: 'fake-project-id',
    userId: 'fake-user-id',
  },
};

const FULL: LxcDomainSpec = {
  ...NOVA_SAMPLE_SPEC,
  disks: [
    { sourceDev: '/dev/sdb', targetDev: 'vdc', bus: 'virtio', driverType: 'raw', cache: 'none' },
    { sourceDev: '/dev/disk/by-id/x', targetDev: 'vdd', bus: 'virtio', serial: 'vol-1' },
  ],
  idmap: {
    uid: [
      { start: 0, target: 100000, count: 65536 },
      { start: 65536, target: 1000, count: 1 },
    ],
    gid: [{ start: 0, target: 100000, count: 65536 }],
  },
  cputune: { shares: 2048, period: 100000, quota: -1 },
};

const NASTY = `a&b <c> "d" 'e' \\ f\tg`;
const SPECIAL: LxcDomainSpec = {
  ...MINIMAL,
  name: `inst ${NASTY}`,
  cmdline: `  spaced ${NASTY}  `,
  initenv: { product_name: 'OpenStack Nova', 'odd"name&': `line1\nline2 ${NASTY}` },
  rootfsDir: `/srv/in stances/${NASTY}/rootfs`,
  consoleLog: '/srv/log\nwith newline/ünïcödé 🚀.log',
  disks: [
    {
      sourceDev: '/dev/mapper/v&g-l"v',
      targetDev: 'vdb',
      bus: 'virtio',
      driverType: 'r<a>w',
      serial: ` ${NASTY}\n`,
    },
  ],
  metadata: { instanceName: `<script>${NASTY}</script>`, flavorName: NASTY, userId: '&amp;' },
};

function rejection(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    expect(hasCode(error, 'InvalidInput')).toBe(true);
    return error as Error;
  }
  throw new Error('expected InvalidInput');
}

describe('buildLxcDomainXml', () => {
  it('writes the XML Nova writes for an image boot', () => {
    const { metadata: _metadata, ...withoutMetadata } = NOVA_SAMPLE_SPEC;
    const expected = NOVA_SAMPLE.replace(/ {2}<metadata>[\s\S]*<\/metadata>\n/, '');
    expect(buildLxcDomainXml(withoutMetadata)).toBe(expected);
  });

  it('writes volumes between the rootfs and the console, without a driver name', () => {
    const xml = buildLxcDomainXml(FULL);
    expect(xml).toContain(`    </filesystem>
    <disk type="block" device="disk">
      <driver type="raw" cache="none"/>
      <source dev="/dev/sdb"/>
      <target dev="vdc" bus="virtio"/>
    </disk>
    <disk type="block" device="disk">
      <source dev="/dev/disk/by-id/x"/>
      <target dev="vdd" bus="virtio"/>
      <serial>vol-1</serial>
    </disk>
    <console type="pty">`);
  });

  it('writes Nova metadata in its namespace, cputune after os and idmaps after devices', () => {
    const xml = buildLxcDomainXml(FULL);
    expect(xml).toContain(`<nova:instance xmlns:nova="${NOVA_METADATA_NS}">`);
    expect(xml).toContain('<nova:flavor name="m1.small">');
    expect(xml).toContain('<nova:user uuid="fake-user-id"/>');
    const order = ['<uuid>', '<name>', '<memory>', '<vcpu>', '<metadata>', '<os>', '<cputune>'];
    const rest = ['<clock', '<devices>', '<idmap>', '<uid start="65536"', '<gid '];
    const positions = [...order, ...rest].map((tag) => xml.indexOf(tag));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect(positions).toEqual([...positions].sort((x, y) => x - y));
    expect(xml).toContain('<quota>-1</quota>');
  });

  it('omits idmap, metadata and cputune when not given', () => {
    const xml = buildLxcDomainXml(MINIMAL);
    expect(xml).not.toMatch(/<idmap|<metadata|<cputune|<disk/);
  });

  it('escapes markup and encodes newlines in attributes', () => {
    const xml = buildLxcDomainXml(SPECIAL);
    expect(xml).toContain('<name>inst a&amp;b &lt;c&gt; "d" \'e\' \\ f\tg</name>');
    expect(xml).toContain(
      'dir="/srv/in stances/a&amp;b &lt;c&gt; &quot;d&quot; &apos;e&apos; \\ f&#9;g/rootfs"',
    );
    expect(xml).toContain('file="/srv/log&#10;with newline/ünïcödé 🚀.log"');
    expect(xml).toContain('<nova:user uuid="&amp;amp;"/>');
  });

  it.each<[string, Partial<LxcDomainSpec>, string]>([
    ['an empty name', { name: ' ' }, 'the name is empty'],
    ['an empty uuid', { uuid: '' }, 'the uuid is empty'],
    ['zero memory', { memoryKiB: 0 }, 'memory (KiB) is 0'],
    ['fractional memory', { memoryKiB: 1.5 }, 'memory (KiB) is 1.5'],
    ['NaN vcpus', { vcpus: Number.NaN }, 'vcpus is NaN'],
    ['an empty init', { init: '' }, 'the init path is empty'],
    ['an empty rootfs', { rootfsDir: '' }, 'the rootfs directory is empty'],
    ['an empty console log', { consoleLog: '' }, 'the console log path is empty'],
    ['an empty initenv name', { initenv: { '': 'x' } }, 'an initenv name is empty'],
    [
      'a disk without a source',
      { disks: [{ sourceDev: '', targetDev: 'vdb', bus: 'virtio' }] },
      'a disk source is empty',
    ],
    [
      'a negative uid map',
      { idmap: { uid: [{ start: -1, target: 0, count: 1 }], gid: [] } },
      'uid map start is -1',
    ],
    [
      'an empty gid map',
      { idmap: { uid: [], gid: [{ start: 0, target: 0, count: 0 }] } },
      'gid map count is 0',
    ],
    ['a quota below -1', { cputune: { quota: -2 } }, 'cputune quota is -2'],
    ['fractional shares', { cputune: { shares: 0.5 } }, 'cputune shares is 0.5'],
    ['negative metadata vcpus', { metadata: { vcpus: -1 } }, 'metadata vcpus is -1'],
    ['a control character', { name: 'a\u0001b' }, 'contains a character XML cannot represent'],
    ['a lone surrogate', { rootfsDir: '/x\uD800' }, 'contains a character XML cannot represent'],
  ])('rejects %s', (_what, change, reason) => {
    const error = rejection(() => buildLxcDomainXml({ ...MINIMAL, ...change }));
    expect(error.message).toMatch(/^Failed to build domain XML for '.*': /s);
    expect(error.message).toContain(reason);
  });
});

describe('parseLxcDomainXml', () => {
  it('reads the XML Nova writes into the spec it came from', () => {
    expect(parseLxcDomainXml(NOVA_SAMPLE)).toStrictEqual(NOVA_SAMPLE_SPEC);
  });

  it.each<[string, LxcDomainSpec]>([
    ['a minimal spec', MINIMAL],
    ['the Nova sample', NOVA_SAMPLE_SPEC],
    ['volumes, id maps and cputune', FULL],
    ['special characters everywhere', SPECIAL],
    [
      'an empty cmdline, initenv and metadata',
      { ...MINIMAL, cmdline: '', initenv: {}, metadata: {} },
    ],
    ['only gid maps', { ...MINIMAL, idmap: { uid: [], gid: [{ start: 0, target: 5, count: 1 }] } }],
    [
      'empty strings',
      {
        ...MINIMAL,
        initenv: { e: '' },
        disks: [{ sourceDev: '/dev/x', targetDev: 'vdb', bus: 'virtio', serial: '' }],
        metadata: { instanceName: '' },
      },
    ],
    ['an empty cputune', { ...MINIMAL, cputune: {} }],
  ])('round-trips %s', (_what, spec) => {
    expect(parseLxcDomainXml(buildLxcDomainXml(spec))).toStrictEqual(spec);
  });

  it('reads what libvirt dumpxml adds: units, attributes, references and other devices', () => {
    const xml = `<?xml version="1.0"?>
<!-- written by libvirt -->
<domain type='lxc' id='42'>
  <name>instance-00000002</name>
  <uuid>${UUID}</uuid>
  <memory unit='MiB'>512</memory>
  <currentMemory unit='KiB'>524288</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <metadata>
    <n:instance xmlns:n="http://openstack.org/xmlns/libvirt/nova/1.0"><n:name>old</n:name></n:instance>
  </metadata>
  <os>
    <type arch='x86_64'>exe</type>
    <init>/sbin/init</init>
    <initenv name='A'>x&#10;y&#x41;</initenv>
  </os>
  <devices>
    <emulator>/usr/lib/libvirt/libvirt_lxc</emulator>
    <filesystem type='mount' accessmode='passthrough'>
      <source dir='/r&amp;oot'/>
      <target dir='/'/>
    </filesystem>
    <interface type='bridge'><source bridge='br0'/></interface>
    <console type='pty' tty='/dev/pts/3'>
      <source path='/dev/pts/3'/>
      <log file='/var/log/c.log' append='off'/>
      <target type='lxc' port='0'/>
    </console>
  </devices>
</domain>`;
    expect(parseLxcDomainXml(xml)).toStrictEqual({
      name: 'instance-00000002',
      uuid: UUID,
      memoryKiB: 524288,
      vcpus: 1,
      init: '/sbin/init',
      cmdline: '',
      initenv: { A: 'x\nyA' },
      rootfsDir: '/r&oot',
      consoleLog: '/var/log/c.log',
      disks: [],
      idmap: { uid: [], gid: [] },
      metadata: { instanceName: 'old' },
    });
  });

  it.each([
    ['b', 1],
    ['bytes', 1],
    ['KB', 1],
    ['k', 1],
    ['KiB', 1],
    ['M', 1024],
    ['MB', 977],
    ['G', 1048576],
    ['GiB', 1048576],
    ['GB', 976563],
    ['T', 1073741824],
    ['TiB', 1073741824],
    ['TB', 976562500],
  ])('converts <memory unit=%j> to KiB, rounding up', (unit, kib) => {
    const xml = buildLxcDomainXml(MINIMAL).replace(
      '<memory>2097152</memory>',
      `<memory unit="${unit}">1</memory>`,
    );
    expect(parseLxcDomainXml(xml).memoryKiB).toBe(kib);
  });

  it('ignores metadata in namespaces other than Nova’s', () => {
    const xml = buildLxcDomainXml(MINIMAL).replace(
      '<vcpu>2</vcpu>',
      '<vcpu>2</vcpu><metadata><x:instance xmlns:x="urn:other"><x:name>n</x:name></x:instance><instance xmlns="urn:y"/><instance xmlns="http://openstack.org/xmlns/libvirt/nova/1.1"><name>plain</name></instance></metadata>',
    );
    expect(parseLxcDomainXml(xml).metadata).toStrictEqual({ instanceName: 'plain' });
  });

  it('leaves metadata out when none of it is Nova’s', () => {
    const xml = buildLxcDomainXml(MINIMAL).replace(
      '<vcpu>2</vcpu>',
      '<vcpu>2</vcpu><metadata><a/></metadata>',
    );
    expect(parseLxcDomainXml(xml)).not.toHaveProperty('metadata');
  });

  const base = buildLxcDomainXml(FULL);
  const edit = (from: string | RegExp, to: string): string => {
    const edited = base.replace(from, to);
    expect(edited).not.toBe(base);
    return edited;
  };

  it.each<[string, () => string, string]>([
    ['an empty document', () => '', 'malformed XML at line 1'],
    ['plain text', () => 'domain', 'malformed XML'],
    ['unbalanced tags', () => '<domain type="lxc"><name></domain>', 'malformed XML'],
    ['a DOCTYPE', () => `<!DOCTYPE domain [<!ENTITY e "x">]>${base}`, 'a DOCTYPE is not accepted'],
    [
      'another root element',
      () => '<network><name>n</name></network>',
      'the root element is <network>, not <domain>',
    ],
    [
      'a kvm domain',
      () => edit('<domain type="lxc">', '<domain type="kvm">'),
      "domain type is 'kvm', expected 'lxc'",
    ],
    [
      'a domain without type',
      () => edit('<domain type="lxc">', '<domain>'),
      "domain type is '', expected 'lxc'",
    ],
    ['a missing name', () => edit(/<name>.*<\/name>/, ''), '<name> is missing or empty'],
    ['two names', () => edit(/(<name>.*<\/name>)/, '$1$1'), 'more than one <name>'],
    ['a missing uuid', () => edit(/<uuid>.*<\/uuid>/, ''), '<uuid> is missing or empty'],
    ['a missing memory', () => edit(/<memory>.*<\/memory>/, ''), '<memory> is missing'],
    [
      'non-numeric memory',
      () => edit('<memory>2097152', '<memory>2G'),
      "<memory> is '2G', not a whole number",
    ],
    ['fractional memory', () => edit('<memory>2097152', '<memory>1.5'), "<memory> is '1.5'"],
    ['zero memory', () => edit('<memory>2097152', '<memory>0'), 'memory (KiB) is 0'],
    [
      'an unknown memory unit',
      () => edit('<memory>', '<memory unit="parsec">'),
      "<memory unit='parsec'> is not a unit libvirt knows",
    ],
    ['non-numeric vcpus', () => edit('<vcpu>2', '<vcpu>two'), "<vcpu> is 'two'"],
    ['a missing os', () => edit(/<os>[\s\S]*<\/os>/, ''), '<os> is missing'],
    [
      'a hvm os',
      () => edit('<type>exe</type>', '<type>hvm</type>'),
      "os type is 'hvm', expected 'exe'",
    ],
    ['a missing init', () => edit(/<init>.*<\/init>/, ''), '<init> is missing or empty'],
    [
      'an unnamed initenv',
      () => edit('<initenv name="product_name">', '<initenv>'),
      'an <initenv> has no name',
    ],
    ['missing devices', () => edit(/<devices>[\s\S]*<\/devices>/, ''), '<devices> is missing'],
    [
      'no root filesystem',
      () => edit(/<filesystem[\s\S]*<\/filesystem>/, ''),
      "no <filesystem type='mount'> has target '/'",
    ],
    [
      'a root filesystem elsewhere',
      () => edit('<target dir="/"/>', '<target dir="/data"/>'),
      "a <filesystem> with target '/data' is not supported",
    ],
    [
      'a block root filesystem',
      () => edit('<filesystem type="mount">', '<filesystem type="block">'),
      "the root <filesystem> has type 'block'",
    ],
    [
      'a root filesystem without source',
      () => edit(/<source dir=".*"\/>/, ''),
      'the root <filesystem> has no <source dir=>',
    ],
    [
      'two root filesystems',
      () => edit(/(<filesystem[\s\S]*<\/filesystem>)/, '$1$1'),
      "more than one <filesystem> has target '/'",
    ],
    [
      'a network disk',
      () => edit('<disk type="block" device="disk">', '<disk type="network" device="disk">'),
      "a <disk> has type 'network'; only 'block' is supported",
    ],
    [
      'a cdrom',
      () => edit('<disk type="block" device="disk">', '<disk type="block" device="cdrom">'),
      "a <disk> has device 'cdrom'",
    ],
    [
      'a disk without target',
      () => edit('<target dev="vdc" bus="virtio"/>', ''),
      'a <disk> lacks <source dev=> or <target dev= bus=>',
    ],
    ['no console log', () => edit(/<log .*\/>/, ''), 'no <console> has a <log file=>'],
    [
      'a non-numeric id map',
      () => edit('<uid start="0"', '<uid start="zero"'),
      "<idmap><uid start=> is 'zero'",
    ],
    [
      'an id map without count',
      () => edit(/(<gid start="0" target="100000") count="65536"/, '$1'),
      "<idmap><gid count=> is ''",
    ],
    [
      'a non-numeric cputune',
      () => edit('<shares>2048', '<shares>lots'),
      "<cputune><shares> is 'lots'",
    ],
    [
      'non-numeric flavor memory',
      () => edit('<nova:memory>2048', '<nova:memory>2k'),
      "<nova:memory> is '2k'",
    ],
    [
      'non-numeric flavor vcpus',
      () => edit('<nova:vcpus>2', '<nova:vcpus>x'),
      "<nova:vcpus> is 'x'",
    ],
  ])('rejects %s', (_what, xml, reason) => {
    const error = rejection(() => parseLxcDomainXml(xml()));
    expect(error.message).toMatch(/^Failed to parse domain XML: /);
    expect(error.message).toContain(reason);
  });
});

describe('lxcDomainSpecForInstance', () => {
  it('sets what Nova sets for every LXC guest', () => {
    expect(
      lxcDomainSpecForInstance({
        name: 'instance-00000001',
        uuid: UUID,
        memoryMb: 2048,
        vcpus: 2,
        instanceDir: `${INST}/`,
      }),
    ).toStrictEqual(MINIMAL);
  });

  it('carries volumes, id maps, metadata and cputune through', () => {
    const spec = lxcDomainSpecForInstance({
      name: FULL.name,
      uuid: FULL.uuid,
      memoryMb: 2048,
      vcpus: 2,
      instanceDir: INST,
      disks: FULL.disks,
      uidMaps: FULL.idmap.uid,
      gidMaps: FULL.idmap.gid,
      metadata: FULL.metadata!,
      cputune: FULL.cputune!,
    });
    expect(spec).toStrictEqual(FULL);
    expect(parseLxcDomainXml(buildLxcDomainXml(spec))).toStrictEqual(FULL);
  });
});
