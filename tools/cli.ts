import { Command, CommanderError } from 'commander';
import { isDriverError } from '../driver/errors.js';
import { registerBlockinfoCommand } from './commands/blockinfo.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerScenarioCommand } from './commands/scenario.js';

/** Builds the `nova-lxc` command tree. */
export function buildProgram(): Command {
  const program = new Command('nova-lxc')
    .description(
      'Boot libvirt LXC containers from Cinder volumes (whole, or first partition) or Glance images, Nova-compatible.',
    )
    .version('0.1.0')
    .showHelpAfterError();
  registerBlockinfoCommand(program);
  registerScenarioCommand(program);
  registerDoctorCommand(program);
  return program;
}

/** Runs the CLI; returns the exit code. User mistakes print a message, never a stack trace. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode;
    }
    if (isDriverError(error)) {
      console.error(`nova-lxc: ${error.describe()}`);
      return 1;
    }
    throw error;
  }
}
