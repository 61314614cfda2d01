// Real-time delivery against a real relay with real clients: `ws` on the WebSocket, fetch
// streaming on SSE. Auth (header and first frame), push, send/ack over the socket, resume after
// a drop with no gap and no duplicate, slow consumers, heartbeats, several devices' presence.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, openWs, startTestRelay, type TestRelay } from '../helpers.ts';

type Who = { token: string; user: any };

/** Reads an SSE response into parsed events as they come. */
function sseReader(res: Response) {
  const events: { id?: string; event?: string; data: any }[] = [];
  const comments: string[] = [];
  let buf = '';
  const done = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev: { id?: string; event?: string; data: any } = { data: undefined };
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) comments.push(line);
          else if (line.startsWith('id: ')) ev.id = line.slice(4);
          else if (line.startsWith('event: ')) ev.event = line.slice(7);
          else if (line.startsWith('data: ')) ev.data = JSON.parse(line.slice(6));
        }
        if (ev.data !== undefined) events.push(ev);
      }
    }
  })().catch(() => {});
  return { events, comments, done };
}

describe('WebSocket and SSE', () => {
  let t: TestRelay;
  let ada: Who, bo: Who;
  const send = (who: Who, to: string, text: string) => t.api('POST', '/api/v1/messages', { channel: 'pchat', to, text }, who.token);

  before(async () => {
    t = await startTestRelay({ PCHAT_HEARTBEAT_MS: '300' });
    ada = await t.login('ada@example.com', { chat_address: 'ada' });
    bo = await t.login('bo@example.com', { chat_address: 'bob' });
  });
  after(() => t.stop());

  test('header auth: ready, then pushed messages; a send over the socket is acked after commit', async () => {
    const ws = await openWs(t.url, { token: bo.token });
    const ready = await ws.next((f) => f.type === 'ready');
    assert.equal(ready.chat_address, 'bob');
    assert.ok(ready.heartbeat_ms <= 45_000);
    await send(ada, 'bob', 'pushed to you');
    const pushed = await ws.next((f) => f.type === 'message' && f.message.text === 'pushed to you');
    assert.equal(pushed.outgoing, false);
    assert.ok(pushed.seq > ready.cursor);

    ws.send({ type: 'send', ref: 'r1', to: 'ada', text: 'answer over ws' });
    const ack = await ws.next((f) => f.type === 'ack' && f.ref === 'r1');
    assert.match(ack.message_id, /^msg_/);
    // Durable and visible to the recipient by the time it was acked.
    const p = await t.api('POST', '/api/v1/webchat/poll', {}, ada.token);
    assert.ok(p.body.messages.some((m: any) => m.id === ack.message_id));
    // The sender's own socket sees its outgoing copy too.
    await ws.next((f) => f.type === 'message' && f.message.id === ack.message_id && f.outgoing === true);

    // A push is a delivery: the sender hears of it, live, and the receipt is on record.
    const ws2 = await openWs(t.url, { token: ada.token });
    await ws2.next((f) => f.type === 'ready');
    ws.send({ type: 'send', ref: 'r4', to: 'ada', text: 'pushed, so delivered' });
    const id = (await ws.next((f) => f.type === 'ack' && f.ref === 'r4')).message_id;
    await ws2.next((f) => f.type === 'message' && f.message.id === id);
    const receipt = await ws.next((f) => f.type === 'receipt' && f.message_id === id);
    assert.equal(receipt.status, 'delivered');
    const status = await t.api('POST', '/api/v1/webchat/receipt-status', { message_ids: [id] }, bo.token);
    assert.equal(status.body.statuses[0].status, 'delivered', JSON.stringify(status.body));
    await ws2.close();

    ws.send({ type: 'send', ref: 'r2', to: 'nobody-at-all', text: 'x' });
    assert.equal((await ws.next((f) => f.ref === 'r2')).error, 'unknown_recipient');
    ws.send({ type: 'send', ref: 'r3', to: 'ada', text: 5 });
    assert.equal((await ws.next((f) => f.ref === 'r3')).error, 'validation_failed');
    ws.ws.send('not json');
    await ws.next((f) => f.error === 'invalid_json');
    await ws.close();
  });

  test('a socket opened before a rename or a suspension acts as the account is now', async () => {
    const cy = await t.login('cyrus@example.com', { chat_address: 'cy-old' });
    const ws = await openWs(t.url, { token: cy.token });
    await ws.next((f) => f.type === 'ready');
    assert.equal((await t.api('PUT', '/api/v1/pchat/auth/me', { chat_address: 'cy-new' }, cy.token)).status, 200);
    ws.send({ type: 'send', ref: 'r1', to: 'ada', text: 'as cy-new', source: 'cy-new' });
    const acked = await ws.next((f) => f.ref === 'r1');
    assert.equal(acked.type, 'ack', JSON.stringify(acked));
    const got = await t.api('POST', '/api/v1/webchat/poll', { limit: 500 }, ada.token);
    assert.equal(got.body.messages.find((m: any) => m.text === 'as cy-new')?.from, 'cy-new');
    // Suspended after reports: the socket's sends are refused as REST ones are.
    const { registry, projections } = t.relay.services.core;
    const users = [...projections.allUsers()];
    const cyUser = users.find((u) => u.chat_address === 'cy-new')!;
    const threshold = t.config.autoBlockThreshold;
    for (let i = 0; i < threshold; i++) {
      const r = await t.login(`reporter${i}@example.com`, { chat_address: `reporter-${i}` });
      // A report counts from someone the account wrote to.
      assert.equal((await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: `reporter-${i}`, text: 'spam' }, cy.token)).status, 200);
      assert.equal((await t.api('POST', '/api/v1/webchat/report', { address: 'cy-new', reason: 'spam' }, r.token)).status, 200);
    }
    assert.equal(projections.user(cyUser.id)?.suspended, true, `suspended after ${threshold} reports (${registry.size} actors)`);
    ws.send({ type: 'send', ref: 'r2', to: 'ada', text: 'while suspended' });
    assert.equal((await ws.next((f) => f.ref === 'r2')).error, 'suspended');
    await ws.close();
  });

  test('browser auth: first frame only; a token in the URL is not accepted; a bad token closes 4001', async () => {
    const noAuth = await openWs(t.url, { query: `session=${ada.token}&pchat_session=${ada.token}` });
    noAuth.send({ type: 'send', ref: 'x', to: 'bob', text: 'sneaky' });
    assert.equal((await noAuth.next((f) => f.ref === 'x')).error, 'unauthorized');
    noAuth.send({ type: 'auth', session: ada.token });
    const ready = await noAuth.next((f) => f.type === 'ready');
    assert.equal(ready.chat_address, 'ada');
    await noAuth.close();

    const bad = await openWs(t.url);
    bad.send({ type: 'auth', session: 'pct_not_a_real_token' });
    assert.equal((await bad.closed).code, 4001);
    const badHeader = await openWs(t.url, { token: 'pct_wrong' });
    assert.equal((await badHeader.closed).code, 4001);
  });

  test('resume after a dropped connection: no gap, no duplicate', async () => {
    const ws1 = await openWs(t.url, { token: bo.token, query: 'consumer=phone' });
    await ws1.next((f) => f.type === 'ready');
    for (let i = 0; i < 5; i++) await send(ada, 'bob', `m${i}`);
    await ws1.next((f) => f.type === 'message' && f.message.text === 'm4');
    const seen1 = ws1.frames.filter((f) => f.type === 'message' && /^m\d+$/.test(f.message.text));
    const last = seen1[seen1.length - 1].seq;
    ws1.ws.terminate();
    await ws1.closed;
    for (let i = 5; i < 10; i++) await send(ada, 'bob', `m${i}`);
    const ws2 = await openWs(t.url, { token: bo.token, query: `consumer=phone&after=${last}` });
    await ws2.next((f) => f.type === 'message' && f.message.text === 'm9');
    await send(ada, 'bob', 'm10');
    await ws2.next((f) => f.type === 'message' && f.message.text === 'm10');
    const seen2 = ws2.frames.filter((f) => f.type === 'message' && /^m\d+$/.test(f.message.text));
    const texts = [...seen1, ...seen2].map((f) => f.message.text);
    assert.deepEqual(texts, Array.from({ length: 11 }, (_, i) => `m${i}`));
    const seqs = [...seen1, ...seen2].map((f) => f.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
    assert.equal(new Set(seqs).size, seqs.length);

    // The consumer's stored cursor moves on ack only; a reconnect without `after` starts there.
    ws2.send({ type: 'ack', ref: 'a1', upto: seen2[2].seq });
    assert.equal((await ws2.next((f) => f.ref === 'a1')).cursor, seen2[2].seq);
    await ws2.close();
    const ws3 = await openWs(t.url, { token: bo.token, query: 'consumer=phone' });
    const ready = await ws3.next((f) => f.type === 'ready');
    assert.equal(ready.cursor, seen2[2].seq);
    await ws3.next((f) => f.type === 'message' && f.message.text === 'm10');
    assert.equal(ws3.frames.filter((f) => f.type === 'message').length, seen2.length - 3, 'exactly what was not acked');
    await ws3.close();
  });

  test('heartbeats arrive; typing and presence events flow over the socket', async () => {
    const ws = await openWs(t.url, { token: bo.token });
    await ws.next((f) => f.type === 'ping', 3000);
    const adaWs = await openWs(t.url, { token: ada.token });
    await adaWs.next((f) => f.type === 'ready');
    adaWs.send({ type: 'typing', to: 'bob', typing: true });
    const typing = await ws.next((f) => f.type === 'typing' && f.from === 'ada');
    assert.equal(typing.typing, true);
    adaWs.send({ type: 'presence', ref: 'p', visible: true, session_name: 'laptop' });
    assert.equal((await adaWs.next((f) => f.ref === 'p')).online, true);
    await ws.close();
    await adaWs.close();
  });

  test('one user on several devices: online while any connection is open', async () => {
    const d1 = await t.login('cyd@example.com', { chat_address: 'cyd', public_visible: true, device_name: 'phone' });
    const d2 = await t.login('cyd@example.com', { device_name: 'desk' });
    const online = async () => {
      const dir = await t.api('GET', '/api/v1/webchat/directory?q=cyd', undefined, bo.token);
      return dir.body.users.find((u: any) => u.chat_address === 'cyd')?.online;
    };
    assert.ok(!(await online()));
    const a = await openWs(t.url, { token: d1.token });
    const b = await openWs(t.url, { token: d2.token });
    await a.next((f) => f.type === 'ready');
    await b.next((f) => f.type === 'ready');
    await eventually(online);
    await send(bo, 'cyd', 'to both devices');
    await a.next((f) => f.type === 'message' && f.message.text === 'to both devices');
    await b.next((f) => f.type === 'message' && f.message.text === 'to both devices');
    await a.close();
    assert.equal(await online(), true, 'still online through the other device');
    await b.close();
    // Offline once the short reconnect grace has passed (the presence sweep notices).
    await eventually(async () => (await online()) === false, 15_000, 200);
  });

  test('logout ends that session’s live connections (4001), not those of the other sessions', { timeout: 20_000 }, async () => {
    const phone = await t.login('dee@example.com', { chat_address: 'dee', device_name: 'phone' });
    const desk = await t.login('dee@example.com', { device_name: 'desk' });
    const a = await openWs(t.url, { token: phone.token });
    const b = await openWs(t.url, { token: desk.token });
    await a.next((f) => f.type === 'ready');
    await b.next((f) => f.type === 'ready');
    assert.equal((await t.api('POST', '/api/v1/pchat/auth/logout', undefined, phone.token)).status, 200);
    assert.equal((await a.closed).code, 4001, 'the logged-out socket is closed as unauthorized');
    await send(ada, 'dee', 'still here?');
    await b.next((f) => f.type === 'message' && f.message.text === 'still here?');
    assert.equal(a.frames.some((f) => f.type === 'message' && f.message?.text === 'still here?'), false);
    assert.equal((await t.api('POST', '/api/v1/pchat/auth/logout-all', undefined, desk.token)).status, 200);
    assert.equal((await b.closed).code, 4001);
  });

  test('a fast client catching up on more than the buffer cap gets everything and is not cut', async () => {
    const small = await startTestRelay({ PCHAT_LIVE_BUFFER_BYTES: '16384', PCHAT_HEARTBEAT_MS: '600' });
    try {
      const a = await small.login('a@example.com', { chat_address: 'writer' });
      const b = await small.login('b@example.com', { chat_address: 'reader' });
      const text = 'y'.repeat(2000);
      const n = 3000; // ~6 MB of backlog against a 16 KB cap and 300 ms of slow allowance
      for (let i = 0; i < n; i += 50) {
        await Promise.all(Array.from({ length: 50 }, (_, k) => small.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'reader', text: `${i + k} ${text}` }, a.token)));
      }
      const ws = await openWs(small.url, { token: b.token, query: 'after=0' });
      await eventually(() => ws.frames.filter((f) => f.type === 'message').length === n || ws.frames.some((f) => f.type === 'resume'), 20_000);
      assert.equal(ws.frames.find((f) => f.type === 'resume'), undefined, 'a client that keeps reading is never told it is slow');
      assert.equal(ws.frames.filter((f) => f.type === 'message').length, n);
      await ws.close();
    } finally {
      await small.stop();
    }
  });

  test('a slow consumer is told to resume from its cursor instead of growing the relay', async () => {
    const slow = await startTestRelay({ PCHAT_LIVE_BUFFER_BYTES: '65536', PCHAT_HEARTBEAT_MS: '4000' });
    try {
      const a = await slow.login('a@example.com', { chat_address: 'fast' });
      const b = await slow.login('b@example.com', { chat_address: 'slow' });
      const ws = await openWs(slow.url, { token: b.token });
      await ws.next((f) => f.type === 'ready');
      // Stop reading: the kernel buffers fill, then the relay's own queue.
      (ws.ws as any)._socket.pause();
      const big = 'x'.repeat(30_000);
      // Quickly (well inside a heartbeat, so the socket is slow, not dead), in order.
      for (let i = 0; i < 400; i += 40) {
        await Promise.all(
          Array.from({ length: 40 }, (_, k) => slow.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'slow', text: `${i + k} ${big}`, idempotency_key: `k${i + k}` }, a.token)),
        );
      }
      // Over the cap for longer than half a heartbeat: cut.
      await eventually(() => slow.relay.services.live.size === 0, 10_000);
      (ws.ws as any)._socket.resume();
      const closed = await ws.closed;
      assert.equal(closed.code, 4008);
      const resume = ws.frames.find((f) => f.type === 'resume');
      assert.equal(resume.reason, 'slow_consumer');
      const got = ws.frames.filter((f) => f.type === 'message');
      assert.ok(got.length < 400, 'it was cut before everything was pushed');
      // Resuming from the cursor it was given returns the rest, in order.
      const again = await openWs(slow.url, { token: b.token, query: `after=${resume.cursor}` });
      await eventually(() => again.frames.filter((f) => f.type === 'message').length + got.length >= 400, 20_000);
      const all = [...got, ...again.frames.filter((f) => f.type === 'message')].map((f) => Number(f.message.text.split(' ')[0]));
      assert.deepEqual([...new Set(all)].sort((x, y) => x - y), Array.from({ length: 400 }, (_, i) => i), 'every message arrives');
      const seqs = [...got, ...again.frames.filter((f) => f.type === 'message')].map((f) => f.seq);
      assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), 'in seq order');
      await again.close();
    } finally {
      await slow.stop();
    }
  });

  test('a client that stops reading holds about the cap, not a batch of large events, and is let go soon after it is cut', async () => {
    const cap = 65536;
    const slow = await startTestRelay({ PCHAT_LIVE_BUFFER_BYTES: String(cap), PCHAT_HEARTBEAT_MS: '4000' });
    try {
      const a = await slow.login('a@example.com', { chat_address: 'big-writer' });
      const b = await slow.login('b@example.com', { chat_address: 'big-reader' });
      const big = '\u0001'.repeat(30_000); // 6 bytes each in JSON: ~180 KB per event
      for (let i = 0; i < 60; i += 20) {
        await Promise.all(Array.from({ length: 20 }, (_, k) => slow.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'big-reader', text: `${i + k} ${big}` }, a.token)));
      }
      // Opened on a 60-event backlog (~11 MB) and never read.
      const ws = await openWs(slow.url, { token: b.token, query: 'after=0' });
      (ws.ws as any)._socket.pause();
      let peak = 0;
      const deadline = Date.now() + 1500;
      while (Date.now() < deadline) {
        peak = Math.max(peak, (await slow.api('GET', '/health')).body.websockets.queued_bytes);
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(peak > 0, 'something was queued');
      assert.ok(peak < cap + 2 * 200_000, `queued ${peak} bytes against a ${cap}-byte cap`);
      // Cut after half a heartbeat over the cap; its queue is freed within the close grace, though it still reads nothing.
      await eventually(() => slow.relay.services.live.size === 0, 10_000);
      await eventually(async () => ((await slow.api('GET', '/health')).body.websockets.open === 0 ? true : undefined), 4_000);
      ws.ws.terminate();
    } finally {
      await slow.stop();
    }
  });

  test('SSE: header auth, the same events with ids, Last-Event-ID resume, 401 without a token', async () => {
    const unauth = await fetch(`${t.url}/api/v1/webchat/events`);
    assert.equal(unauth.status, 401);
    await unauth.body?.cancel();

    const ctl = new AbortController();
    const res = await fetch(`${t.url}/api/v1/webchat/events?consumer=sse`, { headers: { 'x-pchat-session': ada.token }, signal: ctl.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /text\/event-stream/);
    const r = sseReader(res);
    await eventually(() => r.events.some((e) => e.event === 'ready'));
    const s1 = await send(bo, 'ada', 'over sse');
    const got = await eventually(() => r.events.find((e) => e.event === 'message' && e.data.message.id === s1.body.message_id));
    assert.equal(Number(got.id), got.data.seq);
    // Poll returns the same event object for the same seq. (Only the delivery status moved on:
    // the push itself delivered it, recorded with the relay's next commit.)
    const polled = await eventually(async () => {
      const p = await t.api('POST', '/api/v1/webchat/poll', { after: got.data.seq - 1, limit: 1, peek: true }, ada.token);
      return p.body.events[0].message.status === 'delivered' ? p : undefined;
    });
    assert.deepEqual({ ...polled.body.events[0], message: { ...polled.body.events[0].message, status: 'sent' } }, got.data);
    await eventually(() => r.comments.some((c) => c.startsWith(': ping')), 3000);
    ctl.abort();

    const s2 = await send(bo, 'ada', 'while away');
    const ctl2 = new AbortController();
    const res2 = await fetch(`${t.url}/api/v1/webchat/events?consumer=sse`, { headers: { 'x-pchat-session': ada.token, 'last-event-id': String(got.data.seq) }, signal: ctl2.signal });
    const r2 = sseReader(res2);
    const missed = await eventually(() => r2.events.find((e) => e.event === 'message'));
    assert.equal(missed.data.message.id, s2.body.message_id, 'the next event after Last-Event-ID, nothing before it');
    ctl2.abort();

    // An EventSource reconnects to the same URL (its `after` included) with Last-Event-ID: the header wins,
    // or every reconnect would replay what it already has. An empty or non-numeric header is no header.
    const s3 = await send(bo, 'ada', 'third');
    const since = got.data.seq - 1;
    const open = async (headers: Record<string, string>) => {
      const ctl3 = new AbortController();
      const res3 = await fetch(`${t.url}/api/v1/webchat/events?consumer=sse2&after=${since}`, { headers: { 'x-pchat-session': ada.token, ...headers }, signal: ctl3.signal });
      const r3 = sseReader(res3);
      await eventually(() => r3.events.some((e) => e.event === 'message' && e.data.message.id === s3.body.message_id));
      ctl3.abort();
      return r3.events.filter((e) => e.event === 'message').map((e) => e.data.message.id);
    };
    assert.deepEqual(await open({ 'last-event-id': String(missed.data.seq) }), [s3.body.message_id]);
    for (const value of ['', ' ', 'abc']) {
      assert.deepEqual(await open({ 'last-event-id': value }), [s1.body.message_id, s2.body.message_id, s3.body.message_id], `Last-Event-ID ${JSON.stringify(value)}: from the URL's after`);
    }
  });
});

describe('live connections per account', () => {
  test('past PCHAT_LIVE_PER_USER_MAX a WebSocket, an SSE stream and a parked poll are refused (429, Retry-After); others are not', async () => {
    const t = await startTestRelay({ PCHAT_LIVE_PER_USER_MAX: '3' });
    try {
      const cy = await t.login('cyd@example.com', { chat_address: 'cyd' });
      const dee = await t.login('dee@example.com', { chat_address: 'dee' });
      const ws1 = await openWs(t.url, { token: cy.token });
      await ws1.next((f) => f.type === 'ready');
      const ctl = new AbortController();
      const sse = await fetch(`${t.url}/api/v1/webchat/events`, { headers: { 'x-pchat-session': cy.token }, signal: ctl.signal });
      assert.equal(sse.status, 200);
      const sseEvents = sseReader(sse);
      await eventually(() => sseEvents.events.some((e) => e.event === 'ready'));
      const parked = t.api('POST', '/api/v1/webchat/poll', { wait_ms: 20_000 }, cy.token);
      await eventually(async () => (await t.api('GET', '/health')).body.parked_polls === 1);

      // The fourth of each kind is refused before it holds anything.
      const ws4 = await openWs(t.url, { token: cy.token });
      const refused = await ws4.next((f) => f.type === 'error');
      assert.equal(refused.error, 'too_many_connections');
      assert.ok(refused.retry_after > 0);
      // SSE: a stream that tells an EventSource when to come back (it gives up for good on a non-200).
      const sse4 = await fetch(`${t.url}/api/v1/webchat/events`, { headers: { 'x-pchat-session': cy.token } });
      assert.equal(sse4.status, 200);
      const text = await sse4.text();
      assert.match(text, /^retry: 5000\n\n/);
      assert.match(text, /event: error\ndata: \{[^\n]*"error":"too_many_connections"/);
      // A refusal that will not pass (a reserved consumer name) is a plain HTTP error.
      const bad = await fetch(`${t.url}/api/v1/webchat/events?consumer=ses_mine`, { headers: { 'x-pchat-session': dee.token } });
      assert.equal(bad.status, 400);
      assert.equal((await bad.json()).error, 'validation_failed');
      const poll4 = await t.api('POST', '/api/v1/webchat/poll', { wait_ms: 5_000 }, cy.token);
      assert.equal(poll4.status, 429);
      assert.equal(poll4.body.error, 'too_many_connections');
      // A poll that does not park, or finds something at once, still answers.
      assert.equal((await t.api('POST', '/api/v1/webchat/poll', {}, cy.token)).status, 200);
      // Another account is not touched.
      const wsDee = await openWs(t.url, { token: dee.token });
      await wsDee.next((f) => f.type === 'ready');

      // The parked poll still gets its message; a closed socket makes room.
      assert.equal((await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'cyd', text: 'to the parked poll' }, dee.token)).status, 200);
      assert.equal((await parked).body.events[0].message.text, 'to the parked poll');
      ws1.ws.close();
      await eventually(async () => {
        const again = await openWs(t.url, { token: cy.token });
        const first = await again.next((f) => f.type === 'ready' || f.type === 'error');
        if (first.type === 'ready') return again;
        again.ws.close();
        return undefined;
      });
      ctl.abort();
      wsDee.ws.close();
    } finally {
      await t.stop();
    }
  });

  test('a parked poll woken by nothing it shows keeps its place: a connection opened meanwhile is refused, not let in past the cap', async () => {
    const t = await startTestRelay({ PCHAT_LIVE_PER_USER_MAX: '2' });
    try {
      const G = '/api/v1/webchat/groups';
      const owner = await t.login('own@example.com', { chat_address: 'own' });
      const cy = await t.login('cyd@example.com', { chat_address: 'cyd' });
      const eve = await t.login('eve@example.com', { chat_address: 'eve' });
      // cyd observes a stream group: someone joining or leaving it wakes cyd's readers, and
      // shows them nothing (that is for the admins), so a parked poll parks again.
      const id = (await t.api('POST', G, { name: 'Feed', visibility: 'public', mode: 'stream' }, owner.token)).body.group.id;
      assert.equal((await t.api('POST', `${G}/${id}/join-requests`, {}, cy.token)).status, 200);
      await t.api('POST', '/api/v1/webchat/poll', {}, cy.token);
      const parked = t.api('POST', '/api/v1/webchat/poll', { wait_ms: 20_000 }, cy.token);
      await eventually(async () => (await t.api('GET', '/health')).body.parked_polls === 1);
      const ws1 = await openWs(t.url, { token: cy.token });
      await ws1.next((f) => f.type === 'ready'); // the cap: one parked poll, one WebSocket

      let stop = false;
      const churn = (async () => {
        while (!stop) {
          await t.api('POST', `${G}/${id}/join-requests`, {}, eve.token);
          await t.api('POST', `${G}/${id}/leave`, {}, eve.token);
        }
      })();
      try {
        for (let i = 0; i < 40; i++) {
          const ws = await openWs(t.url, { token: cy.token });
          const first = await ws.next((f) => f.type === 'ready' || f.type === 'error');
          const health = (await t.api('GET', '/health')).body;
          await ws.close();
          assert.equal(first.error, 'too_many_connections', `let in past the cap: ${health.parked_polls} parked poll(s), ${health.websockets.open} WebSockets`);
        }
      } finally {
        stop = true;
        await churn;
      }
      assert.equal((await t.api('GET', '/health')).body.parked_polls, 1, 'the poll is still parked');
      await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'cyd', text: 'to the parked poll' }, owner.token);
      assert.equal((await parked).body.events[0].message.text, 'to the parked poll');
      ws1.ws.close();
    } finally {
      await t.stop();
    }
  });
});

describe("the sender's own copy of a message carries its idempotency key", () => {
  // A client that lost a send's answer (network error) tells the send's echo from a message it
  // never managed to send by this key, not by its text. Only the sender's view carries it.
  let t: TestRelay;
  let ada: Who, bob: Who, cy: Who;
  const send = (who: Who, to: string, text: string, key?: string) =>
    t.api('POST', '/api/v1/messages', { channel: 'pchat', to, text, ...(key ? { idempotency_key: key } : {}) }, who.token);
  /** Every message event of a user's feed (read from the start, claiming nothing), by text. */
  const feed = async (who: Who) => {
    const p = await t.api('POST', '/api/v1/webchat/poll', { after: 0, peek: true, limit: 500 }, who.token);
    assert.equal(p.status, 200, JSON.stringify(p.body));
    return new Map<string, any>(p.body.events.filter((e: any) => e.type === 'message').map((e: any) => [e.message.text, e]));
  };
  const history = async (who: Who, peer: string) => {
    const h = await t.api('GET', `/api/v1/webchat/history?peer=${encodeURIComponent(peer)}`, undefined, who.token);
    assert.equal(h.status, 200, JSON.stringify(h.body));
    return new Map<string, any>(h.body.messages.map((m: any) => [m.text, m]));
  };

  before(async () => {
    t = await startTestRelay();
    ada = await t.login('ada@example.com', { chat_address: 'ada' });
    bob = await t.login('bob@example.com', { chat_address: 'bob' });
    cy = await t.login('cy@example.com', { chat_address: 'cyd' });
  });
  after(() => t.stop());

  test('a direct send and a saved message: the sender sees the key live, on poll and in history; the recipient never does', async () => {
    const [adaWs, bobWs] = await Promise.all([openWs(t.url, { token: ada.token }), openWs(t.url, { token: bob.token })]);
    await Promise.all([adaWs.next((f) => f.type === 'ready'), bobWs.next((f) => f.type === 'ready')]);
    const keyed = await send(ada, 'bob', 'direct with key', 'local_k_direct');
    assert.equal(keyed.status, 200, JSON.stringify(keyed.body));
    assert.equal((await send(ada, 'bob', 'direct without key')).status, 200);
    assert.equal((await send(ada, 'ada', 'saved with key', 'local_k_saved')).status, 200);
    // Over the WebSocket's own send command too.
    adaWs.send({ type: 'send', ref: 'w1', to: 'bob', text: 'ws send with key', idempotency_key: 'local_k_ws' });
    assert.equal((await adaWs.next((f) => f.ref === 'w1')).type, 'ack');

    const live = async (ws: typeof adaWs, text: string) => (await ws.next((f) => f.type === 'message' && f.message.text === text)).message;
    assert.equal((await live(adaWs, 'direct with key')).idempotency_key, 'local_k_direct');
    assert.equal((await live(adaWs, 'saved with key')).idempotency_key, 'local_k_saved');
    assert.equal((await live(adaWs, 'ws send with key')).idempotency_key, 'local_k_ws');
    assert.ok(!('idempotency_key' in (await live(adaWs, 'direct without key'))), 'a send without a key has no field');
    for (const text of ['direct with key', 'direct without key', 'ws send with key']) {
      assert.ok(!('idempotency_key' in (await live(bobWs, text))), `the recipient's copy of "${text}" has no key`);
    }

    const mine = await feed(ada);
    assert.equal(mine.get('direct with key').outgoing, true);
    assert.equal(mine.get('direct with key').message.idempotency_key, 'local_k_direct');
    assert.equal(mine.get('saved with key').message.idempotency_key, 'local_k_saved');
    assert.ok(!('idempotency_key' in mine.get('direct without key').message));
    const theirs = await feed(bob);
    for (const [text, ev] of theirs) assert.ok(!('idempotency_key' in ev.message), `bob's polled "${text}" has no key`);
    // The poll's `messages` list (incoming only) of the recipient has none either.
    const claimed = await t.api('POST', '/api/v1/webchat/poll', { limit: 500 }, bob.token);
    assert.ok(claimed.body.messages.length >= 3);
    for (const m of claimed.body.messages) assert.ok(!('idempotency_key' in m), JSON.stringify(m));

    // History, like the feed: the sender's own messages with their key, nobody else's.
    const adaHistory = await history(ada, 'bob');
    assert.equal(adaHistory.get('direct with key').idempotency_key, 'local_k_direct');
    assert.equal(adaHistory.get('ws send with key').idempotency_key, 'local_k_ws');
    assert.ok(!('idempotency_key' in adaHistory.get('direct without key')));
    assert.equal((await history(ada, 'ada')).get('saved with key').idempotency_key, 'local_k_saved');
    for (const [text, m] of await history(bob, 'ada')) assert.ok(!('idempotency_key' in m), `bob's history "${text}" has no key`);
    await Promise.all([adaWs.close(), bobWs.close()]);
  });

  test("a group send: the sender's copy carries the key, the other members' shared copy does not", async () => {
    const created = await t.api('POST', '/api/v1/webchat/groups', { name: 'Keys', visibility: 'private', mode: 'chat' }, ada.token);
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const gid = created.body.group.group_id;
    for (const who of ['bob', 'cyd']) {
      assert.equal((await t.api('POST', `/api/v1/webchat/groups/${gid}/members`, { member_address: who }, ada.token)).status, 200);
    }
    const sockets = await Promise.all([ada, bob, cy].map((who) => openWs(t.url, { token: who.token })));
    await Promise.all(sockets.map((ws) => ws.next((f) => f.type === 'ready')));
    const [adaWs, bobWs, cyWs] = sockets;
    assert.equal((await send(ada, `group:${gid}`, 'group with key', 'local_k_group')).status, 200);
    assert.equal((await send(ada, `group:${gid}`, 'group without key')).status, 200);
    // Another member's keyed send: their key is theirs alone.
    assert.equal((await send(bob, `group:${gid}`, 'bob in the group', 'local_k_bob')).status, 200);

    const live = async (ws: typeof adaWs, text: string) => await ws.next((f) => f.type === 'message' && f.message.text === text);
    const own = await live(adaWs, 'group with key');
    assert.equal(own.outgoing, true);
    assert.equal(own.message.idempotency_key, 'local_k_group');
    assert.ok(!('idempotency_key' in (await live(adaWs, 'group without key')).message));
    assert.equal((await live(bobWs, 'bob in the group')).message.idempotency_key, 'local_k_bob');
    for (const [ws, text] of [[bobWs, 'group with key'], [cyWs, 'group with key'], [cyWs, 'group without key'], [adaWs, 'bob in the group'], [cyWs, 'bob in the group']] as const) {
      const ev = await live(ws, text);
      assert.equal(ev.outgoing, false);
      assert.ok(!('idempotency_key' in ev.message), `another member's copy of "${text}" has no key`);
    }

    const mine = await feed(ada);
    assert.equal(mine.get('group with key').message.idempotency_key, 'local_k_group');
    assert.ok(!('idempotency_key' in mine.get('bob in the group').message));
    for (const [text, ev] of await feed(cy)) assert.ok(!('idempotency_key' in ev.message), `cy's polled "${text}" has no key`);

    const adaHistory = await history(ada, `group:${gid}`);
    assert.equal(adaHistory.get('group with key').idempotency_key, 'local_k_group');
    assert.ok(!('idempotency_key' in adaHistory.get('group without key')));
    assert.ok(!('idempotency_key' in adaHistory.get('bob in the group')));
    const cyHistory = await history(cy, `group:${gid}`);
    for (const [text, m] of cyHistory) assert.ok(!('idempotency_key' in m), `cy's history "${text}" has no key`);
    assert.equal((await history(bob, `group:${gid}`)).get('bob in the group').idempotency_key, 'local_k_bob');
    await Promise.all(sockets.map((ws) => ws.close()));
  });

  test('search results carry no key, not even on the searcher’s own messages', async () => {
    const search = async (who: Who, q: string) => {
      const s = await t.api('GET', `/api/v1/webchat/search?q=${encodeURIComponent(q)}`, undefined, who.token);
      assert.equal(s.status, 200, JSON.stringify(s.body));
      return s.body.results.map((e: any) => e.message);
    };
    // Direct, saved and group messages sent by the tests above, most of them with a key.
    const mine = await search(ada, 'with key');
    assert.deepEqual(mine.map((m: any) => m.text).sort(), ['direct with key', 'direct without key', 'group with key', 'group without key', 'saved with key', 'ws send with key']);
    for (const m of mine) assert.ok(!('idempotency_key' in m), `ada's hit "${m.text}" has no key`);
    for (const m of await search(bob, 'key')) assert.ok(!('idempotency_key' in m), `bob's hit "${m.text}" has no key`);
  });
});
