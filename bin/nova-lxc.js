#!/usr/bin/env node
// Runs the built CLI (dist/, made by `npm run build`, which `npm ci` and `npm install` run as
// `prepare`). Plain JavaScript, so a call costs node's start and the modules it loads, no compiler.
let cli;
try {
  cli = await import('../dist/tools/cli.js');
} catch (error) {
  if (
    error?.code === 'ERR_MODULE_NOT_FOUND' &&
    String(error.message).includes('dist/tools/cli.js')
  ) {
    console.error('nova-lxc: the CLI is not built: run `npm run build` in the nova-lxc folder.');
    process.exit(1);
  }
  throw error;
}
process.exitCode = await cli.main(process.argv);
