import { waitUntil, type Attempt } from '../core/wait.js';
import { DriverError, hasCode } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type { DomainInfo, Hypervisor } from '../ports/hypervisor.js';
import type { MountEntry } from '../ports/mounts.js';
import type { CommandRunner } from './command-runner.js';
import * as commands from './commands.js';
import { parseMountinfo, toMountEntry } from './parse-mountinfo.js';
import {
  canonicalUuid,
  domainNameOf,
  domainUuidOf,
  parseDominfo,
  parseListNames,
  parseLxcStatusInitPid,
} from './parse-virsh.js';
import { procStartTimeOf, procStateOf } from './proc-stat.js';
import { SystemClock } from './system-clock.js';
import type { SystemFiles } from './system-files.js';
import { VIRSH_ERRORS, classifyBy } from './tool-errors.js';

const classify = classifyBy(VIRSH_ERRORS);

/** Where libvirt's LXC driver keeps a running domain's status XML (with the init pid). */
export const LXC_STATE_DIR = '/run/libvirt/lxc';
/** Where the system libvirtd keeps a persistent LXC domain's definition, `<name>.xml`. */
export const LXC_CONFIG_DIR = '/etc/libvirt/lxc';

/** The URIs of this machine's system libvirtd LXC driver, whose files the adapter may read. */
const LOCAL_URIS = new Set(['lxc:///', 'lxc:///system']);
/** A domain name that is a plain file name (anything else is asked of virsh). */
const FILE_SAFE_NAME = /^[A-Za-z0-9_+-][A-Za-z0-9_.+-]*$/;

/** Options of the virsh adapter. */
export interface VirshOptions {
  /** libvirt connection URI; default `lxc:///` (Nova's default for virt_type=lxc). */
  uri?: string;
  /** libvirt's LXC state directory; default /run/libvirt/lxc. */
  stateDir?: string;
  /** libvirt's LXC config directory; default /etc/libvirt/lxc. */
  configDir?: string;
  /** How long destroy waits for the killed container's processes to exit; default 10 s. */
  exitTimeoutMs?: number;
  /** The clock those waits run on; default the system's. */
  clock?: Clock;
}

/** How long containerRoot waits for the status file to name a running domain's init. */
const INIT_PID_WAIT_MS = 5_000;
/** Pauses between tries of removing a destroyed domain's cgroup directories (~0.3 s in all). */
const CGROUP_RMDIR_PAUSES_MS = [10, 20, 40, 80, 160];

/** Hypervisor over `virsh -c URI`, reading container state from libvirt's files and /proc. */
export class VirshHypervisor implements Hypervisor {
  readonly uri: string;
  private readonly stateDir: string;
  private readonly configDir: string;
  private readonly exitTimeoutMs: number;
  private readonly clock: Clock;
  /** Whether this libvirtd was seen to write a definition we made into configDir. */
  private configDirProven = false;
  /** Whether this libvirtd was seen to write the status of a domain we started into stateDir. */
  private stateDirProven = false;

  constructor(
    private readonly runner: CommandRunner,
    private readonly files: SystemFiles,
    options: VirshOptions = {},
  ) {
    this.uri = options.uri ?? commands.DEFAULT_LXC_URI;
    this.stateDir = options.stateDir ?? LXC_STATE_DIR;
    this.configDir = options.configDir ?? LXC_CONFIG_DIR;
    this.exitTimeoutMs = options.exitTimeoutMs ?? 10_000;
    this.clock = options.clock ?? new SystemClock();
  }

  async define(xml: string): Promise<DomainInfo> {
    const name = domainNameOf(xml);
    if (name === null) {
      throw new DriverError('InvalidInput', 'Failed to define domain: the XML has no <name>');
    }
    await this.files.withTempFile('domain.xml', xml, (path) =>
      this.runner.run(commands.virshDefine(this.uri, path), { action: 'define domain', classify }),
    );
    // libvirt keeps the XML's uuid (or refuses the define), and a domain without a status file
    // is inactive: the info a dominfo process would print, without the process. Anything less
    // certain (no uuid in the XML, a domain that is running) asks libvirt.
    const uuid = canonicalUuid(domainUuidOf(xml));
    // One call at a time here and below: recorded transcripts replay calls in the order they end.
    const status = await this.files.stat(this.statusPath(name));
    const config = FILE_SAFE_NAME.test(name) ? await this.files.stat(this.configPath(name)) : null;
    // libvirt saved the definition before define returned: this is where it keeps them.
    if (config?.kind === 'file') this.configDirProven = true;
    if (uuid !== null && status === null) {
      return { name, uuid, state: 'shut off', persistent: true };
    }
    return this.info(name);
  }

  async start(name: string): Promise<DomainInfo> {
    await this.runner.run(commands.virshStart(this.uri, name), {
      action: 'start domain',
      classify,
    });
    // libvirt saves the status file before start returns: while it says running and the init
    // it names is alive and provably this domain's, that is the info a dominfo process would
    // print (start needs a persistent definition). Anything less certain asks libvirt.
    // Right after the start, the init may not have exec'd yet: its pid is still a copy of
    // libvirt_lxc, without the LIBVIRT_LXC_* environment (seen in 2 of 15 starts here). It
    // does within a few ms; waiting that long costs less than the dominfo process (~14 ms).
    const settled = await waitUntil(
      this.clock,
      { timeoutMs: 20, intervalMs: 1 },
      async (): Promise<Attempt<ProvenInit>> => {
        const proven = await this.provenInit(name);
        return proven === null
          ? { done: false, why: 'init not proven' }
          : { done: true, value: proven };
      },
    );
    const init = settled.ok ? settled.value : null;
    if (init !== null && init.state === 'running') {
      // The status file named the init of the domain we started: libvirt keeps them here.
      this.stateDirProven = true;
      return { name, uuid: init.uuid, state: 'running', persistent: true };
    }
    return this.info(name);
  }

  async destroy(name: string): Promise<void> {
    // A container's init is pid 1 of its namespace and ignores SIGTERM without a handler, so
    // virsh destroy alone waits for libvirt's SIGTERM-then-SIGKILL escalation (~1.8 s); and
    // even with the init SIGKILLed first, libvirt's stop finds the domain's libvirt_lxc
    // controller in the cgroup and virCgroupKillPainfully sleeps 200 ms before it looks again.
    // libvirt has one path without either wait: the destroy of a *paused* LXC domain SIGKILLs
    // everything in its (frozen) cgroup and thaws it (virLXCProcessStop). So a running domain
    // is suspended first; destroy is a forced power-off either way. Where suspend fails (no
    // freezer), the init, once proven the domain's, is SIGKILLed before virsh destroy.
    const init = await this.provenInit(name);
    let paused = init?.state === 'paused';
    const dying =
      init === null ? [] : await this.processStarts([init.pid, Number(init.controller)]);
    const cgroups = init === null ? [] : await this.domainCgroups(init.controller, name);
    if (init !== null && init.state === 'running') {
      paused = await this.runner
        .run(commands.virshSuspend(this.uri, name), { action: 'suspend domain', classify })
        .then(
          () => true,
          () => false,
        );
    }
    const killed = !paused && (await this.killInit(name)) !== null;
    try {
      await this.runner.run(commands.virshDestroy(this.uri, name), {
        action: 'destroy domain',
        classify,
      });
    } catch (error) {
      // libvirt may have finished the teardown on its own after the kill: that is our destroy.
      if (!((killed || paused) && hasCode(error, 'FailedPrecondition'))) throw error;
    }
    // The paused path returns once the SIGKILLs are sent: the container's mounts (its rootfs)
    // go when its init and controller have exited, which the caller's release relies on.
    if (paused) {
      await this.waitExited(name, dying);
      await this.removeCgroups(cgroups);
    }
  }

  /**
   * The domain's own cgroup directories, as this process sees them: from the controller's
   * /proc/<pid>/cgroup, only those named `lxc-<controller pid>-<name>.libvirt-lxc` (libvirt's
   * name for this domain's machine cgroup), under the cgroup mounts of /proc/self/mountinfo.
   */
  private async domainCgroups(controller: string, name: string): Promise<string[]> {
    const own = `lxc-${controller}-${name}.libvirt-lxc`;
    const membership = await this.files.readText(`/proc/${controller}/cgroup`).catch(() => '');
    const mountinfo = await this.files.readText('/proc/self/mountinfo').catch(() => '');
    let mounts: ReturnType<typeof parseMountinfo>;
    try {
      mounts = parseMountinfo(mountinfo).filter(
        (m) => m.fstype === 'cgroup' || m.fstype === 'cgroup2',
      );
    } catch {
      return [];
    }
    const dirs: string[] = [];
    for (const line of membership.split('\n')) {
      const match = /^(\d+):([^:]*):(\/.*)$/.exec(line);
      if (!match) continue;
      const [, id, controllers, path] = match as unknown as [string, string, string, string];
      const segments = path.split('/').filter(Boolean);
      if (segments.at(-1) !== own || segments.some((s) => s === '.' || s === '..')) continue;
      const wanted = controllers.split(',').filter(Boolean);
      const mount = mounts.find((m) =>
        id === '0'
          ? m.fstype === 'cgroup2'
          : m.fstype === 'cgroup' && wanted.every((c) => m.superOptions.includes(c)),
      );
      if (!mount) continue;
      // The mount shows the hierarchy from its root: the domain's path below that root.
      const root = mount.root === '/' ? '' : mount.root;
      if (root !== '' && !path.startsWith(`${root}/`)) continue;
      dirs.push(`${mount.target}${path.slice(root.length)}`);
    }
    return dirs;
  }

  /**
   * Removes the domain's cgroup directories libvirt could not: on the paused path libvirt
   * thaws the killed processes and removes the cgroups at once, before the processes have
   * left them, so its rmdir fails and the (then empty) directories stay behind, one set per
   * destroy. rmdir removes only an empty cgroup; one that still holds a task stays.
   */
  private async removeCgroups(dirs: string[]): Promise<void> {
    // The init and controller have exited, but another killed process of the container (a
    // child of its init) may still be leaving its cgroup: rmdir fails (EBUSY) on that one
    // directory, and it is tried again after a pause. A fixed number of tries, so a
    // transcript replays the same; one still busy after them (~0.3 s) stays, as before.
    let left = dirs;
    for (let attempt = 0; ; attempt++) {
      const present: string[] = [];
      for (const dir of left) if ((await this.files.stat(dir)) !== null) present.push(dir);
      if (present.length === 0) return;
      const result = await this.runner
        .run(commands.rmdir(present), { action: 'remove the domain cgroups', allowExitCodes: [1] })
        .catch(() => null);
      if (result === null || result.exitCode === 0) return;
      const pause = CGROUP_RMDIR_PAUSES_MS[attempt];
      if (pause === undefined) return;
      await this.clock.sleep(pause);
      left = present;
    }
  }

  /** The start time (/proc/<pid>/stat field 22) of each live process, to know it again. */
  private async processStarts(pids: number[]): Promise<{ pid: number; start: string }[]> {
    const stats = await this.files
      .readAttributes(pids.map((pid) => `/proc/${pid}/stat`))
      .catch(() => pids.map(() => null));
    return pids.flatMap((pid, i) => {
      const start = procStartTimeOf(stats[i] ?? null);
      return start === null ? [] : [{ pid, start }];
    });
  }

  /** Waits (exitTimeoutMs) until each process has exited: gone, a zombie, or its pid reused. */
  private async waitExited(
    name: string,
    processes: { pid: number; start: string }[],
  ): Promise<void> {
    let pending = processes;
    const exited = await waitUntil(
      this.clock,
      { timeoutMs: this.exitTimeoutMs, intervalMs: 2 },
      async (): Promise<Attempt<undefined>> => {
        const stats = await this.files
          .readAttributes(pending.map((p) => `/proc/${p.pid}/stat`))
          .catch(() => pending.map(() => null));
        pending = pending.filter((p, i) => {
          const stat = stats[i] ?? null;
          return procStartTimeOf(stat) === p.start && procStateOf(stat) !== 'Z';
        });
        return pending.length === 0
          ? { done: true, value: undefined }
          : { done: false, why: `processes ${pending.map((p) => p.pid).join(', ')} still run` };
      },
    );
    if (!exited.ok) {
      throw new DriverError(
        'Timeout',
        `Failed to destroy domain ${name}: ${exited.why} ${this.exitTimeoutMs} ms after libvirt killed them`,
        { hint: 'Check them with ps; destroy again once they have exited.' },
      );
    }
  }

  /**
   * Whether libvirt's own files prove no domain has this name: a domain libvirt knows is
   * persistent (its definition is `<configDir>/<name>.xml`, saved before define returns) or
   * running (its status is `<stateDir>/<name>.xml`, saved before start returns). Only for this
   * machine's system libvirtd, only once this adapter saw that libvirtd write both kinds of
   * file for domains it defined and started itself (so the directories are the ones it uses),
   * and only for plain file names; otherwise virsh is asked.
   */
  private async absentByFiles(name: string): Promise<boolean> {
    if (!this.filesSpeakFor(name)) return false;
    const config = await this.files.stat(this.configPath(name));
    const status = await this.files.stat(this.statusPath(name));
    return config === null && status === null;
  }

  /**
   * A running or paused domain's info from libvirt's files, under the same conditions as
   * absentByFiles: its status file names an init that is alive and provably the domain's
   * (provenInit), with the state and uuid libvirt saved; it is persistent when its definition
   * is in configDir. What a dominfo process would print, without the process (~14 ms; destroy
   * and power off ask it first). null when any of it is not so: virsh is asked.
   */
  private async liveByFiles(name: string): Promise<DomainInfo | null> {
    if (!this.filesSpeakFor(name)) return null;
    const init = await this.provenInit(name);
    if (init === null || (init.state !== 'running' && init.state !== 'paused')) return null;
    const config = await this.files.stat(this.configPath(name));
    return { name, uuid: init.uuid, state: init.state, persistent: config?.kind === 'file' };
  }

  /**
   * Whether libvirt's files may answer for `name`: this machine's system libvirtd, whose two
   * directories this adapter saw it write, and a plain file name.
   */
  private filesSpeakFor(name: string): boolean {
    return (
      this.configDirProven &&
      this.stateDirProven &&
      LOCAL_URIS.has(this.uri) &&
      FILE_SAFE_NAME.test(name)
    );
  }

  private configPath(name: string): string {
    return `${this.configDir}/${name}.xml`;
  }

  private statusPath(name: string): string {
    return `${this.stateDir}/${name}.xml`;
  }

  private provenInit(name: string): Promise<ProvenInit | null> {
    return provenInit(this.files, this.stateDir, name);
  }

  /**
   * SIGKILLs the running domain's init when it is provably the domain's (provenInit). Returns
   * the init it signalled (pid and controller), or null; anything unproven is left to virsh
   * destroy.
   */
  private async killInit(name: string): Promise<{ pid: number; controller: string } | null> {
    const init = await this.provenInit(name);
    if (init === null) return null;
    try {
      await this.files.signal(init.pid, 'SIGKILL');
      return { pid: init.pid, controller: init.controller };
    } catch (error) {
      if (hasCode(error, 'NotFound')) return null; // Gone already.
      throw error;
    }
  }

  async shutdown(name: string): Promise<void> {
    await this.runner.run(commands.virshShutdown(this.uri, name), {
      action: 'shut down domain',
      classify,
    });
  }

  async readConsole(name: string): Promise<string> {
    const { stdout } = await this.runner.run(commands.virshDumpxml(this.uri, name), {
      action: 'read domain XML',
      classify,
    });
    const pty = consolePtyOf(stdout);
    return pty === null ? '' : this.files.readAvailable(pty);
  }

  async undefine(name: string): Promise<void> {
    await this.runner.run(commands.virshUndefine(this.uri, name), {
      action: 'undefine domain',
      classify,
    });
  }

  async info(name: string): Promise<DomainInfo> {
    if (await this.absentByFiles(name)) {
      // What virsh answers for a name it does not know, without the virsh process (~14 ms).
      throw new DriverError(
        'NotFound',
        `Failed to get domain info: failed to get domain '${name}'`,
      );
    }
    const live = await this.liveByFiles(name);
    if (live !== null) return live;
    // dominfo alone carries name, uuid, state and persistence: one call, one consistent view.
    let stdout: string;
    try {
      ({ stdout } = await this.runner.run(commands.virshDominfo(this.uri, name), {
        action: 'get domain info',
        classify,
      }));
    } catch (error) {
      // Right after a start, dominfo prints every field and then fails on the security label
      // ("Init pid is not yet available"): the fields it printed are the answer.
      const printed = (error as { stdout?: string }).stdout ?? '';
      if (!/Init pid is not yet available/.test(String((error as Error).message))) throw error;
      stdout = printed;
      if (!/^Persistent:/m.test(stdout)) throw error;
    }
    const info = parseDominfo(stdout);
    return { name: info.name, uuid: info.uuid, state: info.state, persistent: info.persistent };
  }

  async list(): Promise<DomainInfo[]> {
    const { stdout } = await this.runner.run(commands.virshListAll(this.uri), {
      action: 'list domains',
      classify,
    });
    const domains: DomainInfo[] = [];
    for (const name of parseListNames(stdout)) {
      try {
        domains.push(await this.info(name));
      } catch (error) {
        // A transient domain can vanish between the list and its info.
        if (!hasCode(error, 'NotFound')) throw error;
      }
    }
    return domains;
  }

  async containerRoot(name: string): Promise<MountEntry> {
    const info = await this.info(name);
    if (info.state !== 'running') {
      throw new DriverError(
        'FailedPrecondition',
        `Failed to read the container root of ${name}: the domain is ${info.state}`,
      );
    }
    const statusPath = this.statusPath(name);
    // While libvirt (re)starts a running domain's init, its status file names pid 0 or none:
    // seen on the real host right after a power on. Wait a few seconds for the pid.
    const known = await waitUntil(
      this.clock,
      { timeoutMs: INIT_PID_WAIT_MS, intervalMs: 20 },
      async (): Promise<Attempt<number>> => {
        const pid = parseLxcStatusInitPid(await this.files.readText(statusPath));
        return pid !== null && pid > 0
          ? { done: true, value: pid }
          : { done: false, why: `no <init pid=…/> in ${statusPath}` };
      },
    );
    if (!known.ok) {
      throw new DriverError(
        'Internal',
        `Failed to read the container root of ${name}: ${known.why} after ${INIT_PID_WAIT_MS} ms`,
      );
    }
    const pid = known.value;
    const entries = parseMountinfo(await this.files.readText(`/proc/${pid}/mountinfo`));
    // The last entry at `/` is the one on top, which is what the container sees.
    const root = entries.filter((entry) => entry.target === '/').at(-1);
    if (!root) {
      throw new DriverError(
        'Internal',
        `Failed to read the container root of ${name}: nothing is mounted at / for pid ${pid}`,
      );
    }
    return toMountEntry(root);
  }
}

/** A running domain's init, proven to be the domain's, and what its status file says. */
export interface ProvenInit {
  pid: number;
  /** The pid of the domain's libvirt_lxc controller (the init's parent). */
  controller: string;
  uuid: string;
  /** The status file's `state` (libvirt's spelling: running, paused, ...). */
  state: string | undefined;
}

/**
 * A running domain's init, when it is provably the domain's: the pid libvirt recorded in its
 * status file, a child of the domain's libvirt_lxc controller, with the LIBVIRT_LXC_UUID and
 * LIBVIRT_LXC_NAME libvirt gives every container init. null otherwise (not running, gone, a
 * pid reused by another process, or not proven).
 */
export async function provenInit(
  files: Pick<SystemFiles, 'readText' | 'readAttributes'>,
  stateDir: string,
  name: string,
): Promise<ProvenInit | null> {
  const status = await files.readText(`${stateDir}/${name}.xml`).catch(() => null);
  if (status === null) return null;
  const init = parseLxcStatusInitPid(status);
  const controller = /<domstatus\b[^>]*\spid=['"](\d+)['"]/.exec(status)?.[1];
  const state = /<domstatus\b[^>]*\sstate=['"]([a-z]+)['"]/.exec(status)?.[1];
  const uuid = canonicalUuid(domainUuidOf(status));
  if (init === null || controller === undefined || uuid === null) return null;
  // One batch: the init's status and environ, read as the kernel makes them.
  const [procStatus, environText] = await files
    .readAttributes([`/proc/${init}/status`, `/proc/${init}/environ`])
    .catch(() => [null, null]);
  const parent = /^PPid:\s*(\d+)$/m.exec(procStatus ?? '')?.[1];
  if (parent !== controller) return null;
  const environ = (environText ?? '').split('\0');
  if (
    !environ.includes(`LIBVIRT_LXC_UUID=${uuid}`) ||
    !environ.includes(`LIBVIRT_LXC_NAME=${name}`)
  ) {
    return null;
  }
  return { pid: init, controller, uuid, state };
}

/** The pid of a running domain's init when it is provably the domain's (provenInit). */
export async function provenInitPid(
  files: Pick<SystemFiles, 'readText' | 'readAttributes'>,
  stateDir: string,
  name: string,
): Promise<number | null> {
  return (await provenInit(files, stateDir, name))?.pid ?? null;
}

/**
 * The host pty of a running domain's console from its live XML
 * (`<console type='pty' tty='/dev/pts/N'><source path='/dev/pts/N'/>`); null when it has none.
 */
export function consolePtyOf(xml: string): string | null {
  const console = /<console\b[^>]*\btype=['"]pty['"][^>]*>([\s\S]*?)<\/console>/.exec(xml);
  const source = console
    ? /<source\b[^>]*\bpath=['"](\/dev\/pts\/\d+)['"]/.exec(console[1] ?? '')
    : null;
  return source?.[1] ?? null;
}
