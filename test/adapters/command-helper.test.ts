import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  CommandHelper,
  helperPython,
  sharedCommandHelper,
} from '../../driver/adapters/command-helper.js';
import { createRealHost } from '../../driver/adapters/real-host.js';

// python3 is on every Nova compute node (nova-compute is Python); elsewhere the helper falls
// back to starting commands directly, and these tests of the helper itself skip, saying why.
// NOVA_LXC_REQUIRE_HOST_TOOLS=1 (set by .ci/run) turns a missing python3 into a failure.
const PYTHON = (() => {
  try {
    execFileSync(helperPython(), ['-c', ''], { stdio: 'ignore' });
    return true;
  } catch {
    return process.env['NOVA_LXC_REQUIRE_HOST_TOOLS'] === '1';
  }
})();
const withPython = PYTHON ? describe : describe.skip;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const helpers: CommandHelper[] = [];
function newHelper(options?: ConstructorParameters<typeof CommandHelper>[0]): CommandHelper {
  const helper = new CommandHelper(options);
  helpers.push(helper);
  return helper;
}
afterAll(() => {
  for (const helper of helpers) helper.close();
});

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'nova-lxc-helper-'));
  dirs.push(dir);
  return dir;
}

withPython('the command helper (python3)', () => {
  it('starts commands from its own process, not from ours', async () => {
    const helper = newHelper();
    const { stdout } = await helper.run(['sh', '-c', 'echo $PPID']);
    expect(helper.fallbackReason).toBeUndefined();
    expect(helper.pid).toBeDefined();
    expect(Number(stdout.trim())).toBe(helper.pid);
    expect(helper.pid).not.toBe(process.pid);
  });

  it('keeps the answers of concurrent commands apart', async () => {
    const helper = newHelper();
    const runs = Array.from({ length: 30 }, (_, i) =>
      helper.run(['sh', '-c', `sleep 0.0$((${i} % 5)); printf '%s' ${i}; printf e${i} >&2`]),
    );
    const results = await Promise.all(runs);
    results.forEach((result, i) => {
      expect(result).toEqual({ stdout: String(i), stderr: `e${i}`, exitCode: 0 });
    });
  });

  it("sees this process's environment and working directory as they are at each run", async () => {
    const helper = newHelper();
    const dir = scratch();
    const before = process.cwd();
    try {
      process.env['NOVA_LXC_HELPER_TEST'] = 'one';
      expect((await helper.run(['sh', '-c', 'echo $NOVA_LXC_HELPER_TEST'])).stdout).toBe('one\n');
      process.env['NOVA_LXC_HELPER_TEST'] = 'two';
      process.chdir(dir);
      const { stdout } = await helper.run(['sh', '-c', 'echo $NOVA_LXC_HELPER_TEST; pwd -P']);
      expect(stdout.split('\n')[0]).toBe('two');
      expect(stdout.split('\n')[1]).toBe(
        execFileSync('realpath', [dir], { encoding: 'utf8' }).trim(),
      );
    } finally {
      delete process.env['NOVA_LXC_HELPER_TEST'];
      process.chdir(before);
    }
    expect((await helper.run(['sh', '-c', 'echo "[$NOVA_LXC_HELPER_TEST]"'])).stdout).toBe('[]\n');
  });

  it('decodes output that is not UTF-8 the way the direct runner does', async () => {
    const helper = newHelper();
    const { stdout } = await helper.run(['printf', 'a\\377b']);
    expect(stdout).toBe(Buffer.from([0x61, 0xff, 0x62]).toString('utf8'));
  });

  it('kills a timed-out command for real, and an aborted one', async () => {
    const helper = newHelper();
    const timedOut = await helper
      .run(['sh', '-c', 'echo $$; exec sleep 30'], { timeoutMs: 300 })
      .catch((error: { code: string; stdout: string }) => error);
    expect(timedOut).toMatchObject({ code: 'Timeout' });
    const pid = Number((timedOut as { stdout: string }).stdout.trim());
    expect(pid).toBeGreaterThan(0);
    expect(alive(pid)).toBe(false);

    const stop = new AbortController();
    const running = helper.run(['sleep', '30'], { signal: stop.signal });
    await helper.run(['true']); // the sleep has been handed over by now
    stop.abort();
    await expect(running).rejects.toMatchObject({ message: expect.stringMatching(/SIGKILL/) });
  });

  it('fails what ran when the helper dies, as unknown, and starts a new one for the next command', async () => {
    const helper = newHelper();
    const running = helper.run(['sleep', '30']);
    await helper.run(['true']);
    const first = helper.pid;
    expect(first).toBeDefined();
    process.kill(first!, 'SIGKILL');
    await expect(running).rejects.toMatchObject({
      code: 'CommandFailed',
      message: expect.stringMatching(
        /command helper .* exited with signal SIGKILL.*whether sleep ran, and how it ended, is unknown/,
      ),
    });
    await expect(helper.run(['printf', 'again'])).resolves.toMatchObject({ stdout: 'again' });
    expect(helper.pid).toBeDefined();
    expect(helper.pid).not.toBe(first);
    expect(helper.fallbackReason).toBeUndefined();
  });

  it('is what createRealHost starts commands from when asked (commandHelper), and only then', async () => {
    const direct = createRealHost({ imagesDir: scratch() });
    // Any command will do: virsh answers or is missing; either way it ran from somewhere.
    await direct.hypervisor.list().catch(() => undefined);
    expect(sharedCommandHelper().pid).toBeUndefined();
    const helped = createRealHost({ imagesDir: scratch(), commandHelper: true });
    await helped.hypervisor.list().catch(() => undefined);
    expect(sharedCommandHelper().pid).toBeDefined();
    sharedCommandHelper().close();
  });

  it('lets its process exit when idle, and ends with it', () => {
    const module = fileURLToPath(
      new URL('../../driver/adapters/command-helper.ts', import.meta.url),
    );
    const code = `
      import { CommandHelper } from ${JSON.stringify(module)};
      const helper = new CommandHelper();
      const { stdout } = await helper.run(['sh', '-c', 'echo $PPID']);
      console.log(stdout.trim());
    `;
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', code],
      {
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    expect(child.error).toBeUndefined();
    expect(child.status).toBe(0);
    const pid = Number(child.stdout.trim());
    expect(pid).toBeGreaterThan(0);
    // Its stdin closed with its parent: it is gone (or going) without anyone killing it.
    const deadline = Date.now() + 5000;
    while (alive(pid) && Date.now() < deadline) spawnSync('sleep', ['0.05']);
    expect(alive(pid)).toBe(false);
  });
});

describe('the command helper where python3 cannot run', () => {
  it('runs commands directly when the interpreter is missing, and says why', async () => {
    const helper = newHelper({ python: 'nova-lxc-no-such-python' });
    await expect(helper.run(['printf', 'direct'])).resolves.toEqual({
      stdout: 'direct',
      stderr: '',
      exitCode: 0,
    });
    expect(helper.fallbackReason).toMatch(/could not start nova-lxc-no-such-python/);
    expect(helper.pid).toBeUndefined();
  });

  it('runs each waiting command exactly once when the interpreter exits before it is ready', async () => {
    const dir = scratch();
    const file = join(dir, 'ran');
    const helper = newHelper({ python: 'false' });
    await Promise.all(
      [1, 2, 3].map((i) => helper.run(['sh', '-c', `echo ${i} >> "$1"`, 'sh', file])),
    );
    expect(readFileSync(file, 'utf8').split('\n').filter(Boolean).sort()).toEqual(['1', '2', '3']);
    expect(helper.fallbackReason).toMatch(/exited with code 1/);
  });
});
