#!/usr/bin/env node
// Runs a TypeScript script from any working directory: registers tsx (resolved from this
// checkout, not from the cwd), then imports the script given as the first argument.
import { register } from 'tsx/esm/api';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [script, ...rest] = process.argv.slice(2);
if (!script) {
  process.stderr.write('usage: run-ts.mjs SCRIPT.ts [args…]\n');
  process.exit(2);
}
process.argv = [process.argv[0], resolve(script), ...rest];
register();
await import(pathToFileURL(resolve(script)).href);
