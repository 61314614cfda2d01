// SIGTERM drains: parked long-polls are answered at once, the journal is flushed, exit 0.
// The relay runs as `npm start` runs it (the esbuild bundle dist/relay.mjs), so the bundle
// itself is tested: it starts, finds the built browser app, and stops cleanly.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { rmSync, statSync } from 'node:fs';
import { buildDaemon, npmStartArgs } from '../../scripts/build-daemon.ts';
import { buildWeb } from '../../scripts/build-web.ts';
import { eventually, freePort, request, requestDuringDrain, startTestRelay, tempDir } from '../helpers.ts';

// Both no-ops when `npm test`'s pretest has just built them.
before(() => Promise.all([buildDaemon(), buildWeb()]), { timeout: 180_000 });

test('SIGTERM answers a parked long-poll at once and exits cleanly', { timeout: 60_000 }, async () => {
  const dir = tempDir('pchat-term-');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const relay = spawn(process.execPath, npmStartArgs(), {
    cwd: join(import.meta.dirname, '..', '..'),
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', PCHAT_DATA_DIR: join(dir, 'data'), PCHAT_UPLOAD_DIR: join(dir, 'up'), PCHAT_DEV_EXPOSE_CODES: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  relay.stdout!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => relay.once('exit', (code) => r(code)));
  try {
    await eventually(() => request(base, 'GET', '/health').then((r) => r.status === 200, () => false), 30_000, 100);
    // The bundle resolves web/dist from dist/ as the sources do from http/.
    const gui = await request(base, 'GET', '/app/webchat/chat.html');
    assert.equal(gui.status, 200);
    assert.match(String(gui.body), /<html/i);
    const c = await request(base, 'POST', '/api/v1/pchat/auth/request-code', { email: 'w@example.com' });
    const v = await request(base, 'POST', '/api/v1/pchat/auth/verify-code', { email: 'w@example.com', code: c.body.dev_code });
    assert.equal(statSync(join(dir, 'data', 'relay_identity_ed25519.json')).mode & 0o777, 0o600);
    for (const d of ['data', 'up']) assert.equal(statSync(join(dir, d)).mode & 0o777, 0o700, `${d}: created private`);

    const parked = request(base, 'POST', '/api/v1/webchat/poll', { wait_ms: 30_000 }, v.body.session_token);
    await eventually(() => request(base, 'GET', '/health').then((r) => r.body.parked_polls === 1), 5000);
    const t0 = Date.now();
    relay.kill('SIGTERM');
    const answer = await parked;
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body.events, []);
    assert.ok(Date.now() - t0 < 5000, 'answered by the drain, not by wait_ms');
    assert.equal(await exited, 0);
    assert.match(out, /stopped cleanly/);
    assert.doesNotMatch(out, new RegExp(v.body.session_token), 'the token is not in the log');
  } finally {
    relay.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Ctrl-C on `npm start` (SIGINT to its whole process group: npm forwards it to the relay too) still drains and stops cleanly', { timeout: 60_000 }, async () => {
  const dir = tempDir('pchat-int-');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // npm itself, in a process group of its own, as a terminal runs it.
  const npm = spawn('npm', ['start', '--ignore-scripts'], {
    cwd: join(import.meta.dirname, '..', '..'),
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', PCHAT_DATA_DIR: join(dir, 'data'), PCHAT_UPLOAD_DIR: join(dir, 'up') },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  npm.stdout!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => npm.once('exit', () => r()));
  try {
    await eventually(() => request(base, 'GET', '/health').then((r) => r.status === 200, () => false), 30_000, 100);
    process.kill(-npm.pid!, 'SIGINT');
    await exited;
    await eventually(() => /stopped cleanly/.test(out), 10_000);
  } finally {
    try {
      process.kill(-npm.pid!, 'SIGKILL');
    } catch {}
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a request that reaches the relay while it drains is refused with 503 draining in the error envelope', async () => {
  const t = await startTestRelay();
  const { token } = await t.login('d@example.com');
  const { raw, body } = await requestDuringDrain(t, 'GET /api/v1/pchat/auth/me HTTP/1.1\r\nHost: x\r\n', `X-PChat-Session: ${token}\r\n\r\n`);
  assert.match(raw, /^HTTP\/1\.1 503 /, raw);
  assert.equal(body.success, false);
  assert.equal(body.error, 'draining');
  assert.match(body.message, /shutting down/);
});
