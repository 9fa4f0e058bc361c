import { DriverError } from '../errors.js';
import type { DomainState } from '../ports/hypervisor.js';

/** virsh's printed state names (libvirt virshDomainStateToString) → the port's names. */
const VIRSH_STATES: Readonly<Record<string, DomainState>> = {
  'no state': 'nostate',
  running: 'running',
  idle: 'blocked',
  blocked: 'blocked',
  paused: 'paused',
  'in shutdown': 'shutdown',
  'shut off': 'shut off',
  crashed: 'crashed',
  pmsuspended: 'pmsuspended',
};

function bad(what: string, text: string): DriverError {
  return new DriverError('Internal', `Failed to parse ${what}: ${JSON.stringify(text)}`);
}

/** Parses a state name as virsh prints it (`virsh domstate`, dominfo's `State:`). */
export function parseDomainState(text: string): DomainState {
  const state = VIRSH_STATES[text.trim()];
  if (!state) throw bad('virsh domain state', text);
  return state;
}

/** Parses `virsh domstate NAME`: the first non-empty line is the state. */
export function parseDomstate(stdout: string): DomainState {
  const line = stdout.split('\n').find((candidate) => candidate.trim() !== '');
  if (line === undefined) throw bad('virsh domstate output', stdout);
  return parseDomainState(line);
}

/** Parses `virsh list --all --name`: one name per line, blank lines dropped. */
export function parseListNames(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/** The fields of `virsh dominfo NAME` the adapter uses. */
export interface Dominfo {
  name: string;
  uuid: string;
  state: DomainState;
  persistent: boolean;
  /** The domain id, or null while inactive (`-`). */
  id: number | null;
}

/** Parses `virsh dominfo NAME` ("Key:   value" lines). */
export function parseDominfo(stdout: string): Dominfo {
  const fields = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const match = /^([^:]+):\s*(.*)$/.exec(line.trim());
    if (match) fields.set(match[1] as string, (match[2] as string).trim());
  }
  const name = fields.get('Name');
  const uuid = fields.get('UUID');
  const state = fields.get('State');
  const persistent = fields.get('Persistent');
  if (!name || !uuid || !state || (persistent !== 'yes' && persistent !== 'no')) {
    throw bad('virsh dominfo output', stdout);
  }
  const id = fields.get('Id');
  return {
    name,
    uuid,
    state: parseDomainState(state),
    persistent: persistent === 'yes',
    id: id && /^\d+$/.test(id) ? Number(id) : null,
  };
}

/** Parses `virsh define FILE` output: "Domain 'NAME' defined from FILE". */
export function parseDefinedName(stdout: string): string {
  const match = /Domain '(.+)' defined from /.exec(stdout);
  if (!match) throw bad('virsh define output', stdout);
  return match[1] as string;
}

/** The init pid libvirt records for a running LXC domain (/run/libvirt/lxc/NAME.xml). */
export function parseLxcStatusInitPid(xml: string): number | null {
  const match = /<init\s+pid=['"](\d+)['"]/.exec(xml);
  return match ? Number(match[1]) : null;
}

/** The domain name inside a domain XML document (what `define` will key it by). */
export function domainNameOf(xml: string): string | null {
  const match = /<name>\s*([^<]+?)\s*<\/name>/.exec(xml);
  return match ? (match[1] as string) : null;
}

/** The first `<uuid>` of a domain (or status) XML document, as written. */
export function domainUuidOf(xml: string): string | null {
  const match = /<uuid>\s*([^<]+?)\s*<\/uuid>/.exec(xml);
  return match ? (match[1] as string) : null;
}

/** A uuid as libvirt prints it (lower-case, dashed), or null when it is not one. */
export function canonicalUuid(text: string | null): string | null {
  const hex = (text ?? '').replace(/[-\s]/g, '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) return null;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
