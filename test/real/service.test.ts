/**
 * The service on the real backend: real containers spawned and destroyed through the unix
 * socket, as the Nova side does it. Root only (vitest project `real`, under the real lock).
 */
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeHarness } from '../../harness/backend.js';
import type { BackendHarness } from '../../harness/harness.js';
import { plainDisk, rootFs, twoPartitionDisk } from '../../harness/instances.js';
import { ServiceClient } from '../../service/client.js';
import { startService, type RunningService } from '../../service/index.js';
import { createNovaLogger } from '../../service/log.js';

let harness: BackendHarness;
let dir: string;
let service: RunningService;
let client: ServiceClient;
const lines: string[] = [];

beforeEach(async () => {
  harness = await makeHarness();
  dir = await mkdtemp(join(tmpdir(), 'nova-lxc-real-service-'));
  service = await startService({
    backend: 'real',
    socketPath: join(dir, 'api.sock'),
    stateDir: join(dir, 'state'),
    driver: { instancesPath: harness.instancesPath, imagesType: 'raw', softRebootTimeoutMs: 2000 },
    logger: createNovaLogger({ level: 'debug', write: (line) => lines.push(line) }),
    env: {},
  });
  client = new ServiceClient(join(dir, 'api.sock'));
});

afterEach(async () => {
  client.close();
  await service.close();
  await rm(dir, { recursive: true, force: true });
  await harness.cleanup();
});

function spec(overrides: Record<string, unknown>) {
  return {
    name: `nlxc-svc-${randomUUID().slice(0, 8)}`,
    flavor: { name: 'm1.tiny', memory_mb: 128, vcpus: 1 },
    ...overrides,
  };
}

describe('nova-lxc service on the real backend', () => {
  it('spawns a container from a loop-backed partitioned volume through the socket and destroys it', async () => {
    const file = await harness.makeDiskFile(
      twoPartitionDisk('gpt', rootFs('root', 'via-service')),
      'volume',
    );
    // A `local` volume, as os-brick hands it over: a block device path.
    const volume = await harness.host.blockDevices.attachLoop(file);
    try {
      const uuid = randomUUID();
      const body = spec({
        root_volume: { device_path: volume.device, mount_device: '/dev/vda' },
      });
      const created = await client.send<Record<string, unknown>>(
        'PUT',
        `/v1/instances/${uuid}`,
        body,
      );
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        state: 'running',
        power_state: 1,
        root: { source: volume.device, partition: 1, fstype: 'ext4', offset: 2048 * 512 },
      });
      const root = await harness.host.hypervisor.containerRoot(body.name);
      expect(root.fstype).toBe('ext4');
      expect(await client.send('PUT', `/v1/instances/${uuid}`, body)).toMatchObject({
        status: 200,
      });
      // A restarted service finds the instance in its records; the container kept running.
      client.close();
      await service.close();
      service = await startService({
        backend: 'real',
        socketPath: join(dir, 'api.sock'),
        stateDir: join(dir, 'state'),
        driver: {
          instancesPath: harness.instancesPath,
          imagesType: 'raw',
          softRebootTimeoutMs: 2000,
        },
        logger: createNovaLogger({ level: 'debug', write: (line) => lines.push(line) }),
        env: {},
      });
      client = new ServiceClient(join(dir, 'api.sock'));
      expect(await client.call('GET', `/v1/instances/${uuid}`)).toEqual(created.body);
      expect(await client.call('DELETE', `/v1/instances/${uuid}`)).toEqual({ deleted: true });
      expect((await harness.host.hypervisor.list()).map((d) => d.name)).not.toContain(body.name);
      expect((await harness.host.blockDevices.listLoops()).map((l) => l.device)).toEqual([
        volume.device,
      ]);
    } finally {
      await harness.host.blockDevices.detachLoop(volume.device);
    }
    expect(await harness.readFileOnDisk(file, 1, '/marker')).toBe('via-service');
  });

  it('spawns from a raw image in the image cache, shows its console, soft-reboots, powers it off and on, and destroys it', async () => {
    const fs = rootFs('img', 'from-image');
    fs.init!.writes!.push({ path: '/dev/console', content: 'booted\n' });
    const image = await harness.makeDiskFile(plainDisk(fs), 'image');
    const imageId = `img-${randomUUID().slice(0, 8)}`;
    await mkdir(join(harness.instancesPath, '_base'), { recursive: true });
    await copyFile(image, join(harness.instancesPath, '_base', imageId));
    const uuid = randomUUID();
    const body = spec({ image: { id: imageId, disk_format: 'raw' } });
    expect(await client.call('PUT', `/v1/instances/${uuid}`, body)).toMatchObject({
      state: 'running',
      root: { source: `${harness.instancesPath}/${uuid}/disk`, partition: null },
    });
    let output = '';
    for (let i = 0; i < 100 && !output.includes('booted'); i++) {
      ({ output } = await client.call<{ output: string }>('GET', `/v1/instances/${uuid}/console`));
      await harness.host.clock.sleep(100);
    }
    expect(output).toBe('booted\r\n');
    expect(
      await client.call('POST', `/v1/instances/${uuid}/reboot`, { type: 'soft' }),
    ).toMatchObject({
      state: 'running',
    });
    expect(
      await client.call('POST', `/v1/instances/${uuid}/power-off`, { timeout: 0 }),
    ).toMatchObject({
      state: 'shut off',
      root: null,
    });
    expect(await client.call('POST', `/v1/instances/${uuid}/power-on`)).toMatchObject({
      state: 'running',
    });
    expect(await client.call('DELETE', `/v1/instances/${uuid}`)).toEqual({ deleted: true });
    expect(
      lines.some((l) => l.includes(`[instance: ${uuid}] Instance destroyed successfully.`)),
    ).toBe(true);
    await rm(join(harness.instancesPath, '_base'), { recursive: true, force: true });
  });
});
