#!/usr/bin/env node
// Runs the TypeScript CLI through tsx's loader, so a fresh `npm ci` needs no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../tools/cli.ts');
process.exitCode = await main(process.argv);
