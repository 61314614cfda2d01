#!/usr/bin/env node
// The `webchat-cli` bin: registers tsx (a dependency) and runs the TypeScript CLI, so it works
// from a checkout (npx webchat-cli …) and after a global install, from any directory.
import { register } from 'tsx/esm/api';

register();
await import('./webchat-cli.ts');
