/**
 * `nova-lxc serve` on the simulator: what one call through the unix socket costs (health,
 * against a bare node HTTP server on a socket), and a spawn+destroy through the socket against
 * the same driver calls in-process, so the difference is the service (HTTP, validation, records
 * written to disk).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LxcDriver } from '../../driver/driver.js';
import { rootFs, twoPartitionDisk } from '../../harness/instances.js';
import { buildDisk } from '../../harness/sim-disks/seed.js';
import { ServiceClient } from '../../service/client.js';
import { startService } from '../../service/index.js';
import { createNovaLogger } from '../../service/log.js';
import { SpawnSpecSchema } from '../../service/spec.js';
import { toNovaInputs } from '../../service/translate.js';
import { createSimulatedHost, type SimulatedHost } from '../../simulator/index.js';
import { compare, ratioFigure, type Figure } from './measure.js';
import type { BenchContext, BenchSection } from './section.js';

const INSTANCES = '/var/lib/nova/instances';

function simHostWithVolume(): { host: SimulatedHost; device: string } {
  const host = createSimulatedHost();
  host.state.host.mkdirSync(INSTANCES, { recursive: true });
  const device = '/dev/sdb';
  buildDisk(host.state, device, twoPartitionDisk('gpt', rootFs()), 'block');
  return { host, device };
}

function spec(device: string) {
  return {
    name: `instance-${randomUUID().slice(0, 8)}`,
    flavor: { name: 'm1.tiny', memory_mb: 128, vcpus: 1, root_gb: 1 },
    root_volume: { device_path: device, mount_device: '/dev/vda' },
  };
}

async function run(ctx: BenchContext): Promise<Figure[]> {
  const dir = await mkdtemp(join(tmpdir(), 'nova-lxc-bench-'));
  const { host, device } = simHostWithVolume();
  const service = await startService({
    backend: 'sim',
    sim: host,
    socketPath: join(dir, 'api.sock'),
    stateDir: join(dir, 'state'),
    driver: { instancesPath: INSTANCES, imagesType: 'raw' },
    logger: createNovaLogger({ level: 'error', write: () => undefined }),
    env: {},
  });
  const bare = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"status":"ok"}');
  });
  await new Promise<void>((resolve) => bare.listen(join(dir, 'bare.sock'), resolve));
  const client = new ServiceClient(join(dir, 'api.sock'));
  const bareClient = new ServiceClient(join(dir, 'bare.sock'));
  try {
    ctx.progress('service: health');
    const health = await compare(
      { label: 'service', run: () => client.call('GET', '/v1/health') },
      { label: 'bare', run: () => bareClient.call('GET', '/v1/health') },
      { runs: ctx.runs(15), repeat: 100 },
    );

    ctx.progress('service: spawn+destroy');
    const local = simHostWithVolume();
    const driver = new LxcDriver(local.host, {
      instancesPath: INSTANCES,
      imagesType: 'raw',
      uidMaps: [],
      gidMaps: [],
    });
    const cycle = await compare(
      {
        label: 'socket',
        run: async () => {
          const uuid = randomUUID();
          await client.call('PUT', `/v1/instances/${uuid}`, spec(device));
          await client.call('DELETE', `/v1/instances/${uuid}`);
        },
      },
      {
        label: 'in-process',
        run: async () => {
          const uuid = randomUUID();
          const inputs = toNovaInputs(uuid, SpawnSpecSchema.parse(spec(local.device)), {});
          const { instance, imageMeta, blockDeviceInfo } = inputs;
          await driver.spawn({}, instance, imageMeta, [], null, null, null, blockDeviceInfo);
          await driver.destroy({}, instance, null, blockDeviceInfo, true);
        },
      },
      { runs: ctx.runs(15), repeat: 10 },
    );
    return [
      ratioFigure(
        'GET /v1/health over the unix socket (keep-alive)',
        'a bare node HTTP server on a unix socket',
        'ms',
        health,
      ),
      ratioFigure(
        'spawn+destroy of a GPT volume through the socket (simulator)',
        'the same driver calls in-process',
        'ms',
        cycle,
        undefined,
        `the service adds ~${(cycle.a.median - cycle.b.median).toFixed(2)} ms: HTTP, validation, two record writes`,
      ),
    ];
  } finally {
    client.close();
    bareClient.close();
    await service.close();
    await new Promise((resolve) => bare.close(resolve));
    await rm(dir, { recursive: true, force: true });
  }
}

export const section: BenchSection = {
  name: 'service',
  title: 'nova-lxc serve (simulator)',
  order: 40,
  run,
};
