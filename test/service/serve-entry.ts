// Runs the CLI from source for tests that need `nova-lxc serve` as its own process.
import { main } from '../../tools/cli.js';

process.exitCode = await main(process.argv);
