/**
 * What a host holds, seen through its ports: loop and nbd devices, host mounts, domains. One
 * observer serves the scenario runner's expectations, both harnesses' cleanups and the failure
 * dump, so "what is still there" is read the same way everywhere. Give it the bare host
 * (`BackendHarness.bare`): observing must neither trip an injected fault nor show in a trace.
 */
import { readPartitionTable } from '../driver/core/partition-table.js';
import { waitUntil } from '../driver/core/wait.js';
import { hasCode } from '../driver/errors.js';
import type {
  DomainInfo,
  Host,
  LoopDevice,
  MountEntry,
  NbdConnection,
} from '../driver/ports/index.js';

/** Everything a host holds that a test could leave behind. */
export interface HostHoldings {
  loops: LoopDevice[];
  nbd: NbdConnection[];
  mounts: MountEntry[];
  domains: DomainInfo[];
}

/** One line per held thing, as cleanups report leaks. */
export function describeHoldings(held: HostHoldings): string[] {
  return [
    ...held.loops.map((l) => `loop device ${l.device} <- ${l.backingFile}`),
    ...held.nbd.map((n) => `nbd device ${n.device} <- ${n.file}`),
    ...held.mounts.map((m) => `mount ${m.source} on ${m.target}`),
    ...held.domains.map((d) => `domain ${d.name} (${d.state})`),
  ];
}

/** Reads what a host holds through its ports. */
export class HostObserver {
  constructor(readonly host: Host) {}

  /** The four host-wide lists (on a shared real host they include other people's things). */
  async holdings(): Promise<HostHoldings> {
    return {
      loops: await this.loops(),
      nbd: await this.nbdConnections(),
      mounts: await this.mounts(),
      domains: await this.domains(),
    };
  }

  loops(): Promise<LoopDevice[]> {
    return this.host.blockDevices.listLoops();
  }

  nbdConnections(): Promise<NbdConnection[]> {
    return this.host.nbd.list();
  }

  mounts(): Promise<MountEntry[]> {
    return this.host.mounts.list();
  }

  domains(): Promise<DomainInfo[]> {
    return this.host.hypervisor.list();
  }

  /** The holdings for a failure dump: a list that cannot be read says why instead of throwing. */
  async snapshot(): Promise<Record<string, unknown>> {
    const settle = <T>(p: Promise<T>) => p.catch((e: unknown) => `unavailable: ${String(e)}`);
    return {
      loops: await settle(this.loops()),
      nbd: await settle(this.nbdConnections()),
      mounts: await settle(this.mounts()),
      domains: await settle(this.domains()),
    };
  }

  /** The loop device `device`, if one is attached. */
  async loop(device: string): Promise<LoopDevice | undefined> {
    return (await this.loops()).find((l) => l.device === device);
  }

  /** The nbd connection on `device`, if any. */
  async nbdConnection(device: string): Promise<NbdConnection | undefined> {
    return (await this.nbdConnections()).find((n) => n.device === device);
  }

  /**
   * The root filesystem of a running domain, or why there is none to show (absent, not
   * running, or unreadable): the reason goes into an expectation's message.
   */
  async containerRoot(
    domain: string,
  ): Promise<{ source: string; fstype: string } | { none: string }> {
    // Right after a start under load, libvirt may not have written the init pid yet: a running
    // domain whose root cannot be read is asked again for a few seconds; an absent or stopped
    // one answers at once.
    const result = await waitUntil<{ source: string; fstype: string } | { none: string }>(
      this.host.clock,
      { timeoutMs: 5_000, intervalMs: 100 },
      async () => {
        try {
          return { done: true, value: await this.host.hypervisor.containerRoot(domain) };
        } catch (error) {
          if (hasCode(error, 'NotFound') || hasCode(error, 'FailedPrecondition')) {
            return { done: true, value: { none: error.message } };
          }
          return { done: false, why: String(error) };
        }
      },
    );
    return result.ok ? result.value : { none: `${result.why} (for 5 s)` };
  }

  /** Byte offset and size of partition `number` of a disk file, null when it has none. */
  async partitionRange(
    path: string,
    number: number,
  ): Promise<{ offset: number; size: number } | null> {
    const geometry = await this.host.blockDevices.geometry(path);
    const table = await readPartitionTable({
      size: geometry.size,
      sectorSizeHint: geometry.logicalSectorSize,
      read: (offset, length) => this.host.blockDevices.read(path, offset, length),
    });
    const part = table?.partitions.find((p) => p.number === number);
    return part ? { offset: part.start, size: part.size } : null;
  }

  /**
   * Owner, mode and kind of a path as the host sees it inside a running container's root (a
   * second mount of its root device on `scratch`, as readInContainer); null when it is absent.
   */
  async ownerInContainer(
    domain: string,
    path: string,
    scratch: string,
  ): Promise<{ uid: number; gid: number; mode: number; kind: string } | null> {
    const root = await this.host.hypervisor.containerRoot(domain);
    await this.host.mounts.mount(root.source, scratch, { fstype: root.fstype });
    try {
      const owner = await this.host.files.owner(`${scratch}${path}`);
      const kind = await this.host.files.kind(`${scratch}${path}`);
      return owner && kind ? { ...owner, kind } : null;
    } finally {
      await this.host.mounts.unmount(scratch);
    }
  }

  /** The number of the partition a loop device maps (by its offset), null when none matches. */
  async partitionAt(loop: LoopDevice): Promise<number | null> {
    const geometry = await this.host.blockDevices.geometry(loop.backingFile);
    const table = await readPartitionTable({
      size: geometry.size,
      sectorSizeHint: geometry.logicalSectorSize,
      read: (offset, length) => this.host.blockDevices.read(loop.backingFile, offset, length),
    });
    return table?.partitions.find((p) => p.start === loop.offset)?.number ?? null;
  }

  /**
   * Reads a file as a running container sees it: its root device mounted a second time (the
   * kernel shares the one filesystem instance) on the empty directory `scratch`, then
   * unmounted. null when the file does not exist.
   */
  async readInContainer(domain: string, path: string, scratch: string): Promise<string | null> {
    const root = await this.host.hypervisor.containerRoot(domain);
    await this.host.mounts.mount(root.source, scratch, { fstype: root.fstype });
    try {
      return await this.host.files.readFile(`${scratch}${path}`).catch((e: unknown) => {
        if (hasCode(e, 'NotFound')) return null;
        throw e;
      });
    } finally {
      await this.host.mounts.unmount(scratch);
    }
  }
}
