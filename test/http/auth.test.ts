// Email-code login end to end against a real relay: the full flow, code rules (format, single
// use, burn after wrong guesses, per-email budgets, per-IP limit), the SMTP path against a real
// SMTP server on loopback, the log-only path, free mode, addresses, and where secrets must not
// end up (data dir, logs). The relay identity file and its published key are checked here too.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { clock, eventually, startTestRelay, type TestRelay } from '../helpers.ts';
import { MAX_CODES_PER_HOUR, MAX_FAILURES_PER_HOUR, MAX_TRIES_PER_CODE } from '../../actors/login.ts';
import { Account, Inbox } from '../../daemon/core.ts';

const AUTH = '/api/v1/pchat/auth';
const TOKEN_RE = /^pct_[A-Za-z0-9_-]{43,}$/;

const requestCode = (t: TestRelay, email: string) => t.api('POST', `${AUTH}/request-code`, { email, purpose: 'login' });
const verify = (t: TestRelay, email: string, code: string, extra: Record<string, unknown> = {}) =>
  t.api('POST', `${AUTH}/verify-code`, { email, code, ...extra });
/** A six-digit code that is not `code` (offset 1..999). */
const wrongCode = (code: string, offset = 1) => String((Number(code) + offset) % 1_000_000).padStart(6, '0');

function assertRefusal(res: { status: number; body: any }, status: number, error: string) {
  assert.equal(res.status, status, `expected ${status} ${error}, got ${res.status} ${JSON.stringify(res.body)}`);
  assert.equal(res.body.success, false);
  assert.equal(res.body.error, error);
  assert.equal(typeof res.body.message, 'string');
  assert.ok(res.body.message.length > 0);
}

function retryAfterSeconds(res: { headers: Headers }): number {
  const raw = res.headers.get('retry-after');
  assert.ok(raw, 'a 429 carries a Retry-After header');
  const n = Number(raw);
  assert.ok(Number.isInteger(n) && n > 0 && n <= 3600, `Retry-After is a positive number of seconds within the hour, got ${raw}`);
  return n;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? filesUnder(p) : e.isFile() ? [p] : [];
  });
}

/** The code the no-SMTP mailer wrote to the log for `email` (the latest one). */
function codeFromLog(t: TestRelay, email: string): string | undefined {
  const re = new RegExp(`login code for ${email.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: (\\d{6})\\b`);
  let found: string | undefined;
  for (const line of t.logs) {
    const m = typeof line.msg === 'string' ? re.exec(line.msg) : null;
    if (m) found = m[1];
  }
  return found;
}

describe('login flow, sessions and codes (dev codes exposed)', () => {
  let t: TestRelay;

  before(async () => {
    // trace: the most verbose the relay gets, so a leaked token would show up in t.logs.
    t = await startTestRelay({ LOG_LEVEL: 'trace', PCHAT_CODE_VERIFIES_PER_IP_PER_HOUR: '1000' });
  });
  after(() => t.stop());

  test('request-code → verify-code → me → update me → logout → logout-all', async () => {
    const email = 'flow@example.com';
    const rc = await requestCode(t, email);
    assert.equal(rc.status, 200);
    assert.equal(rc.body.success, true);
    assert.equal(rc.body.sent, true);
    assert.equal(rc.body.expires_in, 600);
    assert.match(rc.body.dev_code, /^\d{6}$/);

    const v = await verify(t, email, rc.body.dev_code, {
      chat_address: 'Flow-User',
      display_name: 'Flow',
      device_name: 'laptop',
      session_name: 'main',
    });
    assert.equal(v.status, 200, JSON.stringify(v.body));
    assert.equal(v.body.success, true);
    const s1: string = v.body.session_token;
    assert.match(s1, TOKEN_RE);
    assert.equal(v.body.token, s1);
    assert.equal(v.body.user.email, email);
    assert.equal(v.body.user.chat_address, 'flow-user', 'addresses are normalized to lowercase');
    assert.equal(v.body.user.display_name, 'Flow');
    assert.equal(v.body.user.public_visible, false);
    assert.match(v.body.user.id, /^usr_/);
    assert.match(v.body.session.id, /^ses_/);
    assert.equal(v.body.session.device_name, 'laptop');
    assert.equal(v.body.session.session_name, 'main');

    const me = await t.api('GET', `${AUTH}/me`, undefined, s1);
    assert.equal(me.status, 200);
    assert.deepEqual(me.body.user, v.body.user);
    assert.equal(me.body.session.id, v.body.session.id);
    assert.equal(me.body.session.device_name, 'laptop', 'the session as verify-code named it');
    assert.equal(me.body.session.session_name, 'main');
    assert.equal(me.body.session.visible, true);

    const bearer = await t.api('GET', `${AUTH}/me`, undefined, undefined, { authorization: `Bearer ${s1}` });
    assert.equal(bearer.status, 200, 'Authorization: Bearer works as well as X-PChat-Session');
    assert.equal(bearer.body.user.id, v.body.user.id);

    const put = await t.api('PUT', `${AUTH}/me`, { display_name: '  Flow Renamed ', public_visible: true, chat_address: 'flow-two' }, s1);
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.user.display_name, 'Flow Renamed');
    assert.equal(put.body.user.public_visible, true);
    assert.equal(put.body.user.chat_address, 'flow-two');
    const me2 = await t.api('GET', `${AUTH}/me`, undefined, s1);
    assert.deepEqual(me2.body.user, put.body.user);

    const out = await t.api('POST', `${AUTH}/logout`, undefined, s1);
    assert.equal(out.status, 200);
    assert.equal(out.body.success, true);
    assert.equal(out.body.closed, 1);
    assertRefusal(await t.api('GET', `${AUTH}/me`, undefined, s1), 401, 'unauthorized');
    assertRefusal(await t.api('POST', `${AUTH}/logout`, undefined, s1), 401, 'unauthorized');
    assertRefusal(await t.api('PUT', `${AUTH}/me`, { display_name: 'ghost' }, s1), 401, 'unauthorized');

    // Three more sessions of the same account; logout-all from one closes all of them.
    const s2 = await t.login(email, { device_name: 'phone' });
    const s3 = await t.login(email, { device_name: 'tablet' });
    assert.equal(s2.user.id, v.body.user.id, 'logging in again reaches the same account');
    assert.equal(s2.user.display_name, 'Flow Renamed', 'the profile persisted');
    assert.notEqual(s2.token, s3.token);
    for (const s of [s2, s3]) assert.equal((await t.api('GET', `${AUTH}/me`, undefined, s.token)).status, 200);

    const all = await t.api('POST', `${AUTH}/logout-all`, undefined, s2.token);
    assert.equal(all.status, 200);
    assert.equal(all.body.closed, 2);
    for (const s of [s2, s3]) assertRefusal(await t.api('GET', `${AUTH}/me`, undefined, s.token), 401, 'unauthorized');
    const cursors = t.relay.services.feed.inbox(v.body.user.id).cursors;
    assert.deepEqual(Object.keys(cursors).filter((c) => c.startsWith('ses_')), [], 'closed sessions leave no cursor in the inbox');

    const s4 = await t.login(email);
    assert.equal((await t.api('GET', `${AUTH}/me`, undefined, s4.token)).status, 200, 'a fresh login still works after logout-all');
  });

  test("a logout ends that session's parked long-poll at once (401); the user's other sessions keep polling", async () => {
    const email = 'parked@example.com';
    const a = await t.login(email, { chat_address: 'parked-user' });
    const b = await t.login(email, { device_name: 'second' });
    const poll = (token: string) => t.api('POST', '/api/v1/webchat/poll', { wait_ms: 25_000 }, token);
    const started = Date.now();
    const pa = poll(a.token);
    const pb = poll(b.token);
    await eventually(async () => ((await t.api('GET', '/health')).body.parked_polls >= 2 ? true : undefined));
    assert.equal((await t.api('POST', `${AUTH}/logout`, undefined, a.token)).status, 200);
    const ra = await pa;
    assertRefusal(ra, 401, 'unauthorized');
    assert.match(ra.body.message, /logged out/);
    assert.ok(Date.now() - started < 20_000, 'answered long before its wait_ms');
    // b is still parked, and still gets what arrives.
    const other = await t.login('sender@example.com', { chat_address: 'parked-sender' });
    await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'parked-user', text: 'still there?' }, other.token);
    const rb = await pb;
    assert.equal(rb.status, 200);
    assert.deepEqual(rb.body.messages.map((m: { text: string }) => m.text), ['still there?']);
    // logout-all from b ends b's next parked poll too.
    const pb2 = poll(b.token);
    await eventually(async () => ((await t.api('GET', '/health')).body.parked_polls >= 1 ? true : undefined));
    const c = await t.login(email);
    assert.equal((await t.api('POST', `${AUTH}/logout-all`, undefined, c.token)).status, 200);
    assertRefusal(await pb2, 401, 'unauthorized');
  });

  test('session tokens: pct_ + ≥43 base64url chars, never stored in clear, never logged', async () => {
    const { token } = await t.login('secret@example.com', { chat_address: 'secret-keeper' });
    assert.match(token, TOKEN_RE);
    // Use the token in every way a client might, including on requests that fail.
    await t.api('GET', `${AUTH}/me`, undefined, token);
    await t.api('GET', `${AUTH}/me`, undefined, undefined, { authorization: `Bearer ${token}` });
    await t.api('PUT', `${AUTH}/me`, { display_name: 'Keeper' }, token);
    await t.api('POST', '/api/v1/webchat/presence', { device_name: 'box' }, token);
    await t.api('POST', '/api/v1/webchat/poll', {}, token);
    await t.api('GET', '/no/such/route', undefined, token);
    await t.api('POST', '/api/v1/messages', '{"broken', token);
    await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'nobody-here', text: 'x' }, token);
    await t.api('GET', `${AUTH}/me?token=${encodeURIComponent(token)}`, undefined, undefined, {
      'x-api-key': token,
      cookie: `pchat_session=${token}`,
    });
    // If anything logs a request with its headers, the session headers are redacted.
    t.relay.log.info({ req: { method: 'GET', url: '/x', headers: { 'x-pchat-session': token, authorization: `Bearer ${token}` } } }, 'header probe');
    assert.ok(t.logs.some((l) => l.msg === 'header probe'), 'the probe line was logged');
    await t.relay.services.core.journal.commit();

    const needles = [
      Buffer.from(token),
      Buffer.from(token.slice(4)),
      Buffer.from(token.slice(4), 'base64url'), // the 32 random bytes themselves
    ];
    const files = filesUnder(t.dir);
    assert.ok(files.some((f) => f.endsWith('.mdb')), 'the journal is under the data dir');
    for (const f of files) {
      const bytes = readFileSync(f);
      for (const n of needles) assert.equal(bytes.indexOf(n), -1, `${f} holds the session token in clear`);
    }

    assert.ok(t.logs.length > 0);
    const logText = JSON.stringify(t.logs);
    assert.ok(!logText.includes(token.slice(4)), 'the session token reached the log');
  });

  test('codes are 6 digits and single use', async () => {
    const email = 'once@example.com';
    const rc = await requestCode(t, email);
    const code: string = rc.body.dev_code;
    assert.match(code, /^\d{6}$/);
    const first = await verify(t, email, code);
    assert.equal(first.status, 200);
    assertRefusal(await verify(t, email, code), 400, 'invalid_code');
    // Not six digits is a validation error before any code is looked at.
    assertRefusal(await verify(t, email, code.slice(0, 5)), 400, 'validation_failed');
    assertRefusal(await verify(t, email, `${code}0`), 400, 'validation_failed');
    assertRefusal(await verify(t, email, 'abcdef'), 400, 'validation_failed');
  });

  test(`${MAX_TRIES_PER_CODE} wrong guesses burn a code: the right one then fails`, async () => {
    const email = 'burn@example.com';
    const code: string = (await requestCode(t, email)).body.dev_code;
    for (let i = 1; i <= MAX_TRIES_PER_CODE; i++) assertRefusal(await verify(t, email, wrongCode(code, i)), 400, 'invalid_code');
    assertRefusal(await verify(t, email, code), 400, 'invalid_code');
    // A fresh code works again (only 5 failures so far, under the hourly budget).
    const fresh: string = (await requestCode(t, email)).body.dev_code;
    assert.equal((await verify(t, email, fresh)).status, 200);
  });

  test('fewer wrong guesses than the limit do not burn the code', async () => {
    const email = 'typo@example.com';
    const code: string = (await requestCode(t, email)).body.dev_code;
    for (let i = 1; i < MAX_TRIES_PER_CODE; i++) assertRefusal(await verify(t, email, wrongCode(code, i)), 400, 'invalid_code');
    assert.equal((await verify(t, email, code)).status, 200);
  });

  test('the per-email budget of wrong guesses holds across resends (429 too_many_attempts + Retry-After)', async () => {
    const email = 'budget@example.com';
    let failures = 0;
    let code = '';
    while (failures < MAX_FAILURES_PER_HOUR) {
      const rc = await requestCode(t, email);
      assert.equal(rc.status, 200, JSON.stringify(rc.body));
      code = rc.body.dev_code;
      for (let i = 1; i <= MAX_TRIES_PER_CODE && failures < MAX_FAILURES_PER_HOUR; i++, failures++) {
        assertRefusal(await verify(t, email, wrongCode(code, i)), 400, 'invalid_code');
      }
    }
    const refused = await requestCode(t, email);
    assertRefusal(refused, 429, 'too_many_attempts');
    assert.equal(refused.body.dev_code, undefined);
    retryAfterSeconds(refused);
    const v = await verify(t, email, code);
    assertRefusal(v, 429, 'too_many_attempts');
    retryAfterSeconds(v);
  });

  test('too many code requests for one email → 429 too_many_codes + Retry-After; the pending code survives', async () => {
    const email = 'resend@example.com';
    const codes: string[] = [];
    for (let i = 0; i < MAX_CODES_PER_HOUR; i++) {
      const rc = await requestCode(t, email);
      assert.equal(rc.status, 200, `request ${i + 1}: ${JSON.stringify(rc.body)}`);
      codes.push(rc.body.dev_code);
    }
    const refused = await requestCode(t, email);
    assertRefusal(refused, 429, 'too_many_codes');
    assert.equal(refused.body.dev_code, undefined);
    const wait = retryAfterSeconds(refused);
    assert.ok(wait > 3500, `the oldest code was issued moments ago, so the wait is about an hour (got ${wait})`);

    const last = codes[codes.length - 1];
    if (codes[0] !== last) assertRefusal(await verify(t, email, codes[0]), 400, 'invalid_code');
    assert.equal((await verify(t, email, last)).status, 200, 'a resend replaces the older code; the refusal did not');
  });

  test('address taken → 409 (once the code is right), invalid address → 400, and neither uses up the code', async () => {
    await t.login('owner@example.com', { chat_address: 'taken-addr' });
    const email = 'other@example.com';
    const code: string = (await requestCode(t, email)).body.dev_code;
    assertRefusal(await verify(t, email, code, { chat_address: 'taken-addr' }), 409, 'address_taken');
    assertRefusal(await verify(t, email, code, { chat_address: ' Taken-Addr ' }), 409, 'address_taken');
    assertRefusal(await verify(t, email, code, { chat_address: 'admin' }), 409, 'address_taken');
    assertRefusal(await verify(t, email, code, { chat_address: 'constructor' }), 409, 'address_taken');
    // Without the right code, whose an address is stays unknown: the answer is the code's.
    assertRefusal(await verify(t, 'nobody@example.com', '000000', { chat_address: 'taken-addr' }), 400, 'invalid_code');
    assertRefusal(await verify(t, email, wrongCode(code), { chat_address: 'taken-addr' }), 400, 'invalid_code');
    assertRefusal(await verify(t, email, code, { chat_address: 'a b' }), 400, 'invalid_address');
    assertRefusal(await verify(t, email, code, { chat_address: 'x' }), 400, 'invalid_address');
    assertRefusal(await verify(t, email, code, { chat_address: '-starts-with-dash' }), 400, 'invalid_address');

    const ok = await verify(t, email, code, { chat_address: 'other-addr' });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const token = ok.body.session_token;
    assertRefusal(await t.api('PUT', `${AUTH}/me`, { chat_address: 'taken-addr' }, token), 409, 'address_taken');
    assertRefusal(await t.api('PUT', `${AUTH}/me`, { chat_address: '!!bad!!' }, token), 400, 'invalid_address');
    const me = await t.api('GET', `${AUTH}/me`, undefined, token);
    assert.equal(me.body.user.chat_address, 'other-addr');
  });

  test('PUT /me changes only the profile: other fields are refused and never reach the account', async () => {
    const victim = await t.login('victim@example.com', { chat_address: 'victim' });
    const attacker = await t.login('attacker@example.com', { chat_address: 'attacker' });
    const before = (await t.api('GET', `${AUTH}/me`, undefined, attacker.token)).body.user;
    for (const body of [
      { type: 'created', email: 'victim@example.com', display_name: 'x', chat_address: 'attacker-2' }, // an event type of its own
      { suspended: false },
      { email: 'victim@example.com' },
      { display_name: 'ok', id: 'usr_other' },
    ]) {
      const r = await t.api('PUT', `${AUTH}/me`, body, attacker.token);
      assertRefusal(r, 400, 'validation_failed');
    }
    // Names people see carry no control characters or direction overrides.
    assertRefusal(await t.api('PUT', `${AUTH}/me`, { display_name: 'evil\u202egnp.exe' }, attacker.token), 400, 'validation_failed');
    assertRefusal(await t.api('PUT', `${AUTH}/me`, { display_name: 'nul\u0000name' }, attacker.token), 400, 'validation_failed');
    // An avatar is a picture of one's own, uploaded first.
    assertRefusal(await t.api('PUT', `${AUTH}/me`, { avatar_file_id: 'file_nonexistent' }, attacker.token), 404, 'unknown_file');
    assert.deepEqual((await t.api('GET', `${AUTH}/me`, undefined, attacker.token)).body.user, before, 'nothing changed');
    // The victim still logs into their own account, and the directory still answers.
    const again = await t.login('victim@example.com');
    assert.equal((await t.api('GET', `${AUTH}/me`, undefined, again.token)).body.user.chat_address, 'victim');
    assert.equal((await t.api('GET', `${AUTH}/me`, undefined, victim.token)).body.user.id, (await t.api('GET', `${AUTH}/me`, undefined, again.token)).body.user.id);
    assert.equal((await t.api('GET', '/api/v1/webchat/directory?q=a', undefined, victim.token)).status, 200);
  });

  test('identity file is mode 0600 and /.well-known/pchat-relay publishes its public key', async () => {
    const file = join(t.dir, 'data', 'relay_identity_ed25519.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(Buffer.from(doc.public_key, 'base64').length, 32);
    const wk = await t.api('GET', '/.well-known/pchat-relay');
    assert.equal(wk.status, 200);
    assert.equal(wk.body.public_key, doc.public_key);
    assert.equal(wk.body.key_algorithm, 'ed25519');
    assert.ok(!JSON.stringify(wk.body).includes(doc.secret_key), 'the secret key is not published');
  });
});

describe('sessions per account are capped', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay({ PCHAT_SESSIONS_PER_USER_MAX: '2' });
  });
  after(() => t.stop());

  test('a login past PCHAT_SESSIONS_PER_USER_MAX logs out the oldest session (its parked poll ends 401)', async () => {
    const first = await t.login('many@example.com', { chat_address: 'many' });
    const second = await t.login('many@example.com');
    const parked = t.api('POST', '/api/v1/webchat/poll', { wait_ms: 20_000 }, first.token);
    await new Promise((r) => setTimeout(r, 100));
    const third = await t.login('many@example.com');
    assertRefusal(await parked, 401, 'unauthorized');
    assertRefusal(await t.api('GET', `${AUTH}/me`, undefined, first.token), 401, 'unauthorized');
    for (const s of [second, third]) assert.equal((await t.api('GET', `${AUTH}/me`, undefined, s.token)).status, 200);
    const ctx = t.relay.services.core.registry.context<any>(Inbox, (await t.api('GET', `${AUTH}/me`, undefined, third.token)).body.user.id);
    assert.deepEqual(Object.keys(ctx.cursors).sort(), [second.session.id, third.session.id].sort(), 'its cursor went with it');
  });
});

describe('sessions unused for PCHAT_SESSION_IDLE_DAYS end', () => {
  let t: TestRelay;
  const DAY = 86_400_000;
  /** The relay runs in this process: moving its clock moves the relay's. */
  const travel = (days: number) => clock.shift(days * DAY);
  const realNow = clock.real;
  before(async () => {
    t = await startTestRelay({ PCHAT_SESSION_IDLE_DAYS: '30' });
  });
  after(async () => {
    clock.restore();
    await t.stop();
  });

  test('a token idle past the limit is refused and its session closed; use, saved daily, keeps one alive across restarts', async () => {
    const idle = await t.login('idle@example.com', { chat_address: 'idle-agent' });
    const busy = await t.login('busy@example.com', { chat_address: 'busy-agent' });
    const user = (await t.api('GET', `${AUTH}/me`, undefined, idle.token)).body.user.id;
    const { registry } = t.relay.services.core;
    const settle = () => new Promise((r) => setTimeout(r, 50)); // a deferred write rides the next commit (≤ 5 ms)

    travel(10);
    assert.equal((await t.api('GET', `${AUTH}/me`, undefined, busy.token)).status, 200);
    await settle();
    const busyUser = (await t.api('GET', `${AUTH}/me`, undefined, busy.token)).body.user.id;
    const used = registry.context<any>(Account, busyUser).sessions[busy.session.id].last_used;
    assert.ok(used >= realNow() + 10 * DAY - 60_000, `use journaled (${used})`);

    travel(35); // idle: 35 days since its login; busy: 25 since its last use
    assertRefusal(await t.api('GET', `${AUTH}/me`, undefined, idle.token), 401, 'unauthorized');
    assertRefusal(await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'busy-agent', text: 'x' }, idle.token), 401, 'unauthorized');
    await settle();
    assert.equal(registry.context<any>(Account, user).sessions[idle.session.id], undefined, 'the session is closed');
    assert.equal(registry.context<any>(Inbox, user).cursors[idle.session.id], undefined, 'and its cursor dropped');
    assert.equal((await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'idle-agent', text: 'still here' }, busy.token)).status, 200);
    await settle();

    // The use saved on day 35 survives a restart: busy is fine until day 65, not day 40.
    await t.restart({ PCHAT_SESSION_IDLE_DAYS: '30' });
    travel(64);
    assert.equal((await t.api('GET', `${AUTH}/me`, undefined, busy.token)).status, 200);
    assertRefusal(await t.api('GET', `${AUTH}/me`, undefined, idle.token), 401, 'unauthorized');
    await settle();
    travel(95); // 31 days after its use on day 64
    assertRefusal(await t.api('GET', `${AUTH}/me`, undefined, busy.token), 401, 'unauthorized');
    // Logging in again works as ever.
    travel(96);
    const again = await t.login('idle@example.com');
    assert.equal((await t.api('GET', `${AUTH}/me`, undefined, again.token)).status, 200);
  });
});

describe('login mail over a real SMTP server on loopback', () => {
  let t: TestRelay;
  let smtp: SMTPServer;
  const mails: { from: string | undefined; to: string[]; raw: string }[] = [];

  before(async () => {
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const from = session.envelope.mailFrom;
          mails.push({
            from: from ? from.address : undefined,
            to: session.envelope.rcptTo.map((r) => r.address),
            raw: Buffer.concat(chunks).toString('utf8'),
          });
          callback();
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      smtp.server.once('error', reject);
      smtp.listen(0, '127.0.0.1', () => resolve());
    });
    const port = (smtp.server.address() as AddressInfo).port;
    t = await startTestRelay({
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(port),
      SMTP_FROM: 'relay@example.com',
      PCHAT_DEV_EXPOSE_CODES: 'false',
    });
  });
  after(async () => {
    await t.stop();
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
  });

  test('the code arrives by mail, only by mail, and logs in', async () => {
    const email = 'mailbox@example.com';
    const rc = await requestCode(t, email);
    assert.equal(rc.status, 200);
    assert.equal(rc.body.sent, true);
    assert.equal(rc.body.dev_code, undefined, 'no code in the response without PCHAT_DEV_EXPOSE_CODES');

    const mail = (await eventually(() => mails.find((m) => m.to.includes(email)), 10_000))!;
    assert.equal(mail.from, 'relay@example.com');
    assert.deepEqual(mail.to, [email]);
    assert.match(mail.raw, /^From: .*relay@example\.com/im);
    const subject = /^Subject: (\d{6}) /m.exec(mail.raw);
    const body = /login code is (\d{6})\b/.exec(mail.raw);
    assert.ok(subject && body, `no code found in the mail:\n${mail.raw}`);
    assert.equal(subject[1], body[1]);
    const code = body[1];

    assert.ok(!JSON.stringify(t.logs).includes(code), 'with SMTP the code is not written to the log');

    const v = await verify(t, email, code, { chat_address: 'mailbox' });
    assert.equal(v.status, 200, JSON.stringify(v.body));
    assert.match(v.body.session_token, TOKEN_RE);
    assert.equal((await t.api('GET', `${AUTH}/me`, undefined, v.body.session_token)).body.user.chat_address, 'mailbox');
    assertRefusal(await verify(t, email, code), 400, 'invalid_code');
  });
});

describe('per-IP rate limit on request-code', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay({ PCHAT_CODE_REQUESTS_PER_IP_PER_HOUR: '3' });
  });
  after(() => t.stop());

  test('the 4th request from one IP within the hour → 429 rate_limited + Retry-After', async () => {
    for (let i = 0; i < 3; i++) {
      const rc = await requestCode(t, `ip${i}@example.com`);
      assert.equal(rc.status, 200, `request ${i + 1}`);
    }
    const refused = await requestCode(t, 'ip3@example.com');
    assertRefusal(refused, 429, 'rate_limited');
    assert.equal(refused.body.dev_code, undefined);
    retryAfterSeconds(refused);
    // The limit is per route: other routes still answer.
    assert.equal((await t.api('GET', '/health')).status, 200);
    const v = await verify(t, 'ip0@example.com', '000000');
    assert.notEqual(v.status, 429, 'verify-code has its own budget');
  });
});

describe('per-IP limits behind a trusted proxy (PCHAT_TRUST_PROXY)', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay({ PCHAT_CODE_REQUESTS_PER_IP_PER_HOUR: '2', PCHAT_TRUST_PROXY: '127.0.0.1' });
  });
  after(() => t.stop());

  test('each client named by the proxy has its own budget; without the header they share the proxy’s', async () => {
    const from = (ip: string | undefined, email: string) =>
      t.api('POST', `${AUTH}/request-code`, { email, purpose: 'login' }, undefined, ip ? { 'x-forwarded-for': ip } : {});
    for (const ip of ['203.0.113.1', '203.0.113.2']) {
      assert.equal((await from(ip, `a-${ip}@example.com`)).status, 200);
      assert.equal((await from(ip, `b-${ip}@example.com`)).status, 200);
      assertRefusal(await from(ip, `c-${ip}@example.com`), 429, 'rate_limited');
    }
    assert.equal((await from(undefined, 'd@example.com')).status, 200);
  });
});

describe('free mode off (no SMTP, no dev codes)', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay();
    await t.login('known@example.com', { chat_address: 'known-user' });
    await t.login('known2@example.com', { chat_address: 'known-two' });
    await t.login('known3@example.com', { chat_address: 'known-three' });
    await t.restart({ PCHAT_FREE_MODE_ENABLED: 'false', PCHAT_DEV_EXPOSE_CODES: 'false' });
  });
  after(() => t.stop());

  test('known and unknown emails get the same answer', async () => {
    const known = await requestCode(t, 'known@example.com');
    const unknown = await requestCode(t, 'stranger@example.com');
    assert.equal(known.status, 200);
    assert.equal(unknown.status, known.status);
    assert.deepEqual(Object.keys(unknown.body).sort(), Object.keys(known.body).sort());
    assert.deepEqual(unknown.body, known.body);
    assert.equal(known.body.dev_code, undefined);
    assert.equal(unknown.headers.get('content-type'), known.headers.get('content-type'));
    assert.equal(unknown.headers.get('content-length'), known.headers.get('content-length'));
  });

  test('with neither SMTP nor dev codes the code is in the log, and it logs in', async () => {
    const email = 'known2@example.com';
    const rc = await requestCode(t, email);
    assert.equal(rc.status, 200);
    assert.equal(rc.body.dev_code, undefined);
    const code = (await eventually(() => codeFromLog(t, email)))!;
    assert.match(code, /^\d{6}$/);
    const v = await verify(t, email, code);
    assert.equal(v.status, 200, JSON.stringify(v.body));
    assert.equal(v.body.user.chat_address, 'known-two');
  });

  test('an unknown email cannot log in: no code is issued, mailed or logged, no account appears', async () => {
    const email = 'intruder@example.com';
    const rc = await requestCode(t, email);
    assert.equal(rc.status, 200);
    assert.equal(codeFromLog(t, email), undefined, 'no code was produced for an unknown email');
    for (const code of ['000000', '123456', '999999']) {
      assertRefusal(await verify(t, email, code, { chat_address: 'intruder' }), 400, 'invalid_code');
    }
    assert.equal(t.relay.services.core.projections.userByEmail(email), undefined);
    assert.equal(t.relay.services.core.projections.userByAddress('intruder'), undefined);
  });

  test('the per-email code budget applies to unknown emails too (no enumeration through too_many_codes)', async () => {
    // Both emails get more requests than the hourly budget allows; the last answer must not
    // tell whether an account exists.
    const last = async (email: string) => {
      let r!: Awaited<ReturnType<typeof requestCode>>;
      for (let i = 0; i <= MAX_CODES_PER_HOUR; i++) r = await requestCode(t, email);
      return r;
    };
    const known = await last('known3@example.com');
    const unknown = await last('another-stranger@example.com');
    assertRefusal(known, 429, 'too_many_codes');
    assert.equal(unknown.status, known.status, `known email → ${known.status}, unknown email → ${unknown.status}: the budget reveals which emails have accounts`);
    assert.deepEqual(unknown.body, known.body);
    assert.equal(unknown.headers.get('retry-after') !== null, known.headers.get('retry-after') !== null);
  });
});
