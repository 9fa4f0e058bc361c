import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { plainDisk, rootFs, twoPartitionDisk } from '../../harness/instances.js';
import { MAX_BODY_BYTES } from '../../service/http.js';
import { imageSpec, startSimService, volumeSpec, type ServiceFixture } from './helpers.js';

let f: ServiceFixture;
let devices = 0;

beforeEach(async () => {
  f = await startSimService();
});

afterEach(async () => {
  await f.stop();
});

/** Declares a block device on the simulated host holding `spec`; returns its path. */
async function blockDevice(
  spec: unknown = twoPartitionDisk('gpt', rootFs('root', 'from-1'), rootFs('two', 'from-2')),
) {
  const path = `/dev/sd${String.fromCharCode(98 + (devices++ % 20))}${devices}`;
  const answer = await f.client.send('PUT', '/v1/sim/disks', { path, kind: 'block', spec });
  expect(answer.status).toBe(201);
  return path;
}

/** What the simulated host holds: loop devices, mounts and domains. */
async function leftovers() {
  const state = await f.client.call<Record<string, unknown[]>>('GET', '/v1/sim/state');
  return { loops: state['loops'], hostMounts: state['hostMounts'], domains: state['domains'] };
}

const NOTHING = { loops: [], hostMounts: [], domains: [] };

describe('nova-lxc service over a unix socket (sim backend)', () => {
  it('answers health with its version and backend', async () => {
    expect(await f.client.send('GET', '/v1/health')).toEqual({
      status: 200,
      body: { status: 'ok', version: '0.1.0', backend: 'sim' },
    });
  });

  it('creates the socket with mode 0660 by default', async () => {
    expect((await stat(f.socketPath)).mode & 0o777).toBe(0o660);
  });

  it('spawns from a volume idempotently, refuses another spec, and destroys leaving nothing', async () => {
    const uuid = randomUUID();
    const spec = volumeSpec(await blockDevice());
    const created = await f.client.send<Record<string, unknown>>(
      'PUT',
      `/v1/instances/${uuid}`,
      spec,
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      uuid,
      name: spec.name,
      power_state: 1,
      state: 'running',
      root: { partition: 1, fstype: 'ext4', offset: 2048 * 512, size: 61440 * 512, mount: null },
      domain: { name: spec.name, uuid },
    });
    // The driver's journal of the live instance: its directory, root loop device and domain.
    const journal = (created.body as { journal: { done: boolean; target: { kind: string } }[] })
      .journal;
    expect(journal.map((e) => e.target.kind)).toEqual(['directory', 'loop', 'domain']);
    expect(journal.every((e) => e.done)).toBe(true);

    const again = await f.client.send('PUT', `/v1/instances/${uuid}`, spec);
    expect(again).toEqual({ status: 200, body: created.body });

    const other = await f.client.send<{ error: Record<string, unknown> }>(
      'PUT',
      `/v1/instances/${uuid}`,
      { ...spec, flavor: { ...spec.flavor, memory_mb: 256 } },
    );
    expect(other.status).toBe(409);
    expect(other.body.error).toMatchObject({
      code: 'AlreadyExists',
      message: expect.stringContaining('flavor differ'),
    });

    expect(await f.client.call('GET', '/v1/instances')).toEqual({
      instances: [{ uuid, name: spec.name, power_state: 1, state: 'running' }],
    });
    expect(await f.client.send('DELETE', `/v1/instances/${uuid}?destroy_disks=true`)).toEqual({
      status: 200,
      body: { deleted: true },
    });
    expect(await f.client.send('DELETE', `/v1/instances/${uuid}`)).toEqual({
      status: 200,
      body: { deleted: false },
    });
    expect(await leftovers()).toEqual(NOTHING);
  });

  it('serves two identical spawns at once with one 201 and one 200', async () => {
    const uuid = randomUUID();
    const spec = volumeSpec(await blockDevice());
    const answers = await Promise.all([
      f.client.send('PUT', `/v1/instances/${uuid}`, spec),
      f.client.send('PUT', `/v1/instances/${uuid}`, spec),
    ]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 201]);
    await f.client.call('DELETE', `/v1/instances/${uuid}`);
    expect(await leftovers()).toEqual(NOTHING);
  });

  it('spawns from a cached image', async () => {
    expect(
      (await f.client.send('PUT', '/v1/sim/images/img-raw', { spec: plainDisk(), format: 'raw' }))
        .status,
    ).toBe(201);
    const uuid = randomUUID();
    const view = await f.client.call<Record<string, unknown>>(
      'PUT',
      `/v1/instances/${uuid}`,
      imageSpec('img-raw'),
    );
    expect(view).toMatchObject({
      state: 'running',
      root: { source: `/var/lib/nova/instances/${uuid}/disk`, partition: null, fstype: 'ext4' },
    });
    await f.client.call('DELETE', `/v1/instances/${uuid}`);
    expect(await leftovers()).toEqual(NOTHING);
  });

  it.each([
    [
      'the flavor extra spec',
      {
        flavor: {
          name: 'f',
          memory_mb: 128,
          vcpus: 1,
          root_gb: 1,
          extra_specs: { 'nova_lxc:root_partition': '2' },
        },
      },
      2,
    ],
    [
      'the image property kept in system_metadata',
      { system_metadata: { image_lxc_root_partition: '2' } },
      2,
    ],
    [
      'the image property over the flavor extra spec',
      {
        image: { id: 'img', disk_format: 'raw', properties: { lxc_root_partition: '1' } },
        flavor: {
          name: 'f',
          memory_mb: 128,
          vcpus: 1,
          root_gb: 1,
          extra_specs: { 'nova_lxc:root_partition': '2' },
        },
      },
      1,
    ],
    [
      "the Nova side's root_partition (nova.conf)",
      { root_partition: { policy: '2', source: 'nova.conf [nova_lxc] root_partition' } },
      2,
    ],
  ])('chooses the root partition by %s', async (_what, overrides, partition) => {
    const uuid = randomUUID();
    const view = await f.client.call<{ root: { partition: number } }>(
      'PUT',
      `/v1/instances/${uuid}`,
      volumeSpec(await blockDevice(), overrides),
    );
    expect(view.root.partition).toBe(partition);
    await f.client.call('DELETE', `/v1/instances/${uuid}`);
  });

  it("checks a cached image's path against the service's image cache", async () => {
    await f.client.call('PUT', '/v1/sim/images/img-path', { spec: plainDisk() });
    const wrong = await f.client.send<{ error: Record<string, unknown> }>(
      'PUT',
      `/v1/instances/${randomUUID()}`,
      imageSpec('img-path', {
        image: { id: 'img-path', disk_format: 'raw', path: '/srv/_base/img-path' },
      }),
    );
    expect(wrong.status).toBe(400);
    expect(wrong.body.error['message']).toContain('image.path /srv/_base/img-path');
    const uuid = randomUUID();
    const right = await f.client.send(
      'PUT',
      `/v1/instances/${uuid}`,
      imageSpec('img-path', {
        image: {
          id: 'img-path',
          disk_format: 'raw',
          path: '/var/lib/nova/instances/_base/img-path',
        },
      }),
    );
    expect(right.status).toBe(201);
    await f.client.call('DELETE', `/v1/instances/${uuid}`);
  });

  it('powers off and on, reboots hard and soft, and shows the console', async () => {
    const uuid = randomUUID();
    const disk = {
      size: '64M',
      table: 'none',
      filesystem: {
        type: 'ext4',
        init: { writes: [{ path: '/dev/console', content: 'up\n' }], then: 'run' },
      },
    };
    await f.client.call('PUT', `/v1/instances/${uuid}`, volumeSpec(await blockDevice(disk)));
    expect(await f.client.call('GET', `/v1/instances/${uuid}/console`)).toEqual({
      output: 'up\r\n',
    });

    const off = await f.client.call<Record<string, unknown>>(
      'POST',
      `/v1/instances/${uuid}/power-off`,
      {
        timeout: 5,
        retry_interval: 2,
      },
    );
    expect(off).toMatchObject({ power_state: 4, state: 'shut off', root: null });
    const on = await f.client.call<Record<string, unknown>>(
      'POST',
      `/v1/instances/${uuid}/power-on`,
    );
    expect(on).toMatchObject({ power_state: 1, state: 'running', root: { fstype: 'ext4' } });
    for (const type of ['hard', 'soft']) {
      expect(await f.client.call('POST', `/v1/instances/${uuid}/reboot`, { type })).toMatchObject({
        state: 'running',
      });
    }
    // As in Nova, the log keeps what was read while a container ran: the boots in between were
    // never read, and each start has a new console pty.
    expect(await f.client.call('GET', `/v1/instances/${uuid}/console`)).toEqual({
      output: 'up\r\n'.repeat(2),
    });
    await f.client.call('DELETE', `/v1/instances/${uuid}`);
    expect(await leftovers()).toEqual(NOTHING);
  });

  it('resumes an instance after the host rebooted, on new devices, and leaves a running one alone', async () => {
    const uuid = randomUUID();
    await f.client.call('PUT', `/v1/instances/${uuid}`, volumeSpec(await blockDevice()));
    const resume = () =>
      f.client.call<Record<string, unknown>>('POST', `/v1/instances/${uuid}/resume-on-host-boot`);
    expect(await resume()).toMatchObject({ power_state: 1, state: 'running' });
    expect(await f.client.call('POST', '/v1/sim/reboot')).toEqual({ rebooted: true });
    // The record still names the earlier boot's devices: the view shows no root.
    expect(await f.client.call('GET', `/v1/instances/${uuid}`)).toMatchObject({
      power_state: 4,
      state: 'shut off',
      root: null,
    });
    expect(await resume()).toMatchObject({
      power_state: 1,
      state: 'running',
      root: { partition: 1, fstype: 'ext4' },
    });
    await f.client.call('DELETE', `/v1/instances/${uuid}`);
    expect(await leftovers()).toEqual(NOTHING);
  });

  it("shows the driver's journal entries of the instance", async () => {
    const uuid = randomUUID();
    const view = await f.client.call<{ name: string }>(
      'PUT',
      `/v1/instances/${uuid}`,
      volumeSpec(await blockDevice()),
    );
    const items = [{ id: 1, done: true, target: { kind: 'domain', name: view.name, uuid } }];
    const journal = {
      version: 1,
      uuid,
      domain: view.name,
      instanceDir: '/x',
      operation: null,
      next: 2,
      items,
    };
    await f.sim.journal.write(`${f.stateDir}/journal`, uuid, JSON.stringify(journal));
    expect(await f.client.call('GET', `/v1/instances/${uuid}`)).toMatchObject({ journal: items });
    await f.client.call('DELETE', `/v1/instances/${uuid}`);
  });

  it('knows its instances after a restart, and destroys them then', async () => {
    const uuid = randomUUID();
    const spec = volumeSpec(await blockDevice());
    const before = await f.client.call('PUT', `/v1/instances/${uuid}`, spec);
    await f.restart();
    expect(await f.client.call('GET', `/v1/instances/${uuid}`)).toEqual(before);
    expect(await f.client.send('PUT', `/v1/instances/${uuid}`, spec)).toEqual({
      status: 200,
      body: before,
    });
    await f.client.call('DELETE', `/v1/instances/${uuid}`);
    expect(await leftovers()).toEqual(NOTHING);
  });

  it('reports host resources with what the instances use', async () => {
    const uuid = randomUUID();
    await f.client.call('PUT', `/v1/instances/${uuid}`, volumeSpec(await blockDevice()));
    expect(await f.client.call('GET', '/v1/host')).toMatchObject({
      vcpus: 16,
      memory_mb: 32768,
      vcpus_used: 1,
      memory_mb_used: 128,
      local_gb_used: 1,
      hypervisor_type: 'lxc',
      hypervisor_version: 9000000,
      supported_instances: [['x86_64', 'lxc', 'exe']],
      cpu_info: expect.any(String),
      instances_path: '/var/lib/nova/instances',
    });
    await f.client.call('DELETE', `/v1/instances/${uuid}`);
  });

  it("logs with Nova's [instance: uuid] context and the caller's request id", async () => {
    const uuid = randomUUID();
    const requestId = `req-${randomUUID()}`;
    await f.client.send('GET', `/v1/instances/${uuid}`, undefined, {
      'x-openstack-request-id': requestId,
    });
    expect(f.lines.join('')).toContain(`[${requestId}] GET /v1/instances/${uuid} 404`);
    await f.client.call('PUT', `/v1/instances/${uuid}`, volumeSpec(await blockDevice()));
    expect(
      f.lines.some((l) =>
        l.includes(`INFO nova_lxc.service [-] [instance: ${uuid}] Spawning instance`),
      ),
    ).toBe(true);
    await f.client.call('DELETE', `/v1/instances/${uuid}`);
  });
});

describe('errors of the nova-lxc service', () => {
  const id = '5c1f8e5e-4b7e-4c8e-9f3b-0e2a1d7c9b10';

  it.each([
    ['a malformed uuid', 'GET', '/v1/instances/not-a-uuid', undefined, 400, 'InvalidInput', 'uuid'],
    [
      'a malformed %-escape',
      'GET',
      '/v1/instances/%E0%A4%A',
      undefined,
      400,
      'InvalidInput',
      'uuid',
    ],
    [
      'an unknown instance',
      'GET',
      `/v1/instances/${id}`,
      undefined,
      404,
      'NotFound',
      'could not be found',
    ],
    ['an unknown path', 'GET', '/v1/nothing', undefined, 404, 'NotFound', 'no such endpoint'],
    [
      'an unknown method',
      'PATCH',
      `/v1/instances/${id}`,
      undefined,
      405,
      'Unsupported',
      'allowed methods are GET, PUT, DELETE',
    ],
    [
      'a bad destroy_disks',
      'DELETE',
      `/v1/instances/${id}?destroy_disks=yes`,
      undefined,
      400,
      'InvalidInput',
      'destroy_disks',
    ],
    [
      'a body that is not JSON',
      'PUT',
      `/v1/instances/${id}`,
      '{"name":',
      400,
      'InvalidInput',
      'not valid JSON',
    ],
    [
      'a bad reboot type',
      'POST',
      `/v1/instances/${id}/reboot`,
      { type: 'warm' },
      400,
      'InvalidInput',
      'type:',
    ],
  ])('answers %s with JSON', async (_what, method, path, body, status, code, text) => {
    const answer = await f.client.send<{ error: Record<string, unknown> }>(method, path, body);
    expect(answer.status).toBe(status);
    expect(answer.body.error).toMatchObject({ code, message: expect.stringContaining(text) });
    expect(Object.keys(answer.body.error).sort()).toEqual(['code', 'hint', 'message', 'nova_type']);
  });

  it('names InstanceNotFound for an unknown instance only', async () => {
    const unknown = await f.client.send<{ error: Record<string, unknown> }>(
      'GET',
      `/v1/instances/${id}`,
    );
    expect(unknown.body.error['nova_type']).toBe('InstanceNotFound');
    const path = await f.client.send<{ error: Record<string, unknown> }>(
      'GET',
      '/v1/instances/x/y/z',
    );
    expect(path.body.error['nova_type']).toBeNull();
  });

  it('names every invalid field of a spawn spec', async () => {
    const spec = {
      ...volumeSpec('/dev/sdb'),
      flavor: { memory_mb: 'lots', vcpus: 0 },
      colour: 'red',
    };
    const answer = await f.client.send<{ error: { message: string } }>(
      'PUT',
      `/v1/instances/${id}`,
      spec,
    );
    expect(answer.status).toBe(400);
    expect(answer.body.error.message).toContain('flavor.memory_mb: Invalid input: expected number');
    expect(answer.body.error.message).toContain('flavor.vcpus: Too small');
    expect(answer.body.error.message).toContain('unknown field colour');
  });

  it.each([
    ['neither image nor root_volume', { image: null, root_volume: null }, 'image: one of image'],
    [
      'a relative device path',
      { root_volume: { device_path: 'sdb', mount_device: '/dev/vda' } },
      'root_volume.device_path',
    ],
    [
      'an image without an id and no root volume',
      { root_volume: null, image: { id: null } },
      'image.id: required',
    ],
    ['a bad id map', { id_maps: { uid: ['0:100000'] } }, 'id_maps.uid[0]'],
    [
      'a volume mounted twice',
      { volumes: [{ device_path: '/dev/sdc', mount_device: '/dev/vda' }] },
      '/dev/vda is used twice',
    ],
  ])('rejects a spec with %s', async (_what, overrides, text) => {
    const answer = await f.client.send<{ error: Record<string, unknown> }>(
      'PUT',
      `/v1/instances/${id}`,
      volumeSpec('/dev/sdb', overrides),
    );
    expect(answer.status).toBe(400);
    expect(answer.body.error['message']).toContain(text);
  });

  it('rejects a body larger than the limit with 413', async () => {
    const answer = await f.client.send<{ error: Record<string, unknown> }>(
      'PUT',
      `/v1/instances/${id}`,
      JSON.stringify({ name: 'x'.repeat(MAX_BODY_BYTES) }),
    );
    expect(answer.status).toBe(413);
    expect(answer.body.error['code']).toBe('InvalidInput');
  });

  it('rejects a body that is not application/json with 415', async () => {
    const answer = await f.client.send('PUT', `/v1/instances/${id}`, '{}', {
      'content-type': 'text/plain',
    });
    expect(answer.status).toBe(415);
  });

  it('fails a spawn whose volume holds no filesystem, naming the device, and keeps no record', async () => {
    const device = await blockDevice({ size: '16M', table: 'none' });
    const answer = await f.client.send<{ error: Record<string, unknown> }>(
      'PUT',
      `/v1/instances/${id}`,
      volumeSpec(device),
    );
    expect(answer.status).toBe(500);
    expect(answer.body.error).toMatchObject({
      code: 'NoRootFilesystem',
      message: expect.stringContaining(device),
    });
    expect(await f.client.call('GET', '/v1/instances')).toEqual({ instances: [] });
    expect(await leftovers()).toEqual(NOTHING);
  });

  it.each([
    ['an image format nova-lxc cannot boot', { image: { id: 'img', disk_format: 'vmdk' } }, 501],
    ['a root partition policy it cannot parse', { root_partition: { policy: 'third' } }, 400],
  ])('refuses a spawn with %s and records nothing', async (_what, overrides, status) => {
    const answer = await f.client.send('PUT', `/v1/instances/${id}`, imageSpec('img', overrides));
    expect(answer.status).toBe(status);
    expect(await f.client.call('GET', '/v1/instances')).toEqual({ instances: [] });
  });

  it("refuses to start over another backend's records", async () => {
    const { InstanceRecords } = await import('../../service/records.js');
    const { SpawnSpecSchema } = await import('../../service/spec.js');
    await new InstanceRecords(f.sim.journal, f.stateDir).put({
      version: 1,
      uuid: id,
      backend: 'real',
      spec: SpawnSpecSchema.parse(volumeSpec('/dev/sdb')),
      systemMetadata: {},
      status: 'active',
      createdAt: new Date().toISOString(),
    });
    await expect(f.restart()).rejects.toMatchObject({
      code: 'FailedPrecondition',
      message: expect.stringContaining('1 instance record(s) of the real backend'),
    });
    await new InstanceRecords(f.sim.journal, f.stateDir).delete(id);
    await f.restart();
  });

  it('answers 409 Busy for a spawn that did not finish before a crash', async () => {
    const { InstanceRecords } = await import('../../service/records.js');
    const records = new InstanceRecords(f.sim.journal, f.stateDir);
    const { SpawnSpecSchema } = await import('../../service/spec.js');
    await records.put({
      version: 1,
      uuid: id,
      backend: 'sim',
      spec: SpawnSpecSchema.parse(volumeSpec('/dev/sdb')),
      systemMetadata: {},
      status: 'spawning',
      createdAt: new Date().toISOString(),
    });
    const answer = await f.client.send<{ error: Record<string, unknown> }>(
      'PUT',
      `/v1/instances/${id}`,
      volumeSpec('/dev/sdb'),
    );
    expect(answer.status).toBe(409);
    expect(answer.body.error['code']).toBe('Busy');
    expect(await f.client.call('DELETE', `/v1/instances/${id}`)).toEqual({ deleted: true });
  });
});
