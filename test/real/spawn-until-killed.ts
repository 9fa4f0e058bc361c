/**
 * A compute process that gets killed: runs one spawn on the real host and, right after the
 * first completed call of the named port operation, prints `PAUSED <op>` and waits to be
 * killed (SIGKILL, by test/real/kill-reclaim.test.ts). Argument: one JSON object.
 */
import { createRealHost } from '../../driver/adapters/real-host.js';
import { LxcDriver } from '../../driver/index.js';
import { PORT_NAMES, type Host } from '../../driver/ports/index.js';

interface Args {
  pauseAfter: string;
  instancesPath: string;
  stateDir: string;
  imagesDir: string;
  instance: Record<string, unknown>;
  bdi: Record<string, unknown>;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;

/** Waits forever once `op` has completed the first time. */
function pausing(host: Host, op: string): Host {
  const out = { ...host } as Record<string, unknown>;
  for (const port of PORT_NAMES) {
    if (port === 'clock') continue;
    const target = host[port] as unknown as Record<string, (...a: unknown[]) => unknown>;
    out[port] = new Proxy(target, {
      get(object, key) {
        const value = Reflect.get(object, key) as unknown;
        if (typeof value !== 'function') return value;
        return async (...a: unknown[]) => {
          const result = await (value as (...v: unknown[]) => Promise<unknown>).apply(object, a);
          if (`${port}.${String(key)}` === op) {
            process.stdout.write(`PAUSED ${op}\n`);
            await new Promise(() => setInterval(() => undefined, 60_000));
          }
          return result;
        };
      },
    });
  }
  return out as unknown as Host;
}

const host = pausing(
  createRealHost({
    imagesDir: args.imagesDir,
    ...(process.env['NOVA_LXC_CONNECTION_URI']
      ? { connectionUri: process.env['NOVA_LXC_CONNECTION_URI'] }
      : {}),
  }),
  args.pauseAfter,
);
const driver = new LxcDriver(host, {
  instancesPath: args.instancesPath,
  stateDir: args.stateDir,
  imagesType: 'raw',
});
await driver.spawn({}, args.instance, {}, [], null, null, null, args.bdi);
process.stdout.write('SPAWNED\n');
