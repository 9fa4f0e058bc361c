import { posix } from 'node:path';
import { readPartitionTable } from '../../driver/core/partition-table.js';
import { createSimulatedHost, type SimulatedHost } from '../../simulator/index.js';
import type { BackendHarness } from './harness.js';

/** Root of everything a simulated harness makes. */
const SCRATCH = '/var/lib/nova-lxc-test';

/** A harness over a fresh simulated host; `host` is the SimulatedHost for tests that need faults. */
export async function createSimHarness(): Promise<BackendHarness & { host: SimulatedHost }> {
  const host = createSimulatedHost();
  const instancesPath = '/var/lib/nova/instances';
  host.state.host.mkdirSync(instancesPath, { recursive: true });
  let counter = 0;
  const unique = (name: string) => `${SCRATCH}/${name}-${++counter}`;

  return {
    name: 'sim',
    host,
    instancesPath,
    capabilities: { nbd: true, qcow2: true },
    async makeDiskFile(spec, name = 'disk') {
      const path = `${unique(name)}.img`;
      host.addDisk(path, spec);
      return path;
    },
    async makeQcow2(rawPath) {
      const disk = host.state.disks.get(rawPath);
      if (!disk) throw new Error(`makeQcow2: no simulated disk at ${rawPath}`);
      const path = rawPath.replace(/\.img$/, '') + '.qcow2';
      host.state.copyDisk(disk, path, 'qcow2');
      return path;
    },
    async addImage(imageId, path, format) {
      host.addImage(imageId, path, format);
    },
    async makeDir(name = 'dir') {
      const path = unique(name);
      host.state.host.mkdirSync(path, { recursive: true });
      return path;
    },
    async readFileOnDisk(diskPath, partition, filePath) {
      const disk = host.state.disks.get(diskPath);
      if (!disk) throw new Error(`readFileOnDisk: no simulated disk at ${diskPath}`);
      let offset = 0;
      if (partition !== null) {
        const table = await readPartitionTable({
          size: disk.content.size,
          sectorSizeHint: disk.content.sectorSize,
          read: async (o, l) => disk.content.read(o, l),
        });
        const found = table?.partitions.find((p) => p.number === partition);
        if (!found) throw new Error(`readFileOnDisk: ${diskPath} has no partition ${partition}`);
        offset = found.start;
      }
      const fs = host.state.filesystems.get(disk.contentId)?.get(offset);
      if (!fs) return null;
      try {
        return String(fs.tree.readFileSync(posix.resolve('/', filePath), 'utf8'));
      } catch {
        return null;
      }
    },
    async cleanup() {
      const leaks = [
        ...(await host.blockDevices.listLoops()).map(
          (l) => `loop device ${l.device} <- ${l.backingFile}`,
        ),
        ...(await host.nbd.list()).map((n) => `nbd device ${n.device} <- ${n.file}`),
        ...(await host.mounts.list()).map((m) => `mount ${m.source} on ${m.target}`),
        ...(await host.hypervisor.list()).map((d) => `domain ${d.name} (${d.state})`),
      ];
      if (leaks.length > 0) {
        throw new Error(
          `The test left these behind on the simulated host:\n  ${leaks.join('\n  ')}`,
        );
      }
    },
  };
}
