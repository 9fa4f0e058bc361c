import type { Server } from 'node:http';
import { unlink } from 'node:fs/promises';
import type { LxcDriverOptions } from '../driver/driver.js';
import { describeHolder } from '../driver/core/state-holders.js';
import { DriverError } from '../driver/errors.js';
import { reclaim } from '../driver/reclaim.js';
import type { Logger } from '../driver/ports/logger.js';
import type { SimulatedHost } from '../simulator/index.js';
import { createRealBackend, createSimBackend, type Backend } from './backend.js';
import { apiRoutes, createApiServer } from './http.js';
import { InstanceService } from './instances.js';
import { listenApi, type Listening, type ListenOptions } from './listen.js';
import { createNovaLogger } from './log.js';
import { InstanceRecords } from './records.js';

export { ServiceClient, ServiceError } from './client.js';
export { createNovaLogger, withLogContext } from './log.js';

/** Default places, as the systemd units and README name them. */
export const DEFAULTS = {
  socketPath: '/run/nova-lxc/api.sock',
  stateDir: '/var/lib/nova-lxc',
  instancesPath: '/var/lib/nova/instances',
  socketMode: 0o660,
} as const;

/** Everything `nova-lxc serve` is configured with. */
export interface ServiceOptions extends Partial<Omit<ListenOptions, 'socketPath'>> {
  backend: 'real' | 'sim';
  socketPath?: string;
  /** Holds `instances/` (records) and, for the journal, `journal/`. */
  stateDir?: string;
  /** Driver options (instances_path, images_type, root_partition, id maps, …). */
  driver?: Partial<Omit<LxcDriverOptions, 'logger'>>;
  connectionUri?: string;
  logger?: Logger;
  /** The simulated host to run on (tests keep one across a restart); default a fresh one. */
  sim?: SimulatedHost;
}

/** A running service. */
export interface RunningService {
  server: Server;
  backend: Backend;
  listening: Listening;
  /** Stops accepting calls, waits for those in progress, removes the socket it created. */
  close(): Promise<void>;
}

/** Starts the service: loads its records, builds the backend and listens. */
export async function startService(options: ServiceOptions): Promise<RunningService> {
  const logger = options.logger ?? createNovaLogger();
  const instancesPath = options.driver?.instancesPath ?? DEFAULTS.instancesPath;
  const backendOptions = {
    instancesPath,
    ...(options.connectionUri ? { connectionUri: options.connectionUri } : {}),
  };
  const backend =
    options.backend === 'real'
      ? await createRealBackend(backendOptions)
      : createSimBackend(backendOptions, options.sim);
  if (backend.sim) backend.sim.state.host.mkdirSync(instancesPath, { recursive: true });
  const records = new InstanceRecords(backend.host.journal, options.stateDir ?? DEFAULTS.stateDir);
  await checkRecords(records, backend);
  const stateDir = options.stateDir ?? DEFAULTS.stateDir;
  await holdAndReclaim(backend, stateDir, instancesPath, logger);
  // The driver journals into <stateDir>/journal/ (where it has that option).
  const journalOptions = { stateDir, processName: SERVICE_NAME };
  const service = new InstanceService({
    backend: backend.name,
    host: backend.host,
    records,
    driver: { ...options.driver, instancesPath, ...journalOptions },
    logger,
    imageCache: backend.imageCache,
    stateDir,
  });
  const server = createApiServer(apiRoutes(service, backend), logger);
  const listening = await listenApi(server, {
    socketPath: options.socketPath ?? DEFAULTS.socketPath,
    ...(options.mode !== undefined ? { mode: options.mode } : {}),
    ...(options.group !== undefined ? { group: options.group } : {}),
    ...(options.env ? { env: options.env } : {}),
  });
  logger.info(
    `nova-lxc service listening on ${listening.kind === 'systemd' ? 'the socket systemd passed' : listening.createdPath} (backend ${backend.name}, state ${records.dir})`,
  );
  return {
    server,
    backend,
    listening,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      if (listening.createdPath) await unlink(listening.createdPath).catch(() => undefined);
    },
  };
}

/** How the service names itself to a `nova-lxc reclaim` that finds it holding the state. */
const SERVICE_NAME = 'nova-lxc serve';

/**
 * Holds the state directory for the service's whole life (so `nova-lxc reclaim` refuses while
 * it runs), refusing to start beside another live holder, then releases what crashed or
 * failed operations of an earlier process left (reclaim, one log line per action).
 */
async function holdAndReclaim(
  backend: Backend,
  stateDir: string,
  instancesPath: string,
  logger: Logger,
): Promise<void> {
  await backend.host.journal.hold(stateDir, 'driver', SERVICE_NAME);
  const other = (await backend.host.journal.holders(stateDir))[0];
  if (other) {
    await backend.host.journal.release(stateDir, 'driver');
    throw new DriverError(
      'Busy',
      `Failed to start the ${backend.name} service: ${describeHolder(other)} holds ${stateDir}`,
      { hint: 'Stop it first, or give this service another --state-dir.' },
    );
  }
  await reclaim(backend.host, { instancesPath, stateDir, processName: SERVICE_NAME, logger });
}

/** Records of another backend are refused: a service must not act on another host's records. */
async function checkRecords(records: InstanceRecords, backend: Backend): Promise<void> {
  const foreign = (await records.list()).filter((r) => r.backend !== backend.name);
  if (foreign.length > 0) {
    throw new DriverError(
      'FailedPrecondition',
      `Failed to start the ${backend.name} service: ${records.dir} holds ${foreign.length} instance record(s) of the ${foreign[0]!.backend} backend`,
      { hint: 'Use another --state-dir for this backend.' },
    );
  }
}
