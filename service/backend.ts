import { mkdir } from 'node:fs/promises';
import { HelperCommandRunner } from '../driver/adapters/command-helper.js';
import { createRealHost } from '../driver/adapters/real-host.js';
import type { Host } from '../driver/ports/index.js';
import { createSimulatedHost, type SimulatedHost } from '../simulator/index.js';
import { realCapacity, SIM_CAPACITY, type Capacity } from './host-resources.js';

/** One backend as the service runs it. */
export interface Backend {
  name: 'real' | 'sim';
  host: Host;
  /** The simulated host, on the sim backend (the fixture endpoints use it). */
  sim?: SimulatedHost;
  /** Nova's instances_path this backend serves. */
  instancesPath: string;
  /** `<instances_path>/_base`: where cached images live. */
  imageCache: string;
  capacity(): Promise<Capacity>;
}

/** Where a backend keeps instances and its image cache (Nova's `<instances_path>/_base`). */
export interface BackendOptions {
  instancesPath: string;
  connectionUri?: string;
}

/** The Nova-style image cache directory below instances_path. */
export function imageCacheDir(instancesPath: string): string {
  return `${instancesPath.replace(/\/+$/, '')}/_base`;
}

/** This machine: loop devices, mounts and libvirt LXC. */
export async function createRealBackend(options: BackendOptions): Promise<Backend> {
  await mkdir(imageCacheDir(options.instancesPath), { recursive: true });
  // A long-lived process: commands start from the small helper, not by forking the service.
  const runner = new HelperCommandRunner();
  return {
    name: 'real',
    instancesPath: options.instancesPath,
    imageCache: imageCacheDir(options.instancesPath),
    host: createRealHost({
      imagesDir: imageCacheDir(options.instancesPath),
      runner,
      ...(options.connectionUri ? { connectionUri: options.connectionUri } : {}),
    }),
    capacity: () => realCapacity(options.instancesPath, runner, options.connectionUri),
  };
}

/**
 * A simulated host that lives as long as the service process (pass `sim` to keep one across
 * an in-process restart, as tests do): disks and images are declared through /v1/sim.
 */
export function createSimBackend(options: BackendOptions, sim?: SimulatedHost): Backend {
  const host = sim ?? createSimulatedHost();
  host.state.host.mkdirSync(imageCacheDir(options.instancesPath), { recursive: true });
  return {
    name: 'sim',
    host,
    sim: host,
    instancesPath: options.instancesPath,
    imageCache: imageCacheDir(options.instancesPath),
    capacity: async () => SIM_CAPACITY,
  };
}
