// The app's initial download stays small: the JavaScript chat.html loads up front is at most
// 120 kB gzipped, and the rarely used parts (QR decoder, XLSX reader) are separate chunks
// fetched on first use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildWeb } from '../../scripts/build-web.ts';

const DIST = join(process.cwd(), 'web', 'dist');
/** Issue 6: "Initial JS ≤ 120 kB gzipped". */
const INITIAL_JS_BUDGET = 120 * 1024;

test('initial JS is within 120 kB gzipped; QR and XLSX readers are lazy chunks', async () => {
  await buildWeb();
  const html = readFileSync(join(DIST, 'chat.html'), 'utf8');
  const initial = [...html.matchAll(/<(?:script[^>]+src|link[^>]+rel="modulepreload"[^>]+href)="\/app\/webchat\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]);
  assert.ok(initial.length >= 1, 'chat.html loads a script');
  const gz = initial.reduce((n, f) => n + gzipSync(readFileSync(join(DIST, f)), { level: 9 }).length, 0);
  assert.ok(gz <= INITIAL_JS_BUDGET, `initial JS is ${gz} bytes gzipped`);
  const assets = readdirSync(join(DIST, 'assets'));
  for (const lazy of ['jsQR', 'xlsx']) {
    const chunk = assets.find((a) => a.startsWith(`${lazy}-`) && a.endsWith('.js'));
    assert.ok(chunk, `${lazy} is its own chunk`);
    assert.ok(!initial.includes(`assets/${chunk}`), `${lazy} is not loaded up front`);
  }
});
