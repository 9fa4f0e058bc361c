import { cpus, hostname, totalmem, arch } from 'node:os';
import { statfs } from 'node:fs/promises';
import type { CommandRunner } from '../driver/adapters/command-runner.js';
import type { InstanceRecord } from './records.js';

/** What GET /v1/host answers: the fields Nova's get_available_resource returns. */
export interface HostResources {
  vcpus: number;
  memory_mb: number;
  local_gb: number;
  vcpus_used: number;
  memory_mb_used: number;
  local_gb_used: number;
  hypervisor_type: 'lxc';
  hypervisor_version: number;
  hypervisor_hostname: string;
  cpu_info: string;
  supported_instances: [string, string, string][];
  disk_available_least: number;
  /** The service's instances_path: the Nova side caches images in its `_base/`. */
  instances_path: string;
}

/** The host's capacity, before what the instances use. */
export interface Capacity {
  vcpus: number;
  memoryMb: number;
  localGb: number;
  freeGb: number;
  hypervisorVersion: number;
  hostname: string;
  arch: string;
  cpuModel: string;
}

/** Nova's architecture names for node's process.arch. */
const NOVA_ARCH: Record<string, string> = {
  x64: 'x86_64',
  arm64: 'aarch64',
  ppc64: 'ppc64le',
  s390x: 's390x',
};

/** libvirt's version as Nova reports it (major * 1,000,000 + minor * 1,000 + micro). */
export function parseLibvirtVersion(virshVersion: string): number {
  const match =
    /Running hypervisor:\s*\S+\s+(\d+)\.(\d+)\.(\d+)/.exec(virshVersion) ??
    /Using library:\s*libvirt\s+(\d+)\.(\d+)\.(\d+)/.exec(virshVersion);
  if (!match) return 0;
  return Number(match[1]) * 1_000_000 + Number(match[2]) * 1_000 + Number(match[3]);
}

/** This machine's capacity: CPUs and memory from the kernel, disk from instances_path's filesystem. */
export async function realCapacity(
  instancesPath: string,
  runner: CommandRunner,
  uri = 'lxc:///',
): Promise<Capacity> {
  const fs = await statfs(instancesPath);
  const gib = 1024 ** 3;
  const { stdout } = await runner
    .run(['virsh', '-c', uri, 'version'], { action: 'read the libvirt version' })
    .catch(() => ({ stdout: '' }));
  return {
    vcpus: cpus().length,
    memoryMb: Math.floor(totalmem() / 1024 ** 2),
    localGb: Math.floor((fs.blocks * fs.bsize) / gib),
    freeGb: Math.floor((fs.bavail * fs.bsize) / gib),
    hypervisorVersion: parseLibvirtVersion(stdout),
    hostname: hostname(),
    arch: NOVA_ARCH[arch()] ?? arch(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
  };
}

/** A simulated host's fixed capacity, so tests see the same numbers everywhere. */
export const SIM_CAPACITY: Capacity = {
  vcpus: 16,
  memoryMb: 32768,
  localGb: 1000,
  freeGb: 1000,
  hypervisorVersion: 9_000_000,
  hostname: 'nova-lxc-sim',
  arch: 'x86_64',
  cpuModel: 'simulated',
};

/** Capacity minus what the recorded instances' flavors take, in Nova's field names. */
export function hostResources(
  capacity: Capacity,
  records: InstanceRecord[],
  instancesPath: string,
): HostResources {
  const sum = (f: (r: InstanceRecord) => number) => records.reduce((n, r) => n + f(r), 0);
  const usedGb = sum((r) => r.spec.flavor.root_gb);
  return {
    vcpus: capacity.vcpus,
    memory_mb: capacity.memoryMb,
    local_gb: capacity.localGb,
    vcpus_used: sum((r) => r.spec.flavor.vcpus),
    memory_mb_used: sum((r) => r.spec.flavor.memory_mb),
    local_gb_used: usedGb,
    hypervisor_type: 'lxc',
    hypervisor_version: capacity.hypervisorVersion,
    hypervisor_hostname: capacity.hostname,
    cpu_info: JSON.stringify({
      arch: capacity.arch,
      model: capacity.cpuModel,
      vendor: 'unknown',
      topology: { sockets: 1, cores: capacity.vcpus, threads: 1 },
      features: [],
    }),
    supported_instances: [[capacity.arch, 'lxc', 'exe']],
    disk_available_least: Math.max(0, capacity.freeGb),
    instances_path: instancesPath,
  };
}
