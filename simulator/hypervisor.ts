import { posix } from 'node:path';
import { parseLxcDomainXml } from './domain-xml-parser.js';
import { DriverError } from '../driver/errors.js';
import { DOMAIN_NAME_MAX } from '../driver/nova/model.js';
import type { DomainInfo, Hypervisor } from '../driver/ports/hypervisor.js';
import type { MountEntry } from '../driver/ports/mounts.js';
import type { FakeClock } from './fake-clock.js';
import { lxcNoInit, notModelled, toolFailure, virshFailed, virshNoDomain } from './failures.js';
import { interpretInit, type InitEffect } from './init-script.js';
import { toEntry } from './mounts.js';
import type { SimDomain, SimFilesystem, SimState, Tree } from './state.js';

const URI = 'lxc:///';

/** The container's console: libvirt LXC gives it a pty, whose host end readConsole drains. */
const CONSOLE = '/dev/console';

/**
 * libvirt's LXC driver in memory: parses the driver's XML, gives each started container a
 * private copy of its root mount, runs the init script, and fails as libvirt does.
 */
export class SimulatedHypervisor implements Hypervisor {
  /** When each started domain's init pid becomes known, on the clock. */
  private readonly initPidAt = new Map<string, number>();
  /** Cancels of each running domain's pending init steps (a sleep's rest, heartbeats). */
  private readonly timers = new Map<string, (() => void)[]>();
  /** Domains whose init exits on the shutdown request (stopsOnShutdown). */
  private readonly stopsOnShutdownNames = new Set<string>();

  constructor(
    private readonly state: SimState,
    private readonly clock: FakeClock,
  ) {}

  async define(xml: string): Promise<DomainInfo> {
    const argv = ['virsh', '-c', URI, 'define', '/dev/stdin'];
    let spec;
    try {
      spec = parseLxcDomainXml(xml);
    } catch (error) {
      if (/<name> is missing or empty/.test(String((error as Error).message))) {
        throw virshDefineFailed(argv, 'missing name information');
      }
      throw error;
    }
    checkDomainName(argv, spec.name);
    const existing = this.state.domains.get(spec.name);
    if (existing && existing.uuid !== spec.uuid) {
      throw new DriverError(
        'AlreadyExists',
        `Failed to define domain: operation failed: domain '${spec.name}' already exists with uuid ${existing.uuid}`,
        { details: { argv } },
      );
    }
    const clash = [...this.state.domains.values()].find(
      (d) => d.uuid === spec.uuid && d.name !== spec.name,
    );
    if (clash) {
      throw new DriverError(
        'AlreadyExists',
        `Failed to define domain: operation failed: domain '${clash.name}' already exists with uuid ${spec.uuid}`,
        { details: { argv } },
      );
    }
    if (existing) {
      existing.xml = xml;
      existing.spec = spec;
      existing.persistent = true;
      return describe(existing);
    }
    const domain: SimDomain = {
      name: spec.name,
      uuid: spec.uuid,
      xml,
      spec,
      state: 'shut off',
      persistent: true,
      namespace: [],
    };
    this.state.domains.set(spec.name, domain);
    return describe(domain);
  }

  async start(name: string): Promise<DomainInfo> {
    const argv = ['virsh', '-c', URI, 'start', name];
    const domain = this.get(name, argv, 'start domain');
    if (domain.state === 'running') {
      throw virshFailed(
        'FailedPrecondition',
        argv,
        'start domain',
        'start',
        name,
        'Requested operation is not valid: domain is already running',
      );
    }
    for (const disk of domain.spec.disks) {
      if (!this.state.isBlockDevice(disk.sourceDev)) {
        throw virshFailed(
          'NotFound',
          argv,
          'start domain',
          'start',
          name,
          `Cannot access storage file '${disk.sourceDev}': No such file or directory`,
        );
      }
    }
    const rootDir = posix.resolve('/', domain.spec.rootfsDir);
    const where = this.state.resolveHostPath(rootDir);
    const init = domain.spec.init;
    if (!where.mount || where.rel !== '/') {
      // A container rooted on a plain host directory: only the missing-init outcome is modelled.
      if (!exists(where.tree, posix.join(where.rel, init))) {
        throw lxcNoInit(argv, name, init);
      }
      throw notModelled(
        `start of domain '${name}'`,
        `a container root that is not a mounted filesystem (${rootDir})`,
      );
    }
    const fs = where.mount.fs;
    if (!exists(fs.tree, init)) {
      throw lxcNoInit(argv, name, init);
    }
    const effects = interpretInit(String(fs.tree.readFileSync(init, 'utf8')), init);
    // The container gets its own namespace: a copy of the root mount, independent of the host's.
    domain.namespace = [{ ...where.mount, target: '/' }];
    domain.state = 'running';
    domain.console = '';
    this.initPidAt.set(name, this.clock.now() + this.state.initPidDelayMs);
    this.timers.set(name, []);
    this.runInit(domain, fs, effects);
    // Right after the start, before any later event on the clock: an init that exits at once
    // has already stopped the domain.
    return describe(domain);
  }

  /**
   * Runs an init's effects from the start: up to a `sleep`, whose rest runs that many seconds
   * later on the clock; a heartbeat beats on the clock until the domain stops.
   */
  private runInit(domain: SimDomain, fs: SimFilesystem, effects: InitEffect[]): void {
    for (const [i, effect] of effects.entries()) {
      switch (effect.kind) {
        case 'write':
          if (effect.path === CONSOLE) {
            // The tty's output processing turns \n into \r\n, as the real pty shows.
            domain.console += effect.content.replace(/\r?\n/g, '\r\n');
          } else {
            this.writeFile(domain, fs, effect.path, effect.content);
          }
          break;
        case 'environ':
          this.writeFile(domain, fs, effect.path, initEnviron(domain));
          break;
        case 'fill':
          this.fill(domain, fs, effect.path, effect.statusTo);
          break;
        case 'heartbeat':
          this.beat(domain, fs, effect.path, effect.everyS, 1);
          break;
        case 'sleep':
          this.later(domain, effect.seconds, () => this.runInit(domain, fs, effects.slice(i + 1)));
          return;
        case 'exit':
          // libvirt reports `shut off (shutdown)` whatever the status (0 or not), as after a
          // SIGKILL of the init: measured with libvirt 9.0 (scenarios/README.md).
          this.stop(domain);
          return;
        case 'run':
          return;
      }
    }
  }

  /** Runs `then` after `seconds` on the clock, unless the domain stops first. */
  private later(domain: SimDomain, seconds: number, then: () => void): void {
    const cancel = this.clock.at(this.clock.now() + seconds * 1000, then);
    this.timers.get(domain.name)?.push(cancel);
  }

  /** One beat: the counter to `<path>.tmp`, renamed over `path` if that write succeeded. */
  private beat(
    domain: SimDomain,
    fs: SimFilesystem,
    path: string,
    everyS: number,
    n: number,
  ): void {
    const tmp = `${path}.tmp`;
    if (this.writeFile(domain, fs, tmp, String(n))) fs.tree.renameSync(tmp, path);
    this.later(domain, everyS, () => this.beat(domain, fs, path, everyS, n + 1));
  }

  /**
   * `printf '%s' C > path` (and `cat > path`) inside the container: a missing parent fails and
   * the script goes on; the file is created (or truncated) first, so on a full filesystem it
   * stays empty. Returns whether the whole content was written.
   */
  private writeFile(domain: SimDomain, fs: SimFilesystem, path: string, content: string): boolean {
    if (!exists(fs.tree, posix.dirname(path))) return false;
    const created = !exists(fs.tree, path);
    fs.tree.writeFileSync(path, '');
    if (created) {
      // A new file belongs to the container's root: in a user namespace that is the host id
      // its root maps to; the shell's umask 022 leaves 0644.
      const { uid, gid } = domain.spec.idmap;
      fs.tree.lchownSync(path, hostRoot(uid), hostRoot(gid));
      fs.tree.chmodSync(path, 0o644);
    }
    const bytes = Buffer.from(content);
    if (blocks(bytes.length) > freeBlocks(fs)) return false;
    fs.tree.writeFileSync(path, bytes);
    return true;
  }

  /**
   * `dd if=/dev/zero of=path bs=65536` until the filesystem is full, then its status (1: no
   * space left) written over the start of `statusTo` in place (`dd conv=notrunc`).
   */
  private fill(domain: SimDomain, fs: SimFilesystem, path: string, statusTo: string): void {
    if (fs.capacity === undefined) {
      throw notModelled(`init ${domain.spec.init}`, 'filling a filesystem of unknown size');
    }
    // Whatever stops dd (no space left, or no directory to create the file in), it exits 1.
    if (this.writeFile(domain, fs, path, '')) {
      fs.tree.writeFileSync(path, Buffer.alloc(freeBlocks(fs) * BLOCK));
    }
    if (!exists(fs.tree, posix.dirname(statusTo))) return;
    const status = Buffer.from('1');
    if (!exists(fs.tree, statusTo)) {
      this.writeFile(domain, fs, statusTo, status.toString());
      return;
    }
    const old = Buffer.from(fs.tree.readFileSync(statusTo) as Buffer);
    const grown = Math.max(old.length, status.length);
    if (blocks(grown) > blocks(old.length) + freeBlocks(fs)) return;
    const next = Buffer.alloc(grown);
    old.copy(next);
    status.copy(next);
    fs.tree.writeFileSync(statusTo, next);
  }

  async destroy(name: string): Promise<void> {
    const argv = ['virsh', '-c', URI, 'destroy', name];
    const domain = this.get(name, argv, 'destroy domain');
    if (domain.state !== 'running') {
      throw virshFailed(
        'FailedPrecondition',
        argv,
        'destroy domain',
        'destroy',
        name,
        'Requested operation is not valid: domain is not running',
      );
    }
    this.stop(domain);
  }

  async shutdown(name: string): Promise<void> {
    const argv = ['virsh', '-c', URI, 'shutdown', name];
    const domain = this.get(name, argv, 'shut down domain');
    if (domain.state !== 'running') {
      throw virshFailed(
        'FailedPrecondition',
        argv,
        'shut down domain',
        'shutdown',
        name,
        'Requested operation is not valid: domain is not running',
      );
    }
    // The inits the simulator runs are busybox sh (waiting in `sleep after_s`) or end in
    // `exec busybox sleep`: both run on (seen on the real host: init-over-time). PID 1 ignores
    // a signal it has no handler for, and libvirt 9.0's default-mode shutdown sent none to a
    // trapping init there either (power.test.ts). A domain named to stopsOnShutdown has an
    // init that gets and handles the request: it exits, and libvirt notices a moment later.
    if (this.stopsOnShutdownNames.has(name)) {
      this.later(domain, 0, () => {
        if (domain.state === 'running') this.stop(domain);
      });
    }
  }

  /**
   * Not a port: from now on the init of domain `name` exits on the shutdown request's SIGTERM,
   * as a busybox init with `trap 'exit 0' TERM` does on the real host (the fixture inits of
   * harness/disk-spec.ts ignore it). Holds across restarts of the domain, as the init file does.
   */
  stopsOnShutdown(name: string): void {
    this.stopsOnShutdownNames.add(name);
  }

  async readConsole(name: string): Promise<string> {
    const domain = this.get(name, ['virsh', '-c', URI, 'dumpxml', name], 'read domain XML');
    if (domain.state !== 'running') return '';
    const output = domain.console ?? '';
    domain.console = '';
    return output;
  }

  async undefine(name: string): Promise<void> {
    const argv = ['virsh', '-c', URI, 'undefine', name];
    const domain = this.get(name, argv, 'undefine domain');
    if (domain.state === 'running') {
      // libvirt turns a running persistent domain transient; it vanishes when it stops.
      domain.persistent = false;
      return;
    }
    this.state.domains.delete(name);
  }

  async info(name: string): Promise<DomainInfo> {
    const argv = ['virsh', '-c', URI, 'dominfo', name];
    const domain = this.get(name, argv, 'get domain info');
    if (domain.state === 'running' && this.clock.now() < (this.initPidAt.get(name) ?? 0)) {
      // libvirt answers so while libvirt_lxc has not reported the container's init yet.
      throw toolFailure(
        'CommandFailed',
        'get domain info',
        argv,
        1,
        'error: failed to get domain info\nerror: Requested operation is not valid: Init pid is not yet available\n',
      );
    }
    return describe(domain);
  }

  async list(): Promise<DomainInfo[]> {
    return [...this.state.domains.values()].map(describe);
  }

  async containerRoot(name: string): Promise<MountEntry> {
    const domain = this.get(name, ['virsh', '-c', URI, 'dominfo', name], 'get domain info');
    const root = domain.namespace.find((m) => m.target === '/');
    if (domain.state !== 'running' || !root) {
      throw new DriverError(
        'FailedPrecondition',
        `Failed to read the container root of ${name}: the domain is ${domain.state}`,
      );
    }
    return toEntry(root);
  }

  /**
   * Not a port: what another process on the host sees and does. The ids the running init has
   * (root inside; on the host, the id its root maps to), null when the domain is not running.
   */
  initIds(name: string): { uid: number; gid: number; hostUid: number; hostGid: number } | null {
    const domain = this.state.domains.get(name);
    if (domain?.state !== 'running') return null;
    const { uid, gid } = domain.spec.idmap;
    return { uid: 0, gid: 0, hostUid: hostRoot(uid), hostGid: hostRoot(gid) };
  }

  /**
   * Not a port: SIGKILL of the running domain's init by another process. The container ends as
   * when its init exits: libvirt reports `shut off (shutdown)` (measured, scenarios/README.md).
   */
  killInit(name: string): void {
    const domain = this.state.domains.get(name);
    if (domain?.state !== 'running') {
      throw new DriverError(
        'FailedPrecondition',
        `Failed to kill the init of ${name}: it has no running init that is provably its own`,
      );
    }
    this.stop(domain);
  }

  private get(name: string, argv: string[], action: string): SimDomain {
    const domain = this.state.domains.get(name);
    if (!domain) {
      throw virshNoDomain(argv, action, name);
    }
    return domain;
  }

  /** A host reboot: every running domain stops (its init's timers with it), as in stop(). */
  stopAllForReboot(): void {
    for (const domain of [...this.state.domains.values()]) {
      if (domain.state !== 'shut off') this.stop(domain);
    }
  }

  private stop(domain: SimDomain): void {
    domain.state = 'shut off';
    domain.namespace = [];
    domain.console = '';
    this.initPidAt.delete(domain.name);
    for (const cancel of this.timers.get(domain.name) ?? []) cancel();
    this.timers.delete(domain.name);
    if (!domain.persistent) {
      this.state.domains.delete(domain.name);
    }
    this.state.settleAutoclear();
  }
}

function describe(domain: SimDomain): DomainInfo {
  return {
    name: domain.name,
    uuid: domain.uuid,
    state: domain.state,
    persistent: domain.persistent,
  };
}

/** The block size the simulator counts file data in. */
const BLOCK = 4096;

/** Blocks `bytes` of file data take. */
function blocks(bytes: number): number {
  return Math.ceil(bytes / BLOCK);
}

/**
 * Blocks left for file data: a tenth of the filesystem's size goes to its metadata (ext4's
 * inode tables and journal take about that on the few-MiB fixtures), the rest to the data of
 * its regular files. Unbounded when the size is not known.
 */
function freeBlocks(fs: SimFilesystem): number {
  if (fs.capacity === undefined) return Number.MAX_SAFE_INTEGER;
  const usable = Math.floor((fs.capacity * 0.9) / BLOCK);
  return Math.max(0, usable - usedBlocks(fs.tree, '/'));
}

function usedBlocks(tree: Tree, dir: string): number {
  let used = 0;
  for (const name of tree.readdirSync(dir) as string[]) {
    const path = posix.join(dir, name);
    const stat = tree.lstatSync(path);
    if (stat.isDirectory()) used += usedBlocks(tree, path);
    else if (stat.isFile()) used += blocks(Number(stat.size));
  }
  return used;
}

/**
 * The environment libvirt LXC (9.0) starts a container's init with, in its order: measured
 * with `cat /proc/1/environ` in a fixture init on our hosts (scenarios/README.md).
 */
export function initEnviron(domain: SimDomain): string {
  const uuid = domain.spec.uuid.toLowerCase();
  const vars: [string, string][] = [
    ['PATH', '/bin:/sbin'],
    ['TERM', 'linux'],
    ['container', 'lxc-libvirt'],
    ['HOME', '/'],
    ['container_uuid', uuid],
    ['LIBVIRT_LXC_UUID', uuid],
    ['LIBVIRT_LXC_NAME', domain.name],
    ...(domain.spec.cmdline
      ? [['LIBVIRT_LXC_CMDLINE', domain.spec.cmdline] as [string, string]]
      : []),
    ...Object.entries(domain.spec.initenv),
  ];
  return vars.map(([k, v]) => `${k}=${v}\0`).join('');
}

function exists(tree: Tree, path: string): boolean {
  try {
    tree.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The host id the container's root (guest id 0) runs as: 0 without a user namespace. */
function hostRoot(maps: readonly { start: number; target: number; count: number }[]): number {
  const map = maps.find((m) => m.start === 0 && m.count > 0);
  return map ? map.target : 0;
}

/** `virsh define` failing with libvirt's error line (libvirt 9.0, captured on our hosts). */
function virshDefineFailed(argv: string[], error: string) {
  return toolFailure(
    'InvalidInput',
    'define domain',
    argv,
    1,
    `error: Failed to define domain from ${argv[argv.length - 1]}\nerror: ${error}\n`,
  );
}

// libvirt keeps a persistent LXC domain in /etc/libvirt/lxc/<name>.xml, written through
// <name>.xml.new: a name longer than NAME_MAX minus those 8 bytes (DOMAIN_NAME_MAX) cannot be defined.

/** Refuses the names libvirt 9.0 refuses, with its texts (captured with virsh define on our hosts). */
function checkDomainName(argv: string[], name: string): void {
  if (name.includes('/')) {
    throw virshDefineFailed(argv, `XML error: name ${name} cannot contain '/'`);
  }
  if (name.includes('\n')) throw virshDefineFailed(argv, 'invalid char in name: \n');
  if (new TextEncoder().encode(name).length > DOMAIN_NAME_MAX) {
    throw virshDefineFailed(
      argv,
      `Failed to create file '/etc/libvirt/lxc/${name}.xml.new': File name too long`,
    );
  }
}
