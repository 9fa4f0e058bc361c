import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../../scenarios/index.js';
import { parseScenarioText } from '../../scenarios/load.js';
import { xmlText } from '../../scenarios/report.js';
import { main } from '../cli.js';
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

/** Runs `scenario run` collecting stdout and stderr. */
async function run(
  paths: string[],
  options: { reporter?: 'pretty' | 'json' | 'ndjson' | 'junit'; trace?: string } = {},
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runScenarios(paths, {
    backend: 'sim',
    reporter: options.reporter ?? 'pretty',
    ...(options.trace ? { trace: options.trace } : {}),
    write: (text) => (out += text),
    note: (text) => (err += text),
  });
  return { code, out, err };
}

const PASSING = 'scenarios/unpartitioned-volume.yaml';

/** A copy of PASSING under another name, with one expectation that does not hold. */
async function failingCopy(
  name: string,
  expectation = 'state: { web: shutdown }',
): Promise<string> {
  const text = (await readFile(PASSING, 'utf8'))
    .replace('name: unpartitioned-volume', `name: ${name}`)
    .replace('state: { web: running }', expectation);
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, text);
  return file;
}

const junitParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  isArray: (n) => n === 'testcase',
});

describe('nova-lxc scenario', () => {
  it('runs a scenario on the simulator and prints one JSON document with totals', async () => {
    const { code, out } = await capture((write) =>
      runScenarios([PASSING], { backend: 'sim', reporter: 'json', write }),
    );
    expect(code).toBe(0);
    expect(JSON.parse(out)).toMatchObject({
      backend: 'sim',
      totals: { runs: 1, passed: 1, failed: 0, errored: 0, skipped: 0 },
      results: [{ name: 'unpartitioned-volume', status: 'passed', error: null }],
    });
  });

  it('prints one JSON object per run and then the totals with --reporter ndjson', async () => {
    const { code, out } = await run([PASSING, await failingCopy('wrong')], { reporter: 'ndjson' });
    expect(code).toBe(EXIT_CODES.failed);
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toMatchObject([
      { name: 'unpartitioned-volume', status: 'passed' },
      { name: 'wrong', status: 'failed' },
      { backend: 'sim', totals: { runs: 2, passed: 1, failed: 1 } },
    ]);
  });

  it('gives CI a valid JUnit file with a broken, a failing and a passing scenario, and exits non-zero', async () => {
    await writeFile(join(dir, 'broken.yaml'), 'name: broken\nsteps:\n  - destory: web\n');
    await failingCopy('failing');
    await writeFile(
      join(dir, 'passing.yaml'),
      (await readFile(PASSING, 'utf8')).replace('name: unpartitioned-volume', 'name: passing'),
    );
    const { code, out } = await run([dir], { reporter: 'junit' });
    expect(code).toBe(EXIT_CODES.failed);
    expect(XMLValidator.validate(out)).toBe(true);
    const suite = (junitParser.parse(out) as { testsuites: { testsuite: Record<string, never> } })
      .testsuites.testsuite as unknown as {
      tests: string;
      failures: string;
      errors: string;
      testcase: { name: string; failure?: unknown; error?: { type: string; message: string } }[];
    };
    expect(suite).toMatchObject({ tests: '3', failures: '1', errors: '1' });
    const byName = new Map(suite.testcase.map((c) => [c.name, c]));
    expect(byName.get(join(dir, 'broken.yaml'))?.error).toMatchObject({
      type: 'LoadError',
      message: expect.stringContaining('steps[0].destory: expected one of the keys'),
    });
    expect(byName.get('failing')?.failure).toBeDefined();
    expect(byName.get('passing')).toEqual({
      name: 'passing',
      classname: 'scenarios.sim',
      file: expect.any(String),
      time: expect.any(String),
    });
  });

  it('keeps the JUnit file valid when a message carries colour codes and other control characters', async () => {
    const file = join(dir, 'coloured.yaml');
    await writeFile(
      file,
      (await readFile(PASSING, 'utf8')).replace(
        '    expect:\n      state: { web: running }',
        '    error: { message: "\\e[31mred\\e[0m \\x01 bell\\a" }\n    expect:\n      state: { web: running }',
      ),
    );
    const { out } = await run([file], { reporter: 'junit' });
    expect(XMLValidator.validate(out)).toBe(true);
    expect(out).toContain('expected an error (&quot;red \\u0001 bell\\u0007&quot;)');
  });

  it('writes characters XML cannot carry as visible escapes', () => {
    expect(xmlText('a\x1b[1;31mb\x1b[0m\u0000c\ud800d\te')).toBe('ab\\u0000c\\ud800d\te');
  });

  it('runs the other files when one does not load', async () => {
    await writeFile(join(dir, 'a-broken.yaml'), 'name: [unclosed\n');
    await writeFile(
      join(dir, 'b-passing.yaml'),
      (await readFile(PASSING, 'utf8')).replace('name: unpartitioned-volume', 'name: b-passing'),
    );
    const { code, out } = await run([dir]);
    expect(code).toBe(EXIT_CODES.failed);
    expect(out).toMatch(/ERR {2}.*a-broken\.yaml/);
    expect(out).toMatch(/a-broken\.yaml:\d+:\d+: not valid YAML/);
    expect(out).toContain('ok   b-passing');
    expect(out).toContain(
      '1 scenario runs on sim: 1 passed, 0 failed, 0 skipped; 1 file did not load',
    );
  });

  it('runs a file named twice once, and does not call it a duplicate of itself', async () => {
    const { code, out } = await run([PASSING, `./${PASSING}`, 'scenarios/../' + PASSING]);
    expect(out).not.toContain('no other scenario has');
    expect(out).toContain('1 scenario runs on sim: 1 passed');
    expect(code).toBe(EXIT_CODES.passed);
  });

  it('still calls two files with the same name a clash', async () => {
    await failingCopy('unpartitioned-volume');
    const { code, out } = await run([PASSING, dir]);
    expect(code).toBe(EXIT_CODES.failed);
    expect(out).toContain('expected a name no other scenario has, got "unpartitioned-volume"');
  });

  it('exits 3 when a folder holds no scenario, so CI does not go green on no tests', async () => {
    const empty = join(dir, 'empty');
    await mkdir(empty);
    const { code, err } = await run([empty], { reporter: 'json' });
    expect(code).toBe(EXIT_CODES.nothingRan);
    expect(err).toContain('no scenario files (*.yaml) found');
  });

  it('exits 2 with one line for a path that does not exist', async () => {
    const { code, out, err } = await run([join(dir, 'scenarois')]);
    expect(code).toBe(EXIT_CODES.usage);
    expect(out).toBe('');
    expect(err).toMatch(/^nova-lxc: Failed to load scenarios: .*scenarois does not exist\n/);
  });

  it('checks the --trace folder before running anything', async () => {
    const { code, out, err } = await run([PASSING], { trace: join(dir, 'missing', 'trace.json') });
    expect(code).toBe(EXIT_CODES.usage);
    expect(out).toBe('');
    expect(err).toContain(
      `--trace ${join(dir, 'missing', 'trace.json')}: the folder ${join(dir, 'missing')} does not exist`,
    );
    expect(err).not.toMatch(/\n\s+at /);
  });

  it('runs on a simulated host without nbd with --capabilities no_nbd', async () => {
    let out = '';
    const code = await runScenarios(['scenarios/qcow2-image.yaml'], {
      backend: 'sim',
      reporter: 'json',
      capabilities: ['no_nbd'],
      write: (text) => (out += text),
    });
    expect(code).toBe(EXIT_CODES.passed);
    const trace = join(dir, 't.json');
    await runScenarios(['scenarios/qcow2-image.yaml'], {
      backend: 'sim',
      reporter: 'json',
      capabilities: ['no_nbd'],
      trace,
      write: () => {},
    });
    // The no_nbd outcome ran: no nbd device was ever connected.
    expect(await readFile(trace, 'utf8')).not.toContain('"nbd.connect"');
    expect(JSON.parse(out)).toMatchObject({ totals: { passed: 1 } });
  });

  it('refuses --capabilities on the real host and unknown capabilities, exiting 2', async () => {
    for (const [backend, caps] of [
      ['real', ['no_nbd']],
      ['sim', ['no_loop']],
    ] as const) {
      let err = '';
      const code = await runScenarios([PASSING], {
        backend,
        reporter: 'json',
        capabilities: [...caps],
        write: () => {},
        note: (text) => (err += text),
      });
      expect(code).toBe(EXIT_CODES.usage);
      expect(err).toMatch(/--capabilities/);
    }
  });

  it('exits 2 for an unknown option', async () => {
    const stderr = process.stderr.write;
    process.stderr.write = () => true;
    try {
      expect(await main(['node', 'nova-lxc', 'scenario', 'run', '--bogus'])).toBe(2);
    } finally {
      process.stderr.write = stderr;
    }
  });

  it('stops quietly when the reader of its output goes away (| head -1)', () => {
    // From source (bin/ runs the build): the CLI's main, its output piped into head.
    const cli =
      "import('./tools/cli.ts').then(async (m) => { process.exitCode = await m.main(" +
      `['node', 'nova-lxc', 'scenario', 'run', '--reporter', 'pretty', '${PASSING}', 'scenarios/hard-reboot.yaml']); })`;
    const result = spawnSync(
      'bash',
      ['-c', `set -o pipefail; node_modules/.bin/tsx -e "${cli}" | head -c 1`],
      { encoding: 'utf8' },
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('o');
    expect(result.status).toBe(141);
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
    // The driver's first operation holds the run's own state directory, then starts.
    expect(calls.slice(0, 3)).toMatchObject([
      { op: 'journal.hold', args: ['<state>', 'driver', 'a nova-lxc driver'] },
      { op: 'journal.holders', args: ['<state>'] },
      { op: 'files.realpath', args: ['<instances>'] },
    ]);
    expect(calls).toContainEqual(
      expect.objectContaining({ op: 'files.ensureDir', args: ['<instances>/<uuid:web>'] }),
    );
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
