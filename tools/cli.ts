import { Command, CommanderError } from 'commander';
import { isDriverError } from '../driver/errors.js';

/** Adds one command (with its subcommands and options) to the program. */
type Register = (program: Command) => void;

/**
 * The commands, each loaded only when it runs: a call pays for the modules of its own command
 * (the simulator, the real adapters, the YAML reader…), not for all of them. A new command is one
 * line here and a `register…Command` in its own module under tools/commands/.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  blockinfo: async () => (await import('./commands/blockinfo.js')).registerBlockinfoCommand,
  scenario: async () => (await import('./commands/scenario.js')).registerScenarioCommand,
  doctor: async () => (await import('./commands/doctor.js')).registerDoctorCommand,
  serve: async () => (await import('./commands/serve.js')).registerServeCommand,
  instances: async () => (await import('./commands/instances.js')).registerInstancesCommand,
  reclaim: async () => (await import('./commands/reclaim.js')).registerReclaimCommand,
};

/** The first word of argv that is a known command, if any (options before it are skipped). */
function requestedCommand(argv: readonly string[]): string | undefined {
  return argv.slice(2).find((word) => Object.hasOwn(COMMANDS, word));
}

/**
 * Builds the `nova-lxc` command tree: only `only` when given (what a call runs), none for `null`
 * (`--version`), else every command (help, a mistyped command with suggestions).
 */
export async function buildProgram(only?: string | null): Promise<Command> {
  const program = new Command('nova-lxc')
    .description(
      'Boot libvirt LXC containers from Cinder volumes (whole, or first partition) or Glance images, Nova-compatible.',
    )
    .version('0.1.0')
    .showHelpAfterError();
  const names = only === undefined ? Object.keys(COMMANDS) : only === null ? [] : [only];
  for (const name of names) (await COMMANDS[name]!())(program);
  return program;
}

/** The exit code of a writer whose reader went away (128 + SIGPIPE), as a shell expects. */
export const EXIT_BROKEN_PIPE = 141;

/** The exit code of a command-line mistake (an unknown option, a bad choice). */
export const EXIT_USAGE = 2;

/**
 * Ends the process quietly when stdout's reader has gone (`nova-lxc ... | head -1`): Node
 * ignores SIGPIPE and would otherwise crash on the unhandled EPIPE with a stack trace.
 */
export function exitQuietlyOnBrokenPipe(stream: NodeJS.WriteStream = process.stdout): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(EXIT_BROKEN_PIPE);
    throw error;
  });
}

/** Runs the CLI; returns the exit code. User mistakes print a message, never a stack trace. */
export async function main(argv: string[]): Promise<number> {
  exitQuietlyOnBrokenPipe();
  const command = requestedCommand(argv);
  const versionOnly =
    command === undefined && argv.slice(2).some((w) => w === '-V' || w === '--version');
  const program = await buildProgram(versionOnly ? null : command);
  // On every subcommand too: commander would otherwise call process.exit itself.
  const override = (c: Command): void => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  override(program);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version exit 0; every other commander error is a usage mistake.
      return error.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (isDriverError(error)) {
      console.error(`nova-lxc: ${error.describe()}`);
      return 1;
    }
    throw error;
  }
}
