// Direct messaging end to end against a real relay: send, poll (claim / after / long-poll),
// receipts, edit/delete, idempotency, conversations, history, block, report, saved messages.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestRelay, type TestRelay } from '../helpers.ts';

const send = (t: TestRelay, token: string, to: string, text: string, extra: Record<string, unknown> = {}) =>
  t.api('POST', '/api/v1/messages', { channel: 'pchat', to, text, ...extra }, token);
const poll = (t: TestRelay, token: string, body: Record<string, unknown> = {}) => t.api('POST', '/api/v1/webchat/poll', body, token);
/** The unread count of `peer`'s conversation in the conversation list of `token`'s owner. */
const unreadOf = async (t: TestRelay, token: string, peer: string) =>
  (await t.api('GET', '/api/v1/webchat/conversations', undefined, token)).body.conversations.find((c: any) => c.peer === peer)?.unread;

describe('direct messages', () => {
  let t: TestRelay;
  let alice: { token: string; user: any };
  let bob: { token: string; user: any };
  let carol: { token: string; user: any };

  before(async () => {
    t = await startTestRelay({ PCHAT_AUTO_BLOCK_THRESHOLD: '2', PCHAT_CODE_REQUESTS_PER_IP_PER_HOUR: '1000' });
    alice = await t.login('alice@example.com', { chat_address: 'alice', display_name: 'Alice' });
    bob = await t.login('bob@example.com', { chat_address: 'bob', display_name: 'Bob' });
    carol = await t.login('carol@example.com', { chat_address: 'carol' });
  });
  after(() => t.stop());

  test('a sent message is claimed once by the recipient session, then re-read with after', async () => {
    const s = await send(t, alice.token, 'bob', 'hello bob', { source: 'alice', phone_id: 'pchat_free_phone' });
    assert.equal(s.status, 200);
    assert.match(s.body.message_id, /^msg_[0-9a-f]{24}$/);
    assert.equal(s.body.status, 'sent');

    const p1 = await poll(t, bob.token, { chat_address: 'bob', limit: 20 });
    assert.equal(p1.status, 200);
    assert.deepEqual(p1.body.messages.map((m: any) => [m.from, m.text]), [['alice', 'hello bob']]);
    assert.equal(p1.body.messages[0].display_name, 'Alice');
    const p2 = await poll(t, bob.token, { chat_address: 'bob' });
    assert.equal(p2.body.messages.length, 0, 'a claimed message is not returned again');
    assert.ok(p2.body.cursor >= p1.body.cursor, 'cursors never go backwards');

    const again = await poll(t, bob.token, { after: 0 });
    assert.equal(again.body.messages.length, 1, 'after re-reads from a seq');

    // Paging back through old events with `after` follows next_after (the stored cursor is ahead).
    for (let i = 0; i < 5; i++) await send(t, alice.token, 'bob', `page ${i}`);
    await poll(t, bob.token, { limit: 500 });
    const seen: string[] = [];
    let after = 0;
    for (let pages = 0; pages < 20; pages++) {
      const page = await poll(t, bob.token, { after, limit: 2 });
      seen.push(...page.body.messages.map((m: any) => m.text));
      assert.ok(page.body.next_after >= after, 'next_after moves forward');
      after = page.body.next_after;
      if (!page.body.has_more) break;
    }
    assert.deepEqual(seen, ['hello bob', 'page 0', 'page 1', 'page 2', 'page 3', 'page 4']);
  });

  test('a renamed sender: messages show their address now, the old one stays theirs and still reaches them', async () => {
    const ren = await t.login('ren@example.com', { chat_address: 'ren-old' });
    const bea = await t.login('bea@example.com', { chat_address: 'bea' });
    await send(t, ren.token, 'bea', 'before the rename');
    assert.equal((await t.api('PUT', '/api/v1/pchat/auth/me', { chat_address: 'ren-new' }, ren.token)).status, 200);
    const hist = await t.api('GET', '/api/v1/webchat/history?peer=ren-new', undefined, bea.token);
    assert.deepEqual(hist.body.messages.map((m: any) => [m.from, m.to]), [['ren-new', 'bea']]);
    const polled = await poll(t, bea.token, { after: 0, limit: 500 });
    assert.equal(polled.body.messages.find((m: any) => m.text === 'before the rename').from, 'ren-new');
    // Nobody else can take the old address (and be answered in ren's place)...
    const email = 'squatter@example.com';
    const code = (await t.api('POST', '/api/v1/pchat/auth/request-code', { email })).body.dev_code;
    const squat = await t.api('POST', '/api/v1/pchat/auth/verify-code', { email, code, chat_address: 'ren-old' });
    assert.equal(squat.status, 409);
    assert.equal(squat.body.error, 'address_taken');
    // ...and a reply to it still reaches ren; ren may take it back.
    assert.equal((await send(t, bea.token, 'ren-old', 'to the old address')).status, 200);
    assert.ok((await poll(t, ren.token, { limit: 500 })).body.messages.some((m: any) => m.text === 'to the old address'));
    assert.equal((await t.api('PUT', '/api/v1/pchat/auth/me', { chat_address: 'ren-old' }, ren.token)).status, 200);
    // One keeps five earlier addresses; renaming on frees the oldest (no hoarding by renames).
    for (const a of ['ren-a2', 'ren-a3', 'ren-a4', 'ren-a5', 'ren-a6', 'ren-a7']) {
      assert.equal((await t.api('PUT', '/api/v1/pchat/auth/me', { chat_address: a }, ren.token)).status, 200);
    }
    const claim = async (address: string) => {
      const e = `claim-${address}@example.com`;
      const c = (await t.api('POST', '/api/v1/pchat/auth/request-code', { email: e })).body.dev_code;
      return (await t.api('POST', '/api/v1/pchat/auth/verify-code', { email: e, code: c, chat_address: address })).status;
    };
    assert.equal(await claim('ren-a2'), 409, 'among the five kept');
    assert.equal(await claim('ren-old'), 200, 'the oldest was freed');
    // A rebuild from the journal agrees on who owns what.
    await t.relay.services.core.projections.rebuild();
    assert.equal(await claim('ren-a3'), 409);
    assert.equal((await send(t, bea.token, 'ren-a4', 'still ren')).status, 200);
  });

  test('unread after a conversation delete counts only the conversation as it is now', async () => {
    const una = await t.login('una@example.com', { chat_address: 'una' });
    const vic = await t.login('vic@example.com', { chat_address: 'vic' });
    const old: string[] = [];
    for (let i = 0; i < 5; i++) old.push((await send(t, una.token, 'vic', `old ${i}`)).body.message_id);
    assert.equal((await t.api('POST', '/api/v1/webchat/conversation/delete', { peer: 'una' }, vic.token)).status, 200);
    await send(t, una.token, 'vic', 'new');
    const unread = () => unreadOf(t, vic.token, 'una');
    assert.equal(await unread(), 1);
    assert.equal((await t.api('POST', '/api/v1/webchat/read', { message_ids: old }, vic.token)).status, 200);
    assert.equal(await unread(), 1, 'the new message is still unread');
  });

  test('each session has its own cursor', async () => {
    const bob2 = await t.login('bob@example.com', { device_name: 'phone' });
    const s = await send(t, alice.token, 'bob', 'for every device');
    const a = await poll(t, bob.token);
    const b = await poll(t, bob2.token);
    assert.ok(a.body.messages.some((m: any) => m.id === s.body.message_id));
    assert.ok(b.body.messages.some((m: any) => m.id === s.body.message_id));
  });

  test('receipts go sent → delivered → read, and the sender is told', async () => {
    const s = await send(t, alice.token, 'bob', 'receipt me');
    const id = s.body.message_id;
    let st = await t.api('POST', '/api/v1/webchat/receipt-status', { message_ids: [id] }, alice.token);
    assert.equal(st.body.statuses[0].status, 'sent');
    await poll(t, bob.token);
    st = await t.api('POST', '/api/v1/webchat/receipt-status', { message_ids: [id] }, alice.token);
    assert.equal(st.body.statuses[0].status, 'delivered');
    assert.ok(st.body.statuses[0].delivered_at);
    const r = await t.api('POST', '/api/v1/webchat/read', { chat_address: 'bob', message_ids: [id] }, bob.token);
    assert.equal(r.body.read, 1);
    st = await t.api('POST', '/api/v1/webchat/receipt-status', { message_ids: [id, 'msg_nope'] }, alice.token);
    assert.equal(st.body.statuses[0].status, 'read');
    assert.ok(st.body.statuses[0].read_at);
    assert.equal(st.body.statuses[1].status, 'unknown');
    const events = (await poll(t, alice.token)).body.events;
    const receipts = events.filter((e: any) => e.type === 'receipt' && e.message_id === id).map((e: any) => e.status);
    assert.deepEqual(receipts, ['delivered', 'read']);
    // Someone else's message is not readable by a third party.
    const c = await t.api('POST', '/api/v1/webchat/receipt-status', { message_ids: [id] }, carol.token);
    assert.equal(c.body.statuses[0].status, 'unknown');
  });

  test('a long-poll wakes on a send instead of waiting out its wait_ms', async () => {
    await poll(t, bob.token);
    const started = Date.now();
    const parked = poll(t, bob.token, { wait_ms: 20_000 });
    await new Promise((r) => setTimeout(r, 100));
    await send(t, alice.token, 'bob', 'wake up');
    const p = await parked;
    assert.equal(p.body.messages[0].text, 'wake up');
    assert.ok(Date.now() - started < 10_000, 'answered by the send, not by the timeout');
  });

  test('only the sender edits and deletes; the recipient sees both events, and nothing of a deleted text after', async () => {
    const id = (await send(t, alice.token, 'bob', 'tpyo')).body.message_id;
    await poll(t, bob.token);
    assert.equal((await t.api('POST', '/api/v1/webchat/edit', { message_id: id, text: 'x' }, bob.token)).body.error, 'not_sender');
    assert.equal((await t.api('POST', '/api/v1/webchat/delete', { message_id: id }, bob.token)).body.error, 'not_sender');
    assert.equal((await t.api('POST', '/api/v1/webchat/edit', { message_id: id, text: 'x' }, carol.token)).body.error, 'unknown_message');
    const e = await t.api('POST', '/api/v1/webchat/edit', { message_id: id, text: 'typo' }, alice.token);
    assert.equal(e.status, 200);
    const edited = (await poll(t, bob.token, { consumer: 'live-reader' })).body.events.filter((ev: any) => ev.message_id === id);
    assert.deepEqual(edited.map((ev: any) => [ev.type, ev.text]), [['edit', 'typo']], 'read before the delete, the edit is there');
    const d = await t.api('POST', '/api/v1/webchat/delete', { message_id: id }, alice.token);
    assert.equal(d.status, 200);
    const events = (await poll(t, bob.token)).body.events.filter((ev: any) => ev.message_id === id || ev.message?.id === id);
    assert.deepEqual(events.map((ev: any) => ev.type), ['delete'], 'read after it, the edit (and its text) is gone');
    const reread = (await poll(t, bob.token, { after: 0, limit: 500 })).body.events.filter((ev: any) => ev.message_id === id || ev.message?.id === id);
    assert.deepEqual(reread.map((ev: any) => ev.type), ['message', 'delete']);
    assert.equal(reread[0].message.text, '');
    assert.ok(!JSON.stringify(reread).includes('typo'));
    const again = await t.api('POST', '/api/v1/webchat/edit', { message_id: id, text: 'y' }, alice.token);
    assert.equal(again.status, 409);
    assert.equal(again.body.error, 'message_deleted');
  });

  test('idempotency: same key → same response (concurrent duplicates too); other body → 422', async () => {
    const body = { idempotency_key: 'idem-1' };
    const [a, b, c] = await Promise.all([
      send(t, alice.token, 'bob', 'once', body),
      send(t, alice.token, 'bob', 'once', body),
      send(t, alice.token, 'bob', 'once', body),
    ]);
    assert.equal(a.status, 200);
    assert.deepEqual(b.body, a.body);
    assert.deepEqual(c.body, a.body);
    const later = await send(t, alice.token, 'bob', 'once', body);
    assert.deepEqual(later.body, a.body);
    const other = await send(t, alice.token, 'bob', 'twice', body);
    assert.equal(other.status, 422);
    assert.equal(other.body.error, 'idempotency_key_reused');
    const got = (await poll(t, bob.token)).body.messages.filter((m: any) => m.text === 'once');
    assert.equal(got.length, 1);
    // The same key from another sender is another message.
    const fromCarol = await send(t, carol.token, 'bob', 'once', body);
    assert.notEqual(fromCarol.body.message_id, a.body.message_id);
  });

  test('conversations list unread counts and the last message; read clears them', async () => {
    const dave = await t.login('dave@example.com', { chat_address: 'dave' });
    await send(t, alice.token, 'dave', 'one');
    const two = await send(t, alice.token, 'dave', 'two');
    let list = (await t.api('GET', '/api/v1/webchat/conversations', undefined, dave.token)).body.conversations;
    assert.equal(list.length, 1);
    assert.equal(list[0].peer, 'alice');
    assert.equal(list[0].unread, 2);
    assert.equal(list[0].last_message.text, 'two');
    const all = (await poll(t, dave.token)).body.messages.map((m: any) => m.id);
    await t.api('POST', '/api/v1/webchat/read', { message_ids: all }, dave.token);
    list = (await t.api('GET', '/api/v1/webchat/conversations', undefined, dave.token)).body.conversations;
    assert.equal(list[0].unread, 0);
    const mine = (await t.api('GET', '/api/v1/webchat/conversations', undefined, alice.token)).body.conversations;
    assert.equal(mine.find((c: any) => c.peer === 'dave').last_message.id, two.body.message_id);

    const arch = await t.api('POST', '/api/v1/webchat/conversation/archive', { peer: 'alice' }, dave.token);
    assert.equal(arch.body.archived, true);
    assert.equal((await t.api('GET', '/api/v1/webchat/conversations?archived=false', undefined, dave.token)).body.conversations.length, 0);
    assert.equal((await t.api('GET', '/api/v1/webchat/conversations?archived=true', undefined, dave.token)).body.conversations.length, 1);

    const del = await t.api('POST', '/api/v1/webchat/conversation/delete', { peer: 'alice' }, dave.token);
    assert.equal(del.body.deleted, true);
    assert.equal((await t.api('GET', '/api/v1/webchat/conversations', undefined, dave.token)).body.conversations.length, 0);
    assert.equal((await t.api('GET', '/api/v1/webchat/history?peer=alice', undefined, dave.token)).body.messages.length, 0);
    // The other side keeps its copy.
    assert.equal((await t.api('GET', '/api/v1/webchat/history?peer=dave', undefined, alice.token)).body.messages.length, 2);
  });

  test('a deleted conversation stays deleted in re-reads (`after`), edits of its messages included; the sender keeps theirs', async () => {
    const ola = await t.login('ola@example.com', { chat_address: 'ola' });
    const first = await send(t, alice.token, 'ola', 'before');
    await send(t, ola.token, 'alice', 'my answer');
    await send(t, carol.token, 'ola', 'from carol');
    assert.equal((await t.api('POST', '/api/v1/webchat/conversation/delete', { peer: 'alice' }, ola.token)).body.deleted, true);
    assert.equal((await t.api('POST', '/api/v1/webchat/edit', { message_id: first.body.message_id, text: 'before (edited)' }, alice.token)).status, 200);
    await send(t, alice.token, 'ola', 'after');
    const reread = (await t.api('POST', '/api/v1/webchat/poll', { after: 0, limit: 500 }, ola.token)).body.events;
    const texts = reread.filter((e: any) => e.type === 'message').map((e: any) => e.message.text);
    assert.deepEqual(texts, ['from carol', 'after'], JSON.stringify(texts));
    assert.equal(reread.some((e: any) => e.message_id === first.body.message_id), false, 'no edit (nor receipt) of a deleted message');
    // Alice deleted nothing: she re-reads all of it.
    const hers = (await t.api('POST', '/api/v1/webchat/poll', { after: 0, limit: 500 }, alice.token)).body.events;
    const forOla = hers.filter((e: any) => e.type === 'message' && [e.message.to, e.message.from].includes('ola')).map((e: any) => e.message.text);
    assert.deepEqual(forOla, ['before (edited)', 'my answer', 'after']);
    assert.ok(hers.some((e: any) => e.type === 'edit' && e.message_id === first.body.message_id));
  });

  test('history pages backwards with before/limit', async () => {
    const erin = await t.login('erin@example.com', { chat_address: 'erin' });
    for (let i = 0; i < 7; i++) await send(t, alice.token, 'erin', `m${i}`);
    const p1 = (await t.api('GET', '/api/v1/webchat/history?peer=alice&limit=3', undefined, erin.token)).body;
    assert.deepEqual(p1.messages.map((m: any) => m.text), ['m4', 'm5', 'm6']);
    assert.equal(p1.has_more, true);
    const p2 = (await t.api('GET', `/api/v1/webchat/history?peer=alice&limit=3&before=${p1.next_before}`, undefined, erin.token)).body;
    assert.deepEqual(p2.messages.map((m: any) => m.text), ['m1', 'm2', 'm3']);
    const p3 = (await t.api('GET', `/api/v1/webchat/history?peer=alice&limit=3&before=${p2.next_before}`, undefined, erin.token)).body;
    assert.deepEqual(p3.messages.map((m: any) => m.text), ['m0']);
    assert.equal(p3.has_more, false);
  });

  test('history walks both directions of a conversation, interleaved with others, starts afresh after a delete, and reads pre-chain events from the index', async () => {
    const fay = await t.login('fay@example.com', { chat_address: 'fay' });
    const gus = await t.login('gus@example.com', { chat_address: 'gus' });
    const { core } = t.relay.services;
    // Events journaled before messages carried `prev_conv`: staged as an older relay did.
    const at = Date.now();
    for (const i of [0, 1]) {
      const id = `msg_legacy${i}${'0'.repeat(14)}`;
      const body = { id, from_user: gus.user.id, to_user: fay.user.id, from: 'gus', to: 'fay', text: `old${i}`, sender_session: 'ses_x', at };
      core.applyInbox(fay.user.id, [{ type: 'msg_in', ...body }]);
      core.applyInbox(gus.user.id, [{ type: 'msg_out', ...body }]);
    }
    await core.commit();
    for (let i = 0; i < 4; i++) {
      await send(t, i % 2 ? fay.token : gus.token, i % 2 ? 'gus' : 'fay', `new${i}`);
      await send(t, alice.token, 'fay', `noise${i}`); // another conversation in between
    }
    const texts = async (token: string, peer: string, limit: number) => {
      const out: string[] = [];
      let before = '';
      for (let page = 0; page < 10; page++) {
        const r = (await t.api('GET', `/api/v1/webchat/history?peer=${peer}&limit=${limit}${before}`, undefined, token)).body;
        out.unshift(...r.messages.map((m: any) => m.text));
        if (!r.has_more) return out;
        before = `&before=${r.next_before}`;
      }
      throw new Error('history did not end');
    };
    for (const limit of [1, 2, 3, 50]) {
      assert.deepEqual(await texts(fay.token, 'gus', limit), ['old0', 'old1', 'new0', 'new1', 'new2', 'new3'], `fay's side, pages of ${limit}`);
      assert.deepEqual(await texts(gus.token, 'fay', limit), ['old0', 'old1', 'new0', 'new1', 'new2', 'new3'], `gus's side, pages of ${limit}`);
    }
    assert.deepEqual(await texts(fay.token, 'alice', 3), ['noise0', 'noise1', 'noise2', 'noise3']);
    // An arbitrary `before` (not a seq of this conversation) still pages from below it.
    const all = (await t.api('GET', '/api/v1/webchat/history?peer=gus&limit=50', undefined, fay.token)).body.messages;
    const mid = all[3].seq + 1;
    assert.deepEqual((await t.api('GET', `/api/v1/webchat/history?peer=gus&limit=50&before=${mid}`, undefined, fay.token)).body.messages.map((m: any) => m.text), ['old0', 'old1', 'new0', 'new1']);

    assert.equal((await t.api('POST', '/api/v1/webchat/conversation/delete', { peer: 'gus' }, fay.token)).body.deleted, true);
    assert.deepEqual(await texts(fay.token, 'gus', 2), []);
    await send(t, gus.token, 'fay', 'after');
    assert.deepEqual(await texts(fay.token, 'gus', 2), ['after'], 'the deleted messages stay gone');
    assert.deepEqual(await texts(gus.token, 'fay', 4), ['old0', 'old1', 'new0', 'new1', 'new2', 'new3', 'after'], 'the other side keeps all');
  });

  test('saved messages: to oneself, outgoing, seen by my other sessions but not echoed to the sender session', async () => {
    const other = await t.login('alice@example.com', { device_name: 'tablet' });
    await poll(t, other.token);
    const s = await send(t, alice.token, 'alice', 'note to self');
    assert.equal(s.status, 200);
    assert.equal((await poll(t, alice.token)).body.messages.filter((m: any) => m.id === s.body.message_id).length, 0);
    const there = (await poll(t, other.token)).body;
    assert.equal(there.messages.filter((m: any) => m.id === s.body.message_id).length, 1);
    const event = there.events.find((e: any) => e.type === 'message' && e.message.id === s.body.message_id);
    assert.equal(event.outgoing, true, 'written by me: outgoing, on every session');
    const saved = (await t.api('GET', '/api/v1/webchat/conversations', undefined, alice.token)).body.conversations.find((c: any) => c.saved);
    assert.equal(saved.last_message.text, 'note to self');
  });

  test('reply_to must name a message of the same conversation', async () => {
    const first = await send(t, alice.token, 'bob', 'question?');
    const reply = await send(t, bob.token, 'alice', 'answer', { reply_to: first.body.message_id });
    assert.equal(reply.status, 200);
    const stray = await send(t, carol.token, 'alice', 'hijack', { reply_to: first.body.message_id });
    assert.equal(stray.status, 404);
  });

  test('a blocked sender is refused until unblocked', async () => {
    const earlier = (await send(t, carol.token, 'bob', 'before the block')).body.message_id;
    const stream = (await t.api('POST', '/api/v1/webchat/stream/open', { to: 'bob', text: 'thinking' }, carol.token)).body.message_id;
    assert.equal((await t.api('POST', '/api/v1/webchat/block', { address: 'carol' }, bob.token)).status, 200);
    // Nor through a message sent before the block: no edit, no streamed text; taking one back is fine.
    for (const [path, body] of [
      ['/api/v1/webchat/edit', { message_id: earlier, text: 'EDITED after the block' }],
      ['/api/v1/webchat/stream/append', { message_id: stream, delta: ' more' }],
      ['/api/v1/webchat/stream/close', { message_id: stream, text: 'final words' }],
    ] as const) {
      const r = await t.api('POST', path, body, carol.token);
      assert.equal(r.status, 403, `${path}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error, 'blocked');
    }
    assert.equal((await t.api('POST', '/api/v1/webchat/delete', { message_id: earlier }, carol.token)).status, 200);
    assert.deepEqual((await t.api('GET', '/api/v1/webchat/blocked', undefined, bob.token)).body.blocked.map((b: any) => b.chat_address), ['carol']);
    const refused = await send(t, carol.token, 'bob', 'let me in');
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error, 'blocked');
    // Blocked is the answer whatever the loop guard would say (a hop count far past its limit).
    const hopping = await send(t, carol.token, 'bob', 'let me in', { hops: 1_000 });
    assert.equal(hopping.body.error, 'blocked', JSON.stringify(hopping.body));
    await t.api('POST', '/api/v1/webchat/unblock', { address: 'carol' }, bob.token);
    assert.equal((await send(t, carol.token, 'bob', 'thanks')).status, 200);
  });

  test('reports from enough distinct users suspend the sender', async () => {
    const spam = await t.login('spam@example.com', { chat_address: 'spammer' });
    const m = await send(t, spam.token, 'alice', 'buy now');
    assert.equal((await t.api('POST', '/api/v1/webchat/report', { message_id: m.body.message_id, reason: 'spam' }, alice.token)).status, 200);
    assert.equal((await send(t, spam.token, 'bob', 'still here')).status, 200);
    assert.equal((await t.api('POST', '/api/v1/webchat/report', { address: 'spammer', reason: 'spam' }, bob.token)).status, 200);
    const after = await send(t, spam.token, 'bob', 'and now?');
    assert.equal(after.status, 403);
    assert.equal(after.body.error, 'suspended');
    const edit = await t.api('POST', '/api/v1/webchat/edit', { message_id: m.body.message_id, text: 'still buy now' }, spam.token);
    assert.equal(edit.body.error, 'suspended', 'nor edits');
  });

  test("reports from accounts a user never wrote to are kept but do not suspend them", async () => {
    const target = await t.login('target@example.com', { chat_address: 'griefed' });
    const threshold = t.config.autoBlockThreshold;
    for (let i = 0; i <= threshold; i++) {
      const troll = await t.login(`troll${i}@example.com`, { chat_address: `troll-${i}` });
      // Writing to the target first does not make the target's account reportable by them.
      assert.equal((await send(t, troll.token, 'griefed', 'hi')).status, 200);
      const r = await t.api('POST', '/api/v1/webchat/report', { address: 'griefed', reason: 'made up' }, troll.token);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.counted, false);
    }
    assert.equal((await send(t, target.token, 'alice', 'still free to write')).status, 200);
    const { projections } = t.relay.services.core;
    const id = [...projections.allUsers()].find((u) => u.chat_address === 'griefed')!.id;
    assert.equal(projections.user(id)?.suspended, false);
    // The reports are on record all the same (for the operator).
    const kept = [...t.relay.services.core.journal.index<[string, number, string], { counts: boolean }>('reports').getRange({ start: [id], end: [id, Infinity] })];
    assert.equal(kept.length, threshold + 1);
    assert.ok(kept.every(({ value }) => value.counts === false));
    // Alice was written to: her report counts.
    const a = await t.api('POST', '/api/v1/webchat/report', { address: 'griefed', reason: 'rude' }, alice.token);
    assert.equal(a.body.counted, true);
  });

  test('a message its sender deleted is no longer unread; reading it afterwards does not count it twice', async () => {
    const ua = await t.login('unread-a@example.com', { chat_address: 'unread-a' });
    const ub = await t.login('unread-b@example.com', { chat_address: 'unread-b' });
    const unread = () => unreadOf(t, ub.token, 'unread-a');
    const first = (await send(t, ua.token, 'unread-b', 'one')).body.message_id;
    await send(t, ua.token, 'unread-b', 'two');
    assert.equal(await unread(), 2);
    assert.equal((await t.api('POST', '/api/v1/webchat/delete', { message_id: first }, ua.token)).status, 200);
    assert.equal(await unread(), 1, 'the deleted one is not counted');
    assert.equal((await t.api('POST', '/api/v1/webchat/read', { message_ids: [first] }, ub.token)).status, 200);
    assert.equal(await unread(), 1, 'reading the deleted one changes nothing');
    await t.relay.services.core.projections.rebuild();
    assert.equal(await unread(), 1, 'the same from the journal');
  });

  test('answering a direct conversation clears its unread (as in groups); reading or deleting what came before does not touch newer unread', async () => {
    const qa = await t.login('answer-a@example.com', { chat_address: 'answer-a' });
    const qb = await t.login('answer-b@example.com', { chat_address: 'answer-b' });
    const unread = () => unreadOf(t, qb.token, 'answer-a');
    const one = (await send(t, qa.token, 'answer-b', 'one')).body.message_id;
    const two = (await send(t, qa.token, 'answer-b', 'two')).body.message_id;
    assert.equal(await unread(), 2);
    assert.equal((await send(t, qb.token, 'answer-a', 'answered from another device')).status, 200);
    assert.equal(await unread(), 0, 'writing answers what came before');
    await send(t, qa.token, 'answer-b', 'three');
    assert.equal(await unread(), 1);
    assert.equal((await t.api('POST', '/api/v1/webchat/read', { message_ids: [one] }, qb.token)).status, 200);
    assert.equal((await t.api('POST', '/api/v1/webchat/delete', { message_id: two }, qa.token)).status, 200);
    assert.equal(await unread(), 1, '"three" is still unread');
    // The answer sends no read receipts: only what was read explicitly is read.
    const three = (await t.api('GET', '/api/v1/webchat/history?peer=answer-b&limit=1', undefined, qa.token)).body.messages[0].id;
    const statuses = (await t.api('POST', '/api/v1/webchat/receipt-status', { message_ids: [one, three] }, qa.token)).body.statuses.map((s: any) => s.status);
    assert.deepEqual(statuses, ['read', 'sent']);
    await t.relay.services.core.projections.rebuild();
    assert.equal(await unread(), 1, 'the same from the journal');
  });

  test('a message journaled before records kept in_seq, answered since, does not take from the unread of newer ones when read or deleted', async () => {
    const la = await t.login('legacy-a@example.com', { chat_address: 'legacy-a' });
    const lb = await t.login('legacy-b@example.com', { chat_address: 'legacy-b' });
    const { core } = t.relay.services;
    const unread = () => unreadOf(t, lb.token, 'legacy-a');
    // Two messages whose records an older relay wrote: no `in_seq` (nor `prev_conv`).
    const ids = [0, 1].map((i) => `msg_oldunread${i}${'0'.repeat(11)}`);
    for (const id of ids) {
      const body = { id, from_user: la.user.id, to_user: lb.user.id, from: 'legacy-a', to: 'legacy-b', text: `old ${id}`, sender_session: 'ses_x', at: Date.now() };
      core.applyInbox(lb.user.id, [{ type: 'msg_in', ...body }]);
      core.applyInbox(la.user.id, [{ type: 'msg_out', ...body }]);
    }
    await core.commit();
    for (const id of ids) {
      const { in_seq: _drop, ...rec } = core.projections.message(id)!;
      core.journal.indexPut('msgs', id, rec);
    }
    await core.commit();
    await t.restart(); // records read back from the index, as an upgraded relay finds them
    assert.equal(t.relay.services.core.projections.message(ids[0])?.in_seq, undefined);
    assert.equal(await unread(), 2);
    assert.equal((await send(t, lb.token, 'legacy-a', 'my answer')).status, 200);
    assert.equal(await unread(), 0, 'the answer covers the old ones too');
    await send(t, la.token, 'legacy-b', 'new, unread');
    assert.equal(await unread(), 1);
    assert.equal((await t.api('POST', '/api/v1/webchat/read', { message_ids: [ids[0]] }, lb.token)).status, 200);
    assert.equal(await unread(), 1, 'reading an old one the answer covered takes nothing from the new one');
    assert.equal((await t.api('POST', '/api/v1/webchat/delete', { message_id: ids[1] }, la.token)).status, 200);
    assert.equal(await unread(), 1, 'nor does its sender deleting one');
    await t.relay.services.core.projections.rebuild();
    assert.equal(await unread(), 1, 'the same from the journal');
  });

  test('a report by address counts after the reporter deleted the conversation (delete, then report)', async () => {
    const rude = await t.login('rude@example.com', { chat_address: 'rude-one' });
    const hurt = await t.login('hurt@example.com', { chat_address: 'hurt-one' });
    assert.equal((await send(t, rude.token, 'hurt-one', 'something abusive')).status, 200);
    assert.equal((await t.api('POST', '/api/v1/webchat/conversation/delete', { peer: 'rude-one' }, hurt.token)).status, 200);
    const r = await t.api('POST', '/api/v1/webchat/report', { address: 'rude-one', reason: 'abuse' }, hurt.token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.counted, true);
  });

  test('an ack refused as invalid creates no named consumer', async () => {
    const w = await t.login('acker@example.com', { chat_address: 'acker' });
    const bad = await t.api('POST', '/api/v1/webchat/ack', { consumer: 'never-made', upto: 10 ** 12 }, w.token);
    assert.equal(bad.status, 400);
    const inbox = t.relay.services.feed.inbox(w.user.id) as any;
    assert.equal(JSON.stringify(inbox).includes('never-made'), false, 'no consumer was created');
  });

  test('a retried stream/open (same idempotency key) gets its first answer, streaming included', async () => {
    const body = { to: 'bob', text: 'thinking', idempotency_key: 'open-once' };
    const first = await t.api('POST', '/api/v1/webchat/stream/open', body, alice.token);
    const again = await t.api('POST', '/api/v1/webchat/stream/open', body, alice.token);
    assert.equal(first.status, 200);
    assert.equal(first.body.streaming, true);
    assert.deepEqual(again.body, first.body);
  });

  test('a blank address or report reason is a 400, not an unknown recipient', async () => {
    const b1 = await send(t, alice.token, '   ', 'to nobody');
    assert.equal(b1.status, 400);
    assert.equal(b1.body.error, 'validation_failed');
    const b2 = await t.api('POST', '/api/v1/webchat/report', { address: 'bob', reason: '   ' }, alice.token);
    assert.equal(b2.status, 400);
    assert.equal(b2.body.error, 'validation_failed');
  });

  test('an idempotent retry gets its first answer even after the sender was renamed', async () => {
    const dan = await t.login('dan@example.com', { chat_address: 'dan' });
    const first = await send(t, dan.token, 'alice', 'once', { source: 'dan', idempotency_key: 'rename-1' });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal((await t.api('PUT', '/api/v1/pchat/auth/me', { chat_address: 'dan2' }, dan.token)).status, 200);
    const retry = await send(t, dan.token, 'alice', 'once', { source: 'dan', idempotency_key: 'rename-1' });
    assert.equal(retry.status, 200, JSON.stringify(retry.body));
    assert.equal(retry.body.message_id, first.body.message_id);
    assert.equal((await send(t, dan.token, 'alice', 'new', { source: 'dan', idempotency_key: 'rename-2' })).body.error, 'not_your_address');
  });

  test('a consumer may be called anything the schema allows, "constructor" included', async () => {
    const eve = await t.login('eve@example.com', { chat_address: 'eve' });
    await poll(t, eve.token, { consumer: 'constructor' });
    await send(t, alice.token, 'eve', 'for the constructor');
    const got = await poll(t, eve.token, { consumer: 'constructor' });
    assert.equal(got.status, 200, JSON.stringify(got.body));
    assert.deepEqual(got.body.messages.map((m: any) => m.text), ['for the constructor']);
    assert.equal(typeof got.body.cursor, 'number');
    const ack = await t.api('POST', '/api/v1/webchat/ack', { consumer: 'toString', upto: got.body.cursor }, eve.token);
    assert.equal(ack.status, 200, JSON.stringify(ack.body));
    assert.equal(ack.body.cursor, got.body.cursor);
  });

  test('unknown recipients, other channels and groups are clear errors', async () => {
    assert.equal((await send(t, alice.token, 'nobody-here', 'hi')).body.error, 'unknown_recipient');
    assert.equal((await t.api('POST', '/api/v1/messages', { channel: 'sms', to: '+15551230001', text: 'x' }, alice.token)).body.error, 'channel_unavailable');
    assert.equal((await send(t, alice.token, 'group:grp_0000000000000000', 'hi')).status, 404);
  });

  test('messages, cursors and receipts survive a restart', async () => {
    const id = (await send(t, alice.token, 'bob', 'before restart')).body.message_id;
    const cursorBefore = (await poll(t, bob.token)).body.cursor;
    await send(t, alice.token, 'bob', 'queued across restart');
    await t.restart();
    const p = await poll(t, bob.token);
    assert.deepEqual(p.body.messages.map((m: any) => m.text), ['queued across restart']);
    assert.ok(p.body.cursor > cursorBefore);
    const st = await t.api('POST', '/api/v1/webchat/receipt-status', { message_ids: [id] }, alice.token);
    assert.equal(st.body.statuses[0].status, 'delivered');
  });
});

describe('long-poll cap', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay({ PCHAT_LONGPOLL_MAX_MS: '1500' });
  });
  after(() => t.stop());

  test('PCHAT_LONGPOLL_MAX_MS cuts a longer wait_ms to itself instead of refusing it', async () => {
    const ana = await t.login('ana@example.com', { chat_address: 'ana' });
    const started = Date.now();
    const res = await t.api('POST', '/api/v1/webchat/poll', { wait_ms: 60_000 }, ana.token);
    const took = Date.now() - started;
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.events, []);
    assert.ok(took >= 1400 && took < 10_000, `the poll waited ${took} ms`);
    assert.equal((await t.api('POST', '/api/v1/webchat/poll', { wait_ms: 120_001 }, ana.token)).status, 400, 'past the most the setting may be');
  });
});
