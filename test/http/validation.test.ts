// Bad input, class by class: every refusal is `{success:false, error:<code>, message}` with the
// right status, and none of them changes anything (checked at the end: no message arrived, no
// conversation appeared, profiles and journal heads are as before).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startTestRelay, type ApiResponse, type TestRelay } from '../helpers.ts';

const BODY_LIMIT = 4096;
const TEXT_MAX = 100;

type Session = { token: string; user: any };

function assertRefusal(res: ApiResponse, status: number, error: string | string[]) {
  const errors = Array.isArray(error) ? error : [error];
  assert.equal(res.status, status, `expected ${status} ${errors.join('|')}, got ${res.status} ${JSON.stringify(res.body)}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  assert.equal(typeof res.body, 'object');
  assert.deepEqual(Object.keys(res.body).sort(), ['error', 'message', 'success']);
  assert.equal(res.body.success, false);
  assert.ok(errors.includes(res.body.error), `error code ${res.body.error}, expected ${errors.join('|')}`);
  assert.equal(typeof res.body.message, 'string');
  assert.ok(res.body.message.length > 0);
}

describe('bad input is refused and changes nothing', () => {
  let t: TestRelay;
  let alice: Session;
  let bob: Session;
  let before_: Record<string, unknown>;

  const send = (body: unknown, token = alice.token, headers?: Record<string, string>) => t.api('POST', '/api/v1/messages', body, token, headers);
  const poll = (body: unknown, token = bob.token) => t.api('POST', '/api/v1/webchat/poll', body, token);

  async function state() {
    const heads: Record<string, number> = {};
    for (const s of [alice, bob]) {
      for (const stream of [`inbox:${s.user.id}`, `user:${s.user.id}`]) heads[stream] = t.relay.services.core.journal.head(stream);
    }
    const get = async (path: string, token: string) => (await t.api('GET', path, undefined, token)).body;
    return {
      heads,
      aliceMe: await get('/api/v1/pchat/auth/me', alice.token),
      bobMe: await get('/api/v1/pchat/auth/me', bob.token),
      aliceConversations: await get('/api/v1/webchat/conversations', alice.token),
      bobConversations: await get('/api/v1/webchat/conversations', bob.token),
      aliceBlocked: await get('/api/v1/webchat/blocked', alice.token),
    };
  }

  before(async () => {
    t = await startTestRelay({ PCHAT_BODY_LIMIT_BYTES: String(BODY_LIMIT), PCHAT_TEXT_MAX_CHARS: String(TEXT_MAX) });
    alice = await t.login('alice@example.com', { chat_address: 'alice', display_name: 'Alice' });
    bob = await t.login('bob@example.com', { chat_address: 'bob', display_name: 'Bob' });
    before_ = await state();
    assert.equal(before_.aliceConversations && (before_.aliceConversations as any).conversations.length, 0);
  });
  after(() => t.stop());

  test('malformed JSON → 400 invalid_json', async () => {
    assertRefusal(await send('{"channel":"pchat","to":"bob","text":'), 400, 'invalid_json');
    assertRefusal(await send('{"channel":"pchat","to":"bob","text":"hi"}}'), 400, 'invalid_json');
    assertRefusal(await send("{'channel':'pchat'}"), 400, 'invalid_json');
    assertRefusal(await send('not json at all'), 400, 'invalid_json');
  });

  test('JSON that is not an object → 400', async () => {
    for (const body of ['[]', '"text"', '42', 'null']) {
      const res = await send(body);
      assertRefusal(res, 400, ['validation_failed', 'invalid_json']);
    }
  });

  test(`a body over PCHAT_BODY_LIMIT_BYTES (${BODY_LIMIT}) → 413 body_too_large`, async () => {
    const res = await send({ channel: 'pchat', to: 'bob', text: 'x'.repeat(BODY_LIMIT + 10) });
    assertRefusal(res, 413, 'body_too_large');
    assert.match(res.body.message, new RegExp(String(BODY_LIMIT)));
    // Also before authentication: the limit does not depend on who asks.
    assertRefusal(await send({ channel: 'pchat', to: 'bob', text: 'x'.repeat(BODY_LIMIT + 10) }, 'pct_nope'), 413, 'body_too_large');
  });

  test('wrongly typed fields → 400 validation_failed (bodies are not coerced)', async () => {
    const limit = await poll({ limit: '5' });
    assertRefusal(limit, 400, 'validation_failed');
    assert.match(limit.body.message, /limit/);
    assertRefusal(await poll({ wait_ms: '100' }), 400, 'validation_failed');
    assertRefusal(await poll({ after: -1 }), 400, 'validation_failed');
    assertRefusal(await poll({ limit: 1.5 }), 400, 'validation_failed');
    assertRefusal(await poll({ limit: 0 }), 400, 'validation_failed');
    const text = await send({ channel: 'pchat', to: 'bob', text: 5 });
    assertRefusal(text, 400, 'validation_failed');
    assert.match(text.body.message, /text/);
    assertRefusal(await send({ channel: 'pchat', to: ['bob'], text: 'hi' }), 400, 'validation_failed');
    assertRefusal(await send({ channel: 'pchat', to: 'bob', text: 'hi', attachments: 'none' }), 400, 'validation_failed');
    assertRefusal(await t.api('PUT', '/api/v1/pchat/auth/me', { public_visible: 'true' }, alice.token), 400, 'validation_failed');
    assertRefusal(await t.api('PUT', '/api/v1/pchat/auth/me', { display_name: 7 }, alice.token), 400, 'validation_failed');
    assertRefusal(await t.api('POST', '/api/v1/webchat/presence', { visible: 'no' }, alice.token), 400, 'validation_failed');
  });

  test('missing required fields → 400 validation_failed', async () => {
    assertRefusal(await send({ channel: 'pchat', text: 'no recipient' }), 400, 'validation_failed');
    assertRefusal(await send({ to: 'bob', text: 'no channel' }), 400, 'validation_failed');
    assertRefusal(await send({}), 400, 'validation_failed');
    assertRefusal(await send({ channel: 'pchat', to: 'bob' }), 400, 'validation_failed'); // no text, no attachments
    assertRefusal(await send({ channel: 'pchat', to: 'bob', text: '   ' }), 400, 'validation_failed');
    assertRefusal(await t.api('POST', '/api/v1/webchat/read', {}, bob.token), 400, 'validation_failed');
    assertRefusal(await t.api('POST', '/api/v1/webchat/receipt-status', {}, alice.token), 400, 'validation_failed');
    assertRefusal(await t.api('POST', '/api/v1/webchat/typing', {}, alice.token), 400, 'validation_failed');
    assertRefusal(await t.api('POST', '/api/v1/pchat/auth/verify-code', { email: 'alice@example.com' }), 400, 'validation_failed');
    assertRefusal(await t.api('POST', '/api/v1/pchat/auth/request-code', {}), 400, 'validation_failed');
  });

  test('__proto__ and constructor.prototype bodies → 400, nothing applied', async () => {
    const cases: [string, string][] = [
      ['/api/v1/messages', '{"channel":"pchat","to":"bob","text":"via proto","__proto__":{"x":1}}'],
      ['/api/v1/messages', '{"channel":"pchat","to":"bob","text":"via ctor","constructor":{"prototype":{"x":1}}}'],
      ['/api/v1/messages', '{"__proto__":{"x":1}}'],
      ['/api/v1/messages', '{"constructor":{"prototype":{"x":1}}}'],
    ];
    for (const [path, body] of cases) {
      const res = await t.api('POST', path, body, alice.token);
      assertRefusal(res, 400, ['invalid_json', 'bad_request', 'validation_failed']);
    }
    for (const body of [
      '{"__proto__":{"display_name":"pwned","public_visible":true}}',
      '{"display_name":"Proto Alice","__proto__":{"public_visible":true}}',
      '{"display_name":"Ctor Alice","constructor":{"prototype":{"public_visible":true}}}',
    ]) {
      assertRefusal(await t.api('PUT', '/api/v1/pchat/auth/me', body, alice.token), 400, ['invalid_json', 'bad_request', 'validation_failed']);
    }
    const me = await t.api('GET', '/api/v1/pchat/auth/me', undefined, alice.token);
    assert.deepEqual(me.body, before_.aliceMe);
    assert.deepEqual((await t.api('GET', '/api/v1/webchat/conversations', undefined, alice.token)).body, before_.aliceConversations);
  });

  test('a forbidden-key body is explained as such, not as invalid JSON', async () => {
    // The body is valid JSON; app.ts's error handler means to say which key is forbidden.
    const res = await send('{"channel":"pchat","to":"bob","text":"p","__proto__":{"x":1}}');
    assertRefusal(res, 400, ['invalid_json', 'bad_request', 'validation_failed']);
    assert.match(res.body.message, /__proto__|constructor|forbidden/i);
    const ctor = await send('{"channel":"pchat","to":"bob","text":"c","constructor":{"prototype":{"x":1}}}');
    assert.match(ctor.body.message, /__proto__|constructor|forbidden/i);
  });

  test(`text over PCHAT_TEXT_MAX_CHARS (${TEXT_MAX}) → 413 text_too_long`, async () => {
    const res = await send({ channel: 'pchat', to: 'bob', text: 'y'.repeat(TEXT_MAX + 1) });
    assertRefusal(res, 413, 'text_too_long');
    assert.match(res.body.message, new RegExp(String(TEXT_MAX)));
  });

  test('a list over its maximum (message_ids with 501 items) → 400 validation_failed', async () => {
    const ids = Array.from({ length: 501 }, (_, i) => `m${i}`);
    assert.ok(JSON.stringify({ message_ids: ids }).length < BODY_LIMIT, 'the body itself is within the byte limit');
    assertRefusal(await t.api('POST', '/api/v1/webchat/read', { message_ids: ids }, bob.token), 400, 'validation_failed');
    assertRefusal(await t.api('POST', '/api/v1/webchat/receipt-status', { message_ids: ids }, alice.token), 400, 'validation_failed');
    assertRefusal(await t.api('POST', '/api/v1/webchat/read', { message_ids: [] }, bob.token), 400, 'validation_failed');
    const attachments = Array.from({ length: 21 }, (_, i) => ({ file_id: `f${i}`, kind: 'file' }));
    assertRefusal(await send({ channel: 'pchat', to: 'bob', text: 'many', attachments }), 400, 'validation_failed');
  });

  test('unknown route → 404 route_not_found', async () => {
    assertRefusal(await t.api('GET', '/api/v1/nope'), 404, 'route_not_found');
    assertRefusal(await t.api('POST', '/api/v1/webchat/nope', { x: 1 }, alice.token), 404, 'route_not_found');
    assertRefusal(await t.api('GET', '/api/v1/messages', undefined, alice.token), 404, 'route_not_found');
    assertRefusal(await t.api('DELETE', '/api/v1/pchat/auth/me', undefined, alice.token), 404, 'route_not_found');
  });

  test('no token or an invalid token → 401 unauthorized', async () => {
    const body = { channel: 'pchat', to: 'bob', text: 'who am i' };
    assertRefusal(await send(body, ''), 401, 'unauthorized');
    assertRefusal(await send(body, `pct_${'A'.repeat(43)}`), 401, 'unauthorized');
    assertRefusal(await send(body, alice.token.slice(4)), 401, 'unauthorized'); // without the prefix
    assertRefusal(await send(body, `${alice.token}x`), 401, 'unauthorized');
    assertRefusal(await send(body, `pct_${'A'.repeat(300)}`), 401, 'unauthorized');
    const noSession = (headers: Record<string, string>) => t.api('POST', '/api/v1/messages', body, undefined, headers);
    assertRefusal(await noSession({ authorization: 'Bearer garbage' }), 401, 'unauthorized');
    assertRefusal(await noSession({ authorization: `Basic ${alice.token}` }), 401, 'unauthorized');
    assertRefusal(await noSession({ authorization: `Bearer ${alice.token.slice(0, -1)}` }), 401, 'unauthorized');
    assertRefusal(await t.api('GET', '/api/v1/pchat/auth/me'), 401, 'unauthorized');
    assertRefusal(await t.api('POST', '/api/v1/webchat/poll', {}), 401, 'unauthorized');
    assertRefusal(await t.api('GET', '/api/v1/webchat/directory'), 401, 'unauthorized');
  });

  test("an address that is not the caller's → 403 not_your_address", async () => {
    assertRefusal(await send({ channel: 'pchat', to: 'bob', text: 'spoofed', source: 'bob' }), 403, 'not_your_address');
    assertRefusal(await send({ channel: 'pchat', to: 'alice', text: 'spoofed', source: 'nobody-at-all' }), 403, 'not_your_address');
    assertRefusal(await poll({ chat_address: 'alice' }, bob.token), 403, 'not_your_address');
    assertRefusal(await t.api('POST', '/api/v1/webchat/read', { chat_address: 'alice', message_id: 'msg_x' }, bob.token), 403, 'not_your_address');
    assertRefusal(await t.api('POST', '/api/v1/webchat/presence', { chat_address: 'bob' }, alice.token), 403, 'not_your_address');
  });

  test('a wrong content-type → 415 unsupported_media_type', async () => {
    const form = await send('channel=pchat&to=bob&text=form', alice.token, { 'content-type': 'application/x-www-form-urlencoded' });
    assertRefusal(form, 415, 'unsupported_media_type');
    const xml = await send('<m><to>bob</to><text>xml</text></m>', alice.token, { 'content-type': 'application/xml' });
    assertRefusal(xml, 415, 'unsupported_media_type');
    const multipart = await send('--b\r\n\r\nx\r\n--b--', alice.token, { 'content-type': 'multipart/form-data; boundary=b' });
    assertRefusal(multipart, 415, 'unsupported_media_type');
    // Text that is not JSON, labelled text/plain, neither (JSON so labelled is read: see below).
    assertRefusal(await send('to bob: plain', alice.token, { 'content-type': 'text/plain' }), 415, 'unsupported_media_type');
  });

  test('after all of it: the recipient got nothing and nothing changed', async () => {
    const now = await state();
    assert.deepEqual(now, before_);
    const p = await poll({ wait_ms: 0 });
    assert.equal(p.status, 200);
    assert.deepEqual(p.body.events, []);
    assert.deepEqual(p.body.messages, []);
    assert.deepEqual((await t.api('GET', '/api/v1/webchat/conversations', undefined, alice.token)).body.conversations, []);
    assert.deepEqual((await t.api('GET', '/api/v1/webchat/conversations', undefined, bob.token)).body.conversations, []);

    // Control: a good request through the same path does arrive, so the checks above can see one.
    const ok = await send({ channel: 'pchat', to: 'bob', text: 'y'.repeat(TEXT_MAX), source: 'alice' });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const p2 = await poll({});
    assert.deepEqual(p2.body.messages.map((m: any) => m.id), [ok.body.message_id]);
    assert.equal((await t.api('GET', '/api/v1/webchat/conversations', undefined, alice.token)).body.conversations.length, 1);
  });

  // These change state (a logout, typing hints): after the check above.
  test('empty body with content-type application/json: refused where a body is needed, fine where none is', async () => {
    assertRefusal(await send(''), 400, 'validation_failed');
    assertRefusal(await t.api('PUT', '/api/v1/pchat/auth/me', '', alice.token), 400, 'validation_failed');
    // A client that labels every request JSON logs out with no body.
    const extra = await t.login('alice@example.com');
    assert.equal((await t.api('POST', '/api/v1/pchat/auth/logout', '', extra.token)).status, 200);
  });

  test("a JSON body sent as curl -d sends it (form-urlencoded, the seed's examples) is read as JSON; a real form is 415", async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const ok = await t.api('POST', '/api/v1/webchat/typing', '{"to":"bob","typing":true}', alice.token, form);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const plain = await t.api('POST', '/api/v1/webchat/typing', '{"to":"bob","typing":false}', alice.token, { 'content-type': 'text/plain' });
    assert.equal(plain.status, 200, JSON.stringify(plain.body));
    assertRefusal(await t.api('POST', '/api/v1/webchat/typing', 'to=bob&typing=true', alice.token, form), 415, 'unsupported_media_type');
    // From a web page (Origin set), only application/json: a cross-site form post gets no preflight.
    const crossSite = await t.api('POST', '/api/v1/pchat/auth/request-code', '{"email":"victim@example.com"}', undefined, { ...form, origin: 'https://evil.example' });
    assertRefusal(crossSite, 415, 'unsupported_media_type');
    assertRefusal(await t.api('POST', '/api/v1/webchat/typing', '{"to":"bob","__proto__":{"x":1}}', alice.token, form), 400, 'invalid_json');
  });

  test('a request that is not even HTTP gets the same error envelope', async () => {
    const { port } = new URL(t.url);
    const raw = await new Promise<string>((resolveRaw, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.write('POST /api/v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n'));
      let got = '';
      socket.setEncoding('utf8').on('data', (c) => (got += c));
      socket.on('close', () => resolveRaw(got));
      socket.on('error', reject);
    });
    assert.match(raw, /^HTTP\/1\.1 400 /);
    const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
    assert.equal(body.success, false);
    assert.equal(body.error, 'bad_request');
  });
});
