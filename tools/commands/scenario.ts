/**
 * `nova-lxc scenario run | compare | new`: runs declarative scenarios on the simulator or the
 * real host, compares the two, and starts a new scenario file from a commented skeleton.
 */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { DriverError, isDriverError } from '../../driver/errors.js';
import {
  EXIT_CODES,
  REPORTERS,
  SCENARIOS_DIR,
  expandScenario,
  loadErrorEntry,
  loadScenarioFiles,
  loadScenarios,
  progressLine,
  renderReport,
  runScenario,
  type ReportEntry,
  type Reporter,
  type ScenarioResult,
} from '../../scenarios/index.js';
import type { HarnessFactory } from '../../harness/harness.js';
import type { SimHarnessOptions } from '../../harness/sim-harness.js';
import { compareBackends } from '../compare-backends.js';

/** The backends a scenario can run on. */
export const BACKENDS = ['sim', 'real'] as const;

/** A fresh-harness factory for a backend; the real one is loaded only when asked for. */
export function harnessFor(backend: string, sim: SimHarnessOptions = {}): HarnessFactory {
  if (backend === 'real') {
    return async () => (await import('../../harness/real-harness.js')).createRealHarness();
  }
  return async () => (await import('../../harness/sim-harness.js')).createSimHarness(sim);
}

/**
 * Simulator options that mirror the real host's capabilities, so that a comparison also covers
 * the scenarios whose outcome depends on them (qcow2 without nbd, on our CI hosts).
 */
async function mirrorRealCapabilities(): Promise<SimHarnessOptions> {
  const probe = await harnessFor('real')();
  try {
    return { nbd: probe.capabilities.nbd === true };
  } finally {
    await probe.cleanup();
  }
}

/** Where a user keeps scenarios: `./scenarios` of the working directory. */
export function userScenarioDir(cwd = process.cwd()): string {
  return join(cwd, 'scenarios');
}

/**
 * The paths a run without arguments means: the user's `./scenarios` when it exists, the
 * examples shipped with nova-lxc when asked for; otherwise an error that says what to do
 * (running nothing would let a CI job pass on no scenarios).
 */
export async function defaultRunPaths(
  paths: string[],
  options: { examples?: boolean; cwd?: string } = {},
): Promise<{ paths: string[]; from?: string }> {
  if (options.examples) {
    if (paths.length > 0) {
      throw new DriverError(
        'InvalidInput',
        'Failed to run scenarios: --examples runs the shipped examples and takes no paths',
        { hint: 'Drop --examples to run your own files, or drop the paths.' },
      );
    }
    return { paths: [SCENARIOS_DIR], from: SCENARIOS_DIR };
  }
  if (paths.length > 0) return { paths };
  const dir = userScenarioDir(options.cwd);
  const info = await stat(dir).catch(() => null);
  if (!info?.isDirectory()) {
    throw new DriverError(
      'InvalidInput',
      `Failed to run scenarios: no scenario files given and no scenarios folder at ${dir}`,
      {
        hint:
          'Pass scenario files or folders, write one with `nova-lxc scenario new NAME` ' +
          '(into ./scenarios), or run the examples nova-lxc ships with `nova-lxc scenario run --examples`.',
      },
    );
  }
  return { paths: [dir], from: dir };
}

/** What `scenario run` was asked to do. */
export interface RunCommandOptions {
  backend: string;
  reporter: Reporter;
  trace?: string;
  /** Host capabilities the simulator should have, e.g. `["no_nbd"]` (CAPABILITY_CHOICES). */
  capabilities?: string[];
  /** Run the examples shipped with nova-lxc instead of `./scenarios`. */
  examples?: boolean;
  /** Resolves the default `./scenarios`; process.cwd() by default. */
  cwd?: string;
  /** Where output goes; process.stdout by default. */
  write?: (text: string) => void;
  /** Where notes about the run go (which folder ran, a usage mistake); process.stderr by default. */
  note?: (text: string) => void;
}

/**
 * Runs the scenarios at `paths` (./scenarios when empty); returns one of EXIT_CODES: a file that
 * does not load is reported as an errored case and the others still run.
 */
export async function runScenarios(paths: string[], options: RunCommandOptions): Promise<number> {
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const note = options.note ?? ((text: string) => process.stderr.write(text));
  let loaded: Awaited<ReturnType<typeof loadScenarioFiles>>;
  let chosen: { paths: string[]; from?: string };
  try {
    // Checked before anything runs, so a mistyped --trace does not waste the whole run.
    if (options.trace) await checkWritableFile(options.trace, '--trace');
    chosen = await defaultRunPaths(paths, {
      ...(options.examples ? { examples: true } : {}),
      ...(options.cwd ? { cwd: options.cwd } : {}),
    });
    loaded = await loadScenarioFiles(chosen.paths);
  } catch (error) {
    if (!isDriverError(error)) throw error;
    note(`nova-lxc: ${error.describe()}\n`);
    return EXIT_CODES.usage;
  }
  if (chosen.from) note(`nova-lxc: running the scenarios in ${chosen.from}\n`);
  let harness: HarnessFactory;
  try {
    harness = harnessFor(options.backend, simCapabilities(options.backend, options.capabilities));
  } catch (error) {
    if (!isDriverError(error)) throw error;
    note(`nova-lxc: ${error.describe()}\n`);
    return EXIT_CODES.usage;
  }
  const entries: ReportEntry[] = [];
  const results: ScenarioResult[] = [];
  const report = (entry: ReportEntry) => {
    entries.push(entry);
    const line = progressLine(entry, options.reporter);
    if (line !== undefined) write(`${line}\n`);
  };
  loaded.errors.map(loadErrorEntry).forEach(report);
  for (const run of loaded.scenarios.flatMap(expandScenario)) {
    const result = await runScenario(run, { backend: options.backend, harness });
    results.push(result);
    report(result);
  }
  write(`${renderReport(entries, options.reporter, options.backend)}\n`);
  if (options.trace) {
    const traces = results.map(({ name, status, trace }) => ({ name, status, trace }));
    await writeFile(
      options.trace,
      `${JSON.stringify({ backend: options.backend, scenarios: traces }, null, 2)}\n`,
    );
  }
  if (loaded.files === 0) {
    note(`nova-lxc: no scenario files (*.yaml) found in ${chosen.paths.join(', ')}: nothing ran\n`);
    return EXIT_CODES.nothingRan;
  }
  return entries.some((r) => r.status === 'failed' || r.status === 'errored')
    ? EXIT_CODES.failed
    : EXIT_CODES.passed;
}

/** What `--capabilities` may name: the host capabilities the simulator can be given. */
export const CAPABILITY_CHOICES = ['nbd', 'no_nbd'] as const;

/**
 * The simulator options for `--capabilities` (e.g. `no_nbd`: a host without the nbd module). A
 * real host has what it has: asking it for capabilities is a usage error.
 */
function simCapabilities(backend: string, capabilities: string[] = []): SimHarnessOptions {
  if (capabilities.length === 0) return {};
  if (backend !== 'sim') {
    throw new DriverError(
      'InvalidInput',
      'Failed to run scenarios: --capabilities applies to the simulator; a real host has the capabilities it has',
      { hint: 'Drop --capabilities, or run with --backend sim.' },
    );
  }
  const options: SimHarnessOptions = {};
  for (const cap of capabilities) {
    if (!(CAPABILITY_CHOICES as readonly string[]).includes(cap)) {
      throw new DriverError(
        'InvalidInput',
        `Failed to run scenarios: --capabilities takes ${CAPABILITY_CHOICES.join(', ')}, got ${JSON.stringify(cap)}`,
      );
    }
    options.nbd = cap === 'nbd';
  }
  return options;
}

/** Fails with a usage error unless `file` can be created: its folder exists and it is no folder. */
async function checkWritableFile(file: string, option: string): Promise<void> {
  const folder = dirname(resolve(file));
  const info = await stat(folder).catch(() => null);
  if (!info?.isDirectory()) {
    throw new DriverError(
      'InvalidInput',
      `Failed to run scenarios: ${option} ${file}: the folder ${folder} does not exist`,
      { hint: 'Create the folder first, or give a file in an existing one.' },
    );
  }
  if ((await stat(file).catch(() => null))?.isDirectory()) {
    throw new DriverError(
      'InvalidInput',
      `Failed to run scenarios: ${option} ${file} is a folder; give a file name`,
    );
  }
}

/** Compares the scenarios at `paths` on two backends; returns the exit code. */
export async function compareScenarios(
  paths: string[],
  backends: [string, string],
  write: (text: string) => void = (text) => process.stdout.write(text),
): Promise<number> {
  const scenarios = await loadScenarios((await defaultRunPaths(paths)).paths);
  const sim = backends.includes('real') ? await mirrorRealCapabilities() : {};
  const [left, right] = backends.map((name) => ({ name, harness: harnessFor(name, sim) })) as [
    { name: string; harness: HarnessFactory },
    { name: string; harness: HarnessFactory },
  ];
  const comparisons = await compareBackends(scenarios, left, right, (c) => {
    const mark = c.verdict === 'same' ? 'same' : c.verdict === 'skipped' ? 'skip' : 'DIFF';
    write(
      `${mark} ${c.name}${c.detail ? `\n       ${c.detail.replace(/\n/g, '\n       ')}` : ''}\n`,
    );
  });
  const different = comparisons.filter((c) => c.verdict === 'different');
  write(
    `\n${comparisons.length} scenario runs compared (${left.name} vs ${right.name}): ` +
      `${comparisons.filter((c) => c.verdict === 'same').length} same, ${different.length} different, ` +
      `${comparisons.filter((c) => c.verdict === 'skipped').length} skipped\n`,
  );
  return different.length > 0 ? 1 : 0;
}

/** Scenario names: what a file name and the `name:` field can both carry. */
const NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** A commented skeleton that is itself a valid, passing scenario. */
export function scenarioSkeleton(name: string): string {
  return `# ${name}: <one sentence: the behaviour this scenario shows>
# Format: scenarios/README.md. Run it: npx nova-lxc scenario run scenarios/${name}.yaml
name: ${name}
description: >
  What the bug report says happened, and what should happen instead.

# Uncomment when the real host cannot run this (nbd, a filesystem mkfs cannot build there):
# real: { skip: "why" }

# nova.conf of the compute node in the report (all optional):
# host:
#   images_type: raw            # default, raw, flat or qcow2
#   use_cow_images: false
#   root_partition: "1"         # first, N, label:NAME or dps
#   uid_maps: ["0:100000:65536"]
#   gid_maps: ["0:100000:65536"]

volumes:
  vol1:
    # properties: { lxc_root_partition: "2" }   # the volume's image metadata
    disk:
      # keep it small: the real host makes a sparse file
      size: 64M
      # none, mbr or gpt
      table: gpt
      # sector_size: 4096
      partitions:
        - number: 1
          # in logical sectors
          start: 2048
          size: 61440
          # GPT partition name
          label: root
          filesystem:
            # only ext2/3/4 can be built on the real host
            type: ext4
            label: rootfs
            files: { /etc/hostname: "guest\\n" }
            # omit for "no init"; then: run | { exit: N } | { exit: N, after_s: S }
            init:
              writes: [{ path: /marker, content: booted }]
              # environ_to: /env                             # its environment, for init_env
              # heartbeat: { path: /hb, every_s: 1 }         # a counter, for expect heartbeat
              # fill: { path: /fill, status_to: /fill.status } # until ENOSPC
              then: run

steps:
  # The boot command from the report, as novaclient --block-device strings:
  - id: boot
    boot:
      instance: web
      block_device: ['source=volume,id=vol1,dest=volume,bootindex=0']
    # error: { code: NoRootFilesystem, message: "partition 1" }   # if the boot must fail
    expect:
      state: { web: running }
      root: { web: { source: 'volume:vol1', partition: 1, fstype: ext4 } }
      files: { web: { /marker: booted } }
  - destroy: web
    expect:
      state: { web: absent }
      clean: true
      volume_files: [{ volume: vol1, partition: 1, path: /marker, content: booted }]
`;
}

/**
 * Writes `<dir>/<name>.yaml`, by default `./scenarios/<name>.yaml` (made when missing); refuses
 * a bad name, an existing file, and a `dir` given by the user that does not exist.
 */
export async function newScenario(name: string, dir?: string): Promise<string> {
  if (!NAME.test(name)) {
    throw new DriverError(
      'InvalidInput',
      `Failed to create scenario: NAME must be lower-case letters, digits and "-" (at most 64), got ${JSON.stringify(name)}`,
      { hint: 'For example: nova-lxc scenario new gpt-entry-1-last' },
    );
  }
  const folder = dir ?? userScenarioDir();
  if (dir === undefined) {
    await mkdir(folder, { recursive: true });
  } else if (!(await stat(dir).catch(() => null))?.isDirectory()) {
    throw new DriverError(
      'InvalidInput',
      `Failed to create scenario: --dir ${dir} is not an existing folder`,
      { hint: 'Create the folder first, or leave out --dir to write into ./scenarios.' },
    );
  }
  const path = join(folder, `${name}.yaml`);
  try {
    await writeFile(path, scenarioSkeleton(name), { flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new DriverError('AlreadyExists', `Failed to create scenario: ${path} already exists`, {
        hint: 'Pick another name, or edit that file.',
      });
    }
    throw error;
  }
  return path;
}

function checkBackend(value: string): string {
  if (!(BACKENDS as readonly string[]).includes(value)) {
    throw new DriverError(
      'InvalidInput',
      `Failed to run scenarios: --backend must be sim or real, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** Adds `scenario run`, `scenario compare` and `scenario new` to the program. */
export function registerScenarioCommand(program: Command): Command {
  const scenario = program
    .command('scenario')
    .description('Run declarative scenarios (scenarios/*.yaml) on the simulator or a real host.');

  scenario
    .command('run')
    .description(
      'Run scenarios (every one under ./scenarios without paths). Exit codes: 0 all passed, ' +
        '1 a scenario failed or a file did not load, 2 usage error, 3 no scenario file found.',
    )
    .argument('[paths...]', 'scenario files or folders')
    .option('--examples', 'run the example scenarios shipped with nova-lxc')
    .addOption(new Option('--backend <backend>', 'where to run').choices(BACKENDS).default('sim'))
    .addOption(
      new Option(
        '--reporter <reporter>',
        'output format (default: pretty on a terminal, json otherwise)',
      ).choices(REPORTERS),
    )
    .option('--trace <file>', 'write every port call of every run, normalised, as JSON')
    .option(
      '--capabilities <list>',
      `host capabilities the simulator has, comma-separated (${CAPABILITY_CHOICES.join(', ')}), e.g. no_nbd for a host without nbd`,
    )
    .action(
      async (
        paths: string[],
        opts: {
          backend: string;
          reporter?: Reporter;
          trace?: string;
          examples?: boolean;
          capabilities?: string;
        },
      ) => {
        const code = await runScenarios(paths, {
          backend: checkBackend(opts.backend),
          ...(opts.examples ? { examples: true } : {}),
          reporter: opts.reporter ?? (process.stdout.isTTY ? 'pretty' : 'json'),
          ...(opts.trace ? { trace: opts.trace } : {}),
          ...(opts.capabilities
            ? { capabilities: opts.capabilities.split(',').map((c) => c.trim()) }
            : {}),
        });
        process.exitCode = code;
      },
    );

  scenario
    .command('compare')
    .description(
      'Run scenarios on two backends (default sim and real) and fail on the first differing outcome or trace call; ' +
        'scenarios with real: { skip } are skipped.',
    )
    .argument('[paths...]', 'scenario files or folders')
    .addOption(new Option('--left <backend>').choices(BACKENDS).default('sim'))
    .addOption(new Option('--right <backend>').choices(BACKENDS).default('real'))
    .action(async (paths: string[], opts: { left: string; right: string }) => {
      process.exitCode = await compareScenarios(paths, [
        checkBackend(opts.left),
        checkBackend(opts.right),
      ]);
    });

  scenario
    .command('new')
    .description(
      'Write ./scenarios/NAME.yaml, a commented skeleton to turn a bug report into a scenario.',
    )
    .argument('<name>', 'lower-case letters, digits and "-"')
    .option('--dir <dir>', 'an existing folder to write into (default ./scenarios)')
    .action(async (name: string, opts: { dir?: string }) => {
      const path = await newScenario(name, opts.dir);
      process.stdout.write(`wrote ${path}\n`);
    });

  return scenario;
}
