// kill -9 during a burst: every acknowledged message is in the recipient's inbox exactly once
// after a restart, retried in-flight keys do not duplicate, and cursors never go backwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { eventually, freePort, request, tempDir } from '../helpers.ts';

const CLIENTS = 16;
/** The burst is cut by kill -9 once this many sends were acknowledged (or after BURST_MAX_MS). */
const KILL_AFTER_ACKS = 400;
const BURST_MAX_MS = 20_000;

function spawnRelay(dir: string, port: number): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'daemon/main.ts'], {
    cwd: join(import.meta.dirname, '..', '..'),
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      PCHAT_DATA_DIR: join(dir, 'data'),
      PCHAT_UPLOAD_DIR: join(dir, 'uploads'),
      PCHAT_DEV_EXPOSE_CODES: 'true',
      PCHAT_CODE_REQUESTS_PER_IP_PER_HOUR: '1000',
      PCHAT_CODE_VERIFIES_PER_IP_PER_HOUR: '1000',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

test('poll after a kill -9 returns every acknowledged message once', { timeout: 120_000 }, async () => {
  const dir = tempDir('pchat-crash-');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let relay = spawnRelay(dir, port);
  try {
    await eventually(() => request(base, 'GET', '/health').then((r) => r.status === 200, () => false), 30_000, 100);

    const login = async (email: string, chat_address: string) => {
      const c = await request(base, 'POST', '/api/v1/pchat/auth/request-code', { email });
      const v = await request(base, 'POST', '/api/v1/pchat/auth/verify-code', { email, code: c.body.dev_code, chat_address });
      assert.equal(v.status, 200, JSON.stringify(v.body));
      return v.body.session_token as string;
    };
    const receiver = await login('sink@example.com', 'sink');
    const senders = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => login(`c${i}@example.com`, `client-${i}`)));

    // The receiver long-polls throughout, recording every cursor it is given.
    const cursors: number[] = [];
    let receiving = true;
    const receiverLoop = (async () => {
      while (receiving) {
        try {
          const p = await request(base, 'POST', '/api/v1/webchat/poll', { wait_ms: 1000, limit: 200 }, receiver);
          if (p.status === 200) cursors.push(p.body.cursor);
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    })();

    const acked = new Map<string, string>(); // key → message_id
    const inflight = new Map<string, number>(); // key → sender index
    let killed = false;
    const started = Date.now();
    await Promise.all(
      senders.map(async (token, c) => {
        for (let i = 0; !killed && Date.now() - started < BURST_MAX_MS; i++) {
          const key = `c${c}-${i}`;
          inflight.set(key, c);
          try {
            const r = await request(base, 'POST', '/api/v1/messages', { channel: 'pchat', to: 'sink', text: key, idempotency_key: key }, token);
            if (r.status !== 200) break;
            inflight.delete(key);
            acked.set(key, r.body.message_id);
            if (acked.size >= KILL_AFTER_ACKS && !killed) {
              killed = true;
              relay.kill('SIGKILL');
            }
          } catch {
            break; // connection died with the relay: this key stays in flight
          }
        }
      }),
    );
    assert.ok(killed, 'the relay was killed mid-burst');
    if (relay.exitCode === null && relay.signalCode === null) await new Promise((r) => relay.once('exit', r));
    receiving = false;
    await receiverLoop;
    const lastCursor = Math.max(0, ...cursors);
    assert.ok(acked.size >= KILL_AFTER_ACKS);

    relay = spawnRelay(dir, port);
    await eventually(() => request(base, 'GET', '/health').then((r) => r.status === 200, () => false), 30_000, 100);

    const first = await request(base, 'POST', '/api/v1/webchat/poll', { limit: 1 }, receiver);
    assert.equal(first.status, 200);
    assert.ok(first.body.cursor >= lastCursor, `cursor went back: ${first.body.cursor} < ${lastCursor}`);

    // Retry every in-flight key: it was either committed (same answer) or not (sent now).
    for (const [key, c] of inflight) {
      const r = await request(base, 'POST', '/api/v1/messages', { channel: 'pchat', to: 'sink', text: key, idempotency_key: key }, senders[c]);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      acked.set(key, r.body.message_id);
    }
    // A retry of an acknowledged key returns the same message.
    const [someKey, someId] = [...acked][0];
    const c0 = Number(someKey.slice(1, someKey.indexOf('-')));
    const again = await request(base, 'POST', '/api/v1/messages', { channel: 'pchat', to: 'sink', text: someKey, idempotency_key: someKey }, senders[c0]);
    assert.equal(again.body.message_id, someId);

    // Read the whole inbox from the start.
    const seen = new Map<string, string[]>();
    let after = 0;
    for (let guard = 0; guard < 1000; guard++) {
      const p = await request(base, 'POST', '/api/v1/webchat/poll', { after, limit: 500 }, receiver);
      for (const m of p.body.messages) seen.set(m.text, [...(seen.get(m.text) ?? []), m.id]);
      if (!p.body.events.length) break;
      after = p.body.events[p.body.events.length - 1].seq;
    }
    for (const [key, id] of acked) {
      assert.deepEqual(seen.get(key), [id], `${key} must be in the inbox exactly once`);
    }
    assert.equal(seen.size, acked.size, 'no message that was never sent');
  } finally {
    relay.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
