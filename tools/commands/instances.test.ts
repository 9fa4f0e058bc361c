import { describe, expect, it } from 'vitest';
import type { InstanceView } from '../../service/instances.js';
import { formatList, formatShow } from './instances.js';
import { parseMode } from './serve.js';

const uuid = '5c1f8e5e-4b7e-4c8e-9f3b-0e2a1d7c9b10';
const view: InstanceView = {
  uuid,
  name: 'instance-00000001',
  power_state: 1,
  state: 'running',
  root: {
    source: '/dev/sdb',
    device: '/dev/loop3',
    partition: 1,
    fstype: 'ext4',
    offset: 1048576,
    size: 31457280,
    mount: null,
  },
  domain: { name: 'instance-00000001', uuid },
  journal: [],
};
const summary = [{ uuid, name: 'instance-00000001', power_state: 4, state: 'shut off' as const }];

describe('nova-lxc instances output', () => {
  it('lists as an openstackclient table', () => {
    expect(formatList(summary, 'table')).toBe(
      [
        '+--------------------------------------+-------------------+-------------+----------+',
        '| ID                                   | Name              | Power State | State    |',
        '+--------------------------------------+-------------------+-------------+----------+',
        `| ${uuid} | instance-00000001 | Shutdown    | shut off |`,
        '+--------------------------------------+-------------------+-------------+----------+',
      ].join('\n'),
    );
  });

  it.each([
    [
      'json',
      JSON.stringify(
        [{ ID: uuid, Name: 'instance-00000001', 'Power State': 'Shutdown', State: 'shut off' }],
        null,
        2,
      ),
    ],
    ['value', `${uuid} instance-00000001 Shutdown shut off`],
  ] as const)('lists as %s', (format, expected) => {
    expect(formatList(summary, format)).toBe(expected);
  });

  it('shows the device, partition, filesystem, mount and domain', () => {
    const table = formatShow(view, 'table');
    expect(table).toContain('| root_device    | /dev/loop3');
    expect(table).toContain('| root_partition | 1 ');
    expect(table).toMatch(/\| root_mount {5}\| not mounted on the host \(container only\) +\|/);
    expect(formatShow(view, 'value').split('\n').slice(0, 4)).toEqual([
      uuid,
      'instance-00000001',
      'Running',
      'running',
    ]);
    expect(JSON.parse(formatShow(view, 'json'))).toEqual(view);
  });

  it('shows a powered-off instance without a root', () => {
    expect(
      formatShow({ ...view, root: null, domain: null, power_state: 4, state: 'shut off' }, 'value'),
    ).toContain('Shutdown');
  });
});

describe('nova-lxc serve flags', () => {
  it.each([
    ['0660', 0o660],
    ['600', 0o600],
  ])('reads socket mode %s', (text, mode) => {
    expect(parseMode(text)).toBe(mode);
  });

  it('rejects a socket mode that is not octal, naming the flag', () => {
    expect(() => parseMode('rw-rw----')).toThrow(/--socket-mode/);
  });
});
