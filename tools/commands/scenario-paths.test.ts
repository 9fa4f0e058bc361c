import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as prettier from 'prettier';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SCENARIOS_DIR } from '../../scenarios/load.js';
import { defaultRunPaths, newScenario, runScenarios, scenarioSkeleton } from './scenario.js';

let dir: string;
const startDir = process.cwd();

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nova-lxc-user-project-'));
});

afterEach(async () => {
  process.chdir(startDir);
  await rm(dir, { recursive: true, force: true });
});

describe('scenario paths are the user’s, resolved against the working directory', () => {
  it('runs ./scenarios of the working directory when no path is given, and says so', async () => {
    await mkdir(join(dir, 'scenarios'));
    await writeFile(join(dir, 'scenarios', 'mine.yaml'), scenarioSkeleton('mine'));
    let out = '';
    let note = '';
    const code = await runScenarios([], {
      backend: 'sim',
      reporter: 'json',
      cwd: dir,
      write: (t) => (out += t),
      note: (t) => (note += t),
    });
    expect(code).toBe(0);
    expect(note).toBe(`nova-lxc: running the scenarios in ${join(dir, 'scenarios')}\n`);
    expect(out).toContain('"mine"');
    expect(out).not.toContain('unpartitioned-volume');
  });

  it('refuses to run nothing when there is no ./scenarios, naming what to do', async () => {
    await expect(defaultRunPaths([], { cwd: dir })).rejects.toMatchObject({
      code: 'InvalidInput',
      message: `Failed to run scenarios: no scenario files given and no scenarios folder at ${join(dir, 'scenarios')}`,
      hint: expect.stringContaining('--examples'),
    });
  });

  it('runs the examples shipped with nova-lxc with --examples, and only without paths', async () => {
    await expect(defaultRunPaths([], { cwd: dir, examples: true })).resolves.toEqual({
      paths: [SCENARIOS_DIR],
      from: SCENARIOS_DIR,
    });
    expect(
      (await readdir(SCENARIOS_DIR)).filter((f) => f.endsWith('.yaml')).length,
    ).toBeGreaterThan(5);
    await expect(defaultRunPaths(['x.yaml'], { examples: true })).rejects.toMatchObject({
      code: 'InvalidInput',
    });
  });

  it('keeps given paths as they are', async () => {
    await expect(defaultRunPaths(['a.yaml', 'b'], { cwd: dir })).resolves.toEqual({
      paths: ['a.yaml', 'b'],
    });
  });

  it('writes a new scenario into ./scenarios of the working directory, making the folder', async () => {
    process.chdir(dir);
    const path = await newScenario('from-a-report');
    expect(path).toBe(join(dir, 'scenarios', 'from-a-report.yaml'));
    expect(await readFile(path, 'utf8')).toBe(scenarioSkeleton('from-a-report'));
  });

  it('refuses a --dir that does not exist, with one line and a hint', async () => {
    await expect(newScenario('x', join(dir, 'missing'))).rejects.toMatchObject({
      code: 'InvalidInput',
      message: `Failed to create scenario: --dir ${join(dir, 'missing')} is not an existing folder`,
    });
  });

  it('writes a skeleton that passes the project’s format check as written', async () => {
    const config = (await prettier.resolveConfig(join(startDir, 'x.yaml'))) ?? {};
    const text = scenarioSkeleton('my-bug-123');
    expect(await prettier.check(text, { ...config, parser: 'yaml' })).toBe(true);
  });
});
