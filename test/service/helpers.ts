import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createSimulatedHost, type SimulatedHost } from '../../simulator/index.js';
import { ServiceClient } from '../../service/client.js';
import { startService, type RunningService, type ServiceOptions } from '../../service/index.js';
import { createNovaLogger } from '../../service/log.js';

/** The instances path every simulated service test uses. */
export const INSTANCES = '/var/lib/nova/instances';

/** A sim-backed service on a real unix socket in a fresh temp dir, with its log lines. */
export interface ServiceFixture {
  dir: string;
  socketPath: string;
  stateDir: string;
  sim: SimulatedHost;
  service: RunningService;
  client: ServiceClient;
  lines: string[];
  /** Stops the service and starts a new one over the same simulated host and state dir. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a sim service; `options` override the defaults. */
export async function startSimService(
  options: Partial<ServiceOptions> = {},
): Promise<ServiceFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'nova-lxc-service-'));
  const socketPath = options.socketPath ?? join(dir, 'api.sock');
  const stateDir = join(dir, 'state');
  const sim = options.sim ?? createSimulatedHost();
  const lines: string[] = [];
  const start = () =>
    startService({
      backend: 'sim',
      sim,
      socketPath,
      stateDir,
      driver: { instancesPath: INSTANCES, imagesType: 'raw' },
      logger: createNovaLogger({ level: 'debug', write: (line) => lines.push(line) }),
      env: {},
      ...options,
    });
  // A service that refuses to start must not leave its temporary folder behind.
  const service = await start().catch(async (error: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw error;
  });
  const fixture: ServiceFixture = {
    dir,
    socketPath,
    stateDir,
    sim,
    service,
    client: new ServiceClient(socketPath),
    lines,
    async restart() {
      fixture.client.close();
      await fixture.service.close();
      fixture.service = await start();
      fixture.client = new ServiceClient(socketPath);
    },
    async stop() {
      fixture.client.close();
      await fixture.service.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return fixture;
}

/** A spawn spec booting from the block device `devicePath` (boot from volume). */
export function volumeSpec(devicePath: string, overrides: Record<string, unknown> = {}) {
  return {
    name: `instance-${randomUUID().slice(0, 8)}`,
    flavor: { name: 'm1.tiny', memory_mb: 128, vcpus: 1, root_gb: 1, extra_specs: {} },
    image: null,
    root_volume: { volume_id: randomUUID(), device_path: devicePath, mount_device: '/dev/vda' },
    volumes: [],
    system_metadata: {},
    ...overrides,
  };
}

/** A spawn spec booting from cached image `imageId`. */
export function imageSpec(imageId: string, overrides: Record<string, unknown> = {}) {
  return {
    ...volumeSpec('/dev/null'),
    image: { id: imageId, disk_format: 'raw', properties: {} },
    root_volume: null,
    ...overrides,
  };
}
