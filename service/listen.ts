import { chmod, chown, lstat, mkdir, readFile, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import type { Server } from 'node:http';
import { dirname } from 'node:path';
import { DriverError } from '../driver/errors.js';

/** The first file descriptor systemd passes (SD_LISTEN_FDS_START). */
export const SD_LISTEN_FDS_START = 3;

/** Where and how the API socket listens. */
export interface ListenOptions {
  /** Unix socket path; default /run/nova-lxc/api.sock. */
  socketPath: string;
  /** Permission bits of the socket; default 0o660. */
  mode?: number;
  /** Group owning the socket (a name or a numeric gid), e.g. nova. */
  group?: string;
  /** The environment to read LISTEN_PID/LISTEN_FDS from; default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** How the server ended up listening. */
export interface Listening {
  kind: 'systemd' | 'path';
  /** The socket path this process created (and removes on close); undefined for systemd's. */
  createdPath?: string;
}

/**
 * Listens on the socket systemd passed (fd 3, when LISTEN_PID is this process), else on
 * `socketPath`: a stale socket left by a dead service is replaced, one that still answers is
 * an error (another service runs). Then applies the mode and group.
 */
export async function listenApi(server: Server, options: ListenOptions): Promise<Listening> {
  const env = options.env ?? process.env;
  if (env['LISTEN_PID'] === String(process.pid) && Number(env['LISTEN_FDS'] ?? '0') >= 1) {
    // Not passed on to anything this process starts (sd_listen_fds(unset_environment=1)).
    delete env['LISTEN_PID'];
    delete env['LISTEN_FDS'];
    delete env['LISTEN_FDNAMES'];
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd: SD_LISTEN_FDS_START }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return { kind: 'systemd' };
  }
  const path = options.socketPath;
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  await removeStaleSocket(path);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(path, options.mode ?? 0o660);
  if (options.group !== undefined) {
    await chown(path, process.getuid?.() ?? 0, await resolveGroup(options.group));
  }
  return { kind: 'path', createdPath: path };
}

async function removeStaleSocket(path: string): Promise<void> {
  const info = await lstat(path).catch(() => null);
  if (info === null) return;
  if (!info.isSocket()) {
    throw new DriverError(
      'AlreadyExists',
      `Failed to listen on ${path}: it exists and is not a socket`,
      { hint: 'Choose another --socket path, or remove that file.' },
    );
  }
  const answers = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (answers) {
    throw new DriverError('Busy', `Failed to listen on ${path}: another service answers there`, {
      hint: 'Stop it first (systemctl stop nova-lxc.service nova-lxc.socket), or use another --socket.',
    });
  }
  await unlink(path);
}

/** A group name or number to a gid, from /etc/group (node has no getgrnam). */
export async function resolveGroup(group: string, groupFile = '/etc/group'): Promise<number> {
  if (/^\d+$/.test(group)) return Number(group);
  const text = await readFile(groupFile, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new DriverError(
    'InvalidInput',
    `Failed to set the socket group: no group named '${group}'`,
    {
      hint: 'Create the group (groupadd), or pass a numeric gid.',
    },
  );
}
