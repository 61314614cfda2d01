// WebSocket commands against a real relay with a real `ws` client: answers come in the order the
// commands came, a client that does not read cannot make the relay queue without bound, frames
// right behind `auth` wait for the start (and are dropped if it is refused), `ref` is bounded,
// a message read before its delivered receipt was recorded still gets "delivered" first, and
// frames past the per-IP budget are refused.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, openWs, startTestRelay, type TestRelay, type WsClient } from '../helpers.ts';

type Who = { token: string; user: any };

/** Sends frames so that they leave in one TCP write (pipelined, as a busy client sends them). */
function sendTogether(client: WsClient, frames: object[]) {
  const raw = (client.ws as unknown as { _socket: import('node:net').Socket })._socket;
  raw.cork();
  for (const f of frames) client.send(f);
  process.nextTick(() => raw.uncork());
}

describe('WebSocket commands', () => {
  let t: TestRelay;
  let ada: Who, bo: Who;

  before(async () => {
    // One test sends 120,000 frames: past the default per-IP frame budget (tested below).
    t = await startTestRelay({ PCHAT_REQUESTS_PER_IP_PER_MINUTE: '1000000' });
    ada = await t.login('ada@example.com', { chat_address: 'ada' });
    bo = await t.login('bo@example.com', { chat_address: 'bob' });
  });
  after(() => t.stop());

  test('answers come in the order the commands came, errors and pings included', async () => {
    const ws = await openWs(t.url, { token: ada.token });
    await ws.next((f) => f.type === 'ready');
    const frames: object[] = [];
    for (let i = 0; i < 40; i++) {
      if (i % 4 === 0) frames.push({ type: 'send', ref: i, to: 'bob', text: `in order ${i}` });
      else if (i % 4 === 1) frames.push({ type: 'ping', ref: i });
      else if (i % 4 === 2) frames.push({ type: 'send', ref: i, to: 'nobody-here', text: 'refused at once' });
      else frames.push({ type: 'nonsense', ref: i });
    }
    sendTogether(ws, frames);
    await ws.next((f) => f.ref === 39);
    const answers = ws.frames.filter((f) => f.type === 'ack' || f.type === 'error');
    assert.deepEqual(
      answers.map((f) => f.ref),
      Array.from({ length: 40 }, (_, i) => i),
    );
    assert.deepEqual(answers.slice(0, 4).map((f) => f.type), ['ack', 'ack', 'error', 'error']);
    await ws.close();
  });

  test('a ref is a short string or a number; a long one is refused and not echoed', async () => {
    const ws = await openWs(t.url, { token: ada.token });
    await ws.next((f) => f.type === 'ready');
    const long = 'r'.repeat(5000);
    ws.send({ type: 'ping', ref: long });
    ws.send({ type: 'what', ref: long });
    ws.send({ type: 'ping', ref: 'ok' });
    await ws.next((f) => f.ref === 'ok');
    const errors = ws.frames.filter((f) => f.type === 'error');
    assert.equal(errors.length, 2);
    for (const e of errors) assert.equal(e.ref, undefined, 'a long ref is not sent back');
    assert.match(errors[0].message, /ref/);
    await ws.close();
  });

  test('a presence frame is checked as the presence route checks it: no control or bidi characters in names', async () => {
    const ws = await openWs(t.url, { token: ada.token });
    await ws.next((f) => f.type === 'ready');
    ws.send({ type: 'presence', ref: 'bad', session_name: 'support\u202Etxt.exe\u0007\n' });
    ws.send({ type: 'presence', ref: 'chan', listen_channel: 'pchat\n<b>' });
    ws.send({ type: 'presence', ref: 'good', session_name: 'support worker', listen_channel: 'pchat' });
    const good = await ws.next((f) => f.ref === 'good');
    assert.equal(good.type, 'ack');
    for (const ref of ['bad', 'chan']) {
      const e = ws.frames.find((f) => f.ref === ref);
      assert.equal(e.type, 'error', JSON.stringify(e));
      assert.equal(e.error, 'validation_failed');
    }
    const names = t.relay.services.core.projections.sessions(ada.user.id).map((x) => x.session_name);
    assert.ok(!names.some((n) => n?.includes('\u202E')), JSON.stringify(names));
    // Fields the frame does not take are not passed on: the profile is PUT /me's, typing the typing frame's.
    const before = (await t.api('GET', '/api/v1/pchat/auth/me', undefined, ada.token)).body.user.display_name;
    ws.send({ type: 'presence', ref: 'extra', visible: true, display_name: '\u202Eevil\u0007' + 'X'.repeat(5000), typing_to: { x: 1 } });
    assert.equal((await ws.next((f) => f.ref === 'extra')).type, 'ack');
    assert.equal((await t.api('GET', '/api/v1/pchat/auth/me', undefined, ada.token)).body.user.display_name, before);
    await ws.close();
  });

  test('a failure pushing to one connection ends that connection (resume + 1011), not the relay', async () => {
    const ws = await openWs(t.url, { token: bo.token });
    await ws.next((f) => f.type === 'ready');
    const { feed } = t.relay.services;
    const readBatch = feed.readBatch;
    feed.readBatch = () => {
      throw new Error('injected read failure');
    };
    try {
      const sent = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'bob', text: 'to a broken push' }, ada.token);
      assert.equal(sent.status, 200);
      const resume = await ws.next((f) => f.type === 'resume');
      assert.equal(resume.reason, 'internal_error');
      assert.equal((await ws.closed).code, 1011);
    } finally {
      feed.readBatch = readBatch;
    }
    assert.ok(t.logs.some((l) => l.msg === 'a live push failed; the connection was ended'));
    assert.equal((await t.api('GET', '/health')).status, 200, 'the relay goes on');
    const again = await openWs(t.url, { token: bo.token, query: 'after=0' });
    await again.next((f) => f.type === 'message' && f.message.text === 'to a broken push');
    await again.close();
  });

  test('a client that stops reading is not read either: the relay queues about the buffer cap, then all answers arrive in order', { timeout: 60_000 }, async () => {
    // A user with nothing to push: what queues up is answers only (a client that does not read
    // its pushes is cut as a slow consumer, tested in realtime.test.ts).
    const cy = await t.login('cy@example.com', { chat_address: 'cyd' });
    const ws = await openWs(t.url, { token: cy.token });
    await ws.next((f) => f.type === 'ready');
    const queued = async () => (await t.api('GET', '/health')).body.websockets.queued_bytes as number;
    ws.ws.pause(); // the client stops reading
    const N = 120_000; // ~19 MB of answers: more than the kernel's socket buffers take, many times the 1 MiB cap
    const ref = (i: number) => `${i}`.padStart(100, '0');
    const batch = 1000;
    for (let i = 0; i < N; i += batch) sendTogether(ws, Array.from({ length: batch }, (_, k) => ({ type: 'ping', ref: ref(i + k) })));
    // Wait until the relay stops making progress, then look at what it holds for this client.
    let held = -1;
    for (let i = 0, same = 0; i < 100 && same < 3; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const now = await queued();
      same = now > 0 && now === held ? same + 1 : 0;
      held = now;
    }
    assert.ok(held > 0, 'answers are waiting for the client');
    assert.ok(held < t.config.liveBufferBytes + 512 * 1024, `the relay holds ${held} bytes for a client that does not read`);
    ws.ws.resume();
    await eventually(() => ws.frames.length > N, 30_000); // `ready`, then the N answers
    const refs = ws.frames.filter((f) => f.type === 'ack').map((f) => f.ref);
    assert.equal(refs.length, N);
    assert.ok(refs.every((r, i) => r === ref(i)), 'in order, none missing');
    await ws.close();
  });

  test('frames right behind the auth frame wait for the start; after a refused start none of them runs', async () => {
    // Refused: `ses_` consumer names are the sessions'. The send behind it must not be committed.
    const refused = await openWs(t.url);
    sendTogether(refused, [
      { type: 'auth', session: ada.token, consumer: 'ses_bogus' },
      { type: 'send', ref: 's1', to: 'bob', text: 'must not arrive' },
      { type: 'ping', ref: 'p1' },
    ]);
    const closed = await refused.closed;
    assert.equal(closed.code, 4002);
    assert.ok(!refused.frames.some((f) => f.type === 'ack'), JSON.stringify(refused.frames));
    const poll = await t.api('POST', '/api/v1/webchat/poll', { after: 0, limit: 500 }, bo.token);
    assert.ok(!poll.body.events.some((e: any) => e.message?.text === 'must not arrive'));

    // Accepted: `ready` first, then the answers, the send's ack before its echo.
    const ok = await openWs(t.url);
    sendTogether(ok, [
      { type: 'auth', session: ada.token, consumer: 'worker-a' },
      { type: 'ping', ref: 'p1' },
      { type: 'send', ref: 's1', to: 'bob', text: 'behind auth' },
    ]);
    await ok.next((f) => f.type === 'message' && f.message.text === 'behind auth');
    assert.deepEqual(
      ok.frames.filter((f) => f.type === 'ready' || f.type === 'ack').map((f) => f.ref ?? f.type),
      ['ready', 'p1', 's1'],
    );
    const at = (pred: (f: any) => boolean) => ok.frames.findIndex(pred);
    assert.ok(at((f) => f.ref === 's1') < at((f) => f.type === 'message' && f.message.text === 'behind auth'), 'the ack comes before the echo');
    await ok.close();
  });

  test('a message read before its delivered receipt was recorded: the sender hears delivered, then read', async () => {
    const sent = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'bob', text: 'read at once' }, ada.token);
    assert.equal(sent.status, 200);
    const id = sent.body.message_id;
    const read = await t.api('POST', '/api/v1/webchat/read', { message_ids: [id] }, bo.token);
    assert.equal(read.status, 200);
    const receipts = await eventually(async () => {
      const feed = await t.api('POST', '/api/v1/webchat/poll', { after: 0, limit: 500, peek: true }, ada.token);
      const statuses: string[] = feed.body.events.filter((e: any) => e.type === 'receipt' && e.message_id === id).map((e: any) => e.status);
      return statuses.includes('read') && statuses;
    });
    assert.deepEqual(receipts, ['delivered', 'read']);
    const status = await t.api('POST', '/api/v1/webchat/receipt-status', { message_ids: [id] }, ada.token);
    const text = JSON.stringify(status.body);
    assert.ok(text.includes('"delivered_at":"') && text.includes('"read_at":"'), text);
  });
});

describe('WebSocket frames have a per-IP rate limit (PCHAT_REQUESTS_PER_IP_PER_MINUTE=30)', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay({ PCHAT_REQUESTS_PER_IP_PER_MINUTE: '30' });
  });
  after(() => t.stop());

  test('past the budget a frame is refused with rate_limited and retry_after, and does nothing', async () => {
    const cy = await t.login('cy@example.com', { chat_address: 'cyan' });
    const di = await t.login('di@example.com', { chat_address: 'dina' });
    const ws = await openWs(t.url, { token: cy.token });
    await ws.next((f) => f.type === 'ready');
    const frames = Array.from({ length: 34 }, (_, i) => ({ type: 'send', ref: i, to: 'dina', text: `n${i}` }));
    sendTogether(ws, frames);
    await ws.next((f) => f.ref === 33 && (f.type === 'ack' || f.type === 'error'));
    const answers = ws.frames.filter((f) => typeof f.ref === 'number');
    assert.equal(answers.filter((f) => f.type === 'ack').length, 30);
    const refused = answers.filter((f) => f.type === 'error');
    assert.deepEqual(refused.map((f) => f.ref), [30, 31, 32, 33]);
    for (const f of refused) {
      assert.equal(f.error, 'rate_limited');
      assert.ok(f.retry_after >= 1 && f.retry_after <= 60, JSON.stringify(f));
    }
    const got = await t.api('POST', '/api/v1/webchat/poll', { limit: 100 }, di.token);
    assert.equal(got.body.messages.length, 30, 'the refused sends sent nothing');
    await ws.close();
  });
});
