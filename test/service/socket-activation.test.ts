import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ServiceClient } from '../../service/client.js';

const ENTRY = join(import.meta.dirname, 'serve-entry.ts');

/**
 * What systemd does for nova-lxc.socket: bind and listen, hand the socket over as fd 3 with
 * LISTEN_FDS=1 and LISTEN_PID set to the service's pid, then exec the service.
 */
const ACTIVATE = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(16); os.chmod(sys.argv[1], 0o660)
os.dup2(s.fileno(), 3); os.set_inheritable(3, True)
os.environ['LISTEN_FDS'] = '1'; os.environ['LISTEN_PID'] = str(os.getpid())
os.execvp(sys.argv[2], sys.argv[2:])
`;

let dir: string;
let child: ChildProcess | undefined;

afterEach(async () => {
  child?.kill('SIGTERM');
  await new Promise((resolve) =>
    child?.exitCode !== null ? resolve(null) : child.once('exit', resolve),
  );
  await rm(dir, { recursive: true, force: true });
});

/** Starts `nova-lxc serve --backend sim` the way systemd would; resolves once it logs listening. */
async function activate(): Promise<{ socket: string; log: () => string }> {
  dir = await mkdtemp(join(tmpdir(), 'nova-lxc-activation-'));
  const socket = join(dir, 'api.sock');
  const argv = [
    '-c',
    ACTIVATE,
    socket,
    process.execPath,
    '--import',
    'tsx',
    ENTRY,
    'serve',
    '--backend',
    'sim',
    '--socket',
    join(dir, 'not-used.sock'),
    '--state-dir',
    join(dir, 'state'),
  ];
  let output = '';
  child = spawn('python3', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (output.includes('listening on')) resolve();
    };
    child!.stderr!.on('data', check);
    child!.once('exit', (code) => reject(new Error(`serve exited with ${code}:\n${output}`)));
  });
  return { socket, log: () => output };
}

describe('socket activation', () => {
  it('serves on the socket systemd passes as fd 3 and leaves it to systemd', async () => {
    const { socket, log } = await activate();
    const client = new ServiceClient(socket);
    expect(await client.call('GET', '/v1/health')).toMatchObject({ status: 'ok', backend: 'sim' });
    client.close();
    expect(log()).toContain('listening on the socket systemd passed');
    await expect(stat(join(dir, 'not-used.sock'))).rejects.toMatchObject({ code: 'ENOENT' });
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child!.kill('SIGTERM');
    expect(await exited).toBe(0);
    // systemd owns the socket file: the service does not remove it when it stops.
    expect((await stat(socket)).isSocket()).toBe(true);
  });
});
