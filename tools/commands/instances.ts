import Table from 'cli-table3';
import { Option, type Command } from 'commander';
import { ServiceClient } from '../../service/client.js';
import { DEFAULTS } from '../../service/index.js';
import type { InstanceSummary, InstanceView } from '../../service/instances.js';

/** openstackclient's output formats. */
export type Format = 'table' | 'json' | 'value';

/** Nova's power state names (nova/compute/power_state.py STATE_MAP). */
const POWER_NAMES: Record<number, string> = {
  0: 'NOSTATE',
  1: 'Running',
  3: 'Paused',
  4: 'Shutdown',
  6: 'Crashed',
  7: 'Suspended',
};

/** A grid like openstackclient's (cliff + PrettyTable): `+---+` borders, one header row. */
function grid(head: string[], rows: string[][]): string {
  const table = new Table({
    head,
    style: { head: [], border: [], compact: false },
    chars: {
      top: '-',
      'top-mid': '+',
      'top-left': '+',
      'top-right': '+',
      bottom: '-',
      'bottom-mid': '+',
      'bottom-left': '+',
      'bottom-right': '+',
      left: '|',
      'left-mid': '+',
      mid: '-',
      'mid-mid': '+',
      right: '|',
      'right-mid': '+',
      middle: '|',
    },
  });
  table.push(...rows);
  // cli-table3 puts a rule between every row; PrettyTable only under the header.
  const lines = table.toString().split('\n');
  return lines
    .filter((line, i) => i <= 2 || i === lines.length - 1 || !line.startsWith('+'))
    .join('\n');
}

/** `instances list`, formatted. */
export function formatList(instances: InstanceSummary[], format: Format): string {
  const head = ['ID', 'Name', 'Power State', 'State'];
  const rows = instances.map((i) => [
    i.uuid,
    i.name,
    POWER_NAMES[i.power_state] ?? String(i.power_state),
    i.state,
  ]);
  if (format === 'json') {
    return JSON.stringify(
      rows.map((r) => Object.fromEntries(head.map((h, k) => [h, r[k]]))),
      null,
      2,
    );
  }
  if (format === 'value') return rows.map((r) => r.join(' ')).join('\n');
  return grid(head, rows);
}

/** The fields `instances show` prints, in order. */
function fields(view: InstanceView): [string, string][] {
  const root = view.root;
  const show = (v: unknown) => (v === null || v === undefined ? '' : String(v));
  return [
    ['id', view.uuid],
    ['name', view.name],
    ['power_state', POWER_NAMES[view.power_state] ?? String(view.power_state)],
    ['state', view.state],
    ['domain', view.domain ? `${view.domain.name} (${view.domain.uuid})` : ''],
    ['root_source', show(root?.source)],
    ['root_device', show(root?.device)],
    [
      'root_partition',
      root ? (root.partition === null ? 'whole device' : String(root.partition)) : '',
    ],
    ['root_fstype', show(root?.fstype)],
    ['root_offset', show(root?.offset)],
    ['root_size', show(root?.size)],
    ['root_mount', root ? (root.mount ?? 'not mounted on the host (container only)') : ''],
    ['journal', view.journal.map((e) => JSON.stringify(e)).join('\n')],
  ];
}

/** `instances show`, formatted. */
export function formatShow(view: InstanceView, format: Format): string {
  if (format === 'json') return JSON.stringify(view, null, 2);
  const rows = fields(view);
  if (format === 'value') return rows.map(([, v]) => v).join('\n');
  return grid(
    ['Field', 'Value'],
    rows.map(([k, v]) => [k, v]),
  );
}

const formatOption = () =>
  new Option('-f, --format <format>', 'output format')
    .choices(['table', 'json', 'value'])
    .default('table');

/** Registers `nova-lxc instances list|show`. */
export function registerInstancesCommand(program: Command): void {
  const instances = program
    .command('instances')
    .description("The service's instances, as an operator sees them");
  const socket = (cmd: Command) =>
    cmd.option('--socket <path>', "the service's unix socket", DEFAULTS.socketPath);
  socket(
    instances
      .command('list')
      .description('List instances: id, name, power state, libvirt state')
      .addOption(formatOption()),
  ).action(async (options: { format: Format; socket: string }) => {
    const client = new ServiceClient(options.socket);
    try {
      const { instances: list } = await client.call<{ instances: InstanceSummary[] }>(
        'GET',
        '/v1/instances',
      );
      console.log(formatList(list, options.format));
    } finally {
      client.close();
    }
  });
  socket(
    instances
      .command('show')
      .description('Show one instance: device, partition, filesystem, mount, domain state, journal')
      .argument('<uuid>', 'the instance UUID')
      .addOption(formatOption()),
  ).action(async (uuid: string, options: { format: Format; socket: string }) => {
    const client = new ServiceClient(options.socket);
    try {
      const view = await client.call<InstanceView>(
        'GET',
        `/v1/instances/${encodeURIComponent(uuid)}`,
      );
      console.log(formatShow(view, options.format));
    } finally {
      client.close();
    }
  });
}
