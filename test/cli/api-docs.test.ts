// docs/api.md is generated from the route schemas; a route change without `npm run docs:api`
// fails here with the command to run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { render } from '../../scripts/gen-api-docs.ts';
import { ROOT } from './cli-helpers.ts';

test('docs/api.md matches the routes the relay registers (run npm run docs:api if not)', async () => {
  const fresh = await render();
  assert.ok(fresh.includes('## POST /api/v1/webchat/poll'));
  assert.ok(fresh.includes('| `wait_ms` | integer |  | ≥ 0, ≤ 120000 |'));
  assert.equal(readFileSync(join(ROOT, 'docs/api.md'), 'utf8'), fresh, 'docs/api.md is stale: run npm run docs:api');
});
