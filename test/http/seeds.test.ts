// The user's seed documents (../shared/seeds/001, 002) walked as a client written against them
// would call the relay: their routes, bodies and fields. One test per divergence found.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestRelay, type TestRelay } from '../helpers.ts';

const G = '/api/v1/webchat/groups';

describe('seed conformance', () => {
  let t: TestRelay;
  let owner: { token: string };
  let asker: { token: string };

  before(async () => {
    t = await startTestRelay({ PCHAT_CODE_REQUESTS_PER_IP_PER_HOUR: '1000', PCHAT_CALLBACKS_ALLOW_PRIVATE: 'true' });
    owner = await t.login('owner@example.com', { chat_address: 'seed-owner' });
    asker = await t.login('asker@example.com', { chat_address: 'seed-asker' });
  });
  after(() => t.stop());

  test('routes whose fields are all optional take no body: the seed\'s worker loop polls and beats presence bare', async () => {
    // 002's AI worker loop: `POST /api/v1/webchat/poll`, `POST /api/v1/webchat/presence`.
    const beat = await t.api('POST', '/api/v1/webchat/presence', undefined, asker.token);
    assert.equal(beat.status, 200, JSON.stringify(beat.body));
    assert.equal(beat.body.online, true);
    await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'seed-asker', text: 'bare poll' }, owner.token);
    const poll = await t.api('POST', '/api/v1/webchat/poll', undefined, asker.token);
    assert.equal(poll.status, 200, JSON.stringify(poll.body));
    assert.deepEqual(poll.body.messages.map((m: any) => m.text), ['bare poll']);
    // A route that needs a field still refuses, naming it.
    const send = await t.api('POST', '/api/v1/messages', undefined, owner.token);
    assert.equal(send.status, 400);
    assert.equal(send.body.error, 'validation_failed');
    assert.match(send.body.message, /channel/);
  });

  test('a join request posted with no body (the seed lists the route, no body) is created', async () => {
    const g = await t.api('POST', G, { name: 'Approvals', visibility: 'public', join_policy: 'approval' }, owner.token);
    const id = g.body.group.group_id;
    // `curl -X POST …/join-requests` sends no body and no Content-Type.
    const bare = await t.api('POST', `${G}/${id}/join-requests`, undefined, asker.token);
    assert.equal(bare.status, 200, JSON.stringify(bare.body));
    assert.equal(bare.body.status, 'requested');
    // A JSON client with nothing to say sends the header and an empty body.
    const g2 = await t.api('POST', G, { name: 'Approvals 2', visibility: 'public', join_policy: 'approval' }, owner.token);
    const empty = await t.api('POST', `${G}/${g2.body.group.group_id}/join-requests`, '', asker.token, { 'content-type': 'application/json' });
    assert.equal(empty.status, 200, JSON.stringify(empty.body));
    const list = await t.api('GET', `${G}/${id}/join-requests`, undefined, owner.token);
    assert.deepEqual(list.body.requests.map((r: any) => [r.address, r.note]), [['seed-asker', null]]);
  });

  test('a callback names its id cb_id, as the seed\'s DELETE …/callbacks/inbound/<cb_id> does', async () => {
    const path = '/api/v1/webchat/callbacks/inbound';
    // The seed's subscribe body (a local URL: this relay is told it may call private addresses).
    const sub = await t.api('POST', path, { url: 'http://127.0.0.1:9/inbound', channels: ['pchat', 'sms', 'wa'], keywords: ['ALERT', 'OOM'] }, owner.token);
    assert.equal(sub.status, 200, JSON.stringify(sub.body));
    const cbId = sub.body.callback.cb_id;
    assert.match(cbId, /^cb_[0-9a-f]{16}$/);
    assert.equal(sub.body.callback.id, cbId);
    const list = await t.api('GET', path, undefined, owner.token);
    assert.deepEqual(list.body.callbacks.map((c: any) => c.cb_id), [cbId]);
    assert.equal((await t.api('GET', `${path}/${cbId}`, undefined, owner.token)).body.callback.cb_id, cbId);
    const gone = await t.api('DELETE', `${path}/${cbId}`, undefined, owner.token);
    assert.equal(gone.status, 200);
    assert.equal((await t.api('GET', path, undefined, owner.token)).body.callbacks.length, 0);
  });

  test('the display_name sent with request-code names the new account when verify-code sends none', async () => {
    const auth = '/api/v1/pchat/auth';
    const asked = await t.api('POST', `${auth}/request-code`, { email: 'named@example.com', display_name: 'Codex Agent', purpose: 'login' });
    const ok = await t.api('POST', `${auth}/verify-code`, { email: 'named@example.com', code: asked.body.dev_code });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.user.display_name, 'Codex Agent');
    // verify-code's own name wins; and an existing account keeps its name whatever a code request says.
    const again = await t.api('POST', `${auth}/request-code`, { email: 'named@example.com', display_name: 'Someone Else', purpose: 'login' });
    const back = await t.api('POST', `${auth}/verify-code`, { email: 'named@example.com', code: again.body.dev_code });
    assert.equal(back.body.user.display_name, 'Codex Agent');
    const other = await t.api('POST', `${auth}/request-code`, { email: 'other@example.com', display_name: 'From Request', purpose: 'login' });
    const both = await t.api('POST', `${auth}/verify-code`, { email: 'other@example.com', code: other.body.dev_code, display_name: 'From Verify' });
    assert.equal(both.body.user.display_name, 'From Verify');
    // A stranger asking a code for the same new email cannot name the owner's account: while
    // the requests disagree, none of their names is used (verify-code can still give one).
    for (const [first, second] of [['Owner', 'Mallory'], [undefined, 'Mallory'], ['Mallory', undefined]]) {
      const email = `contested-${first}-${second}@example.com`.toLowerCase();
      await t.api('POST', `${auth}/request-code`, { email, purpose: 'login', ...(first ? { display_name: first } : {}) });
      const last = await t.api('POST', `${auth}/request-code`, { email, purpose: 'login', ...(second ? { display_name: second } : {}) });
      const made = await t.api('POST', `${auth}/verify-code`, { email, code: last.body.dev_code });
      assert.equal(made.status, 200, JSON.stringify(made.body));
      assert.equal(made.body.user.display_name, made.body.user.chat_address, `${first} then ${second}: no requested name`);
    }
    const agreed = 'agreed@example.com';
    await t.api('POST', `${auth}/request-code`, { email: agreed, purpose: 'login', display_name: 'Same' });
    const resent = await t.api('POST', `${auth}/request-code`, { email: agreed, purpose: 'login', display_name: 'Same' });
    assert.equal((await t.api('POST', `${auth}/verify-code`, { email: agreed, code: resent.body.dev_code })).body.user.display_name, 'Same', 'a resend with the same name keeps it');
  });

  test('a WebChat GUI served from another site may call this relay (CORS): the seed points one GUI at any relay', async () => {
    // 002: private_relay_link --site https://your-webchat-site.example.com/… --relay https://relay.example.com,
    // and Settings → Private Server Relay → URL. The browser asks first (preflight), then calls.
    const site = { origin: 'https://your-webchat-site.example.com' };
    const pre = await t.api('OPTIONS', '/api/v1/webchat/poll', undefined, undefined, {
      ...site,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type,x-pchat-session',
    });
    assert.equal(pre.status, 204, JSON.stringify(pre.body));
    assert.equal(pre.headers.get('access-control-allow-origin'), '*');
    assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match(pre.headers.get('access-control-allow-headers') ?? '', /x-pchat-session/i);
    assert.match(pre.headers.get('access-control-allow-headers') ?? '', /content-type/i);
    const poll = await t.api('POST', '/api/v1/webchat/poll', { chat_address: 'seed-asker' }, asker.token, site);
    assert.equal(poll.status, 200);
    assert.equal(poll.headers.get('access-control-allow-origin'), '*');
    // Errors too, so the app can read why (and Retry-After when there is one).
    const refused = await t.api('GET', '/api/v1/pchat/auth/me', undefined, 'pct_nope', site);
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get('access-control-allow-origin'), '*');
    assert.match(refused.headers.get('access-control-expose-headers') ?? '', /retry-after/i);
    // A cross-site form post (no preflight) is still refused.
    const form = await t.api('POST', '/api/v1/pchat/auth/request-code', '{"email":"x@example.com"}', undefined, { ...site, 'content-type': 'text/plain' });
    assert.equal(form.status, 415);
  });

  test('with login codes exposed (PCHAT_DEV_EXPOSE_CODES), no other site may read request-code: the code would log it in as anyone', async () => {
    const site = { origin: 'https://evil.example.net' };
    const asked = await t.api('POST', '/api/v1/pchat/auth/request-code', { email: 'victim@example.com', purpose: 'login' }, undefined, site);
    assert.equal(asked.status, 200);
    assert.match(asked.body.dev_code, /^\d{6}$/, 'this test relay exposes codes');
    assert.equal(asked.headers.get('access-control-allow-origin'), null, 'the browser keeps the answer from the page');
    // Every other answer stays readable, verify-code too (it needs the code).
    const verify = await t.api('POST', '/api/v1/pchat/auth/verify-code', { email: 'victim@example.com', code: '000000' }, undefined, site);
    assert.equal(verify.headers.get('access-control-allow-origin'), '*');
    // A relay that mails its codes (or logs them) answers request-code readably: a GUI elsewhere logs in there.
    const mailing = await startTestRelay({ PCHAT_DEV_EXPOSE_CODES: 'false', LOG_LEVEL: 'silent' });
    try {
      const r = await mailing.api('POST', '/api/v1/pchat/auth/request-code', { email: 'someone@example.com', purpose: 'login' }, undefined, site);
      assert.equal(r.status, 200);
      assert.equal(r.body.dev_code, undefined);
      assert.equal(r.headers.get('access-control-allow-origin'), '*');
    } finally {
      await mailing.stop();
    }
  });

  test('the request headers the relay reads pass the preflight: an SSE resume (Last-Event-ID) and a ranged download (If-Range)', async () => {
    // A browser sends the real request only if every header it asked about is allowed.
    const allows = async (path: string, method: string, headers: string) => {
      const pre = await t.api('OPTIONS', path, undefined, undefined, {
        origin: 'https://your-webchat-site.example.com',
        'access-control-request-method': method,
        'access-control-request-headers': headers,
      });
      assert.equal(pre.status, 204);
      const allowed = new Set((pre.headers.get('access-control-allow-headers') ?? '').split(',').map((h) => h.trim().toLowerCase()));
      return headers.split(',').filter((h) => !allowed.has(h));
    };
    // A fetch-based EventSource (the token is a header) reconnects with the id it last got.
    assert.deepEqual(await allows('/api/v1/webchat/events', 'GET', 'x-pchat-session,last-event-id'), []);
    // A resumed download asks for the rest only if the file is still the same one.
    assert.deepEqual(await allows('/api/v1/webchat/files/file_00000000000000000000000000000000', 'GET', 'range,if-range'), []);
  });

  test('the SSE stream is readable from another site as well (its head is written by hand)', async () => {
    const abort = new AbortController();
    const res = await fetch(`${t.url}/api/v1/webchat/events`, { headers: { 'x-pchat-session': asker.token, origin: 'https://your-webchat-site.example.com' }, signal: abort.signal });
    try {
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
      assert.equal(res.headers.get('access-control-allow-origin'), '*');
    } finally {
      abort.abort();
      await res.body?.cancel().catch(() => {});
    }
  });
});
