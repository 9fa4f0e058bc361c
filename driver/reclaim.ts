import { DriverError, hasCode } from './errors.js';
import {
  DEFAULT_STATE_DIR,
  InstanceJournalWriter,
  journalDir,
  parseJournal,
  type InstanceJournal,
  type JournalItem,
  type JournalTarget,
} from './journal.js';
import type { Host, LoopDevice, Logger } from './ports/index.js';
import { silentLogger } from './ports/logger.js';
import { describeHolder } from './core/state-holders.js';
import { sameAttachment, servesRecordedRange } from './core/rootfs-record.js';

/** What reclaim looks at, and whether it may act. */
export interface ReclaimOptions {
  /** `[DEFAULT]instances_path` of the driver whose leftovers are reclaimed. */
  instancesPath: string;
  /** The driver's state directory; default /var/lib/nova-lxc. */
  stateDir?: string;
  /** Only report what would be released. */
  dryRun?: boolean;
  /** How long to wait for a journalled domain to stop, in ms. Default 30 s. */
  destroyTimeoutMs?: number;
  /** How this process is named to a driver that finds it reclaiming. Default `nova-lxc reclaim`. */
  processName?: string;
  logger?: Logger;
}

/** One thing reclaim found, and what became of it. */
export interface ReclaimAction {
  /** The instance uuid it belongs to. */
  instance: string;
  /** What it is, e.g. `loop device /dev/loop3 (backed by /…/disk, offset 1048576)`. */
  what: string;
  outcome: 'released' | 'would release' | 'left alone' | 'failed';
  /** Why it was left alone, or the error of a failed release. */
  reason?: string;
}

/**
 * A release step's result: released (or would be), already gone, no longer ours (the entry
 * goes, the thing stays), or kept with the reason (the entry stays for another try).
 */
type Step =
  | { kind: 'released' }
  | { kind: 'gone' }
  | { kind: 'foreign'; reason: string }
  | { kind: 'kept'; reason: string };

const RELEASED: Step = { kind: 'released' };
const GONE: Step = { kind: 'gone' };
const kept = (reason: string): Step => ({ kind: 'kept', reason });
const foreign = (reason: string): Step => ({ kind: 'foreign', reason });

/**
 * Finds what crashed or failed operations left on the host and releases what it can prove is
 * this driver's, in the reverse order it was made:
 * 1. every instance journal with an unfinished operation: its domain (only with the journalled
 *    uuid), mounts (only while ours is the top layer), loop and nbd devices (only while they
 *    still show the journalled backing file, offset and size limit), and its directory;
 * 2. without a journal: loop and nbd devices over an instance disk (`<instances_path>/<uuid>/disk`)
 *    and mounts below `<instances_path>/<uuid>/`, of a uuid no journal and no domain claims.
 * A journal whose last operation finished is a live instance and is left alone. It refuses
 * (Busy, naming the process) while another live process holds the state directory: a driver
 * (the service) may be working on these instances. The service runs it at its own start.
 */
export async function reclaim(host: Host, options: ReclaimOptions): Promise<ReclaimAction[]> {
  const stateDir = options.stateDir ?? DEFAULT_STATE_DIR;
  // A dry run changes nothing, so it takes no hold; it still refuses beside a working process,
  // whose operations under way it would report as leftovers.
  if (!options.dryRun) {
    await host.journal.hold(stateDir, 'reclaim', options.processName ?? 'nova-lxc reclaim');
  }
  try {
    const other = (await host.journal.holders(stateDir))[0];
    if (other) {
      throw new DriverError(
        'Busy',
        `Failed to reclaim ${options.instancesPath}: ${describeHolder(other)} holds ${stateDir} and may be working on these instances`,
        {
          hint:
            other.role === 'reclaim'
              ? 'Another reclaim is running: let it finish.'
              : 'Stop it first (systemctl stop nova-lxc), then reclaim again; the service also reclaims by itself when it starts.',
          details: { pid: other.pid },
        },
      );
    }
    return await reclaimHeld(host, options, journalDir(stateDir));
  } finally {
    if (!options.dryRun) await host.journal.release(stateDir, 'reclaim');
  }
}

/** reclaim, once this process holds the state directory alone. */
async function reclaimHeld(
  host: Host,
  options: ReclaimOptions,
  dir: string,
): Promise<ReclaimAction[]> {
  const log = options.logger ?? silentLogger;
  const root = await canonicalRoot(host, options.instancesPath);
  const actions: ReclaimAction[] = [];
  const journals = new Map<string, InstanceJournal>();
  for (const key of await host.journal.keys(dir)) {
    const text = await host.journal.read(dir, key);
    if (text === null) continue;
    try {
      journals.set(key, parseJournal(key, text));
    } catch (error) {
      actions.push({
        instance: key,
        what: `journal record ${dir}/${key}.json`,
        outcome: 'left alone',
        reason: (error as Error).message,
      });
    }
  }
  const claimed = claimedDevices([...journals.values()]);
  for (const [uuid, record] of journals) {
    if (record.operation === null) {
      actions.push({
        instance: uuid,
        what: `instance ${uuid} (domain ${record.domain})`,
        outcome: 'left alone',
        reason: 'its last operation finished: a live instance',
      });
      continue;
    }
    const writer = await InstanceJournalWriter.open(host, dir, record);
    // A reboot or power off works on an instance that goes on existing: its devices and
    // mounts go, its definition (stopped) and directory (its disk) stay for a power on.
    const keepsInstance = record.operation === 'reboot' || record.operation === 'power-off';
    actions.push(
      ...(await releaseJournalled(host, writer, {
        instancesRoot: root,
        keep: keepsInstance ? 'instance' : 'nothing',
        dryRun: options.dryRun ?? false,
        claimed,
        destroyTimeoutMs: options.destroyTimeoutMs ?? 30_000,
      })),
    );
    if (!options.dryRun) {
      const left = writer.current.items;
      const settled =
        keepsInstance &&
        left.every((i) => i.target.kind === 'directory' || i.target.kind === 'domain');
      await writer.finish(settled);
    }
  }
  actions.push(...(await reclaimUnjournalled(host, root, new Set(journals.keys()), options)));
  for (const action of actions) {
    const line = describeAction(action);
    if (action.outcome === 'failed') log.error(line);
    else log.info(line);
  }
  return actions;
}

/** Options of releaseJournalled. */
export interface ReleaseJournalledOptions {
  /** Canonical instances_path: a journalled directory elsewhere is never removed. */
  instancesRoot: string;
  /**
   * What stays: nothing; the instance directory (destroy without destroy_disks); or the
   * instance (directory, and the domain's definition, stopped: a reboot or power off).
   */
  keep: 'nothing' | 'directory' | 'instance';
  dryRun: boolean;
  /** Devices other journal entries own (an intent is never matched to one of them). */
  claimed: ReadonlySet<string>;
  destroyTimeoutMs: number;
  /** Only the items this selects (default: all). */
  only?: (item: JournalItem) => boolean;
}

/**
 * Releases what one instance's journal still lists, newest first, each only with proof, and
 * drops each released entry from the journal. Used by reclaim and by destroy, which thereby
 * finds what a crash hid from Nova's record.
 */
export async function releaseJournalled(
  host: Host,
  writer: InstanceJournalWriter,
  options: ReleaseJournalledOptions,
): Promise<ReclaimAction[]> {
  const record = writer.current;
  const actions: ReclaimAction[] = [];
  const boot = await host.clock.bootId();
  for (const item of [...record.items].reverse()) {
    if (item.target.kind === 'directory' && options.keep !== 'nothing') continue;
    if (options.only && !options.only(item)) continue;
    const what = describeTarget(item.target);
    let step: Step;
    try {
      step = ofAnotherBoot(item, boot) ?? (await releaseItem(host, record, item, options));
    } catch (error) {
      actions.push({
        instance: record.uuid,
        what,
        outcome: 'failed',
        reason: error instanceof Error ? error.message : String(error),
      });
      continue;
    }
    if (step.kind === 'kept' || step.kind === 'foreign') {
      actions.push({ instance: record.uuid, what, outcome: 'left alone', reason: step.reason });
      if (step.kind === 'foreign' && !options.dryRun) await writer.drop((i) => i.id === item.id);
      continue;
    }
    if (!options.dryRun) await writer.drop((i) => i.id === item.id);
    if (step.kind === 'gone') continue;
    actions.push({
      instance: record.uuid,
      what,
      outcome: options.dryRun ? 'would release' : 'released',
    });
  }
  return actions;
}

/** Kernel state: what a reboot ends. Directories and domain definitions outlive it. */
export function isKernelTarget(target: JournalTarget): boolean {
  return target.kind === 'loop' || target.kind === 'nbd' || target.kind === 'mount';
}

/**
 * A loop or nbd device or a mount journalled in another boot of the host went with that
 * boot: whatever holds its number or mount point now was not made by this driver in this
 * boot, so it is never released; the entry goes.
 */
function ofAnotherBoot(item: JournalItem, boot: string): Step | undefined {
  if (item.boot === undefined || item.boot === boot || !isKernelTarget(item.target)) {
    return undefined;
  }
  return foreign(
    `made in boot ${item.boot}; the host has booted since (now ${boot}), so it went with that boot`,
  );
}

async function releaseItem(
  host: Host,
  record: InstanceJournal,
  item: JournalItem,
  options: ReleaseJournalledOptions,
): Promise<Step> {
  const target = item.target;
  const act = async (fn: () => Promise<void>): Promise<Step> => {
    if (!options.dryRun) await fn();
    return RELEASED;
  };
  switch (target.kind) {
    case 'domain': {
      const info = await host.hypervisor.info(target.name).catch((error: unknown) => {
        if (hasCode(error, 'NotFound')) return null;
        throw error;
      });
      if (info === null) return GONE;
      if (info.uuid !== target.uuid) {
        return foreign(`domain ${target.name} now has uuid ${info.uuid}`);
      }
      if (options.keep === 'instance') {
        if (!options.dryRun) await stopDomain(host, target.name, options.destroyTimeoutMs);
        return kept('its definition stays (stopped) for a power on');
      }
      return act(async () => {
        await stopDomain(host, target.name, options.destroyTimeoutMs);
        await host.hypervisor.undefine(target.name).catch((error: unknown) => {
          if (!hasCode(error, 'NotFound')) throw error;
        });
      });
    }
    case 'mount': {
      const mounts = await host.mounts.list();
      const here = mounts.filter((m) => m.target === target.target);
      if (here.length === 0) return GONE;
      const top = here[here.length - 1]!;
      if (top.source !== target.source) {
        return kept(`${top.source} is mounted over it, not ours`);
      }
      return act(() => host.mounts.unmount(target.target));
    }
    case 'loop': {
      const loops = await host.blockDevices.listLoops();
      const matches = loops.filter((l) => servesRecordedRange(l, target));
      let device: string | undefined;
      if (target.device !== undefined) {
        const same = matches.find((l) => l.device === target.device);
        if (same === undefined) {
          return loops.some((l) => l.device === target.device)
            ? foreign(`${target.device} now backs something else`)
            : GONE;
        }
        if (!sameAttachment(target.diskseq, same.diskseq)) {
          return foreign(
            `${target.device} was detached and attached again since (diskseq ${String(same.diskseq)}, journalled ${String(target.diskseq)})`,
          );
        }
        device = same.device;
      } else {
        // Only the intent was written: the attach may or may not have happened.
        const free = matches.filter((l) => !options.claimed.has(l.device));
        if (free.length === 0) return GONE;
        if (free.length > 1) {
          return kept(
            `${free.length} unclaimed devices match (${free.map((l) => l.device).join(', ')}); cannot tell which is ours`,
          );
        }
        device = free[0]!.device;
      }
      const chosen = device;
      return act(async () => {
        try {
          await host.blockDevices.detachLoop(chosen);
        } catch (error) {
          if (!hasCode(error, 'NotFound')) throw error;
        }
      });
    }
    case 'nbd': {
      const matches = (await host.nbd.list()).filter((c) => c.file === target.file);
      const candidates =
        target.device !== undefined
          ? matches.filter((c) => c.device === target.device)
          : matches.filter((c) => !options.claimed.has(c.device));
      if (candidates.length === 0) return GONE;
      if (candidates.length > 1) {
        return kept(`${candidates.length} unclaimed nbd devices serve ${target.file}`);
      }
      const device = candidates[0]!.device;
      return act(async () => {
        try {
          await host.nbd.disconnect(device);
        } catch (error) {
          if (!hasCode(error, 'NotFound')) throw error;
        }
      });
    }
    case 'directory': {
      if (target.path !== `${options.instancesRoot}/${record.uuid}`) {
        return kept(`not ${options.instancesRoot}/${record.uuid}`);
      }
      if (!(await host.files.exists(target.path))) return GONE;
      return act(() => host.files.removeTree(target.path));
    }
  }
}

/** Stops a domain, waiting (bounded, on the clock) until it is shut off. */
async function stopDomain(host: Host, name: string, timeoutMs: number): Promise<void> {
  const deadline = host.clock.now() + timeoutMs;
  for (let first = true; ; first = false) {
    const info = await host.hypervisor.info(name).catch((error: unknown) => {
      if (hasCode(error, 'NotFound')) return null;
      throw error;
    });
    if (info === null) return;
    if (info.state === 'shut off' || info.state === 'shutdown' || info.state === 'crashed') return;
    if (first) {
      await host.hypervisor.destroy(name).catch((error: unknown) => {
        if (!hasCode(error, 'NotFound', 'FailedPrecondition', 'Busy')) throw error;
      });
      continue;
    }
    if (host.clock.now() >= deadline) {
      throw new DriverError(
        'Timeout',
        `Failed to stop domain ${name}: still running after ${timeoutMs} ms`,
        { hint: 'Check its processes (virsh -c lxc:/// dominfo), then run reclaim again.' },
      );
    }
    await host.clock.sleep(500);
  }
}

/** Devices that finished journal entries own. */
export function claimedDevices(journals: InstanceJournal[]): Set<string> {
  const claimed = new Set<string>();
  for (const record of journals) {
    for (const item of record.items) {
      const target = item.target;
      if ((target.kind === 'loop' || target.kind === 'nbd') && target.device !== undefined) {
        claimed.add(target.device);
      }
    }
  }
  return claimed;
}

/** Reads every stored journal; malformed ones are skipped (reclaim reports them). */
export async function readJournals(host: Host, stateDir: string): Promise<InstanceJournal[]> {
  const dir = journalDir(stateDir);
  const out: InstanceJournal[] = [];
  for (const key of await host.journal.keys(dir)) {
    const text = await host.journal.read(dir, key);
    if (text === null) continue;
    try {
      out.push(parseJournal(key, text));
    } catch {
      // Reported by reclaim; never guessed at here.
    }
  }
  return out;
}

/** Orphans no journal names: instance-disk devices and mounts of a uuid nobody claims. */
async function reclaimUnjournalled(
  host: Host,
  root: string,
  journalled: ReadonlySet<string>,
  options: ReclaimOptions,
): Promise<ReclaimAction[]> {
  const domains = new Set((await host.hypervisor.list()).map((d) => d.uuid));
  /** The unclaimed instance `path` belongs to, or undefined. */
  const orphanOf = (path: string, below: (rest: string) => boolean): string | undefined => {
    if (!path.startsWith(`${root}/`)) return undefined;
    const rest = path.slice(root.length + 1);
    const uuid = rest.split('/')[0] ?? '';
    if (uuid === '' || uuid === '.' || uuid === '..' || !below(rest.slice(uuid.length))) {
      return undefined;
    }
    return journalled.has(uuid) || domains.has(uuid) ? undefined : uuid;
  };
  const isDisk = (rest: string) => rest === '/disk';
  const actions: ReclaimAction[] = [];
  const run = async (instance: string, what: string, fn: () => Promise<void>) => {
    if (options.dryRun) {
      actions.push({ instance, what, outcome: 'would release' });
      return;
    }
    try {
      await fn();
      actions.push({ instance, what, outcome: 'released' });
    } catch (error) {
      actions.push({ instance, what, outcome: 'failed', reason: (error as Error).message });
    }
  };
  for (const mount of [...(await host.mounts.list())].reverse()) {
    const uuid = orphanOf(mount.target, (rest) => rest.startsWith('/'));
    if (uuid === undefined) continue;
    await run(uuid, `mount of ${mount.source} on ${mount.target}`, () =>
      host.mounts.unmount(mount.target),
    );
  }
  // Loop devices over an instance disk, and those stacked over them, outermost first.
  const loops = await host.blockDevices.listLoops();
  const owner = new Map<string, string>();
  for (let grew = true; grew;) {
    grew = false;
    for (const loop of loops) {
      if (owner.has(loop.device)) continue;
      const backing = loop.backingFile.replace(/ \(deleted\)$/, '');
      const uuid = owner.get(backing) ?? orphanOf(backing, isDisk);
      if (uuid !== undefined) {
        owner.set(loop.device, uuid);
        grew = true;
      }
    }
  }
  const depth = (device: string): number => {
    const backing = loops.find((l) => l.device === device)?.backingFile ?? '';
    return owner.has(backing) ? 1 + depth(backing) : 0;
  };
  for (const device of [...owner.keys()].sort((a, b) => depth(b) - depth(a))) {
    const loop = loops.find((l) => l.device === device)!;
    await run(owner.get(device)!, describeLoop(loop), () => host.blockDevices.detachLoop(device));
  }
  for (const connection of await host.nbd.list()) {
    const uuid = orphanOf(connection.file, isDisk);
    if (uuid === undefined) continue;
    await run(uuid, `nbd device ${connection.device} (serving ${connection.file})`, () =>
      host.nbd.disconnect(connection.device),
    );
  }
  return actions;
}

async function canonicalRoot(host: Host, instancesPath: string): Promise<string> {
  if (!instancesPath.startsWith('/')) {
    throw new DriverError(
      'InvalidInput',
      `Failed to reclaim: instances_path must be an absolute path, got ${JSON.stringify(instancesPath)}`,
    );
  }
  const root = instancesPath.replace(/\/+$/, '') || '/';
  const canonical = await host.files.realpath(root).catch((error: unknown) => {
    if (hasCode(error, 'NotFound')) return root;
    throw error;
  });
  return canonical.replace(/\/+$/, '');
}

function describeLoop(loop: LoopDevice): string {
  return `loop device ${loop.device} (backed by ${loop.backingFile}, offset ${loop.offset}, size limit ${loop.sizeLimit})`;
}

/** A journal target in words, for reports. */
export function describeTarget(target: JournalTarget): string {
  switch (target.kind) {
    case 'directory':
      return `directory ${target.path}`;
    case 'loop':
      return `${target.role} loop device ${target.device ?? '(attach not confirmed)'} (backed by ${target.backingFile}, offset ${target.offset}, size limit ${target.sizeLimit})`;
    case 'nbd':
      return `nbd device ${target.device ?? '(connect not confirmed)'} (serving ${target.file})`;
    case 'mount':
      return `mount of ${target.source} on ${target.target}`;
    case 'domain':
      return `domain ${target.name} (uuid ${target.uuid})`;
  }
}

/** One report line: `released loop device … [instance <uuid>]`. */
export function describeAction(action: ReclaimAction): string {
  const reason = action.reason ? `: ${action.reason}` : '';
  return `${action.outcome} ${action.what} [instance ${action.instance}]${reason}`;
}
