import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseScenarioText } from '../../scenarios/load.js';
import { compareScenarios, newScenario, runScenarios, scenarioSkeleton } from './scenario.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nova-lxc-scenario-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `fn` collecting what it writes. */
async function capture(
  fn: (write: (text: string) => void) => Promise<number>,
): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await fn((text) => {
    out += text;
  });
  return { code, out };
}

const PASSING = 'scenarios/unpartitioned-volume.yaml';

describe('nova-lxc scenario', () => {
  it('runs a scenario on the simulator and prints one JSON object per run', async () => {
    const { code, out } = await capture((write) =>
      runScenarios([PASSING], { backend: 'sim', reporter: 'json', write }),
    );
    expect(code).toBe(0);
    expect(JSON.parse(out.trim())).toMatchObject({
      name: 'unpartitioned-volume',
      status: 'passed',
      error: null,
    });
  });

  it('exits non-zero and names the failing step when an expectation does not hold', async () => {
    const text = (await readFile(PASSING, 'utf8')).replace(
      'state: { web: running }',
      'state: { web: shutdown }',
    );
    const file = join(dir, 'wrong.yaml');
    await writeFile(file, text);
    const { code, out } = await capture((write) =>
      runScenarios([file], { backend: 'sim', reporter: 'pretty', write }),
    );
    expect(code).toBe(1);
    expect(out).toContain('FAIL unpartitioned-volume');
    expect(out).toContain('steps[0]: state of web: expected "shutdown", got "running"');
  });

  it('writes JUnit XML', async () => {
    const { out } = await capture((write) =>
      runScenarios([PASSING], { backend: 'sim', reporter: 'junit', write }),
    );
    expect(out).toMatch(/<testsuite name="nova-lxc scenarios \(sim\)" tests="1" failures="0"/);
  });

  it('writes the normalised trace with --trace', async () => {
    const trace = join(dir, 'trace.json');
    await runScenarios([PASSING], { backend: 'sim', reporter: 'json', trace, write: () => {} });
    const written = JSON.parse(await readFile(trace, 'utf8')) as {
      scenarios: { trace: { op: string; args: unknown }[] }[];
    };
    const calls = written.scenarios[0]!.trace;
    expect(calls[0]).toMatchObject({ op: 'files.realpath', args: ['<instances>'] });
    expect(calls[1]).toMatchObject({ op: 'files.ensureDir', args: ['<instances>/<uuid:web>'] });
    expect(JSON.stringify(calls)).not.toMatch(/\/dev\/loop\d|[0-9a-f]{8}-[0-9a-f]{4}-/);
  });

  it('reports a fault_each list that no longer matches what the step calls', async () => {
    const text = (await readFile('scenarios/faults-destroy.yaml', 'utf8')).replace(
      '    - files.removeTree\n',
      '',
    );
    const file = join(dir, 'stale.yaml');
    await writeFile(file, text);
    const { code, out } = await capture((write) =>
      runScenarios([file], { backend: 'sim', reporter: 'pretty', write }),
    );
    expect(code).toBe(1);
    expect(out).toContain('fault_each.operations is out of date for step destroy');
    expect(out).toContain('add files.removeTree');
  });

  it('finds no difference between two simulator runs', async () => {
    const { code, out } = await capture((write) =>
      compareScenarios([PASSING, 'scenarios/concurrent-boots.yaml'], ['sim', 'sim'], write),
    );
    expect(out).toContain('2 scenario runs compared (sim vs sim): 2 same, 0 different');
    expect(code).toBe(0);
  });

  it('writes a skeleton that is itself a valid scenario, and refuses to overwrite it', async () => {
    const path = await newScenario('my-bug-123', dir);
    expect(parseScenarioText(await readFile(path, 'utf8'), path).name).toBe('my-bug-123');
    await expect(newScenario('my-bug-123', dir)).rejects.toMatchObject({ code: 'AlreadyExists' });
    const { code } = await capture((write) =>
      runScenarios([path], { backend: 'sim', reporter: 'json', write }),
    );
    expect(code).toBe(0);
  });

  it.each(['', 'Upper', '../escape', 'has space', 'x'.repeat(65)])(
    'refuses the name %j',
    async (name) => {
      await expect(newScenario(name, dir)).rejects.toMatchObject({ code: 'InvalidInput' });
    },
  );

  it('renders the skeleton with the name', () => {
    expect(scenarioSkeleton('abc')).toContain('name: abc\n');
  });
});
