// Inbound callbacks against a real relay and a real HTTP receiver on loopback: signed
// deliveries (HMAC with the subscription's secret, Ed25519 with the relay's key), filters,
// retries with backoff, dead letters, at-least-once across a restart, removal, and the
// refusal of private targets on a relay that does not allow them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import nacl from 'tweetnacl';
import { eventually, startTestRelay, type TestRelay } from '../helpers.ts';

const CB = '/api/v1/webchat/callbacks/inbound';

interface Delivery {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  raw: string;
  body: any;
}

/** A webhook receiver on loopback: records every POST; `answer` decides each status. */
async function receiver() {
  const got: Delivery[] = [];
  let answer = (_d: Delivery): number => 200;
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const d = { path: req.url ?? '', headers: req.headers, raw, body: JSON.parse(raw) };
      got.push(d);
      res.writeHead(answer(d), { 'content-type': 'text/plain' }).end('receiver says no');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    got,
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    on: (fn: (d: Delivery) => number) => (answer = fn),
    texts: (path: string) => got.filter((d) => d.path === path && d.body.event.type === 'message').map((d) => d.body.event.message.text),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('inbound callbacks', () => {
  let t: TestRelay;
  let rx: Awaited<ReturnType<typeof receiver>>;
  let ana: { token: string }, bo: { token: string }, cy: { token: string };
  const send = async (from: { token: string }, to: string, text: string) => {
    const res = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to, text }, from.token);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.message_id as string;
  };
  const subscribe = async (who: { token: string }, body: Record<string, unknown>) => {
    const res = await t.api('POST', CB, body, who.token);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.callback;
  };

  before(async () => {
    rx = await receiver();
    t = await startTestRelay({ PCHAT_CALLBACKS_ALLOW_PRIVATE: 'true', PCHAT_CALLBACK_RETRY_BASE_MS: '30', PCHAT_CALLBACK_ATTEMPTS: '3' });
    ana = await t.login('ana@example.com', { chat_address: 'ana' });
    bo = await t.login('bo@example.com', { chat_address: 'bob' });
    cy = await t.login('cy@example.com', { chat_address: 'cyd' });
  });
  after(async () => {
    await t.stop();
    await rx.close();
  });

  test('a new message is POSTed, signed with the secret and by the relay; the message counts as delivered', async () => {
    const cb = await subscribe(ana, { url: rx.url('/all'), secret: 'a-secret-of-sixteen+' });
    assert.match(cb.id, /^cb_[0-9a-f]{16}$/);
    assert.equal(cb.secret, 'a-secret-of-sixteen+');
    const id = await send(bo, 'ana', 'hello hook');
    const d = await eventually(() => rx.got.find((x) => x.path === '/all' && x.body.event.message?.id === id));
    assert.equal(d.body.type, 'pchat.event');
    assert.equal(d.body.callback_id, cb.id);
    assert.equal(d.body.chat_address, 'ana');
    assert.equal(d.body.event.type, 'message');
    assert.equal(d.body.event.message.text, 'hello hook');
    assert.equal(d.body.event.message.from, 'bob');
    assert.equal(d.headers['x-pchat-delivery-id'], `${cb.id}:${d.body.event.seq}`);
    const ts = String(d.headers['x-pchat-timestamp']);
    const signed = `${ts}.${d.raw}`;
    assert.equal(d.headers['x-pchat-signature'], `sha256=${createHmac('sha256', 'a-secret-of-sixteen+').update(signed).digest('hex')}`);
    const wellKnown = (await t.api('GET', '/.well-known/pchat-relay')).body;
    const sig = Buffer.from(String(d.headers['x-pchat-relay-signature']).replace(/^ed25519=/, ''), 'base64');
    assert.ok(nacl.sign.detached.verify(Buffer.from(signed), sig, Buffer.from(wellKnown.public_key, 'base64')), 'the relay signature verifies with the published key');
    // The hook took it: the sender sees it delivered.
    await eventually(async () => {
      const st = await t.api('POST', '/api/v1/webchat/receipt-status', { message_ids: [id] }, bo.token);
      return JSON.stringify(st.body).includes('delivered') || undefined;
    });
    // The list shows it, without the secret.
    const list = (await t.api('GET', CB, undefined, ana.token)).body.callbacks;
    const mine = list.find((c: any) => c.id === cb.id);
    assert.equal(mine.secret, undefined);
    assert.ok(mine.delivered >= 1);
    assert.equal(mine.last_status, 200);
    await t.api('DELETE', `${CB}/${cb.id}`, undefined, ana.token);
  });

  test('with nothing left to send a callback goes idle: its cursor stops, so the journal stops growing', async () => {
    const cb = await subscribe(ana, { url: rx.url('/idle'), keywords: ['ALERT'] });
    await send(bo, 'ana', 'ALERT: idle check');
    await send(bo, 'ana', 'filtered out');
    await eventually(() => rx.texts('/idle').length === 1 || undefined);
    const view = async () => (await t.api('GET', `${CB}/${cb.id}`, undefined, ana.token)).body.callback;
    const idle = await eventually(async () => {
      const v = await view();
      return v.state === 'idle' ? v : undefined;
    });
    await new Promise((r) => setTimeout(r, 300));
    const later = await view();
    assert.equal(later.state, 'idle');
    assert.equal(later.cursor, idle.cursor, 'a callback with nothing to send does not keep journaling its cursor');
    await t.api('DELETE', `${CB}/${cb.id}`, undefined, ana.token);
  });

  test('filters: keywords, sources and event types; the own messages only when asked', async () => {
    const cb = await subscribe(ana, { url: rx.url('/alerts'), keywords: ['ALERT', 'oom'], sources: ['bob'] });
    const mirror = await subscribe(ana, { url: rx.url('/mine'), include_outgoing: true, event_types: ['message'] });
    await send(cy, 'ana', 'ALERT from cy');
    await send(bo, 'ana', 'just chatting');
    await send(bo, 'ana', 'disk full: Alert!');
    await send(ana, 'bob', 'my own alert');
    await send(bo, 'ana', 'OOM on build box');
    await eventually(() => rx.texts('/alerts').length === 2 || undefined);
    await eventually(() => rx.texts('/mine').length === 5 || undefined);
    assert.deepEqual(rx.texts('/alerts'), ['disk full: Alert!', 'OOM on build box']);
    assert.deepEqual(rx.texts('/mine'), ['ALERT from cy', 'just chatting', 'disk full: Alert!', 'my own alert', 'OOM on build box']);
    assert.ok(rx.got.filter((d) => d.path === '/mine').every((d) => d.body.event.type === 'message'));
    for (const c of [cb, mirror]) assert.equal((await t.api('DELETE', `${CB}/${c.id}`, undefined, ana.token)).status, 200);
  });

  test('sources: a group event, a group message or a receipt passes when the listed address did it, not when someone else did', async () => {
    const quinn = await t.login('quinn@example.com', { chat_address: 'quinn' });
    const rex = await t.login('rex@example.com', { chat_address: 'rex' });
    const sam = await t.login('sam@example.com', { chat_address: 'sam' });
    const uma = await t.login('uma@example.com', { chat_address: 'uma' });
    const tao = await t.login('tao@example.com', { chat_address: 'tao' });
    const ok = (res: { status: number; body: any }) => {
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body;
    };
    const G = '/api/v1/webchat/groups';
    // Sam (an admin: join requests are shown to admins) hears of quinn, and of rex, each on a URL of their own.
    const byQuinn = await subscribe(sam, { url: rx.url('/by-quinn'), sources: ['Quinn'] });
    const byRex = await subscribe(sam, { url: rx.url('/by-rex'), sources: ['rex'] });
    const byMembers = await subscribe(sam, { url: rx.url('/by-members'), sources: ['tao', 'uma'] });
    // Uma hears the answers to her join requests (her inbox's join_approved / join_rejected) from quinn only.
    const umaQuinn = await subscribe(uma, { url: rx.url('/uma-quinn'), sources: ['quinn'] });

    const gid = ok(await t.api('POST', G, { name: 'Ops', visibility: 'public', join_policy: 'approval', members: ['sam', 'rex'] }, quinn.token)).group.group_id;
    ok(await t.api('POST', `${G}/${gid}/members`, { member_address: 'rex', role: 'admin' }, quinn.token));
    ok(await t.api('POST', `${G}/${gid}/members`, { member_address: 'sam', role: 'admin' }, quinn.token));
    ok(await t.api('PUT', `${G}/${gid}`, { name: 'Ops by rex' }, rex.token));
    ok(await t.api('PUT', `${G}/${gid}`, { name: 'Ops by quinn' }, quinn.token));
    ok(await t.api('POST', `${G}/${gid}/members`, { member_address: 'tao' }, rex.token));
    ok(await t.api('POST', `${G}/${gid}/leave`, {}, tao.token));
    await send(quinn, `group:${gid}`, 'quinn in the group');
    await send(rex, `group:${gid}`, 'rex in the group');
    // Uma asks twice: rex turns her down, quinn lets her in.
    const first = ok(await t.api('POST', `${G}/${gid}/join-requests`, { note: 'hi' }, uma.token)).request_id;
    ok(await t.api('POST', `${G}/${gid}/join-requests/${first}`, { action: 'reject' }, rex.token));
    const other = ok(await t.api('POST', G, { name: 'Ops 2', visibility: 'public', join_policy: 'approval', members: ['sam'] }, quinn.token)).group.group_id;
    const second = ok(await t.api('POST', `${G}/${other}/join-requests`, {}, uma.token)).request_id;
    ok(await t.api('POST', `${G}/${other}/join-requests/${second}`, { action: 'approve' }, quinn.token));
    // Receipts: sam's direct messages, delivered to quinn and to rex as each polls.
    await send(sam, 'quinn', 'for quinn');
    await send(sam, 'rex', 'for rex');
    ok(await t.api('POST', '/api/v1/webchat/poll', {}, quinn.token));
    ok(await t.api('POST', '/api/v1/webchat/poll', {}, rex.token));
    await send(quinn, 'sam', 'quinn: the end');
    await send(rex, 'sam', 'rex: the end');
    await send(quinn, 'uma', 'quinn: the end');
    // In order: once each marker is in, everything before it was sent or filtered out.
    await eventually(() => rx.texts('/by-quinn').includes('quinn: the end') || undefined);
    await eventually(() => rx.texts('/by-rex').includes('rex: the end') || undefined);
    await eventually(() => rx.texts('/uma-quinn').includes('quinn: the end') || undefined);
    await send(uma, 'sam', 'uma: the end');
    await eventually(() => rx.texts('/by-members').includes('uma: the end') || undefined);

    const seen = (path: string) =>
      rx.got
        .filter((d) => d.path === path)
        .map(({ body: { event: e } }) =>
          e.type === 'group' ? `group ${e.action}${e.group_id === other ? ' (2)' : ''} by ${e.by}` : e.type === 'message' ? `message ${e.message.text} from ${e.message.from}` : e.type === 'receipt' ? `receipt ${e.status} by ${e.by}` : e.type,
        );
    assert.deepEqual(seen('/by-quinn'), [
      'group created by quinn',
      'group role_set by quinn',
      'group role_set by quinn',
      'group updated by quinn',
      'message quinn in the group from quinn',
      'group created (2) by quinn',
      'group member_added (2) by quinn',
      'receipt delivered by quinn',
      'message quinn: the end from quinn',
    ]);
    assert.deepEqual(seen('/by-rex'), [
      'group updated by rex',
      'group member_added by rex',
      'message rex in the group from rex',
      'group join_rejected by rex',
      'receipt delivered by rex',
      'message rex: the end from rex',
    ]);
    // A member leaving, an outsider asking to join: done by them.
    assert.deepEqual(seen('/by-members'), ['group left by tao', 'group join_requested by uma', 'message uma: the end from uma']);
    // Uma's own inbox: the rejection (which does not name rex to her) is not for this callback; quinn adding her, and his approval, are.
    assert.deepEqual(seen('/uma-quinn'), ['group member_added (2) by quinn', 'group join_approved (2) by quinn', 'message quinn: the end from quinn']);
    // An approval journaled before notes kept who gave it: shown without `by`, and so from no listed address.
    const all = await subscribe(uma, { url: rx.url('/uma-all') });
    const core = t.relay.services.core;
    core.applyInbox(uma.user.id, [{ type: 'group_note', group: gid, action: 'join_approved', name: 'Ops', at: Date.now() }]);
    await core.commit([uma.user.id]);
    await send(quinn, 'uma', 'quinn: after the old note');
    await eventually(() => rx.texts('/uma-all').includes('quinn: after the old note') || undefined);
    await eventually(() => rx.texts('/uma-quinn').includes('quinn: after the old note') || undefined);
    const old = rx.got.filter((d) => d.path === '/uma-all' && d.body.event.type === 'group').map((d) => d.body.event);
    assert.deepEqual(old.map((e) => [e.action, e.by]), [['join_approved', undefined]]);
    assert.deepEqual(seen('/uma-quinn').slice(3), ['message quinn: after the old note from quinn']);
    for (const [who, cb] of [[sam, byQuinn], [sam, byRex], [sam, byMembers], [uma, umaQuinn], [uma, all]] as const) assert.equal((await t.api('DELETE', `${CB}/${cb.id}`, undefined, who.token)).status, 200);
  });

  test('a failing URL is tried again with backoff, in order; past the budget the event is dead-lettered and the next goes out', async () => {
    const cb = await subscribe(bo, { url: rx.url('/flaky') });
    let fails = 2;
    rx.on((d) => (d.path === '/flaky' && d.body.event.message?.text === 'first' && fails-- > 0 ? 503 : d.path === '/flaky' && d.body.event.message?.text === 'doomed' ? 500 : 200));
    await send(ana, 'bob', 'first');
    await send(ana, 'bob', 'second');
    await eventually(() => rx.texts('/flaky').includes('second') || undefined);
    // first failed twice, then went out, and only then second: order kept.
    assert.deepEqual(rx.texts('/flaky'), ['first', 'first', 'first', 'second']);
    const tries = rx.got.filter((d) => d.path === '/flaky' && d.body.event.message?.text === 'first').map((d) => d.headers['x-pchat-attempt']);
    assert.deepEqual(tries, ['1', '2', '3']);
    await send(ana, 'bob', 'doomed');
    await send(ana, 'bob', 'after');
    await eventually(() => rx.texts('/flaky').includes('after') || undefined);
    assert.equal(rx.texts('/flaky').filter((x) => x === 'doomed').length, 3);
    const view = (await t.api('GET', `${CB}/${cb.id}`, undefined, bo.token)).body.callback;
    assert.equal(view.dead_letters.length, 1);
    assert.equal(view.dead_letters[0].attempts, 3);
    assert.equal(view.dead_letters[0].event_type, 'message');
    assert.match(view.dead_letters[0].error, /HTTP 500: receiver says no/);
    rx.on(() => 200);
    await t.api('DELETE', `${CB}/${cb.id}`, undefined, bo.token);
  });

  test('what could not go out before a restart goes out after it; a removed callback gets nothing more', async () => {
    const cb = await subscribe(cy, { url: rx.url('/durable') });
    rx.on((d) => (d.path === '/durable' ? 502 : 200));
    await send(ana, 'cyd', 'across the restart');
    await eventually(() => rx.texts('/durable').length >= 1 || undefined);
    await t.restart({ PCHAT_CALLBACK_ATTEMPTS: '50' });
    rx.on(() => 200);
    await eventually(() => rx.texts('/durable').length >= 2 || undefined, 10_000);
    assert.ok(rx.texts('/durable').every((x) => x === 'across the restart'));
    const view = (await t.api('GET', `${CB}/${cb.id}`, undefined, cy.token)).body.callback;
    assert.equal(view.last_status, 200);
    const before = rx.texts('/durable').length;
    assert.equal((await t.api('DELETE', `${CB}/${cb.id}`, undefined, cy.token)).status, 200);
    await send(ana, 'cyd', 'after removal');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(rx.texts('/durable').length, before);
    assert.equal((await t.api('DELETE', `${CB}/${cb.id}`, undefined, cy.token)).body.error, 'unknown_callback');
  });

  test('a callback is no device of the user: it moves neither where a new session starts nor what counts as delivered in a group', async () => {
    const gus = await t.login('gus@example.com', { chat_address: 'gus' });
    const hal = await t.login('hal@example.com', { chat_address: 'hal' });
    const cb = await subscribe(hal, { url: rx.url('/marker'), keywords: ['marker'] });
    const gid = (await t.api('POST', '/api/v1/webchat/groups', { name: 'Ops' }, gus.token)).body.group.group_id;
    assert.equal((await t.api('POST', `/api/v1/webchat/groups/${gid}/members`, { member_address: 'hal' }, gus.token)).status, 200);
    const inGroup = await send(gus, `group:${gid}`, 'to the group');
    await send(gus, 'hal', 'while you were away');
    await send(gus, 'hal', 'the marker');
    // In order: once the marker went out, the callback's cursor is past the two it filtered out.
    await eventually(() => rx.texts('/marker').includes('the marker') || undefined);
    const st = await t.api('POST', '/api/v1/webchat/receipt-status', { message_ids: [inGroup] }, gus.token);
    assert.equal(st.body.statuses[0].delivered_count, 0, 'no device of hal has the group message');
    // A device hal logs in on now gets what no device of theirs has claimed yet.
    const phone = await t.login('hal@example.com');
    const p = await t.api('POST', '/api/v1/webchat/poll', {}, phone.token);
    assert.deepEqual(p.body.messages.map((m: any) => m.text), ['to the group', 'while you were away', 'the marker']);
    await t.api('DELETE', `${CB}/${cb.id}`, undefined, hal.token);
  });

  test('a callback removed while a delivery is in flight: the request is cut, nothing more goes out, its consumer stays gone', async () => {
    const held: { res: import('node:http').ServerResponse; cut: boolean }[] = [];
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const h = { res, cut: false };
        res.on('close', () => (h.cut = !res.writableFinished));
        held.push(h); // answered by the test, or never
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const core = t.relay.services.core;
    const commit = core.commit;
    try {
      const nia = await t.login('nia@example.com', { chat_address: 'nia' });
      const cb = await subscribe(nia, { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/held` });
      await send(bo, 'nia', 'one');
      await eventually(() => held.length === 1 || undefined);
      await send(bo, 'nia', 'two');
      // Commits wait while the DELETE is decided (staged) but not yet on disk: the window a delivery can land in.
      let open!: () => void;
      const gate = new Promise<void>((r) => (open = r));
      core.commit = async (wake) => {
        await gate;
        return commit.call(core, wake);
      };
      const deleting = t.api('DELETE', `${CB}/${cb.id}`, undefined, nia.token);
      const consumer = cb.id; // a callback reads as the consumer named as itself
      await eventually(() => !(consumer in t.relay.services.feed.inbox(nia.user.id).cursors) || undefined);
      // The receiver answers just then, unless the relay has hung up.
      await eventually(() => held[0].res.destroyed || undefined, 300).catch(() => {});
      if (!held[0].res.destroyed) held[0].res.writeHead(200).end('ok');
      await new Promise((r) => setTimeout(r, 100));
      open();
      assert.equal((await deleting).status, 200);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(held[0].cut, true, 'the delivery in flight was cut');
      assert.equal(held.length, 1, 'nothing more went out');
      assert.ok(!(consumer in t.relay.services.feed.inbox(nia.user.id).cursors), 'the removed callback has no cursor');
    } finally {
      core.commit = commit;
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  test('bad input is refused and changes nothing; the cb_ consumers are the relay’s own', async () => {
    const bad = [
      [{ url: 'ftp://example.com/x' }, 'validation_failed'],
      [{ url: 'not a url' }, 'validation_failed'],
      [{ url: 'http://user:pw@example.com/x' }, 'validation_failed'],
      [{ url: rx.url('/x'), event_types: ['nope'] }, 'validation_failed'],
      [{ url: rx.url('/x'), filterz: [] }, 'validation_failed'],
      [{ url: rx.url('/x'), secret: 'short' }, 'validation_failed'],
      // Blank words would leave a filter that lets nothing through.
      [{ url: rx.url('/x'), keywords: ['  '] }, 'validation_failed'],
      [{ url: rx.url('/x'), sources: [' '] }, 'validation_failed'],
    ] as const;
    for (const [body, error] of bad) {
      const res = await t.api('POST', CB, body, bo.token);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.error, error);
    }
    assert.equal((await t.api('GET', CB, undefined, bo.token)).body.callbacks.length, 0);
    assert.equal((await t.api('GET', CB)).status, 401);
    // Someone else's callback is unknown to you.
    const cb = await subscribe(ana, { url: rx.url('/ana-only') });
    assert.equal((await t.api('GET', `${CB}/${cb.id}`, undefined, bo.token)).status, 404);
    assert.equal((await t.api('DELETE', `${CB}/${cb.id}`, undefined, bo.token)).status, 404);
    assert.equal((await t.api('POST', CB, { url: rx.url('/ana-only') }, ana.token)).status, 409);
    const poll = await t.api('POST', '/api/v1/webchat/poll', { consumer: cb.id }, ana.token);
    assert.equal(poll.status, 400);
    await t.api('DELETE', `${CB}/${cb.id}`, undefined, ana.token);
  });
});

describe('inbound callbacks on a relay that calls public addresses only (the default)', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay({ PCHAT_CALLBACKS_PER_USER_MAX: '1' });
  });
  after(() => t.stop());

  test('loopback, private, link-local and mapped addresses are refused, by IP or by name', async () => {
    const who = await t.login('dee@example.com', { chat_address: 'dee' });
    for (const url of ['http://127.0.0.1:9/x', 'http://localhost:9/x', 'http://10.1.2.3/x', 'http://169.254.169.254/latest', 'http://[::1]/x', 'http://[::ffff:127.0.0.1]/x', 'https://192.168.1.10/x']) {
      const res = await t.api('POST', CB, { url }, who.token);
      assert.equal(res.status, 400, url);
      assert.equal(res.body.error, 'callback_target_refused', url);
    }
    // A public address literal is taken (nothing is called until an event comes), up to the cap.
    assert.equal((await t.api('POST', CB, { url: 'https://93.184.215.14/hook' }, who.token)).status, 200);
    const more = await t.api('POST', CB, { url: 'https://93.184.215.15/hook' }, who.token);
    assert.equal(more.status, 409);
    assert.equal(more.body.error, 'too_many_callbacks');
  });

  test('a name is checked again at every connection: one that resolves to a private address then is not called', async () => {
    const rx = await receiver();
    try {
      const send = (t.relay.services.callbacks as any).send.bind(t.relay.services.callbacks);
      const url = rx.url('/rebound').replace('127.0.0.1', 'localhost');
      await assert.rejects(send(url, { 'content-type': 'application/json' }, '{}', new AbortController().signal, 2000), /private address/);
      assert.equal(rx.got.length, 0);
    } finally {
      await rx.close();
    }
  });
});

describe('inbound callbacks and receivers that take their time', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay({ PCHAT_CALLBACKS_ALLOW_PRIVATE: 'true', PCHAT_CALLBACK_RETRY_BASE_MS: '30', PCHAT_CALLBACK_TIMEOUT_MS: '300' });
  });
  after(() => t.stop());

  test('an answer that trickles in is cut at PCHAT_CALLBACK_TIMEOUT_MS, not held as long as bytes keep coming', async () => {
    const tries: string[] = [];
    const drips = new Set<NodeJS.Timeout>();
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        tries.push(String(req.headers['x-pchat-attempt']));
        if (tries.length > 1) return void res.writeHead(200).end('ok');
        res.writeHead(200, { 'content-type': 'text/plain' });
        const drip = setInterval(() => res.write('.'), 40); // never silent for the socket timeout, never done
        drips.add(drip);
        res.on('close', () => clearInterval(drip));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const ivy = await t.login('ivy@example.com', { chat_address: 'ivy' });
      const jon = await t.login('jon@example.com', { chat_address: 'jon' });
      const res = await t.api('POST', CB, { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/slow` }, ivy.token);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal((await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'ivy', text: 'take your time' }, jon.token)).status, 200);
      await eventually(() => tries.length >= 2 || undefined, 3000);
      assert.deepEqual(tries, ['1', '2']);
      const view = await eventually(async () => {
        const v = (await t.api('GET', `${CB}/${res.body.callback.id}`, undefined, ivy.token)).body.callback;
        return v.delivered === 1 ? v : undefined;
      });
      assert.equal(view.last_status, 200);
    } finally {
      for (const drip of drips) clearInterval(drip);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('inbound callbacks whose event in retry goes out of sight', () => {
  let t: TestRelay;
  let rx: Awaited<ReturnType<typeof receiver>>;
  before(async () => {
    rx = await receiver();
    t = await startTestRelay({ PCHAT_CALLBACKS_ALLOW_PRIVATE: 'true', PCHAT_CALLBACK_RETRY_BASE_MS: '400', PCHAT_CALLBACK_ATTEMPTS: '3' });
  });
  after(async () => {
    await t.stop();
    await rx.close();
  });

  test('the next event gets its own tries, not what is left of the budget of one that went out of sight', async () => {
    const kim = await t.login('kim@example.com', { chat_address: 'kim' });
    const lee = await t.login('lee@example.com', { chat_address: 'lee' });
    const mia = await t.login('mia@example.com', { chat_address: 'mia' });
    const cb = (await t.api('POST', CB, { url: rx.url('/gone') }, kim.token)).body.callback;
    const tries = (text: string) => rx.got.filter((d) => d.body.event.message?.text === text).map((d) => d.headers['x-pchat-attempt']);
    let nextFails = 1;
    rx.on((d) => (d.body.event.message?.text === 'vanishing' ? 500 : d.body.event.message?.text === 'next' && nextFails-- > 0 ? 500 : 200));
    assert.equal((await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'kim', text: 'vanishing' }, lee.token)).status, 200);
    await eventually(() => tries('vanishing').length === 2 || undefined);
    // Kim deletes that conversation while its message waits for a third try: the message is not in kim's feed any more.
    assert.equal((await t.api('POST', '/api/v1/webchat/conversation/delete', { peer: 'lee' }, kim.token)).status, 200);
    assert.equal((await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'kim', text: 'next' }, mia.token)).status, 200);
    await eventually(() => rx.texts('/gone').filter((x) => x === 'next').length === 2 || undefined);
    assert.deepEqual(tries('vanishing'), ['1', '2']);
    assert.deepEqual(tries('next'), ['1', '2']);
    const view = (await t.api('GET', `${CB}/${cb.id}`, undefined, kim.token)).body.callback;
    assert.deepEqual(view.dead_letters, []);
    assert.equal(view.last_status, 200);
  });
});

describe('inbound callbacks made while private targets were allowed', () => {
  test('are not called once the relay is restarted without PCHAT_CALLBACKS_ALLOW_PRIVATE, an IP literal as much as a name', async () => {
    const rx = await receiver();
    const t = await startTestRelay({ PCHAT_CALLBACKS_ALLOW_PRIVATE: 'true' });
    try {
      const oli = await t.login('oli@example.com', { chat_address: 'oli' });
      const pam = await t.login('pam@example.com', { chat_address: 'pam' });
      const byIp = (await t.api('POST', CB, { url: rx.url('/by-ip') }, oli.token)).body.callback;
      const byName = (await t.api('POST', CB, { url: rx.url('/by-name').replace('127.0.0.1', 'localhost') }, oli.token)).body.callback;
      await t.restart({ PCHAT_CALLBACKS_ALLOW_PRIVATE: 'false' });
      assert.equal((await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'oli', text: 'inside' }, pam.token)).status, 200);
      for (const cb of [byIp, byName]) {
        const view = await eventually(async () => {
          const v = (await t.api('GET', `${CB}/${cb.id}`, undefined, oli.token)).body.callback;
          return v.last_error ? v : undefined;
        });
        assert.match(view.last_error, /private/, cb.url);
      }
      assert.deepEqual(rx.got, []);
    } finally {
      await t.stop();
      await rx.close();
    }
  });
});
