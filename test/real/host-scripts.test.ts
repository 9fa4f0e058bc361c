import { describe, expect, it } from 'vitest';
import { ProcessCommandRunner } from '../../driver/adapters/command-runner.js';

const runner = new ProcessCommandRunner();
const script = (name: string) => new URL(`../../tools/${name}`, import.meta.url).pathname;

describe('real host scripts', () => {
  it('decides that this prepared machine can run the real backend', async () => {
    const { stdout } = await runner.run(['bash', script('prepare-real-host.sh'), '--check']);
    expect(stdout).toContain('machine can run the real backend');
  });

  it('skips loudly with exit code 3 for a user who is not root', async () => {
    const result = await runner.run(
      [
        'setpriv',
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        'bash',
        script('prepare-real-host.sh'),
        '--check',
      ],
      { allowExitCodes: [3] },
    );
    expect(result).toMatchObject({ exitCode: 3 });
    expect(result.stdout).toMatch(/^REAL BACKEND SKIPPED: not running as root/m);
  });

  it('prepares idempotently: a second run starts nothing', async () => {
    const { stdout } = await runner.run(['bash', script('prepare-real-host.sh')], {
      timeoutMs: 60_000,
    });
    expect(stdout).toContain('libvirt already answers');
    expect(stdout).not.toMatch(/started (virtlogd|libvirtd)/);
  });
});
