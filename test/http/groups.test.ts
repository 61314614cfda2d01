// Groups against a real relay: roles, members, join requests, private groups, stream mode and
// every way an observer might try to write, removal, receipts, and a 1,000-member fan-out.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { clock, eventually, openWs, startTestRelay, type TestRelay } from '../helpers.ts';

type Who = { token: string; user: any };
const G = '/api/v1/webchat/groups';

describe('groups', () => {
  let t: TestRelay;
  let owner: Who, ann: Who, ben: Who, out: Who;
  const send = (who: Who, to: string, text: string, extra: Record<string, unknown> = {}) =>
    t.api('POST', '/api/v1/messages', { channel: 'pchat', to, text, ...extra }, who.token);
  const poll = (who: Who, body: Record<string, unknown> = {}) => t.api('POST', '/api/v1/webchat/poll', body, who.token);
  const create = async (who: Who, body: Record<string, unknown>) => {
    const r = await t.api('POST', G, body, who.token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.group;
  };
  const refused = (r: { status: number; body: any }, status: number, code: string) => {
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.equal(r.body.error, code);
  };

  before(async () => {
    t = await startTestRelay();
    owner = await t.login('owner@example.com', { chat_address: 'owner', display_name: 'Owner' });
    ann = await t.login('ann@example.com', { chat_address: 'ann' });
    ben = await t.login('ben@example.com', { chat_address: 'ben' });
    out = await t.login('out@example.com', { chat_address: 'outsider' });
  });
  after(() => t.stop());

  test('a chat group: members added by address, one send reaches every member and the sender, read by N', async () => {
    const g = await create(owner, { name: 'Team', visibility: 'public', mode: 'chat' });
    assert.match(g.group_id, /^grp_[0-9a-f]{16}$/);
    assert.equal(g.role, 'owner');
    for (const who of ['ann', 'ben']) {
      const r = await t.api('POST', `${G}/${g.group_id}/members`, { member_address: who }, owner.token);
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    const members = await t.api('GET', `${G}/${g.group_id}/members`, undefined, ann.token);
    assert.deepEqual(members.body.members.map((m: any) => [m.address, m.role]).sort(), [['ann', 'member'], ['ben', 'member'], ['owner', 'owner']]);

    const before = t.relay.services.core.journal.lastSeq;
    const s = await send(ann, `group:${g.group_id}`, 'hello team');
    assert.equal(s.status, 200, JSON.stringify(s.body));
    assert.equal(t.relay.services.core.journal.lastSeq - before, 1, 'a group message is one journal write');

    for (const who of [owner, ben]) {
      const p = await poll(who);
      const msg = p.body.events.find((e: any) => e.type === 'message');
      assert.equal(msg.message.text, 'hello team');
      assert.equal(msg.message.to, `group:${g.group_id}`);
      assert.equal(msg.message.group.name, 'Team');
      assert.deepEqual(p.body.messages.map((m: any) => m.text), ['hello team']);
    }
    const mine = await poll(ann, { after: 0 });
    const echo = mine.body.events.find((e: any) => e.type === 'message');
    assert.equal(echo.outgoing, true, 'the sender gets its own copy, marked outgoing');

    const r0 = await t.api('POST', '/api/v1/webchat/receipt-status', { message_ids: [s.body.message_id] }, ann.token);
    assert.equal(r0.body.statuses[0].members, 2);
    assert.equal(r0.body.statuses[0].read_count, 0);
    assert.equal(r0.body.statuses[0].delivered_count, 2, 'both members polled it');
    await t.api('POST', '/api/v1/webchat/read', { message_ids: [s.body.message_id] }, ben.token);
    const r1 = await t.api('POST', '/api/v1/webchat/receipt-status', { message_ids: [s.body.message_id] }, ann.token);
    assert.equal(r1.body.statuses[0].read_count, 1);
    assert.deepEqual(r1.body.statuses[0].read_by, ['ben']);

    const convs = await t.api('GET', '/api/v1/webchat/conversations', undefined, owner.token);
    const conv = convs.body.conversations.find((c: any) => c.peer === `group:${g.group_id}`);
    assert.equal(conv.display_name, 'Team');
    assert.equal(conv.unread, 1);
    assert.equal(conv.last_message.text, 'hello team');
    const hist = await t.api('GET', `/api/v1/webchat/history?peer=group:${g.group_id}`, undefined, ben.token);
    assert.deepEqual(hist.body.messages.map((m: any) => m.text), ['hello team']);
    // Unread counts others' messages since one's read marker or own last message, never one's
    // own, nor what was sent before one joined.
    const unread = async (who: Who) =>
      (await t.api('GET', '/api/v1/webchat/conversations', undefined, who.token)).body.conversations.find((c: any) => c.peer === `group:${g.group_id}`)?.unread;
    await send(ann, `group:${g.group_id}`, 'and again');
    assert.equal(await unread(ann), 0, 'her own two messages are not unread to her');
    assert.equal(await unread(owner), 2);
    await send(owner, `group:${g.group_id}`, 'welcome');
    assert.equal(await unread(owner), 0, 'writing to the group answers what came before');
    assert.equal(await unread(ann), 1);
    assert.equal(await unread(ben), 2, "ben read the first; the other two are others'");
    assert.equal((await t.api('POST', `${G}/${g.group_id}/members`, { member_address: 'outsider' }, owner.token)).status, 200);
    assert.equal(await unread(out), 0, 'a newcomer has nothing unread from before joining');
    await send(ann, `group:${g.group_id}`, 'hi newcomer');
    assert.equal(await unread(out), 1);
    assert.equal((await t.api('DELETE', `${G}/${g.group_id}/members/outsider`, undefined, owner.token)).status, 200);
    for (const who of [owner, ann, ben, out]) await poll(who, { limit: 500 }); // later tests start from here

    // An outsider of a public group sees it, but cannot write or read its members.
    refused(await send(out, `group:${g.group_id}`, 'let me in'), 403, 'not_a_member');
    refused(await t.api('GET', `${G}/${g.group_id}/members`, undefined, out.token), 403, 'not_a_member');
    const listed = await t.api('GET', G, undefined, out.token);
    assert.ok(listed.body.public.some((x: any) => x.group_id === g.group_id), 'public groups are listed to everyone');
    const dir = await t.api('GET', '/api/v1/webchat/directory', undefined, out.token);
    assert.ok(dir.body.groups.some((x: any) => x.group_id === g.group_id), 'and shown in the directory');
  });

  test('a private group does not exist for outsiders: every probe is a 404', async () => {
    const g = await create(owner, { name: 'Secret plans', visibility: 'private', members: ['ann'] });
    const id = g.group_id;
    refused(await t.api('GET', `${G}/${id}`, undefined, out.token), 404, 'unknown_group');
    refused(await t.api('GET', `${G}/${id}/members`, undefined, out.token), 404, 'unknown_group');
    refused(await t.api('POST', `${G}/${id}/join-requests`, {}, out.token), 404, 'unknown_group');
    refused(await t.api('GET', `${G}/${id}/join-requests`, undefined, out.token), 404, 'unknown_group');
    refused(await t.api('POST', `${G}/${id}/members`, { member_address: 'outsider' }, out.token), 404, 'unknown_group');
    refused(await send(out, `group:${id}`, 'hi'), 404, 'unknown_group');
    refused(await t.api('GET', `/api/v1/webchat/history?peer=group:${id}`, undefined, out.token), 404, 'unknown_group');
    // The same answer as for a group that does not exist at all.
    refused(await t.api('GET', `${G}/grp_0000000000000000`, undefined, out.token), 404, 'unknown_group');
    const list = await t.api('GET', `${G}?q=secret`, undefined, out.token);
    assert.equal(list.body.groups.length, 0);
    const dir = await t.api('GET', '/api/v1/webchat/directory?q=secret', undefined, out.token);
    assert.equal(dir.body.groups.length, 0);
    // A member sees it.
    const seen = await t.api('GET', `${G}/${id}`, undefined, ann.token);
    assert.equal(seen.body.group.name, 'Secret plans');
  });

  test('join requests: created by an outsider, listed and approved or rejected by admins only', async () => {
    const g = await create(owner, { name: 'Reviewers', visibility: 'public', join_policy: 'approval', members: ['ann'] });
    const id = g.group_id;
    const req = await t.api('POST', `${G}/${id}/join-requests`, { note: 'I review a lot' }, ben.token);
    assert.equal(req.body.status, 'requested');
    assert.match(req.body.request_id, /^req_[0-9a-f]{16}$/);
    refused(await t.api('GET', `${G}/${id}/join-requests`, undefined, ann.token), 403, 'not_group_admin');
    refused(await t.api('POST', `${G}/${id}/join-requests/${req.body.request_id}`, { action: 'approve' }, ann.token), 403, 'not_group_admin');
    refused(await t.api('POST', `${G}/${id}/join-requests/${req.body.request_id}`, { action: 'maybe' }, owner.token), 400, 'validation_failed');
    const list = await t.api('GET', `${G}/${id}/join-requests`, undefined, owner.token);
    assert.deepEqual(list.body.requests.map((r: any) => [r.address, r.note]), [['ben', 'I review a lot']]);
    refused(await send(ben, `group:${id}`, 'early'), 403, 'not_a_member');

    const ok = await t.api('POST', `${G}/${id}/join-requests/${req.body.request_id}`, { action: 'approve' }, owner.token);
    assert.equal(ok.body.status, 'approved');
    const note = (await poll(ben)).body.events.find((e: any) => e.type === 'group' && e.action === 'join_approved');
    assert.equal(note.group_id, id);
    assert.equal(note.by, 'owner', 'an approval names the admin who let them in');
    assert.equal((await send(ben, `group:${id}`, 'thanks')).status, 200);
    refused(await t.api('POST', `${G}/${id}/join-requests/${req.body.request_id}`, { action: 'approve' }, owner.token), 404, 'unknown_request');

    const req2 = await t.api('POST', `${G}/${id}/join-requests`, {}, out.token);
    await t.api('POST', `${G}/${id}/join-requests/${req2.body.request_id}`, { action: 'reject' }, owner.token);
    const rejected = (await poll(out)).body.events.find((e: any) => e.type === 'group' && e.action === 'join_rejected');
    assert.ok(rejected, 'the requester hears of the rejection');
    assert.equal(rejected.by, undefined, 'a rejection does not name the admin who gave it');
    refused(await send(out, `group:${id}`, 'please'), 403, 'not_a_member');
    // Turned down, they may not ask again at once (admins are not asked twice a minute) …
    const again = await t.api('POST', `${G}/${id}/join-requests`, { note: 'pretty please' }, out.token);
    refused(again, 429, 'rate_limited');
    assert.ok(Number(again.headers.get('retry-after')) > 23 * 3600, `Retry-After ${again.headers.get('retry-after')}`);
    assert.equal((await t.api('GET', `${G}/${id}/join-requests`, undefined, owner.token)).body.requests.length, 0, 'nothing reached the admins');
    // … but a day later they may (the relay runs in this process: its clock is moved).
    clock.shift(25 * 3_600_000);
    try {
      const later = await t.api('POST', `${G}/${id}/join-requests`, {}, out.token);
      assert.equal(later.status, 200, JSON.stringify(later.body));
      await t.api('POST', `${G}/${id}/join-requests/${later.body.request_id}`, { action: 'reject' }, owner.token);
    } finally {
      clock.restore();
    }
    // An open public group is joined at once.
    const open = await create(owner, { name: 'Lobby', visibility: 'public', join_policy: 'open' });
    const joined = await t.api('POST', `${G}/${open.group_id}/join-requests`, {}, out.token);
    assert.equal(joined.body.status, 'joined');
  });

  test('stream mode: owner and admins write; every observer write is refused with 403 stream_read_only', async () => {
    const g = await create(owner, { name: 'Builds', visibility: 'public', mode: 'stream', members: ['ann', 'ben'] });
    const to = `group:${g.group_id}`;
    const post = await send(owner, to, 'build 1 started');
    assert.equal(post.status, 200);
    refused(await send(ann, to, 'me too'), 403, 'stream_read_only');
    refused(await send(ann, to, 'a reply', { reply_to: post.body.message_id }), 403, 'stream_read_only');
    refused(await send(ann, to, 'with a key', { idempotency_key: 'k1' }), 403, 'stream_read_only');
    refused(await t.api('POST', '/api/v1/webchat/stream/open', { to, text: 'streaming in' }, ann.token), 403, 'stream_read_only');
    refused(await t.api('POST', '/api/v1/webchat/edit', { message_id: post.body.message_id, text: 'hijacked' }, ann.token), 403, 'stream_read_only');
    refused(await t.api('POST', '/api/v1/webchat/delete', { message_id: post.body.message_id }, ann.token), 403, 'stream_read_only');
    refused(await t.api('POST', '/api/v1/webchat/typing', { to, typing: true }, ann.token), 403, 'stream_read_only');
    // An observer sees who writes, and themselves; not the other observers.
    const seen = await t.api('GET', `${G}/${g.group_id}/members`, undefined, ann.token);
    assert.deepEqual(seen.body.members.map((m: any) => m.address).sort(), ['ann', 'owner']);
    const all = await t.api('GET', `${G}/${g.group_id}/members`, undefined, owner.token);
    assert.deepEqual(all.body.members.map((m: any) => m.address).sort(), ['ann', 'ben', 'owner']);

    // Uploading to the group, and sending an attachment to it.
    const form = new FormData();
    form.append('file', new Blob(['observer notes']), 'notes.txt');
    const upNo = await fetch(`${t.url}/api/v1/webchat/upload?to=${encodeURIComponent(to)}`, { method: 'POST', headers: { 'x-pchat-session': ann.token }, body: form });
    refused({ status: upNo.status, body: await upNo.json() }, 403, 'stream_read_only');
    const up = await fetch(`${t.url}/api/v1/webchat/upload`, { method: 'POST', headers: { 'x-pchat-session': ann.token }, body: form });
    const file = await up.json();
    assert.equal(up.status, 200, JSON.stringify(file));
    refused(await send(ann, to, '', { attachments: [{ file_id: file.file_id, kind: 'file' }] }), 403, 'stream_read_only');
    refused(await send(ann, to, file.attachment), 403, 'stream_read_only');
    const upOwner = await fetch(`${t.url}/api/v1/webchat/upload?to=${encodeURIComponent(to)}`, { method: 'POST', headers: { 'x-pchat-session': owner.token }, body: form });
    assert.equal(upOwner.status, 200);

    // Over the WebSocket too.
    const ws = await openWs(t.url, { token: ann.token });
    ws.send({ type: 'send', ref: 'w1', to, text: 'over the socket' });
    const err = await ws.next((f) => f.ref === 'w1');
    assert.equal(err.error, 'stream_read_only');
    // Typing from an observer is refused, not shown.
    ws.send({ type: 'typing', ref: 'w2', to });
    assert.equal((await ws.next((f) => f.ref === 'w2')).error, 'stream_read_only');
    await ws.close();

    // An admin writes; demoted back to member, they can no longer edit what they wrote.
    await t.api('POST', `${G}/${g.group_id}/members`, { member_address: 'ann', role: 'admin' }, owner.token);
    const byAdmin = await send(ann, to, 'admin update');
    assert.equal(byAdmin.status, 200);
    await t.api('POST', `${G}/${g.group_id}/members`, { member_address: 'ann', role: 'member' }, owner.token);
    refused(await t.api('POST', '/api/v1/webchat/edit', { message_id: byAdmin.body.message_id, text: 'edited' }, ann.token), 403, 'stream_read_only');
    refused(await t.api('POST', '/api/v1/webchat/delete', { message_id: byAdmin.body.message_id }, ann.token), 403, 'stream_read_only');
    // A streamed reply opened as admin cannot be fed once demoted, nor closed with new text.
    await t.api('POST', `${G}/${g.group_id}/members`, { member_address: 'ann', role: 'admin' }, owner.token);
    const opened = await t.api('POST', '/api/v1/webchat/stream/open', { to, text: 'streaming' }, ann.token);
    assert.equal(opened.status, 200, JSON.stringify(opened.body));
    await t.api('POST', `${G}/${g.group_id}/members`, { member_address: 'ann', role: 'member' }, owner.token);
    const sid = opened.body.message_id;
    refused(await t.api('POST', '/api/v1/webchat/stream/append', { message_id: sid, delta: ' more' }, ann.token), 403, 'stream_read_only');
    refused(await t.api('POST', '/api/v1/webchat/stream/close', { message_id: sid, text: 'BYPASS' }, ann.token), 403, 'stream_read_only');
    // A member cannot appoint admins or switch the mode.
    refused(await t.api('POST', `${G}/${g.group_id}/members`, { member_address: 'ben', role: 'admin' }, ann.token), 403, 'not_group_admin');
    refused(await t.api('PUT', `${G}/${g.group_id}`, { mode: 'chat' }, ann.token), 403, 'not_group_admin');

    const texts = (await t.api('GET', `/api/v1/webchat/history?peer=${to}`, undefined, ben.token)).body.messages.map((m: any) => m.text);
    assert.deepEqual(texts, ['build 1 started', 'admin update', 'streaming'], 'nothing an observer tried got in');
    const typing = (await poll(ben)).body.events.filter((e: any) => e.type === 'typing');
    assert.equal(typing.length, 0);
  });

  test('a removed member stops receiving at once; rename and leave reach the members', async () => {
    const g = await create(owner, { name: 'Ops', members: ['ann', 'ben'] });
    const to = `group:${g.group_id}`;
    await send(owner, to, 'before removal');
    const del = await t.api('DELETE', `${G}/${g.group_id}/members/ben`, undefined, owner.token);
    assert.equal(del.body.removed, true);
    await send(owner, to, 'after removal');
    const p = await poll(ben, { after: 0 });
    const texts = p.body.events.filter((e: any) => e.type === 'message' && e.message.to === to).map((e: any) => e.message.text);
    assert.deepEqual(texts, ['before removal']);
    assert.ok(p.body.events.some((e: any) => e.type === 'group' && e.action === 'member_removed' && e.address === 'ben'), 'they see their removal');
    refused(await send(ben, to, 'still here?'), 404, 'unknown_group');
    refused(await t.api('GET', `/api/v1/webchat/history?peer=${to}`, undefined, ben.token), 404, 'unknown_group');

    await t.api('PUT', `${G}/${g.group_id}`, { name: 'Operations' }, owner.token);
    const renamed = (await poll(ann)).body.events.find((e: any) => e.type === 'group' && e.action === 'updated');
    assert.equal(renamed.name, 'Operations');
    const left = await t.api('POST', `${G}/${g.group_id}/leave`, undefined, ann.token);
    assert.equal(left.body.left, true);
    refused(await t.api('POST', `${G}/${g.group_id}/leave`, undefined, owner.token), 403, 'forbidden');
    refused(await t.api('DELETE', `${G}/${g.group_id}/members/owner`, undefined, owner.token), 403, 'forbidden');
    const ownerSees = (await poll(owner, { after: 0, limit: 500 })).body.events.filter((e: any) => e.group_id === g.group_id && e.action === 'left');
    assert.equal(ownerSees.length, 1);
  });

  test('roles: only the owner appoints, demotes or removes admins, and hands the group over', async () => {
    const g = await create(owner, { name: 'Roles', members: ['ann', 'ben'] });
    const M = `${G}/${g.group_id}/members`;
    const roles = async () => Object.fromEntries((await t.api('GET', M, undefined, owner.token)).body.members.map((m: any) => [m.address, m.role]));
    for (const who of ['ann', 'ben']) assert.equal((await t.api('POST', M, { member_address: who, role: 'admin' }, owner.token)).status, 200);
    // An admin cannot demote (and then remove) another admin, nor touch the owner.
    refused(await t.api('POST', M, { member_address: 'ben', role: 'member' }, ann.token), 403, 'not_group_admin');
    refused(await t.api('DELETE', `${M}/ben`, undefined, ann.token), 403, 'not_group_admin');
    refused(await t.api('POST', M, { member_address: 'owner', role: 'member' }, ann.token), 403, 'forbidden');
    refused(await t.api('POST', M, { member_address: 'ann', role: 'owner' }, ann.token), 403, 'not_group_admin');
    // Adding someone who is already in, without a role, keeps their role.
    assert.equal((await t.api('POST', M, { member_address: 'ben' }, ann.token)).body.role, 'admin');
    assert.deepEqual(await roles(), { owner: 'owner', ann: 'admin', ben: 'admin' });
    // The owner cannot leave until they hand the group over; then they are an admin and may.
    refused(await t.api('POST', `${G}/${g.group_id}/leave`, undefined, owner.token), 403, 'forbidden');
    refused(await t.api('POST', M, { member_address: 'outsider', role: 'owner' }, owner.token), 400, 'validation_failed');
    assert.equal((await t.api('POST', M, { member_address: 'ann', role: 'owner' }, owner.token)).status, 200);
    assert.deepEqual(await roles(), { owner: 'admin', ann: 'owner', ben: 'admin' });
    assert.equal((await t.api('GET', `${G}/${g.group_id}`, undefined, ben.token)).body.group.owner, 'ann');
    assert.equal((await t.api('POST', M, { member_address: 'ben', role: 'member' }, ann.token)).status, 200, 'the new owner demotes');
    assert.equal((await t.api('POST', `${G}/${g.group_id}/leave`, undefined, owner.token)).status, 200);
    assert.deepEqual(await t.api('GET', M, undefined, ann.token).then((r) => r.body.members.map((m: any) => [m.address, m.role]).sort()), [['ann', 'owner'], ['ben', 'member']]);
  });

  test('a group message pushed over a live connection counts as delivered, as one polled does', async () => {
    const g = await create(owner, { name: 'Live receipts', members: ['ann', 'ben'] });
    const ws = await openWs(t.url, { token: ann.token });
    await ws.next((f) => f.type === 'ready');
    const s = await send(owner, `group:${g.group_id}`, 'pushed to ann');
    await ws.next((f) => f.type === 'message' && f.message.id === s.body.message_id);
    const status = async () => (await t.api('POST', '/api/v1/webchat/receipt-status', { message_ids: [s.body.message_id] }, owner.token)).body.statuses[0];
    const pushed = await eventually(async () => ((await status()).delivered_count === 1 ? status() : undefined), 5000, 100);
    assert.deepEqual(pushed.delivered_to, ['ann']);
    await ws.close();
    await poll(ben, { limit: 500 });
    assert.equal((await status()).delivered_count, 2);
    // The mark survives a restart (it was journaled).
    await t.restart();
    assert.deepEqual((await status()).delivered_to.sort(), ['ann', 'ben']);
  });

  test('removed and re-added ten times before reading: every message sent while a member still arrives, none from outside', async () => {
    const g = await create(owner, { name: 'Churn', members: ['ben'] });
    const M = `${G}/${g.group_id}/members`;
    await poll(ben, { limit: 500 });
    for (let k = 0; k < 10; k++) {
      await send(owner, `group:${g.group_id}`, `in-${k}`);
      assert.equal((await t.api('DELETE', `${M}/ben`, undefined, owner.token)).status, 200);
      await send(owner, `group:${g.group_id}`, `out-${k}`);
      assert.equal((await t.api('POST', M, { member_address: 'ben' }, owner.token)).status, 200);
    }
    const got = await poll(ben, { limit: 500 });
    const texts = got.body.messages.map((m: any) => m.text).filter((x: string) => /^(in|out)-/.test(x));
    assert.deepEqual(texts, Array.from({ length: 10 }, (_, k) => `in-${k}`));
  });

  test('a former member re-reading sees the messages as they were: no edit, rename or stream end made after they left', async () => {
    const from = (await poll(ann)).body.cursor;
    const g = await create(owner, { name: 'Before', visibility: 'private', mode: 'chat', members: ['ann'] });
    const m1 = (await send(owner, `group:${g.group_id}`, 'original')).body.message_id;
    await poll(ann);
    const removed = await t.api('DELETE', `${G}/${g.group_id}/members/ann`, undefined, owner.token);
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    assert.equal((await t.api('POST', '/api/v1/webchat/edit', { message_id: m1, text: 'EDITED after removal' }, owner.token)).status, 200);
    assert.equal((await t.api('PUT', `${G}/${g.group_id}`, { name: 'RENAMED after' }, owner.token)).status, 200);
    const again = await poll(ann, { after: from });
    const msg = again.body.events.find((e: any) => e.type === 'message' && e.message.id === m1);
    assert.equal(msg.message.text, 'original');
    assert.equal(msg.message.group.name, null, 'the name is the group’s now: not told');
    assert.doesNotMatch(JSON.stringify(again.body), /EDITED after removal|RENAMED after/);
  });

  test('receipts count a group message’s recipients only; a removed sender hears no read receipt', async () => {
    const g = await create(owner, { name: 'Receipts', visibility: 'private', mode: 'chat', members: ['ann'] });
    const m = (await send(owner, `group:${g.group_id}`, 'before ben')).body.message_id;
    assert.equal((await t.api('POST', `${G}/${g.group_id}/members`, { member_address: 'ben' }, owner.token)).status, 200);
    const status = async () => (await t.api('POST', '/api/v1/webchat/receipt-status', { message_ids: [m] }, owner.token)).body.statuses[0];
    let st = await status();
    assert.equal(st.members, 1, 'ben joined after it: not a recipient');
    assert.deepEqual([st.delivered_to, st.read_by], [[], []]);
    await poll(ann);
    assert.equal((await t.api('POST', '/api/v1/webchat/read', { message_ids: [m] }, ann.token)).status, 200);
    st = await status();
    assert.deepEqual([st.status, st.read_count, st.read_by], ['read', 1, ['ann']]);

    // ann writes, is removed, then ben reads her message: she is told nothing.
    const hers = (await send(ann, `group:${g.group_id}`, 'from ann')).body.message_id;
    await poll(ann);
    assert.equal((await t.api('DELETE', `${G}/${g.group_id}/members/ann`, undefined, owner.token)).status, 200);
    await poll(ann);
    assert.equal((await t.api('POST', '/api/v1/webchat/read', { message_ids: [hers] }, ben.token)).status, 200);
    const after = await poll(ann, { wait_ms: 300 });
    assert.deepEqual(after.body.events.filter((e: any) => e.type === 'receipt'), []);
  });

  test('a member who joins while a reply is streaming gets no deltas of it, only its end', async () => {
    const g = await create(owner, { name: 'Streaming', visibility: 'private', mode: 'chat' });
    const open = await t.api('POST', '/api/v1/webchat/stream/open', { to: `group:${g.group_id}`, text: 'Hel' }, owner.token);
    assert.equal(open.status, 200, JSON.stringify(open.body));
    const id = open.body.message_id;
    assert.equal((await t.api('POST', '/api/v1/webchat/stream/append', { message_id: id, delta: 'lo' }, owner.token)).status, 200);
    assert.equal((await t.api('POST', `${G}/${g.group_id}/members`, { member_address: 'ben' }, owner.token)).status, 200);
    await poll(ben);
    assert.equal((await t.api('POST', '/api/v1/webchat/stream/append', { message_id: id, delta: ' there' }, owner.token)).status, 200);
    const live = (await poll(ben)).body.events.filter((e: any) => e.message_id === id);
    assert.deepEqual(live, [], 'no delta of a message whose start ben never had');
    assert.equal((await t.api('POST', '/api/v1/webchat/stream/close', { message_id: id }, owner.token)).status, 200);
    const got = (await poll(ben)).body.events.filter((e: any) => e.message_id === id);
    assert.deepEqual(got.map((e: any) => [e.type, e.text ?? e.delta]), [['edit', 'Hello there']]);
  });

  test('a group message deleted by its sender is no longer unread for the members, after a restart too', async () => {
    const g = await create(owner, { name: 'Deletions', visibility: 'private', mode: 'chat', members: ['ann'] });
    const unread = async () =>
      (await t.api('GET', '/api/v1/webchat/conversations', undefined, ann.token)).body.conversations.find((c: any) => c.group_id === g.group_id)?.unread;
    const first = (await send(owner, `group:${g.group_id}`, 'one')).body.message_id;
    await send(owner, `group:${g.group_id}`, 'two');
    assert.equal(await unread(), 2);
    assert.equal((await t.api('POST', '/api/v1/webchat/delete', { message_id: first }, owner.token)).status, 200);
    assert.equal(await unread(), 1);
    await t.restart();
    assert.equal(await unread(), 1, 'the group replayed from the journal counts the same');
  });

  test('someone a user blocked cannot put them in a group', async () => {
    assert.equal((await t.api('POST', '/api/v1/webchat/block', { address: 'outsider' }, ben.token)).status, 200);
    refused(await t.api('POST', G, { name: 'Trap', members: ['ben'] }, out.token), 403, 'blocked');
    const g = await create(out, { name: 'Trap 2' });
    refused(await t.api('POST', `${G}/${g.group_id}/members`, { member_address: 'ben' }, out.token), 403, 'blocked');
    assert.equal((await t.api('POST', '/api/v1/webchat/unblock', { address: 'outsider' }, ben.token)).status, 200);
    assert.equal((await t.api('POST', `${G}/${g.group_id}/members`, { member_address: 'ben' }, out.token)).status, 200);
  });

  test('bad group input is refused and changes nothing', async () => {
    const headBefore = t.relay.services.core.journal.lastSeq;
    refused(await t.api('POST', G, { name: '' }, owner.token), 400, 'validation_failed');
    refused(await t.api('POST', G, { name: 'x', mode: 'broadcast' }, owner.token), 400, 'validation_failed');
    refused(await t.api('POST', G, { name: 'x', members: ['nobody-here'] }, owner.token), 404, 'unknown_recipient');
    refused(await t.api('GET', `${G}/not-a-group`, undefined, owner.token), 400, 'validation_failed');
    refused(await t.api('POST', G, { name: 'x' }), 401, 'unauthorized');
    assert.equal(t.relay.services.core.journal.lastSeq, headBefore);
  });
});

describe('a 1,000-member stream group', () => {
  let t: TestRelay;
  after(() => t.stop());

  test('one write per message, and every observer reads it', async () => {
    t = await startTestRelay({ PCHAT_CODE_REQUESTS_PER_IP_PER_HOUR: '100000', PCHAT_CODE_VERIFIES_PER_IP_PER_HOUR: '100000' });
    const owner = await t.login('boss@example.com', { chat_address: 'boss' });
    const observers: { token: string; address: string }[] = [];
    for (let i = 0; i < 1000; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: 50 }, (_, k) => t.login(`obs${i + k}@example.com`, { chat_address: `obs${i + k}` }).then((s) => ({ token: s.token, address: `obs${i + k}` }))),
      );
      observers.push(...batch);
    }
    const created = await t.api('POST', G, { name: 'Status', visibility: 'public', mode: 'stream', members: observers.map((o) => o.address) }, owner.token);
    assert.equal(created.status, 200, JSON.stringify(created.body));
    assert.equal(created.body.group.member_count, 1001);
    const to = `group:${created.body.group.group_id}`;

    const seqBefore = t.relay.services.core.journal.lastSeq;
    for (let i = 0; i < 5; i++) assert.equal((await t.api('POST', '/api/v1/messages', { channel: 'pchat', to, text: `status ${i}` }, owner.token)).status, 200);
    assert.equal(t.relay.services.core.journal.lastSeq - seqBefore, 5, '5 messages to 1,000 observers are 5 journal writes');

    let got = 0;
    for (let i = 0; i < observers.length; i += 100) {
      const polls = await Promise.all(observers.slice(i, i + 100).map((o) => t.api('POST', '/api/v1/webchat/poll', { limit: 50 }, o.token)));
      for (const p of polls) {
        const texts = p.body.messages.map((m: any) => m.text);
        assert.deepEqual(texts, ['status 0', 'status 1', 'status 2', 'status 3', 'status 4']);
        got++;
      }
    }
    assert.equal(got, 1000);
    const refusedWrite = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to, text: 'hi' }, observers[500].token);
    assert.equal(refusedWrite.body.error, 'stream_read_only');
  });
});

describe('a group at PCHAT_GROUP_MAX_MEMBERS', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay({ PCHAT_GROUP_MAX_MEMBERS: '3' });
  });
  after(() => t.stop());

  test('takes no one more: not by adding, joining or approving a request', async () => {
    const [own, a, b, c, d] = await Promise.all(['own', 'aa1', 'bb1', 'cc1', 'dd1'].map((x) => t.login(`${x}@example.com`, { chat_address: x })));
    const created = await t.api('POST', G, { name: 'Small', visibility: 'public', join_policy: 'approval', members: ['aa1'] }, own.token);
    const id = created.body.group.group_id;
    const asks = [];
    for (const who of [b, c, d]) asks.push((await t.api('POST', `${G}/${id}/join-requests`, {}, who.token)).body.request_id);
    const decide = (rid: string) => t.api('POST', `${G}/${id}/join-requests/${rid}`, { action: 'approve' }, own.token);
    assert.equal((await decide(asks[0])).status, 200, 'the third member');
    for (const rid of asks.slice(1)) {
      const r = await decide(rid);
      assert.equal(r.status, 409, JSON.stringify(r.body));
      assert.equal(r.body.error, 'conflict');
    }
    assert.equal((await t.api('POST', `${G}/${id}/members`, { member_address: 'dd1' }, own.token)).body.error, 'conflict');
    const members = await t.api('GET', `${G}/${id}/members`, undefined, a.token);
    assert.equal(members.body.members.length, 3);
    const rejected = await t.api('POST', `${G}/${id}/join-requests/${asks[2]}`, { action: 'reject' }, own.token);
    assert.equal(rejected.status, 200, 'a full group can still turn requests down');
  });
});
