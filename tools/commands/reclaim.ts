import type { Command } from 'commander';
import { DEFAULT_LXC_URI } from '../../driver/adapters/commands.js';
import { createRealHost } from '../../driver/adapters/real-host.js';
import { DEFAULT_STATE_DIR } from '../../driver/journal.js';
import { describeAction, reclaim, type ReclaimAction } from '../../driver/reclaim.js';
import type { Host } from '../../driver/ports/index.js';

/** Options of `nova-lxc reclaim`. */
export interface ReclaimCommandOptions {
  instancesPath: string;
  stateDir: string;
  dryRun: boolean;
}

/** The outcome of one reclaim run: the lines printed and the exit code. */
export interface ReclaimRun {
  actions: ReclaimAction[];
  lines: string[];
  exitCode: number;
}

/** Runs reclaim over `host` and words the result: one line per action, then a summary. */
export async function runReclaim(host: Host, options: ReclaimCommandOptions): Promise<ReclaimRun> {
  const actions = await reclaim(host, {
    instancesPath: options.instancesPath,
    stateDir: options.stateDir,
    dryRun: options.dryRun,
  });
  const lines = actions.map(describeAction);
  const count = (outcome: ReclaimAction['outcome']) =>
    actions.filter((a) => a.outcome === outcome).length;
  const failed = count('failed');
  lines.push(
    options.dryRun
      ? `dry run: ${count('would release')} to release, ${count('left alone')} left alone; nothing was changed`
      : `${count('released')} released, ${count('left alone')} left alone, ${failed} failed`,
  );
  return { actions, lines, exitCode: failed > 0 ? 1 : 0 };
}

/** Adds `nova-lxc reclaim`: releases what crashed operations left; exit 1 when a release failed. */
export function registerReclaimCommand(program: Command): void {
  program
    .command('reclaim')
    .description(
      'Release loop and nbd devices, mounts, domains and directories that crashed or failed operations left behind, only what the journal or the instance disk proves is ours; refuses while a live driver or service holds the state directory',
    )
    .requiredOption('--instances-path <dir>', "Nova's [DEFAULT]instances_path")
    .option(
      '--state-dir <dir>',
      'the driver state directory (journal under <dir>/journal)',
      DEFAULT_STATE_DIR,
    )
    .option('-c, --connect <uri>', 'libvirt connection URI', DEFAULT_LXC_URI)
    .option('--dry-run', 'only print what would be released', false)
    .action(
      async (options: {
        instancesPath: string;
        stateDir: string;
        connect: string;
        dryRun: boolean;
      }) => {
        const host = createRealHost({
          imagesDir: `${options.instancesPath.replace(/\/+$/, '')}/_base`,
          connectionUri: options.connect,
        });
        const run = await runReclaim(host, options);
        for (const line of run.lines) console.log(line);
        process.exitCode = run.exitCode;
      },
    );
}
