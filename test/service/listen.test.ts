import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveGroup } from '../../service/listen.js';
import { startSimService, type ServiceFixture } from './helpers.js';

let dir: string;
const started: ServiceFixture[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nova-lxc-listen-'));
});

afterEach(async () => {
  for (const f of started.splice(0)) await f.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('the service socket', () => {
  it('takes the configured mode and group', async () => {
    const gid = process.getgid!();
    const f = await startSimService({ mode: 0o600, group: String(gid) });
    started.push(f);
    const info = await stat(f.socketPath);
    expect(info.mode & 0o777).toBe(0o600);
    expect(info.gid).toBe(gid);
  });

  it('replaces a stale socket a dead service left, and refuses one that still answers', async () => {
    const socketPath = join(dir, 'api.sock');
    // A socket file nobody listens on any more, as a killed service leaves it.
    execFileSync('python3', [
      '-c',
      `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(socketPath)})`,
    ]);
    expect((await stat(socketPath)).isSocket()).toBe(true);
    const first = await startSimService({ socketPath });
    started.push(first);
    expect(await first.client.call('GET', '/v1/health')).toMatchObject({ status: 'ok' });
    await expect(startSimService({ socketPath })).rejects.toMatchObject({
      code: 'Busy',
      message: expect.stringContaining('another service answers there'),
    });
  });

  it('refuses a socket path that is a regular file', async () => {
    const socketPath = join(dir, 'file');
    await writeFile(socketPath, 'data');
    await expect(startSimService({ socketPath })).rejects.toMatchObject({ code: 'AlreadyExists' });
  });

  it('resolves a group name from the group file and names an unknown one', async () => {
    const file = join(dir, 'group');
    await writeFile(file, 'root:x:0:\nnova:x:64060:nova\n');
    expect(await resolveGroup('nova', file)).toBe(64060);
    expect(await resolveGroup('42', file)).toBe(42);
    await expect(resolveGroup('novaa', file)).rejects.toMatchObject({
      code: 'InvalidInput',
      message: expect.stringContaining("no group named 'novaa'"),
    });
  });
});
