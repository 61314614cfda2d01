// Presence, the directory and typing against a real relay: named sessions online after a
// heartbeat, ?q= filtering, visible:false, accounts that are not public, online while a
// long-poll is parked, expiry after the presence window, presence events to conversation
// peers, and typing events delivered to a parked long-poll.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually, openWs, startTestRelay, type TestRelay } from '../helpers.ts';
import { Account } from '../../daemon/core.ts';
import { SEEN_SAVE_EVERY_MS } from '../../daemon/presence.ts';

type Session = { token: string; user: any; session: any };

const heartbeat = (t: TestRelay, token: string, body: Record<string, unknown> = {}) => t.api('POST', '/api/v1/webchat/presence', body, token);
const poll = (t: TestRelay, token: string, body: Record<string, unknown> = {}) => t.api('POST', '/api/v1/webchat/poll', body, token);
const send = (t: TestRelay, token: string, to: string, text: string) => t.api('POST', '/api/v1/messages', { channel: 'pchat', to, text }, token);

async function directory(t: TestRelay, token: string, query = '') {
  const res = await t.api('GET', `/api/v1/webchat/directory${query}`, undefined, token);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body as { users: any[]; sessions: any[]; total: number };
}
const userIn = (dir: { users: any[] }, address: string) => dir.users.find((u) => u.chat_address === address);

describe('presence and directory', () => {
  let t: TestRelay;
  let viewer: Session;

  before(async () => {
    t = await startTestRelay({ PCHAT_CODE_REQUESTS_PER_IP_PER_HOUR: '1000' });
    viewer = await t.login('viewer@example.com', { chat_address: 'viewer' });
  });
  after(() => t.stop());

  test('a heartbeat with names shows that session online in the directory; ?q= filters', async () => {
    const alice = await t.login('alice@example.com', { chat_address: 'alice', display_name: 'Alice', public_visible: true, device_name: 'laptop' });
    const before = userIn(await directory(t, viewer.token), 'alice');
    assert.ok(before, 'a public account is listed');
    assert.equal(before.online, false, 'not online before any heartbeat');

    const hb = await heartbeat(t, alice.token, {
      chat_address: 'alice',
      display_name: 'Alice Anders',
      device_name: 'workstation',
      session_name: 'claude-main',
      listen_channel: 'pchat',
    });
    assert.equal(hb.status, 200, JSON.stringify(hb.body));
    assert.equal(hb.body.online, true);
    assert.equal(hb.body.visible, true);
    assert.equal(hb.body.session_id, alice.session.id);
    assert.equal(hb.body.expires_in, 60);

    const dir = await directory(t, viewer.token);
    const entry = userIn(dir, 'alice');
    assert.equal(entry.online, true);
    assert.equal(entry.display_name, 'Alice Anders', 'display_name from the heartbeat is saved');
    assert.ok(entry.last_seen);
    const s = entry.sessions.find((x: any) => x.session_id === alice.session.id);
    assert.ok(s, 'the heartbeating session is listed');
    assert.equal(s.device_name, 'workstation');
    assert.equal(s.session_name, 'claude-main');
    assert.equal(s.listen_channel, 'pchat');
    assert.equal(s.online, true);
    const flat = dir.sessions.find((x: any) => x.session_id === alice.session.id);
    assert.equal(flat.chat_address, 'alice');
    assert.equal(flat.session_name, 'claude-main');
    assert.equal(dir.users[0].online, true, 'online users sort first');

    for (const q of ['ali', 'ALICE', 'anders', 'claude-m']) { // address, display name, session name
      const f = await directory(t, viewer.token, `?q=${q}`);
      assert.deepEqual(f.users.map((u) => u.chat_address), ['alice'], `q=${q}`);
      assert.equal(f.total, 1);
      assert.ok(f.sessions.every((x: any) => x.chat_address === 'alice'));
    }

    // An empty name clears it (shown as null), a name is trimmed, and what is not given stays.
    assert.equal((await heartbeat(t, alice.token, { device_name: '', session_name: '  claude-main  ' })).status, 200);
    const cleared = userIn(await directory(t, viewer.token), 'alice').sessions.find((x: any) => x.session_id === alice.session.id);
    assert.deepEqual([cleared.device_name, cleared.session_name, cleared.listen_channel], [null, 'claude-main', 'pchat']);
    const none = await directory(t, viewer.token, '?q=zz-nobody-zz');
    assert.deepEqual(none.users, []);
    assert.deepEqual(none.sessions, []);
    assert.equal(none.total, 0);
  });

  test('visible:false hides the session; visible:true shows it again', async () => {
    const vera = await t.login('vera@example.com', { chat_address: 'vera', public_visible: true });
    const hidden = await heartbeat(t, vera.token, { session_name: 'incognito', visible: false });
    assert.equal(hidden.status, 200);
    assert.equal(hidden.body.visible, false);
    assert.equal(hidden.body.online, false);
    let entry = userIn(await directory(t, viewer.token), 'vera');
    assert.equal(entry.online, false);
    assert.equal(entry.sessions.some((x: any) => x.session_id === vera.session.id), false, 'the hidden session is not listed');
    assert.equal((await directory(t, viewer.token)).sessions.some((x: any) => x.session_id === vera.session.id), false);

    const shown = await heartbeat(t, vera.token, { visible: true });
    assert.equal(shown.body.online, true);
    entry = userIn(await directory(t, viewer.token), 'vera');
    assert.equal(entry.online, true);
    const s = entry.sessions.find((x: any) => x.session_id === vera.session.id);
    assert.equal(s?.session_name, 'incognito');
    assert.equal(s?.online, true);

    await heartbeat(t, vera.token, { visible: false });
    assert.equal(userIn(await directory(t, viewer.token), 'vera').online, false, 'hiding again takes effect at once');
    // Hiding lasts: a heartbeat that does not say otherwise, and a restart, keep it hidden.
    assert.equal((await heartbeat(t, vera.token, {})).body.visible, false);
    await t.restart();
    const listed = (await directory(t, viewer.token)).sessions.some((x: any) => x.session_id === vera.session.id);
    assert.equal(listed, false, 'still hidden after a restart');
    assert.equal((await heartbeat(t, vera.token, {})).body.visible, false);
    assert.equal((await heartbeat(t, vera.token, { visible: true })).body.online, true);
  });

  test('last seen is saved: when a session goes offline, and at shutdown; a restart keeps it', async () => {
    const erin = await t.login('erin@example.com', { chat_address: 'erin', public_visible: true, device_name: 'phone' });
    await heartbeat(t, erin.token);
    const first = userIn(await directory(t, viewer.token, '?q=erin'), 'erin').last_seen;
    assert.ok(first);
    const { presence, core } = t.relay.services;
    const saved = () => core.projections.sessions(erin.user.id).find((s) => s.sid === erin.session.id)?.last_seen;
    presence.sweep(Date.now() + t.config.presenceWindowMs + 1); // as the sweep would, once the window has passed
    await core.settled();
    assert.equal(saved(), Date.parse(first), 'saved once the session went offline');

    await sleep(5);
    await heartbeat(t, erin.token); // online again, not saved yet: the shutdown saves it
    const second = userIn(await directory(t, viewer.token, '?q=erin'), 'erin').last_seen;
    assert.ok(second > first);
    await t.restart();
    const entry = userIn(await directory(t, viewer.token, '?q=erin'), 'erin');
    assert.equal(entry.online, false);
    assert.equal(entry.last_seen, second, 'the last heartbeat before the restart');
    assert.equal(entry.sessions.find((s: any) => s.device_name === 'phone')?.last_seen, second);
  });

  test('an active session, shown or hidden, saves its last seen at most every few minutes', async () => {
    const gil = await t.login('gil@example.com', { chat_address: 'gil', public_visible: true });
    await heartbeat(t, gil.token, { visible: false });
    const parked = poll(t, gil.token, { wait_ms: 1500 });
    await eventually(() => t.relay.services.core.waiters.parkedCount >= 1);
    const { presence, core } = t.relay.services;
    const head = () => core.registry.head(Account, gil.user.id);
    presence.sweep(); // never saved: saved now
    const before = head();
    for (let i = 0; i < 5; i++) presence.sweep(Date.now() + i);
    assert.equal(head(), before, 'nothing saved while the session is active and its saved time is fresh');
    presence.sweep(Date.now() + SEEN_SAVE_EVERY_MS + 1);
    assert.equal(head(), before + 1, 'one save once the period has passed');
    await parked;
  });

  test('a session holding a live connection was last seen now', async () => {
    const finn = await t.login('finn@example.com', { chat_address: 'finn', public_visible: true });
    const parked = poll(t, finn.token, { wait_ms: 2000 });
    await eventually(async () => userIn(await directory(t, viewer.token, '?q=finn'), 'finn')?.online);
    await sleep(30);
    const asked = Date.now();
    const entry = userIn(await directory(t, viewer.token, '?q=finn'), 'finn');
    assert.ok(Date.parse(entry.last_seen) >= asked, `${entry.last_seen} is not before the directory was asked (${new Date(asked).toISOString()})`);
    await parked;
  });

  test('an account with public_visible false is not listed, even while online', async () => {
    const carol = await t.login('carol@example.com', { chat_address: 'carol', display_name: 'Carol' });
    assert.equal(carol.user.public_visible, false);
    const hb = await heartbeat(t, carol.token, { session_name: 'carol-session', device_name: 'phone' });
    assert.equal(hb.status, 200);
    const dir = await directory(t, viewer.token);
    assert.equal(userIn(dir, 'carol'), undefined);
    assert.equal(dir.sessions.some((x: any) => x.chat_address === 'carol' || x.session_id === carol.session.id), false);
    assert.equal((await directory(t, viewer.token, '?q=carol')).total, 0);

    // Control: once public, the same online session shows.
    const put = await t.api('PUT', '/api/v1/pchat/auth/me', { public_visible: true }, carol.token);
    assert.equal(put.status, 200);
    const listed = userIn(await directory(t, viewer.token, '?q=carol'), 'carol');
    assert.ok(listed);
    assert.equal(listed.online, true);

    await t.api('PUT', '/api/v1/pchat/auth/me', { public_visible: false }, carol.token);
    assert.equal(userIn(await directory(t, viewer.token), 'carol'), undefined, 'going private hides the account again');
  });

  test('a session is online while it holds a parked long-poll, without any heartbeat', async () => {
    const dave = await t.login('dave@example.com', { chat_address: 'dave', public_visible: true });
    const sender = await t.login('dave-sender@example.com', { chat_address: 'dave-sender' });
    assert.equal(userIn(await directory(t, viewer.token, '?q=dave'), 'dave').online, false, 'offline before the poll');

    const started = Date.now();
    const parked = poll(t, dave.token, { wait_ms: 3000 });
    const entry = await eventually(async () => {
      const e = userIn(await directory(t, viewer.token, '?q=dave'), 'dave');
      return e?.online ? e : undefined;
    }, 2500);
    const s = entry.sessions.find((x: any) => x.session_id === dave.session.id);
    assert.equal(s?.online, true, 'the polling session is listed online');
    assert.equal(s?.session_name, null);

    // Wake the poll with a message instead of waiting it out.
    const sent = await send(t, sender.token, 'dave', 'wake up');
    assert.equal(sent.status, 200);
    const res = await parked;
    assert.equal(res.status, 200);
    assert.ok(Date.now() - started < 2800, 'the parked poll was woken, not timed out');
    assert.deepEqual(res.body.messages.map((m: any) => m.text), ['wake up']);
  });

  test('a session logged out while it held a parked poll or a socket is offline at once (no reconnect grace)', async () => {
    const gone = await t.login('gone@example.com', { chat_address: 'gone', public_visible: true });
    const parked = poll(t, gone.token, { wait_ms: 10_000 });
    await eventually(async () => (userIn(await directory(t, viewer.token, '?q=gone'), 'gone')?.online ? true : undefined), 2500);
    assert.equal((await t.api('POST', '/api/v1/pchat/auth/logout', undefined, gone.token)).status, 200);
    assert.equal((await parked).status, 401);
    let entry = userIn(await directory(t, viewer.token, '?q=gone'), 'gone');
    assert.equal(entry.online, false, JSON.stringify(entry));

    const again = await t.login('gone@example.com');
    const ws = await openWs(t.url, { token: again.token });
    await ws.next((f) => f.type === 'ready');
    assert.equal(userIn(await directory(t, viewer.token, '?q=gone'), 'gone').online, true);
    assert.equal((await t.api('POST', '/api/v1/pchat/auth/logout', undefined, again.token)).status, 200);
    entry = userIn(await directory(t, viewer.token, '?q=gone'), 'gone');
    assert.equal(entry.online, false, JSON.stringify(entry));
    assert.deepEqual(entry.sessions, []);
    await ws.close();
  });

  test('a hidden session logged out while it holds a WebSocket is not announced online as its socket closes', async () => {
    const hid = await t.login('hid@example.com', { chat_address: 'hid', public_visible: true });
    const peer = await t.login('hidpeer@example.com', { chat_address: 'hidpeer' });
    assert.equal((await send(t, hid.token, 'hidpeer', 'hi')).status, 200);
    assert.equal((await heartbeat(t, hid.token, { visible: false })).body.online, false);
    await poll(t, peer.token);
    const ws = await openWs(t.url, { token: hid.token });
    await ws.next((f) => f.type === 'ready');
    assert.equal((await t.api('POST', '/api/v1/pchat/auth/logout', undefined, hid.token)).status, 200);
    assert.equal((await ws.closed).code, 4001);
    // The socket's end came after its session was dropped: it must not have brought it back.
    assert.equal(t.relay.services.presence.isOnline(hid.user.id), false);
    const got = await poll(t, peer.token, { wait_ms: 300 });
    assert.deepEqual(got.body.events.filter((e: any) => e.type === 'presence'), []);
    assert.equal(userIn(await directory(t, viewer.token, '?q=hid'), 'hid').online, false);
  });

  test('a WebSocket still opening when its session logs out is closed as logged out, never streaming', async () => {
    const core = t.relay.services.core;
    const ola = await t.login('ola@example.com', { chat_address: 'ola' });
    const sender = await t.login('olasender@example.com', { chat_address: 'olasender' });
    // Hold the socket's start where it waits for the journal to settle, and log out meanwhile.
    const settled = core.settled;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let held = false;
    core.settled = () => {
      if (held) return settled.call(core);
      held = true;
      return gate.then(() => settled.call(core));
    };
    let ws: Awaited<ReturnType<typeof openWs>> | undefined;
    try {
      ws = await openWs(t.url, { token: ola.token });
      await eventually(() => held, 2000, 5);
      assert.equal((await t.api('POST', '/api/v1/pchat/auth/logout', undefined, ola.token)).status, 200);
      release();
      const closed = await Promise.race([ws.closed, sleep(3000).then(() => ({ code: -1, reason: 'still open after 3 s' }))]);
      assert.equal(closed.code, 4001, JSON.stringify(closed));
      assert.equal(ws.frames.some((f) => f.type === 'ready'), false, JSON.stringify(ws.frames));
      assert.equal((await send(t, sender.token, 'ola', 'after logout')).status, 200);
      assert.equal(t.relay.services.presence.isOnline(ola.user.id), false);
      assert.equal(t.relay.services.live.size, 0, 'no live session left behind');
    } finally {
      core.settled = settled;
      release();
      await ws?.close();
    }
  });

  test('a burst of one peer’s presence changes does not push another’s typing hint out of the buffer', async () => {
    const flip = await t.login('flip@example.com', { chat_address: 'flip' });
    const typer = await t.login('typer@example.com', { chat_address: 'typer' });
    const target = await t.login('target@example.com', { chat_address: 'target' });
    assert.equal((await send(t, flip.token, 'target', 'hi')).status, 200);
    await poll(t, target.token);
    assert.equal((await t.api('POST', '/api/v1/webchat/typing', { to: 'target' }, typer.token)).status, 200);
    for (let i = 0; i < 100; i++) assert.equal((await heartbeat(t, flip.token, { visible: i % 2 === 1 })).status, 200);
    const got = await poll(t, target.token);
    assert.deepEqual(got.body.events.filter((e: any) => e.type === 'typing').map((e: any) => e.from), ['typer']);
    // Only the newest state of flip's presence is kept: online (the last heartbeat was visible).
    assert.deepEqual(got.body.events.filter((e: any) => e.type === 'presence').map((e: any) => [e.chat_address, e.online]), [['flip', true]]);
  });

  test('a new account without a display name is shown by its chat address, not by its email', async () => {
    const res = await t.login('jane.doe.1987@example.com', { chat_address: 'jd-agent', public_visible: true });
    assert.equal(res.user.display_name, 'jd-agent');
    assert.deepEqual((await directory(t, viewer.token, '?q=jane.doe')).users, []);
  });

  test('someone I blocked is not told when I come online', async () => {
    const hilde = await t.login('hilde@example.com', { chat_address: 'hilde' });
    const igor = await t.login('igor@example.com', { chat_address: 'igor' });
    assert.equal((await send(t, igor.token, 'hilde', 'hi hilde')).status, 200);
    assert.equal((await t.api('POST', '/api/v1/webchat/block', { address: 'igor' }, hilde.token)).status, 200);
    await poll(t, igor.token);
    assert.equal((await heartbeat(t, hilde.token)).body.online, true);
    const got = await poll(t, igor.token, { wait_ms: 300 });
    assert.deepEqual(got.body.events.filter((e: any) => e.type === 'presence'), []);
  });

  test('someone I blocked gets no typing hint of mine in a group we share (as they get no presence)', async () => {
    const kit = await t.login('kit@example.com', { chat_address: 'kit' });
    const lux = await t.login('lux@example.com', { chat_address: 'lux' });
    const moe = await t.login('moe@example.com', { chat_address: 'moe' });
    const g = (await t.api('POST', '/api/v1/webchat/groups', { name: 'Book club', visibility: 'private', mode: 'chat' }, kit.token)).body.group;
    for (const member of ['lux', 'moe']) assert.equal((await t.api('POST', `/api/v1/webchat/groups/${g.group_id}/members`, { member_address: member }, kit.token)).status, 200);
    assert.equal((await t.api('POST', '/api/v1/webchat/block', { address: 'lux' }, kit.token)).status, 200);
    await poll(t, lux.token);
    await poll(t, moe.token);
    assert.equal((await t.api('POST', '/api/v1/webchat/typing', { to: `group:${g.group_id}` }, kit.token)).status, 200);
    assert.equal((await heartbeat(t, kit.token, { typing_to: `group:${g.group_id}` })).status, 200);
    const typing = async (who: Session) => (await poll(t, who.token, { wait_ms: 300 })).body.events.filter((e: any) => e.type === 'typing').map((e: any) => e.from);
    assert.deepEqual(await typing(moe), ['kit'], 'the other members see her typing');
    assert.deepEqual(await typing(lux), [], 'the one she blocked does not');
  });

  test('someone I blocked still finds me in the directory, but offline, with no sessions and no last seen', async () => {
    const kora = await t.login('kora@example.com', { chat_address: 'kora', display_name: 'Kora', public_visible: true });
    const lev = await t.login('lev@example.com', { chat_address: 'lev' });
    await heartbeat(t, kora.token, { device_name: 'desk', session_name: 'kora-night-shift' });
    assert.equal(userIn(await directory(t, lev.token, '?q=kora'), 'kora').online, true, 'before the block');
    assert.equal((await t.api('POST', '/api/v1/webchat/block', { address: 'lev' }, kora.token)).status, 200);

    const seen = userIn(await directory(t, lev.token, '?q=kora'), 'kora');
    assert.deepEqual({ online: seen.online, last_seen: seen.last_seen, sessions: seen.sessions }, { online: false, last_seen: null, sessions: [] });
    assert.equal((await directory(t, lev.token, '?q=kora')).sessions.length, 0, 'nor in the flat session list');
    assert.deepEqual((await directory(t, lev.token, '?q=night-shift')).users, [], 'not found by a session name it may not see');
    const other = userIn(await directory(t, viewer.token, '?q=kora'), 'kora');
    assert.equal(other.online, true, 'everyone else still sees her online');
    assert.equal(other.sessions[0].session_name, 'kora-night-shift');
    assert.equal((await t.api('POST', '/api/v1/webchat/unblock', { address: 'lev' }, kora.token)).status, 200);
    assert.equal(userIn(await directory(t, lev.token, '?q=kora'), 'kora').online, true, 'unblocked: shown again');
  });

  test('a conversation peer gets a presence event when the other goes online; a stranger does not', async () => {
    const erin = await t.login('erin@example.com', { chat_address: 'erin', display_name: 'Erin' });
    const frank = await t.login('frank@example.com', { chat_address: 'frank' });
    const gary = await t.login('gary@example.com', { chat_address: 'gary' });
    assert.equal((await send(t, erin.token, 'frank', 'hello frank')).status, 200);
    // Both readers poll once so they are registered consumers of ephemeral events.
    const first = await poll(t, frank.token);
    assert.equal(first.body.messages.length, 1);
    assert.equal(first.body.events.some((e: any) => e.type === 'presence'), false);
    await poll(t, gary.token);

    assert.equal((await heartbeat(t, erin.token, { session_name: 'erin-main' })).body.online, true);
    const got = await poll(t, frank.token, { wait_ms: 2000 });
    const presence = got.body.events.filter((e: any) => e.type === 'presence');
    assert.equal(presence.length, 1, JSON.stringify(got.body.events));
    assert.equal(presence[0].chat_address, 'erin');
    assert.equal(presence[0].display_name, 'Erin');
    assert.equal(presence[0].online, true);
    assert.ok(presence[0].at);

    const stranger = await poll(t, gary.token);
    assert.equal(stranger.body.events.some((e: any) => e.type === 'presence'), false, 'no conversation, no presence event');

    // A second heartbeat while already online is not news.
    await heartbeat(t, erin.token);
    const again = await poll(t, frank.token);
    assert.equal(again.body.events.some((e: any) => e.type === 'presence'), false);
  });

  test('an unlisted account (public_visible false) is online to its peers whether it heartbeats or only long-polls', async () => {
    // public_visible is about the directory; to the people it talks with, it comes and goes as anyone.
    const kim = await t.login('kim@example.com', { chat_address: 'kim' });
    const lou = await t.login('lou@example.com', { chat_address: 'lou' });
    assert.equal(kim.user.public_visible, false);
    assert.equal((await send(t, kim.token, 'lou', 'hi lou')).status, 200);
    await poll(t, lou.token);
    await poll(t, kim.token); // its own message: the next poll parks
    const parked = poll(t, kim.token, { wait_ms: 1500 }); // no heartbeat: online by its parked poll alone
    const got = await poll(t, lou.token, { wait_ms: 1000 });
    assert.deepEqual(got.body.events.filter((e: any) => e.type === 'presence').map((e: any) => [e.chat_address, e.online]), [['kim', true]]);
    await parked;
  });

  test('members of a chat group see each other come online; observers of a stream group do not', async () => {
    const hana = await t.login('hana@example.com', { chat_address: 'hana', display_name: 'Hana' });
    const ivo = await t.login('ivo@example.com', { chat_address: 'ivo' });
    const jon = await t.login('jon@example.com', { chat_address: 'jon' });
    const G = '/api/v1/webchat/groups';
    assert.equal((await t.api('POST', G, { name: 'Desk', mode: 'chat', members: ['ivo'] }, hana.token)).status, 200);
    assert.equal((await t.api('POST', G, { name: 'Feed', mode: 'stream', members: ['jon'] }, hana.token)).status, 200);
    for (const who of [ivo, jon]) await poll(t, who.token, { limit: 500 });
    assert.equal((await heartbeat(t, hana.token, { session_name: 'hana-main' })).body.online, true);
    const forIvo = (await poll(t, ivo.token, { wait_ms: 2000 })).body.events.filter((e: any) => e.type === 'presence');
    assert.deepEqual(forIvo.map((e: any) => [e.chat_address, e.online]), [['hana', true]]);
    const forJon = (await poll(t, jon.token)).body.events.filter((e: any) => e.type === 'presence');
    assert.deepEqual(forJon, [], 'a stream group is not a room of peers');
  });

  test('typing reaches the recipient’s parked long-poll', async () => {
    const tom = await t.login('tom@example.com', { chat_address: 'tom', display_name: 'Tom' });
    const tina = await t.login('tina@example.com', { chat_address: 'tina' });
    await poll(t, tina.token); // registers tina's session as a consumer

    const parkedBefore = t.relay.services.core.waiters.parkedCount;
    const started = Date.now();
    const parked = poll(t, tina.token, { wait_ms: 3000 });
    await eventually(() => t.relay.services.core.waiters.parkedCount > parkedBefore, 2000, 5);

    const typed = await t.api('POST', '/api/v1/webchat/typing', { to: 'tina' }, tom.token);
    assert.equal(typed.status, 200);
    assert.equal(typed.body.success, true);
    const res = await parked;
    assert.ok(Date.now() - started < 2800, 'the typing event woke the parked poll');
    const typing = res.body.events.filter((e: any) => e.type === 'typing');
    assert.equal(typing.length, 1, JSON.stringify(res.body.events));
    assert.equal(typing[0].from, 'tom');
    assert.equal(typing[0].display_name, 'Tom');
    assert.equal(typing[0].typing, true);
    assert.deepEqual(res.body.messages, [], 'typing is not a message');

    await t.api('POST', '/api/v1/webchat/typing', { to: 'tina', typing: false }, tom.token);
    const stop = await poll(t, tina.token, { wait_ms: 1000 });
    assert.deepEqual(
      stop.body.events.filter((e: any) => e.type === 'typing').map((e: any) => [e.from, e.typing]),
      [['tom', false]],
    );
    // Seen once: the next poll does not repeat it.
    assert.equal((await poll(t, tina.token)).body.events.length, 0);

    const unknown = await t.api('POST', '/api/v1/webchat/typing', { to: 'no-such-user' }, tom.token);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error, 'unknown_recipient');
  });
});

describe('presence window expiry (PCHAT_PRESENCE_WINDOW_MS=1000)', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay({ PCHAT_PRESENCE_WINDOW_MS: '1000' });
  });
  after(() => t.stop());

  test('a heartbeat expires after the window; the sweep tells conversation peers', async () => {
    const alice = await t.login('alice@example.com', { chat_address: 'alice', public_visible: true });
    const bob = await t.login('bob@example.com', { chat_address: 'bob' });
    assert.equal((await send(t, alice.token, 'bob', 'hi')).status, 200);
    await poll(t, bob.token);

    const hb = await heartbeat(t, alice.token, { session_name: 'short-lived' });
    assert.equal(hb.body.online, true);
    assert.equal(hb.body.expires_in, 1);
    assert.equal(userIn(await directory(t, bob.token), 'alice').online, true);
    const on = await poll(t, bob.token, { wait_ms: 1000 });
    assert.deepEqual(
      on.body.events.filter((e: any) => e.type === 'presence').map((e: any) => [e.chat_address, e.online]),
      [['alice', true]],
    );

    await sleep(1100); // the point of the test: the real presence window passes
    const entry = userIn(await directory(t, bob.token), 'alice');
    assert.equal(entry.online, false, 'offline once the window has passed');
    assert.equal(entry.sessions.find((s: any) => s.session_name === 'short-lived')?.online, false);
    assert.equal(t.relay.services.presence.isOnline(alice.user.id), false);

    t.relay.services.presence.sweep();
    const off = await poll(t, bob.token, { wait_ms: 1000 });
    assert.deepEqual(
      off.body.events.filter((e: any) => e.type === 'presence').map((e: any) => [e.chat_address, e.online]),
      [['alice', false]],
    );

    // A new heartbeat brings alice back, and bob hears it.
    await heartbeat(t, alice.token);
    const back = await poll(t, bob.token, { wait_ms: 1000 });
    assert.deepEqual(
      back.body.events.filter((e: any) => e.type === 'presence').map((e: any) => [e.chat_address, e.online]),
      [['alice', true]],
    );
  });

  test('a worker that polls within the window stays online without heartbeating again (seed 001 worker loop)', async () => {
    const worker = await t.login('worker@example.com', { chat_address: 'worker', public_visible: true });
    assert.equal((await heartbeat(t, worker.token, { session_name: 'loop' })).body.online, true);
    for (let i = 0; i < 6; i++) {
      await sleep(400); // 2.4 s in all: past the 1 s window more than twice
      assert.equal((await poll(t, worker.token)).status, 200);
    }
    assert.equal(userIn(await directory(t, worker.token), 'worker').online, true, 'polling keeps it online');
    await sleep(1100);
    assert.equal(userIn(await directory(t, worker.token), 'worker').online, false, 'offline once it stops');
  });
});
