// Unit tests for the browser app's stores and parsers (no browser: they are plain modules).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChatStore } from '../../web/src/stores/chat.ts';
import { LoginsStore } from '../../web/src/stores/logins.ts';
import { ContactsStore } from '../../web/src/stores/contacts.ts';
import { ConvLanguagesStore, TRANSLATE_OFF } from '../../web/src/stores/languages.ts';
import { memoryStorage } from '../../web/src/lib/store.ts';
import {
  contactsFromRows,
  contactsToCsv,
  conversationKey,
  parseAutoLogin,
  parseCsv,
  parsePastedContacts,
  parseVcf,
  textDirection,
  toCsv,
} from '../../web/src/lib/parse.ts';
import { b64urlDecode, parseLaunchLink } from '../../web/src/lib/launch.ts';
import { notificationFor, shouldNotify, type NotifyContext } from '../../web/src/lib/notify.ts';

const raw = (id: string, seq: number, from: string, to: string, text: string, extra: Record<string, unknown> = {}) => ({
  id,
  seq,
  from,
  to,
  text,
  created_at: new Date(1_800_000_000_000 + seq * 1000).toISOString(),
  status: 'sent',
  ...extra,
});
/** Bob's row in the relay's conversation list, `last` its newest message. */
const row = (last: ReturnType<typeof raw>, unread: number, archived = false) => ({ peer: 'bob', display_name: 'Bob', unread, archived, updated_at: last.created_at, last_message: last });

test('a message event re-delivered after a reconnect is applied once', () => {
  const s = new ChatStore('alice', 'Alice');
  const ev = { type: 'message', seq: 5, outgoing: false, message: raw('msg_1', 5, 'bob', 'alice', 'hi') };
  assert.ok(s.applyEvent(ev, false));
  assert.equal(s.applyEvent(ev, false), null);
  // Same message again under a later seq (another path): still one.
  s.applyEvent({ ...ev, seq: 9 }, false);
  assert.equal(s.state.msgs.bob.list.length, 1);
  assert.equal(s.state.conversations.bob.unread, 1);
  assert.equal(s.state.cursor, 9);
});

test('a delta at or before the cursor is not appended twice', () => {
  const s = new ChatStore('alice');
  s.applyEvent({ type: 'message', seq: 1, outgoing: false, message: raw('msg_s', 1, 'bot', 'alice', 'Hel', { streaming: true }) });
  s.applyEvent({ type: 'delta', seq: 2, message_id: 'msg_s', delta: 'lo' });
  s.applyEvent({ type: 'delta', seq: 2, message_id: 'msg_s', delta: 'lo' });
  assert.equal(s.find('msg_s')!.text, 'Hello');
  assert.equal(s.find('msg_s')!.streaming, true);
  s.applyEvent({ type: 'edit', seq: 3, message_id: 'msg_s', text: 'Hello!', final: true });
  assert.equal(s.find('msg_s')!.text, 'Hello!');
  assert.equal(s.find('msg_s')!.streaming, false);
  assert.equal(s.find('msg_s')!.edited_at, null, 'a final streamed text is not an edit');
});

test('edit, delete and receipts update the message; receipts never go backwards', () => {
  const s = new ChatStore('alice');
  s.applyEvent({ type: 'message', seq: 1, outgoing: true, message: raw('msg_a', 1, 'alice', 'bob', 'first') });
  s.applyEvent({ type: 'receipt', seq: 2, message_id: 'msg_a', status: 'read' });
  s.applyEvent({ type: 'receipt', seq: 3, message_id: 'msg_a', status: 'delivered' });
  assert.equal(s.find('msg_a')!.status, 'read');
  s.applyEvent({ type: 'edit', seq: 4, message_id: 'msg_a', text: 'first!', edited_at: 'x' });
  assert.equal(s.find('msg_a')!.text, 'first!');
  s.applyEvent({ type: 'delete', seq: 5, message_id: 'msg_a' });
  assert.equal(s.find('msg_a')!.deleted, true);
  assert.equal(s.find('msg_a')!.text, '');
});

test('an optimistic send is confirmed, and not doubled when the stream echoes it first', () => {
  const s = new ChatStore('alice');
  const p1 = s.addPending('bob', 'one');
  s.confirmSent(p1.localId!, { message_id: 'msg_1', seq: 3 });
  assert.deepEqual(s.state.msgs.bob.list.map((m) => [m.id, m.status, m.localId]), [['msg_1', 'sent', undefined]]);
  const p2 = s.addPending('bob', 'two');
  s.applyEvent({ type: 'message', seq: 4, outgoing: true, message: raw('msg_2', 4, 'alice', 'bob', 'two') });
  s.confirmSent(p2.localId!, { message_id: 'msg_2', seq: 4 });
  assert.deepEqual(s.state.msgs.bob.list.map((m) => m.id), ['msg_1', 'msg_2']);
  const p3 = s.addPending('bob', 'three');
  s.failSent(p3.localId!, 'offline');
  assert.equal(s.find(p3.localId!)!.status, 'failed');
});

test('a failed send discarded goes from the conversation and from its preview in the list', () => {
  const s = new ChatStore('alice');
  const sent = s.addPending('bob', 'one');
  s.confirmSent(sent.localId!, { message_id: 'msg_1', seq: 3 });
  const failed = s.addPending('bob', 'two');
  s.failSent(failed.localId!, 'refused');
  assert.equal(s.state.conversations.bob.last?.text, 'two');
  s.dropLocal(failed.localId!);
  assert.deepEqual(s.state.msgs.bob.list.map((m) => m.id), ['msg_1']);
  assert.equal(s.state.conversations.bob.last?.id, 'msg_1', 'the preview is the message before it again');
  assert.equal(s.find(failed.localId!), undefined);
});

test('failed sends go again once the relay is back, oldest first; refused ones do not', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: 1_800_000_000_000 });
  const s = new ChatStore('alice');
  const a = s.addPending('bob', 'a');
  t.mock.timers.tick(1000);
  const b = s.addPending('carol', 'b');
  t.mock.timers.tick(1000);
  const c = s.addPending('bob', 'c');
  const refused = s.addPending('bob', 'refused');
  s.failSent(c.localId!, 'The relay cannot be reached.', true);
  s.failSent(a.localId!, 'The relay cannot be reached.', true);
  s.failSent(b.localId!, 'The relay cannot be reached.', true);
  s.failSent(refused.localId!, 'The recipient does not accept messages from you.');
  assert.deepEqual(s.toResend().map((m) => m.text), ['a', 'b', 'c']);
  s.patchStatus(a.localId!, 'pending');
  assert.deepEqual(s.toResend().map((m) => m.text), ['b', 'c']);
});

test('an echo of our own send before its HTTP answer replaces the pending copy; saved messages are ours', () => {
  const s = new ChatStore('alice');
  const p = s.addPending('alice', 'note');
  s.applyEvent({ type: 'message', seq: 2, outgoing: false, message: raw('msg_n', 2, 'alice', 'alice', 'note') });
  assert.deepEqual(s.state.msgs.alice.list.map((m) => [m.id, m.outgoing]), [['msg_n', true]]);
  s.confirmSent(p.localId!, { message_id: 'msg_n', seq: 2 });
  assert.equal(s.state.msgs.alice.list.length, 1);
});

test('a send whose answer was lost is known by its idempotency key: its echo or a history page replaces the failed copy, shown once', () => {
  const s = new ChatStore('alice');
  // The answer was lost (network error), yet the message landed: the echo carries our local id.
  const lost = s.addPending('bob', 'landed');
  s.failSent(lost.localId!, 'The relay cannot be reached.', true);
  s.applyEvent({ type: 'message', seq: 3, outgoing: true, message: raw('msg_l', 3, 'alice', 'bob', 'landed', { idempotency_key: lost.localId }) });
  assert.deepEqual(s.state.msgs.bob.list.map((m) => [m.id, m.status, m.localId]), [['msg_l', 'sent', undefined]]);
  assert.deepEqual(s.toResend(), [], 'nothing left to send again');
  assert.equal(s.state.conversations.bob.last?.id, 'msg_l');
  // The resend's answer (same key, same message) changes nothing.
  s.confirmSent(lost.localId!, { message_id: 'msg_l', seq: 3 });
  assert.deepEqual(s.state.msgs.bob.list.map((m) => m.id), ['msg_l']);

  // The same text sent from another device (its own key) clears neither a failed nor a pending copy.
  const failed = s.addPending('bob', 'ok');
  s.failSent(failed.localId!, 'The relay cannot be reached.', true);
  const pending = s.addPending('bob', 'ok');
  s.applyEvent({ type: 'message', seq: 4, outgoing: true, message: raw('msg_other', 4, 'alice', 'bob', 'ok', { idempotency_key: 'local_other_device' }) });
  assert.deepEqual(
    s.state.msgs.bob.list.map((m) => [m.id, m.status]),
    [['msg_l', 'sent'], [failed.localId, 'failed'], [pending.localId, 'pending'], ['msg_other', 'sent']],
  );
  // Without a key (an older relay): only a pending copy is matched, by its text, and replaced in place.
  s.applyEvent({ type: 'message', seq: 5, outgoing: true, message: raw('msg_nokey', 5, 'alice', 'bob', 'ok') });
  assert.deepEqual(s.state.msgs.bob.list.map((m) => [m.id, m.status]), [['msg_l', 'sent'], [failed.localId, 'failed'], ['msg_nokey', 'sent'], ['msg_other', 'sent']]);

  // A history page holding a failed send that landed: the failed copy goes, the message shows once.
  const s2 = new ChatStore('alice');
  const gone = s2.addPending('group:grp_0123456789abcdef', 'in the group');
  s2.failSent(gone.localId!, 'The relay cannot be reached.', true);
  s2.loadHistory('group:grp_0123456789abcdef', {
    messages: [raw('msg_g', 9, 'alice', 'group:grp_0123456789abcdef', 'in the group', { group: { id: 'grp_0123456789abcdef' }, idempotency_key: gone.localId })],
  });
  assert.deepEqual(s2.state.msgs['group:grp_0123456789abcdef'].list.map((m) => [m.id, m.status]), [['msg_g', 'sent']]);
  assert.deepEqual(s2.toResend(), []);
  // Its echo arriving after the page: still once.
  s2.applyEvent({ type: 'message', seq: 9, outgoing: true, message: raw('msg_g', 9, 'alice', 'group:grp_0123456789abcdef', 'in the group', { group: { id: 'grp_0123456789abcdef' }, idempotency_key: gone.localId }) });
  assert.equal(s2.state.msgs['group:grp_0123456789abcdef'].list.length, 1);
});

test('history pages prepend, skip what is loaded, and the view window stays bounded', () => {
  const s = new ChatStore('alice');
  s.applyEvent({ type: 'message', seq: 1000, outgoing: false, message: raw('msg_live', 1000, 'bob', 'alice', 'live') });
  const page = Array.from({ length: 50 }, (_, i) => raw(`msg_${i}`, i + 1, i % 2 ? 'bob' : 'alice', i % 2 ? 'alice' : 'bob', `m${i}`));
  s.loadHistory('bob', { messages: [...page, raw('msg_live', 1000, 'bob', 'alice', 'live')], has_more: true, next_before: 1 });
  const list = s.state.msgs.bob.list;
  assert.equal(list.length, 51);
  assert.equal(list[0].id, 'msg_0');
  assert.equal(list[50].id, 'msg_live');
  assert.equal(s.state.msgs.bob.nextBefore, 1);
  const w = s.window('bob', 20);
  assert.equal(w.items.length, 20);
  assert.equal(w.hiddenOlder, 31);
});

test('a live message older than the first history page keeps seq order', () => {
  const s = new ChatStore('alice');
  s.applyEvent({ type: 'message', seq: 7, outgoing: false, message: raw('msg_7', 7, 'bob', 'alice', 'seven') });
  s.loadHistory('bob', { messages: [raw('msg_8', 8, 'bob', 'alice', 'eight'), raw('msg_9', 9, 'bob', 'alice', 'nine')], has_more: true, next_before: 8 });
  assert.deepEqual(s.state.msgs.bob.list.map((m) => m.seq), [7, 8, 9]);
});

// Timings are reported, not asserted (they depend on the machine's load; performance is
// measured by benchmarks): what is asserted is what keeps it fast, a bounded window.
test('50,000 messages: loading pages, then a bounded visible window and a live message', (t) => {
  const s = new ChatStore('alice');
  const N = 50_000;
  const messages = Array.from({ length: N }, (_, i) => raw(`msg_${i}`, i + 1, i % 2 ? 'bob' : 'alice', i % 2 ? 'alice' : 'bob', `message ${i}`));
  const t0 = performance.now();
  for (let i = 0; i < N; i += 200) s.loadHistory('bob', { messages: messages.slice(N - i - 200, N - i), has_more: i + 200 < N });
  const loaded = performance.now() - t0;
  const t1 = performance.now();
  const w = s.window('bob', 100);
  s.applyEvent({ type: 'message', seq: N + 1, outgoing: false, message: raw('msg_new', N + 1, 'bob', 'alice', 'new') });
  const windowed = performance.now() - t1;
  const list = s.state.msgs.bob.list;
  assert.equal(list.length, N + 1);
  assert.ok(list.every((m, i) => m.seq === i + 1), 'every page in seq order, the live message last');
  assert.equal(w.items.length, 100);
  assert.equal(w.hiddenOlder, N - 100);
  assert.deepEqual(s.window('bob', 100).items.map((m) => m.id).slice(-2), [`msg_${N - 1}`, 'msg_new']);
  t.diagnostic(`loading 250 pages: ${loaded.toFixed(0)} ms; window + one live message: ${windowed.toFixed(1)} ms`);
});

test('a conversation list answered after a newer message came live does not take the sidebar back', () => {
  const s = new ChatStore('alice');
  s.loadConversations([row(raw('m1', 1, 'bob', 'alice', 'lunch?'), 1)]);
  s.applyEvent({ type: 'message', seq: 7, outgoing: false, message: raw('m7', 7, 'bob', 'alice', 'at noon?') }, false);
  assert.equal(s.state.conversations.bob.unread, 2);
  // Asked for before m7 came, answered after it.
  s.loadConversations([row(raw('m1', 1, 'bob', 'alice', 'lunch?'), 1)]);
  assert.equal(s.state.conversations.bob.last?.id, 'm7', 'the newer preview stays');
  assert.equal(s.state.conversations.bob.unread, 2, 'and its unread count');
  // A list that is as new or newer is taken as it is (read elsewhere: unread 0).
  s.loadConversations([row(raw('m7', 7, 'bob', 'alice', 'at noon?'), 0)]);
  assert.equal(s.state.conversations.bob.unread, 0);
  s.loadConversations([row(raw('m9', 9, 'bob', 'alice', 'or one?'), 1)]);
  assert.equal(s.state.conversations.bob.last?.id, 'm9');
  assert.equal(s.state.conversations.bob.unread, 1);
});

test('an archived conversation a message took out of the archive is not put back by a list asked for before that message', () => {
  const s = new ChatStore('alice');
  s.loadConversations([row(raw('m1', 1, 'bob', 'alice', 'lunch?'), 0, true)], { archived: true });
  assert.equal(s.state.conversations.bob.archived, true);
  s.applyEvent({ type: 'message', seq: 2, outgoing: false, message: raw('m2', 2, 'bob', 'alice', 'still on?') }, false);
  assert.equal(s.state.conversations.bob.archived, false, 'a message takes it out, as on the relay');
  // The archived list, asked for before m2, answered after it.
  s.loadConversations([row(raw('m1', 1, 'bob', 'alice', 'lunch?'), 0, true)], { archived: true });
  assert.equal(s.state.conversations.bob.archived, false);
  assert.equal(s.totalUnread(), 1);
  // Archived again elsewhere after m2: a list that has m2 says so.
  s.loadConversations([row(raw('m2', 2, 'bob', 'alice', 'still on?'), 1, true)], { archived: true });
  assert.equal(s.state.conversations.bob.archived, true);
});

test('an unsent copy as the preview (its time the browser clock) does not make a newer conversation list look stale', (t) => {
  // The browser's clock an hour ahead of the relay's.
  t.mock.timers.enable({ apis: ['Date'], now: 1_800_000_000_000 + 3_600_000 });
  const s = new ChatStore('alice');
  s.loadConversations([row(raw('m1', 1, 'bob', 'alice', 'lunch?'), 0)]);
  const local = s.addPending('bob', 'are you there?');
  s.failSent(local.localId!, 'refused');
  s.applyEvent({ type: 'message', seq: 2, outgoing: false, message: raw('m2', 2, 'bob', 'alice', 'here') }, false);
  assert.equal(s.state.conversations.bob.unread, 1);
  // Read on another device: the list has m2, the newest the relay gave, and no unread.
  s.loadConversations([row(raw('m2', 2, 'bob', 'alice', 'here'), 0)]);
  assert.equal(s.state.conversations.bob.unread, 0, 'read elsewhere');
  assert.equal(s.state.conversations.bob.last?.id, 'm2');
  // A list that is behind m3 (which came live) stays behind, an unsent copy after m3 or not.
  s.applyEvent({ type: 'message', seq: 3, outgoing: false, message: raw('m3', 3, 'bob', 'alice', 'hello?') }, false);
  s.addPending('bob', 'sorry, here now');
  s.loadConversations([row(raw('m2', 2, 'bob', 'alice', 'here'), 0)]);
  assert.equal(s.state.conversations.bob.unread, 1, 'm3 still unread');
  assert.equal(s.state.conversations.bob.last?.text, 'sorry, here now');
});

test('the sidebar filters by channel, search and archive; saved messages stay on top', () => {
  const s = new ChatStore('alice');
  s.loadConversations([
    { peer: 'bob', display_name: 'Bob', unread: 2, archived: false, updated_at: '2026-01-02T00:00:00Z', last_message: raw('m1', 1, 'bob', 'alice', 'lunch?') },
    { peer: 'alice', saved: true, unread: 0, archived: false, updated_at: '2026-01-01T00:00:00Z', last_message: null },
    { peer: '+15550001', display_name: 'SMS friend', unread: 0, archived: false, updated_at: '2026-01-03T00:00:00Z', last_message: raw('m2', 2, '+15550001', 'alice', 'yo', { channel: 'sms' }) },
    { peer: 'old', display_name: 'Old', unread: 1, archived: true, updated_at: '2026-01-04T00:00:00Z', last_message: null },
    { kind: 'group', peer: 'group:grp_0123456789abcdef', group_id: 'grp_0123456789abcdef', display_name: 'Builds', mode: 'stream', role: 'member', unread: 0, archived: false, updated_at: '2026-01-05T00:00:00Z' },
  ]);
  assert.deepEqual(s.visibleConversations().map((c) => c.key), ['alice', 'group:grp_0123456789abcdef', '+15550001', 'bob']);
  assert.equal(s.state.conversations['group:grp_0123456789abcdef'].readOnly, true);
  s.setFilter({ filter: 'sms' });
  assert.deepEqual(s.visibleConversations().map((c) => c.key), ['+15550001']);
  s.setFilter({ filter: 'all', search: 'lunch' });
  assert.deepEqual(s.visibleConversations().map((c) => c.key), ['bob']);
  s.setFilter({ search: '', showArchived: true });
  assert.deepEqual(s.visibleConversations().map((c) => c.key), ['old']);
  assert.equal(s.totalUnread(), 2);
  assert.deepEqual(s.takeUnread('bob'), []);
  assert.equal(s.state.conversations.bob.unread, 0);
});

test('typing shows until typing:false or its time-to-live runs out', () => {
  const s = new ChatStore('alice');
  s.applyEvent({ type: 'typing', from: 'bob', display_name: 'Bob', typing: true });
  assert.equal(s.typingIn('bob'), 'Bob');
  assert.equal(s.typingIn('bob', Date.now() + 60_000), null);
  // Views re-render when it runs out (nothing else changes then).
  assert.equal(s.typingEnds(), s.state.typing.bob.until);
  assert.equal(s.typingEnds(Date.now() + 60_000), null);
  s.applyEvent({ type: 'typing', from: 'bob', typing: false });
  assert.equal(s.typingIn('bob'), null);
});

test('group messages key by group id (object or string form)', () => {
  assert.equal(conversationKey({ from: 'bob', to: 'group:grp_1', group: { id: 'grp_1' } }, 'alice'), 'group:grp_1');
  assert.equal(conversationKey({ from: 'bob', to: 'group:grp_1' }, 'alice'), 'group:grp_1');
  assert.equal(conversationKey({ from: 'alice', to: 'bob' }, 'alice'), 'bob');
  assert.equal(conversationKey({ from: 'bob', to: 'alice' }, 'alice'), 'bob');
  assert.equal(conversationKey({ from: 'alice', to: 'alice' }, 'alice'), 'alice');
});

test('logins: several stored, switching, removal, cursor per login, persisted', () => {
  const kv = memoryStorage();
  const a = new LoginsStore(kv);
  a.add({ relay: '', token: 'pct_a', email: 'a@x.io', chat_address: 'a', display_name: 'A', user_id: 'usr_a' });
  a.add({ relay: 'https://r.example', token: 'pct_b', email: 'b@x.io', chat_address: 'b', display_name: 'B', user_id: 'usr_b' });
  assert.equal(a.current!.chat_address, 'b');
  a.switchTo(0);
  a.saveCursor(a.current!, 42);
  const b = new LoginsStore(kv);
  assert.equal(b.current!.chat_address, 'a');
  assert.equal(b.cursor(b.current!), 42);
  assert.equal(b.cursor(b.state.logins[1]), 0);
  b.add({ relay: '', token: 'pct_a2', email: 'a@x.io', chat_address: 'a', display_name: 'A', user_id: 'usr_a' });
  assert.equal(b.state.logins.length, 2, 'the same account again replaces its old login');
  b.remove();
  assert.equal(b.state.logins.length, 1);
  assert.equal(b.current!.chat_address, 'b');
  b.setRelay({ mode: 'private', url: 'https://relay.example/' });
  assert.equal(b.relayUrl, 'https://relay.example');
});

test('the auto-login URL gives the token and an address bar without it', () => {
  const got = parseAutoLogin('http://127.0.0.1:5110/app/webchat/chat.html?relay=http%3A%2F%2F127.0.0.1%3A5110&relay_mode=public&email=a%40x.io&chat_address=alice&pchat_session=pct_abc-DEF_1&keep=1#top');
  assert.equal(got!.token, 'pct_abc-DEF_1');
  assert.equal(got!.relay, 'http://127.0.0.1:5110');
  assert.equal(got!.chat_address, 'alice');
  assert.equal(got!.cleanUrl, '/app/webchat/chat.html?keep=1#top');
  assert.equal(parseAutoLogin('http://h/app/webchat/chat.html?pchat_session=nope'), null);
  assert.equal(parseAutoLogin('http://h/app/webchat/chat.html'), null);
});

test('CSV: quotes, doubled quotes, newlines in fields, ; separators; export guards formulas', () => {
  assert.deepEqual(parseCsv('name,email\r\n"Doe, Jane","j""d@x.io"\n"multi\nline",x\n'), [
    ['name', 'email'],
    ['Doe, Jane', 'j"d@x.io'],
    ['multi\nline', 'x'],
  ]);
  assert.deepEqual(parseCsv('a;b\n1;2'), [
    ['a', 'b'],
    ['1', '2'],
  ]);
  assert.equal(toCsv([['=HYPERLINK("x")', '+15551230001', 'a,b']]), `'=HYPERLINK(""x"")",+15551230001,"a,b"\r\n`.replace(/^'=HYPERLINK\(""x""\)"/, `"'=HYPERLINK(""x"")"`));
});

test('contacts from rows with and without a header, pasted rows, vCard; round trip through CSV', () => {
  assert.deepEqual(contactsFromRows([['Full Name', 'E-mail', 'Mobile'], ['Ann', 'ann@x.io', '+1 555 000']]), [{ name: 'Ann', email: 'ann@x.io', phone: '+1 555 000' }]);
  assert.deepEqual(parsePastedContacts('Ben\tben@x.io\t+1 (555) 0001\nCid, cid-bot'), [
    { name: 'Ben', email: 'ben@x.io', phone: '+15550001' },
    { name: 'Cid', chat_address: 'cid-bot' },
  ]);
  const vcf = 'BEGIN:VCARD\r\nVERSION:4.0\r\nN:Lovelace;Ada;;;\r\nEMAIL;TYPE=work:ada@x.io\r\nTEL;VALUE=uri:tel:+44-20-0000\r\nEND:VCARD\r\nBEGIN:VCARD\r\nFN:Folded\r\n  Name\r\nEND:VCARD\r\n';
  assert.deepEqual(parseVcf(vcf), [
    { name: 'Ada Lovelace', email: 'ada@x.io', phone: '+44200000' },
    { name: 'Folded Name' },
  ]);
  const list = [{ name: 'Doe, Jane', chat_address: 'jane', email: 'j@x.io', phone: '+1555' }];
  assert.deepEqual(contactsFromRows(parseCsv(contactsToCsv(list))), list);
  const store = new ContactsStore(memoryStorage());
  assert.equal(store.merge(list), 1);
  assert.equal(store.merge([{ name: 'Jane D.', chat_address: 'jane' }]), 0);
  assert.equal(store.state.contacts[0].name, 'Jane D.');
});

test('text direction follows the first strong character', () => {
  assert.equal(textDirection('שלום world'), 'rtl');
  assert.equal(textDirection('مرحبا'), 'rtl');
  assert.equal(textDirection('hello שלום'), 'ltr');
  assert.equal(textDirection('123 你好'), 'ltr');
});

test('launch links: signed payload read exactly; mismatched relay and unsigned links are flagged', () => {
  const payload = Buffer.from(JSON.stringify({ v: 1, type: 'pchat-launch', relay: 'https://r.example', relay_mode: 'private', name: 'Box' }));
  const url = `https://site/app/webchat/chat.html?relay=${encodeURIComponent('https://r.example')}&relay_mode=private&pchat_launch=${payload.toString('base64url')}&pchat_sig=${Buffer.alloc(64, 1).toString('base64url')}`;
  const link = parseLaunchLink(url)!;
  assert.equal(link.relay, 'https://r.example');
  assert.equal(link.name, 'Box');
  assert.equal(link.problem, undefined);
  assert.deepEqual(Buffer.from(link.payload!), payload);
  assert.equal(link.signature!.length, 64);
  assert.match(parseLaunchLink(url.replace('relay=https', 'relay=http'))!.problem!, /does not match/);
  assert.match(parseLaunchLink(url.replace(/&pchat_sig=.*$/, ''))!.problem!, /not signed/);
  assert.deepEqual(parseLaunchLink('https://r.example/app/webchat/chat.html'), { relay: 'https://r.example', mode: 'private' });
  assert.deepEqual([...b64urlDecode('AQID')], [1, 2, 3]);
});

test('notifications: only when allowed, and never for the conversation the user is looking at', () => {
  const looking: NotifyContext = { enabled: true, permission: 'granted', visible: true, focused: true, active: 'bob' };
  assert.equal(shouldNotify(looking, 'bob'), false);
  assert.equal(shouldNotify(looking, 'carl'), true, 'another conversation');
  assert.equal(shouldNotify({ ...looking, visible: false }, 'bob'), true, 'tab hidden');
  assert.equal(shouldNotify({ ...looking, focused: false }, 'bob'), true, 'window in the background');
  assert.equal(shouldNotify({ ...looking, active: null }, 'bob'), true, 'no conversation open');
  assert.equal(shouldNotify({ ...looking, enabled: false, active: null }, 'bob'), false, 'turned off in Settings');
  for (const permission of ['default', 'denied', 'unsupported'] as const) assert.equal(shouldNotify({ ...looking, permission, active: null }, 'bob'), false, permission);
});

test('a notification names the sender (and the group) and says what came', () => {
  const m = { from: 'carl', display_name: 'Carl', text: 'hi', attachments: [] };
  assert.deepEqual(notificationFor(m, 'carl', 'Carl'), { title: 'Carl', body: 'hi', tag: 'pchat:carl' });
  assert.equal(notificationFor({ ...m, display_name: null }, 'carl', 'carl').title, 'carl');
  assert.equal(notificationFor(m, 'group:grp_1', 'Team').title, 'Carl · Team');
  assert.equal(notificationFor({ ...m, text: '', attachments: [{ kind: 'voice' }] }, 'carl', 'Carl').body, 'Voice message');
  assert.equal(notificationFor({ ...m, text: '', attachments: [{ kind: 'file', name: 'a.pdf' }] }, 'carl', 'Carl').body, '📎 a.pdf');
  assert.equal(notificationFor({ ...m, text: '', attachments: [{ kind: 'file' }, { kind: 'image' }] }, 'carl', 'Carl').body, '📎 2 files');
});

test('avatars come from the conversation list and user lists; a bare-address title takes the display name', () => {
  const s = new ChatStore('me', 'Me');
  s.loadConversations([
    { peer: 'dan', display_name: 'Dan', avatar_file_id: 'file_dan', unread: 0, updated_at: '2026-01-01T00:00:00Z' },
    { group_id: 'grp_1', display_name: 'Team', unread: 0, updated_at: '2026-01-01T00:00:00Z' },
  ]);
  assert.equal(s.avatarOf('dan'), 'file_dan');
  assert.equal(s.avatarOf('group:grp_1'), null);
  s.ensureConversation('eve');
  assert.equal(s.state.conversations.eve.title, 'eve');
  s.learnUsers([{ chat_address: 'eve', display_name: 'Eve', avatar_file_id: 'file_eve' }, { chat_address: 'dan' }, { chat_address: 'me', avatar_file_id: 'file_me' }]);
  assert.equal(s.state.conversations.eve.title, 'Eve');
  assert.equal(s.avatarOf('eve'), 'file_eve');
  assert.equal(s.avatarOf('dan'), 'file_dan', 'a list that does not state the avatar leaves it');
  assert.equal(s.avatarOf('me'), 'file_me');
  s.learnUsers([{ chat_address: 'dan', display_name: 'Daniel', avatar_file_id: null }]);
  assert.equal(s.avatarOf('dan'), null, 'removed');
  assert.equal(s.state.conversations.dan.title, 'Dan', 'a real title is not overwritten');
});

test('per-conversation translation: a chat language or off over Settings; the relay languages win, off stays local', () => {
  const kv = memoryStorage();
  const s = new ConvLanguagesStore(kv);
  s.load('gus', {});
  assert.equal(s.target('hal', ''), null, 'nothing anywhere: no captions');
  assert.equal(s.target('hal', 'es'), 'es', 'as in Settings');
  s.choose('hal', 'ca');
  s.choose('fay', TRANSLATE_OFF);
  assert.equal(s.target('hal', 'es'), 'ca');
  assert.equal(s.target('fay', 'es'), null);
  assert.equal(s.choice('fay'), TRANSLATE_OFF);
  s.choose('hal', null);
  assert.equal(s.choice('hal'), null);

  // Another device set hal to pt and ann to fr on the relay; off for fay is this browser's.
  const again = new ConvLanguagesStore(kv);
  again.load('gus', { hal: 'pt', ann: 'fr' });
  assert.deepEqual(again.state.choices, { fay: TRANSLATE_OFF, hal: 'pt', ann: 'fr' });
  // A relay that cannot say keeps what this browser had; another login has its own.
  again.load('gus');
  assert.deepEqual(again.state.choices, { fay: TRANSLATE_OFF, hal: 'pt', ann: 'fr' });
  again.load('zed', {});
  assert.deepEqual(again.state.choices, {});
});

test('changing a chat translation language drops other-language captions; untranslated lists what needs one', () => {
  const s = new ChatStore('me', 'Me');
  s.loadHistory('hal', {
    messages: [raw('m1', 1, 'hal', 'me', 'one', { translation: { text: 'uno', language: 'es' } }), raw('m2', 2, 'me', 'hal', 'mine'), raw('m3', 3, 'hal', 'me', 'three')],
  });
  assert.deepEqual(s.untranslated('hal', 'es', 20), ['m3']);
  assert.deepEqual(s.untranslated('hal', 'ca', 20), ['m1', 'm3']);
  assert.deepEqual(s.untranslated('hal', 'ca', 1), ['m3'], 'the newest first to go');
  s.dropTranslations('hal', 'ca');
  assert.equal(s.find('m1')?.translation, null);
});

test('an answer from another device zeroes the conversation’s unread, as the relay counts it; an older one does not', () => {
  const s = new ChatStore('alice', 'Alice');
  s.applyEvent({ type: 'message', seq: 1, outgoing: false, message: raw('msg_a', 1, 'bob', 'alice', 'one') }, false);
  s.applyEvent({ type: 'message', seq: 2, outgoing: false, message: raw('msg_b', 2, 'bob', 'alice', 'two') }, false);
  assert.equal(s.state.conversations.bob.unread, 2);
  s.applyEvent({ type: 'message', seq: 3, outgoing: true, message: raw('msg_c', 3, 'alice', 'bob', 'answered from my phone') }, false);
  assert.equal(s.state.conversations.bob.unread, 0);
  s.applyEvent({ type: 'message', seq: 4, outgoing: false, message: raw('msg_d', 4, 'bob', 'alice', 'three') }, false);
  assert.equal(s.state.conversations.bob.unread, 1);
  // An old answer re-read (history, a replay) is not news.
  s.applyEvent({ type: 'message', seq: 5, outgoing: true, message: { ...raw('msg_old', 0, 'alice', 'bob', 'long ago'), seq: 5 } }, false);
  assert.equal(s.state.conversations.bob.unread, 1);
});

test('messages the conversation list already counted are not counted again when the stream replays them after a reload', () => {
  // A reload resumes the stream from the stored cursor after loading the list: the relay's
  // unread (3) already covers the replayed messages; only a newer one adds to it.
  const s = new ChatStore('alice', 'Alice');
  s.loadConversations([{ kind: 'direct', peer: 'bob', display_name: 'Bob', unread: 3, updated_at: raw('m', 7, 'bob', 'alice', '').created_at, last_message: raw('msg_7', 7, 'bob', 'alice', 'three') }]);
  for (const [id, seq] of [['msg_5', 5], ['msg_6', 6], ['msg_7', 7]] as const) s.applyEvent({ type: 'message', seq, outgoing: false, message: raw(id, seq, 'bob', 'alice', id) }, false);
  assert.equal(s.state.conversations.bob.unread, 3);
  assert.equal(s.totalUnread(), 3);
  s.applyEvent({ type: 'message', seq: 8, outgoing: false, message: raw('msg_8', 8, 'bob', 'alice', 'four') }, false);
  assert.equal(s.state.conversations.bob.unread, 4);
});

test('an edit or delete of the newest message updates the sidebar preview before the conversation is opened', () => {
  // After a reload the newest message is known only from the conversation list (no history yet).
  const s = new ChatStore('alice', 'Alice');
  s.loadConversations([{ kind: 'direct', peer: 'bob', display_name: 'Bob', unread: 0, updated_at: raw('m', 7, 'bob', 'alice', '').created_at, last_message: raw('msg_7', 7, 'bob', 'alice', 'meet at 5') }]);
  s.applyEvent({ type: 'edit', seq: 8, message_id: 'msg_7', text: 'meet at 6', edited_at: 'x' });
  assert.equal(s.state.conversations.bob.last!.text, 'meet at 6');
  s.applyEvent({ type: 'delete', seq: 9, message_id: 'msg_7' });
  assert.equal(s.state.conversations.bob.last!.deleted, true);
  assert.equal(s.state.conversations.bob.last!.text, '');
});

test('a message its sender deletes before it was read no longer counts as unread, as the relay counts it', () => {
  const s = new ChatStore('alice', 'Alice');
  s.applyEvent({ type: 'message', seq: 1, outgoing: false, message: raw('msg_1', 1, 'bob', 'alice', 'one') }, false);
  s.applyEvent({ type: 'message', seq: 2, outgoing: true, message: raw('msg_2', 2, 'alice', 'bob', 'answer') }, false);
  s.applyEvent({ type: 'message', seq: 3, outgoing: false, message: raw('msg_3', 3, 'bob', 'alice', 'oops') }, false);
  s.applyEvent({ type: 'message', seq: 4, outgoing: false, message: raw('msg_4', 4, 'bob', 'alice', 'four') }, false);
  assert.equal(s.state.conversations.bob.unread, 2);
  s.applyEvent({ type: 'delete', seq: 5, message_id: 'msg_3' });
  assert.equal(s.state.conversations.bob.unread, 1);
  s.applyEvent({ type: 'delete', seq: 6, message_id: 'msg_3' }); // the same delete again
  s.applyEvent({ type: 'delete', seq: 7, message_id: 'msg_1' }); // answered already: not counted
  assert.equal(s.state.conversations.bob.unread, 1);
  s.takeUnread('bob');
  s.applyEvent({ type: 'delete', seq: 8, message_id: 'msg_4' }); // read
  assert.equal(s.state.conversations.bob.unread, 0);
  // Known only from the conversation list (after a reload): its newest, unread, deleted.
  s.loadConversations([{ kind: 'direct', peer: 'carol', unread: 1, updated_at: raw('m', 9, 'carol', 'alice', '').created_at, last_message: raw('msg_9', 9, 'carol', 'alice', 'hi') }]);
  s.applyEvent({ type: 'delete', seq: 10, message_id: 'msg_9' });
  assert.equal(s.state.conversations.carol.unread, 0);
  assert.equal(s.totalUnread(), 0);
});

test('removed from a group: its loaded messages stay, no older page is asked for; added back: they go, to load afresh', () => {
  const s = new ChatStore('alice', 'Alice');
  const key = 'group:grp_0000000000000001';
  s.ensureConversation(key, { title: 'Crew', kind: 'group' });
  s.loadHistory(key, { messages: [raw('msg_1', 1, 'bob', 'group:grp_0000000000000001', 'one', { group: 'grp_0000000000000001' })], has_more: true, next_before: 1 });
  // Someone else leaving changes nothing here.
  s.applyEvent({ type: 'group', seq: 2, group_id: 'grp_0000000000000001', action: 'member_removed', address: 'carol', by: 'bob' });
  assert.equal(s.state.msgs[key].unavailable, undefined);
  s.applyEvent({ type: 'group', seq: 3, group_id: 'grp_0000000000000001', action: 'member_removed', address: 'alice', by: 'bob' });
  const m = s.state.msgs[key];
  assert.equal(m.unavailable, 'not_member');
  assert.equal(m.hasMore, false);
  assert.deepEqual(m.list.map((x) => x.text), ['one']);
  const pending = s.addPending(key, 'unsent');
  s.applyEvent({ type: 'group', seq: 4, group_id: 'grp_0000000000000001', action: 'member_added', address: 'alice', role: 'member', by: 'bob' });
  const again = s.state.msgs[key];
  assert.equal(again.unavailable, undefined);
  assert.equal(again.loaded, false);
  assert.equal(again.hasMore, true);
  assert.deepEqual(again.list.map((x) => x.text), ['unsent'], 'only your unsent message stays');
  assert.equal(s.state.index.msg_1, undefined);
  assert.equal(s.state.index[pending.localId!], key);
  // Its history loads again as a first page.
  s.loadHistory(key, { messages: [raw('msg_1', 1, 'bob', 'group:grp_0000000000000001', 'one', { group: 'grp_0000000000000001' })], has_more: false });
  assert.deepEqual(s.state.msgs[key].list.map((x) => x.text), ['one', 'unsent']);
});

test('added to a group whose history was never refused: nothing is dropped', () => {
  const s = new ChatStore('alice', 'Alice');
  const key = 'group:grp_0000000000000002';
  s.loadHistory(key, { messages: [raw('msg_1', 1, 'bob', key, 'one', { group: 'grp_0000000000000002' })], has_more: false });
  s.applyEvent({ type: 'group', seq: 2, group_id: 'grp_0000000000000002', action: 'member_added', address: 'alice', role: 'member', by: 'bob' });
  assert.equal(s.state.msgs[key].loaded, true);
  assert.equal(s.state.msgs[key].list.length, 1);
  // A group the app never had is not made up by a removal either.
  s.applyEvent({ type: 'group', seq: 3, group_id: 'grp_0000000000000003', action: 'member_removed', address: 'alice', by: 'bob' });
  assert.equal(s.state.msgs['group:grp_0000000000000003'], undefined);
});

test('an address the relay did not know writes to you: it is no longer shown as nobody’s', () => {
  const s = new ChatStore('alice', 'Alice');
  s.historyUnavailable('ghost', 'no_address');
  assert.equal(s.state.msgs.ghost.unavailable, 'no_address');
  assert.equal(s.state.msgs.ghost.loaded, true);
  s.applyEvent({ type: 'message', seq: 5, outgoing: false, message: raw('msg_g', 5, 'ghost', 'alice', 'I exist now') }, false);
  assert.equal(s.state.msgs.ghost.unavailable, undefined);
  assert.deepEqual(s.state.msgs.ghost.list.map((x) => x.text), ['I exist now']);
});

test('a history page asked for before your removal from a group, answered after it: its messages come, but no older page is offered', () => {
  const s = new ChatStore('alice', 'Alice');
  const key = 'group:grp_0000000000000004';
  const msg = (id: string, seq: number, text: string) => raw(id, seq, 'bob', key, text, { group: 'grp_0000000000000004' });
  s.ensureConversation(key, { title: 'Crew', kind: 'group' });
  // Opened: the first page is on its way when the removal arrives.
  s.applyEvent({ type: 'group', seq: 9, group_id: 'grp_0000000000000004', action: 'member_removed', address: 'alice', by: 'bob' });
  s.loadHistory(key, { messages: [msg('msg_2', 2, 'two'), msg('msg_3', 3, 'three')], has_more: true, next_before: 2 });
  const m = s.state.msgs[key];
  assert.equal(m.unavailable, 'not_member');
  assert.equal(m.loaded, true);
  assert.equal(m.hasMore, false);
  assert.equal(m.nextBefore, null);
  assert.deepEqual(m.list.map((x) => x.text), ['two', 'three'], 'readable when asked for: shown');
  // An older page that was asked for before too: taken, and still nothing more.
  s.loadHistory(key, { messages: [msg('msg_1', 1, 'one')], has_more: true, next_before: 1 });
  assert.equal(s.state.msgs[key].hasMore, false);
  assert.deepEqual(s.state.msgs[key].list.map((x) => x.text), ['one', 'two', 'three']);
  // Added back: pages say again whether there is more.
  s.applyEvent({ type: 'group', seq: 10, group_id: 'grp_0000000000000004', action: 'member_added', address: 'alice', role: 'member', by: 'bob' });
  s.loadHistory(key, { messages: [msg('msg_3', 3, 'three')], has_more: true, next_before: 3 });
  assert.equal(s.state.msgs[key].hasMore, true);
  assert.equal(s.state.msgs[key].nextBefore, 3);
});

test('your join request: sent, turned down (your own note names no address; an admin’s copy about someone else changes nothing), over once you are in', () => {
  const s = new ChatStore('alice', 'Alice');
  const gid = 'grp_0000000000000005';
  s.setJoinRequest(gid, 'requested');
  assert.equal(s.state.joinRequests[gid], 'requested');
  s.applyEvent({ type: 'group', seq: 1, group_id: gid, action: 'join_rejected', request_id: 'req_0000000000000001', address: 'carol', by: 'bob' });
  assert.equal(s.state.joinRequests[gid], 'requested', 'someone else turned down');
  s.applyEvent({ type: 'group', seq: 2, group_id: gid, action: 'join_rejected', name: 'Crew' });
  assert.equal(s.state.joinRequests[gid], 'rejected');
  s.setJoinRequest(gid, 'requested');
  s.applyEvent({ type: 'group', seq: 3, group_id: gid, action: 'join_approved', name: 'Crew', by: 'bob' });
  assert.equal(s.state.joinRequests[gid], undefined);
  s.setJoinRequest(gid, 'requested');
  s.applyEvent({ type: 'group', seq: 4, group_id: gid, action: 'member_added', address: 'alice', role: 'member', by: 'bob' });
  assert.equal(s.state.joinRequests[gid], undefined, 'let in (or added) by an admin');
  s.setJoinRequest(gid, 'requested');
  s.reset('alice', 'Alice');
  assert.deepEqual(s.state.joinRequests, {}, 'a new session starts without');
});

test('a group removed from before it was opened: the message its preview showed is among what the app had, once the relay refuses the history', () => {
  const s = new ChatStore('alice', 'Alice');
  const key = 'group:grp_0000000000000006';
  const last = raw('msg_9', 9, 'bob', key, 'paddles are by the shed', { group: 'grp_0000000000000006' });
  s.loadConversations([{ kind: 'group', group_id: 'grp_0000000000000006', display_name: 'Kayakers', mode: 'chat', role: 'member', unread: 1, updated_at: last.created_at, last_message: last }]);
  s.applyEvent({ type: 'group', seq: 10, group_id: 'grp_0000000000000006', action: 'member_removed', address: 'alice', by: 'bob' });
  assert.equal(s.state.msgs[key].unavailable, 'not_member');
  assert.equal(s.state.msgs[key].loaded, false);
  s.historyUnavailable(key, 'not_member');
  const m = s.state.msgs[key];
  assert.deepEqual(m.list.map((x) => x.text), ['paddles are by the shed']);
  assert.equal(m.loaded, true);
  assert.equal(m.hasMore, false);
  assert.equal(s.state.index.msg_9, key);
  assert.equal(s.state.conversations[key].last?.id, 'msg_9');
  // Refused again (opened once more): still once.
  s.historyUnavailable(key, 'not_member');
  assert.equal(s.state.msgs[key].list.length, 1);
  // A local copy as the preview (a send that failed) is not made up as the relay's.
  const d = new ChatStore('alice', 'Alice');
  const pending = d.addPending('ghost', 'hello?');
  d.dropLocal(pending.localId!);
  d.ensureConversation('ghost', { last: pending });
  d.historyUnavailable('ghost', 'no_address');
  assert.deepEqual(d.state.msgs.ghost.list, []);
});
