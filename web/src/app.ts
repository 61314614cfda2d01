// The controller: owns the API client, the realtime connection and the stores, and turns
// user intents into relay calls. Views call these functions and render the stores.
import { Api, ApiError } from './lib/api.ts';
import { Realtime } from './lib/realtime.ts';
import { parseAutoLogin } from './lib/parse.ts';
import { notificationFor, shouldNotify, type NotifyContext } from './lib/notify.ts';
import { ChatStore, eventMessage, titleFrom, type Attachment, type ConvMessages, type Msg, type Unavailable } from './stores/chat.ts';
import { LoginsStore, type Login } from './stores/logins.ts';
import { UiStore } from './stores/ui.ts';
import { ConvLanguagesStore, TRANSLATE_OFF } from './stores/languages.ts';

export const logins = new LoginsStore(localStorage);
export const chat = new ChatStore();
export const ui = new UiStore(localStorage);
export const convLangs = new ConvLanguagesStore(localStorage);

let api = new Api(logins.relayUrl, null);
let realtime: Realtime | null = null;
let heartbeat: ReturnType<typeof setInterval> | null = null;
let sessionEpoch = 0;

/** Presence heartbeat period; the relay's window is 60 s. */
const HEARTBEAT_MS = 25_000;
/** Switching a chat's translation language translates this many of its latest incoming messages. */
const RETRANSLATE_RECENT = 20;
/** Send typing:true at most this often while keys are pressed. */
const TYPING_EVERY_MS = 3000;
/** Search hits asked for at once; "More" asks for as many again. */
const SEARCH_PAGE = 20;
/** The relay takes search words up to this long. */
const SEARCH_MAX_CHARS = 200;
/** Showing a search hit loads older history at most this many pages (of 50) back to find it. */
const REVEAL_PAGES_MAX = 20;
/**
 * A send that got no answer goes again by itself after this long (the connection may never have
 * dropped, so no reconnect would send it); each round that fails again doubles the wait, up to
 * RESEND_MAX_MS, and a send the relay takes starts it over.
 */
const RESEND_FIRST_MS = 1000;
const RESEND_MAX_MS = 60_000;

export function currentApi(): Api {
  return api;
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  return (err as Error)?.message ?? String(err);
}

/** Runs an action; failures become a visible notice instead of an unhandled rejection. */
export async function attempt<T>(fn: () => Promise<T>, okText?: string): Promise<T | undefined> {
  try {
    const out = await fn();
    if (okText) ui.notify(okText);
    return out;
  } catch (err) {
    ui.notify(errorText(err), 'error');
    return undefined;
  }
}

// ---------- sign-in ----------

export async function requestCode(email: string, displayName?: string): Promise<{ dev_code?: string }> {
  const a = new Api(logins.relayUrl, null);
  return a.post('/api/v1/pchat/auth/request-code', { email, purpose: 'login', ...(displayName ? { display_name: displayName } : {}) });
}

export async function verifyCode(body: { email: string; code: string; display_name?: string; chat_address?: string }): Promise<void> {
  const a = new Api(logins.relayUrl, null);
  const clean = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined && v !== '')) as typeof body;
  const out = await a.post('/api/v1/pchat/auth/verify-code', { ...clean, device_name: 'browser', session_name: 'WebChat', public_visible: !ui.state.prefs.hidePresence });
  addLogin(logins.relayUrl, out.session_token, out.user);
  await startSession();
}

function addLogin(relay: string, token: string, user: any): void {
  logins.add({
    relay,
    token,
    email: user.email ?? '',
    chat_address: user.chat_address,
    display_name: user.display_name ?? user.chat_address,
    user_id: user.id ?? user.user_id ?? '',
  });
}

/** The CLI's auto-login URL: validate the token, store the login, scrub the address bar. */
export async function consumeAutoLogin(): Promise<void> {
  const link = parseAutoLogin(location.href);
  if (!link) return;
  history.replaceState(null, '', link.cleanUrl);
  const relay = link.relay && link.relay !== location.origin ? link.relay : '';
  try {
    const me = await new Api(relay, link.token).get('/api/v1/pchat/auth/me');
    if (relay) logins.setRelay({ mode: 'private', url: relay });
    addLogin(relay, link.token, me.user);
  } catch (err) {
    ui.notify(`That login link did not work: ${errorText(err)}`, 'error');
  }
}

export async function logout(): Promise<void> {
  const cur = logins.current;
  if (!cur) return;
  // Stopped first: the relay ends this session's live connection as it logs out.
  stopSession();
  await api.post('/api/v1/pchat/auth/logout').catch(() => undefined);
  logins.remove();
  if (logins.current) await startSession();
}

export async function switchLogin(index: number): Promise<void> {
  stopSession();
  logins.switchTo(index);
  await startSession();
}

// ---------- session ----------

function stopSession(): void {
  sessionEpoch++;
  realtime?.stop();
  realtime = null;
  if (heartbeat) clearInterval(heartbeat);
  heartbeat = null;
  if (resendTimer) clearTimeout(resendTimer);
  resendTimer = null;
  resendWait = RESEND_FIRST_MS;
}

export async function startSession(): Promise<void> {
  stopSession();
  const login = logins.current;
  if (!login) return;
  const epoch = sessionEpoch;
  api = new Api(login.relay, login.token);
  languageList = null;
  chat.reset(login.chat_address, login.display_name, logins.cursor(login));
  try {
    const me = await api.get('/api/v1/pchat/auth/me');
    if (epoch !== sessionEpoch) return;
    logins.update({ display_name: me.user.display_name ?? login.display_name, chat_address: me.user.chat_address });
    chat.set({ me: me.user.chat_address, myName: me.user.display_name ?? '' });
    chat.learnUsers([me.user]);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      ui.notify('That login has expired; sign in again.', 'error');
      logins.remove();
      return;
    }
  }
  await refreshConversations();
  void loadGroups();
  void loadLanguagePrefs();
  const prefer = new URLSearchParams(location.search).get('transport');
  realtime = new Realtime({
    api,
    cursor: () => chat.state.cursor,
    prefer: prefer === 'poll' || prefer === 'ws' ? prefer : 'auto',
    onEvents: (events) => onEvents(events, login),
    onState: (state, transport) => {
      const wasDown = chat.state.conn === 'reconnecting';
      chat.setConn(state, transport);
      // Back after an outage: the sidebar may have missed changes made elsewhere, and what
      // could not be sent meanwhile goes now.
      if (state === 'online' && wasDown) {
        void refreshConversations();
        void resendFailed();
      }
    },
    onUnauthorized: () => {
      ui.notify('The relay ended this session; sign in again.', 'error');
      stopSession();
      logins.remove();
    },
  });
  realtime.start();
  void sendPresence();
  heartbeat = setInterval(() => void sendPresence(), HEARTBEAT_MS);
}

function onEvents(events: any[], login: Login): void {
  const focused = document.visibilityState === 'visible' && document.hasFocus();
  const fresh: Msg[] = [];
  let groupChanged = false;
  for (const ev of events) {
    const msg = chat.applyEvent(ev, focused);
    if (msg) fresh.push(msg);
    if (ev.type !== 'group') continue;
    groupChanged = true;
    if (ev.address !== chat.state.me) continue;
    // Left on another device (or here: then it is gone already).
    if (ev.action === 'left') forgetGroup(ev.group_id);
    // Added (back) to a group whose history was refused: the store dropped what it had.
    if (ev.action === 'member_added') void loadIfOpen(`group:${ev.group_id}`);
  }
  if (groupChanged) void loadGroups().then(refreshConversations);
  logins.saveCursor(login, chat.state.cursor);
  const active = chat.state.active;
  if (active && focused && fresh.some((m) => chat.state.index[m.id] === active)) void markRead(active);
  for (const m of fresh) notifyBackground(m, focused);
}

/** Open notifications by conversation, so opening the conversation clears them. */
const shown = new Map<string, Notification>();

export function notificationPermission(): NotifyContext['permission'] {
  return typeof Notification === 'undefined' ? 'unsupported' : Notification.permission;
}

function notifyBackground(m: Msg, focused: boolean): void {
  const key = chat.state.index[m.id];
  if (!key) return;
  const ctx: NotifyContext = { enabled: ui.state.prefs.notifications, permission: notificationPermission(), visible: document.visibilityState === 'visible', focused, active: chat.state.active };
  if (!shouldNotify(ctx, key)) return;
  const { title, body, tag } = notificationFor(m, key, chat.state.conversations[key]?.title ?? key);
  try {
    const n = new Notification(title, { body, tag });
    shown.set(key, n);
    n.onclick = () => {
      window.focus();
      void openConversation(key);
    };
    n.onclose = () => shown.get(key) === n && shown.delete(key);
  } catch {
    // Some browsers only allow notifications from a service worker; the unread count still shows.
  }
}

/** Asks the browser (from a click: browsers require a user gesture) and remembers the choice. */
export async function enableNotifications(on: boolean): Promise<boolean> {
  if (on && notificationPermission() === 'unsupported') {
    ui.notify('This browser has no notifications.', 'error');
    return false;
  }
  if (on && Notification.permission !== 'granted' && (await Notification.requestPermission()) !== 'granted') {
    ui.notify('Notifications were not allowed by the browser.', 'error');
    return false;
  }
  ui.setPrefs({ notifications: on });
  return true;
}

export async function sendPresence(visible = !ui.state.prefs.hidePresence): Promise<void> {
  if (!logins.current) return;
  await api
    .post('/api/v1/webchat/presence', { chat_address: chat.state.me, display_name: chat.state.myName, visible, device_name: 'browser', session_name: 'WebChat', listen_channel: 'pchat' })
    .catch(() => undefined);
}

export async function refreshConversations(): Promise<void> {
  const [live, archived] = await Promise.all([
    api.get('/api/v1/webchat/conversations?archived=false').catch(() => null),
    api.get('/api/v1/webchat/conversations?archived=true').catch(() => null),
  ]);
  if (live) chat.loadConversations(live.conversations, { archived: false });
  if (archived) chat.loadConversations(archived.conversations, { archived: true });
}

// ---------- conversations ----------

export async function openConversation(key: string | undefined, seed?: { title?: string }): Promise<void> {
  if (!key) return;
  chat.ensureConversation(key, seed?.title ? { title: seed.title } : undefined);
  chat.setActive(key);
  ui.set({ pane: 'chat', replyTo: null, editing: null, convSearch: '', convSearchOpen: false });
  shown.get(key)?.close();
  // Refused before for a reason that can pass without news of it (an address nobody had may be
  // taken since): asked again. One you were removed from keeps what it had until you are back.
  const why = chat.state.msgs[key]?.unavailable;
  if (why === 'no_address' || why === 'refused') chat.askAgain(key);
  const m = chat.messages(key);
  if (!m.loaded) await loadOlder(key);
  await markRead(key);
}

/** The page being loaded, by the messages it is for: asked for twice at once, it is asked once. */
const loadingPage = new WeakMap<ConvMessages, Promise<boolean>>();

/**
 * Loads the next older history page; false when that failed (the error is shown). An answer
 * for messages replaced meanwhile (added back to the group, the conversation dropped, another
 * login) is out of date: it is dropped. A page already on its way is not asked for again (a
 * join's answer and its member_added event both load a group's first page).
 */
export function loadOlder(key: string): Promise<boolean> {
  const m = chat.messages(key);
  let page = loadingPage.get(m);
  if (!page) {
    page = loadPage(key, m).finally(() => loadingPage.delete(m));
    loadingPage.set(m, page);
  }
  return page;
}

async function loadPage(key: string, m: ConvMessages): Promise<boolean> {
  if (m.loaded && !m.hasMore) return true;
  const before = m.nextBefore ? `&before=${m.nextBefore}` : '';
  const peer = encodeURIComponent(key);
  try {
    const page = await api.get(`/api/v1/webchat/history?peer=${peer}&limit=50${before}`);
    if (chat.state.msgs[key] !== m) return true;
    chat.loadHistory(key, page);
    void loadCaptions(key, page.messages ?? []);
  } catch (err) {
    if (chat.state.msgs[key] !== m) return true;
    if (err instanceof ApiError && (err.status === 404 || err.status === 403)) chat.historyUnavailable(key, unavailableWhy(key, err));
    else {
      ui.notify(errorText(err), 'error');
      return false;
    }
  }
  return true;
}

/**
 * What a refused history means. A group's: you are not in it (any more): the relay answers 403
 * for a public group, 404 for a private one, as it would for one that never was; the app opens
 * only groups it knew you in (New chat checks a typed group id first). A direct one's 404
 * `unknown_recipient`: nobody has that address on the relay.
 */
function unavailableWhy(key: string, err: ApiError): Unavailable {
  if (key.startsWith('group:')) return err.code === 'not_a_member' || err.code === 'unknown_group' ? 'not_member' : 'refused';
  return err.code === 'unknown_recipient' ? 'no_address' : 'refused';
}

/** History comes without captions: the relay's cached translations (nothing computed) fill them in. */
async function loadCaptions(key: string, raws: any[]): Promise<void> {
  const target = captionLanguage(key);
  const ids = raws.filter((r) => (r.from ?? r.source) !== chat.state.me && !r.deleted).map((r) => r.id ?? r.message_id);
  if (!target || ids.length === 0) return;
  const out = await api.get(`/api/v1/webchat/translations?message_ids=${ids.slice(-100).map(encodeURIComponent).join(',')}&target=${encodeURIComponent(target)}`).catch(() => null);
  // One caption per message: the text's own, else a voice clip's (with what was heard).
  const best = new Map<string, any>();
  for (const t of out?.translations ?? []) if (t.source_language !== t.language && (!best.has(t.message_id) || !t.file_id)) best.set(t.message_id, t);
  for (const t of best.values()) {
    if (chat.find(t.message_id)?.translation) continue;
    chat.applyEvent({ type: 'translation', message_id: t.message_id, text: t.text, language: t.language, ...(t.transcript ? { transcript: t.transcript } : {}) });
  }
}

/**
 * How far loading back to a message got: `found`; `further` (more history than REVEAL_PAGES_MAX
 * pages, or a page brought nothing new); `ended` (all history loaded, the message is not in it);
 * `unavailable` (the relay refuses the conversation's history: gone, or no longer yours);
 * `failed` (a page did not load; its error is shown).
 */
export type Reach = 'found' | 'further' | 'ended' | 'unavailable' | 'failed';

/** Loads older history of a conversation until message `id` is in it (within REVEAL_PAGES_MAX pages). */
export async function loadUntil(key: string, id: string): Promise<Reach> {
  for (let pages = 0; chat.state.index[id] !== key && pages < REVEAL_PAGES_MAX; pages++) {
    const m = chat.messages(key);
    if (m.loaded && !m.hasMore) break;
    const had = m.list.length;
    if (!(await loadOlder(key))) return 'failed';
    if (chat.messages(key).list.length === had) break; // nothing new came
  }
  const m = chat.messages(key);
  if (chat.state.index[id] === key) return 'found';
  if (m.unavailable) return 'unavailable';
  return m.loaded && !m.hasMore ? 'ended' : 'further';
}

/** Opens a conversation at one of its messages (a search hit); ChatView loads back to it. */
export async function showMessage(key: string, id: string): Promise<void> {
  if (chat.state.active !== key) await openConversation(key);
  ui.set({ pane: 'chat', focusMsg: id });
}

// ---------- search ----------

export interface Hit {
  key: string;
  /** The conversation's name, as the list shows it. */
  title: string;
  msg: Msg;
}

export interface HitPage {
  hits: Hit[];
  hasMore: boolean;
  /** Where the next page goes on from (the relay's `next_before`). */
  nextBefore: number | null;
}

/**
 * The relay's search over your messages, newest first, loaded or not; `peer` narrows it to one
 * conversation (an address, or `group:grp_…`). Where the relay has no search for it (an older
 * relay, a phone-bridge conversation) the loaded messages are searched instead.
 */
export async function searchMessages(q: string, opts: { peer?: string; before?: number | null } = {}): Promise<HitPage> {
  const params = new URLSearchParams({ q: q.slice(0, SEARCH_MAX_CHARS), limit: String(SEARCH_PAGE) });
  if (opts.peer) params.set('peer', opts.peer);
  if (opts.before) params.set('before', String(opts.before));
  const titled = (key: string, msg: Msg, named = titleFrom(key, msg)): Hit => ({ key, msg, title: chat.state.conversations[key]?.title ?? named });
  let out: any;
  try {
    out = await api.get(`/api/v1/webchat/search?${params}`);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404) || opts.before) throw err;
    const keys = opts.peer ? [opts.peer] : Object.keys(chat.state.msgs);
    const hits = keys.flatMap((key) => chat.searchIn(key, q).map((msg) => titled(key, msg)));
    return { hits: hits.sort((a, b) => b.msg.created_at.localeCompare(a.msg.created_at)), hasMore: false, nextBefore: null };
  }
  const hits = (out.results ?? [])
    .filter((ev: any) => ev?.message)
    .map((ev: any) => {
      const { msg, key, title } = eventMessage(ev, chat.state.me);
      return titled(key, msg, title);
    });
  return { hits, hasMore: !!out.has_more, nextBefore: out.next_before ?? null };
}

export async function markRead(key: string): Promise<void> {
  const ids = chat.takeUnread(key);
  if (ids.length === 0) return;
  for (let i = 0; i < ids.length; i += 500) await api.post('/api/v1/webchat/read', { message_ids: ids.slice(i, i + 500) }).catch(() => undefined);
}

export async function send(key: string, text: string, attachments: Attachment[] = []): Promise<void> {
  const replyTo = ui.state.replyTo;
  ui.set({ replyTo: null });
  const pending = chat.addPending(key, text, { reply_to: replyTo, attachments });
  stopTyping(key);
  await deliver(pending);
}

/**
 * Sends a pending message (its local id is the idempotency key); true when the relay took it.
 * An answer that comes after a logout or a switch of login leaves the next session's resend
 * timer alone (the store, reset, no longer has the message).
 */
async function deliver(pending: Msg): Promise<boolean> {
  const epoch = sessionEpoch;
  try {
    const out = await api.post('/api/v1/messages', {
      channel: 'pchat',
      to: pending.to,
      text: pending.text,
      source: chat.state.me,
      idempotency_key: pending.localId,
      ...(pending.reply_to ? { reply_to: pending.reply_to } : {}),
      ...(pending.attachments.length ? { attachments: pending.attachments.map((a) => ({ file_id: a.file_id, kind: a.kind, ...(a.caption ? { caption: a.caption } : {}) })) } : {}),
    });
    chat.confirmSent(pending.localId!, out);
    if (epoch === sessionEpoch) resendWait = RESEND_FIRST_MS;
    return true;
  } catch (err) {
    // No answer (offline, the relay restarting or overloaded): worth sending again once it is
    // back. A refusal (blocked, too long, …) would only be refused again.
    const unanswered = err instanceof ApiError && (err.status === 0 || err.status >= 500);
    chat.failSent(pending.localId!, errorText(err), unanswered);
    if (unanswered && epoch === sessionEpoch) scheduleResend();
    return false;
  }
}

/** Sends a failed message again with the same idempotency key (no duplicate if it did land). */
export async function retry(localId: string): Promise<boolean> {
  const key = chat.state.index[localId];
  const m = chat.state.msgs[key]?.list.find((x) => x.localId === localId);
  if (!m) return false;
  chat.patchStatus(localId, 'pending');
  return deliver(m);
}

let resendTimer: ReturnType<typeof setTimeout> | null = null;
let resendWait = RESEND_FIRST_MS;
/**
 * A resend round after the current wait, which then doubles. While the connection is down the
 * round is left to its return (onState), which starts one anyway.
 */
function scheduleResend(): void {
  if (resendTimer) return;
  resendTimer = setTimeout(() => {
    resendTimer = null;
    if (chat.state.conn !== 'reconnecting') void resendFailed();
  }, resendWait);
  resendWait = Math.min(resendWait * 2, RESEND_MAX_MS);
}

/** The session (sessionEpoch) whose resend round is under way, if any. */
let resending: number | null = null;
/**
 * The relay is reachable again: messages that failed for want of it go again, oldest first,
 * each with its own idempotency key (one that did land is answered, not sent twice). The first
 * that gets no answer again stops the round, so none overtakes an earlier one; its failure sets
 * the next round (and a reconnect starts one). The queue is read afresh for each send: one
 * discarded, refused or retried by hand meanwhile is passed over, one that failed since joins.
 * A round ends with its session (logout, switch of login): one still waiting for an answer
 * then neither holds up the next session's rounds nor goes on with that session's queue.
 */
async function resendFailed(): Promise<void> {
  const epoch = sessionEpoch;
  if (resending === epoch) return;
  resending = epoch;
  try {
    for (let next = chat.toResend()[0]; next; next = chat.toResend()[0]) {
      const id = next.localId!;
      await retry(id);
      if (epoch !== sessionEpoch || chat.toResend().some((m) => m.localId === id)) break;
    }
  } finally {
    if (resending === epoch) resending = null;
  }
}

export async function editMessage(id: string, text: string): Promise<void> {
  await attempt(async () => {
    await api.post('/api/v1/webchat/edit', { message_id: id, text });
    chat.applyEvent({ type: 'edit', message_id: id, text, edited_at: new Date().toISOString() });
  });
}

export async function deleteMessage(id: string): Promise<void> {
  if (id.startsWith('local_')) return chat.dropLocal(id);
  await attempt(async () => {
    await api.post('/api/v1/webchat/delete', { message_id: id });
    chat.applyEvent({ type: 'delete', message_id: id });
  });
}

export async function setArchived(key: string, archived: boolean): Promise<void> {
  await attempt(async () => {
    await api.post('/api/v1/webchat/conversation/archive', { peer: key, archived });
    chat.ensureConversation(key, { archived });
    if (archived && chat.state.active === key) {
      chat.setActive(null);
      // On a phone the conversation filled the screen: show the list, not an empty pane.
      ui.set({ pane: 'list' });
    }
  }, archived ? 'Conversation archived.' : 'Conversation restored.');
}

export async function setBlocked(address: string, blocked: boolean): Promise<void> {
  await attempt(() => api.post(`/api/v1/webchat/${blocked ? 'block' : 'unblock'}`, { address }), blocked ? `Blocked ${address}.` : `Unblocked ${address}.`);
}

export async function blockedList(): Promise<{ chat_address: string; display_name: string | null }[]> {
  return (await api.get('/api/v1/webchat/blocked')).blocked;
}

export async function report(target: { message_id?: string; address?: string }, reason: string): Promise<void> {
  await attempt(() => api.post('/api/v1/webchat/report', { ...target, reason }), 'Report sent. Thank you.');
}

let lastTyping = 0;
let typingTo: string | null = null;
export function typing(key: string): void {
  if (key.startsWith('group:') || key === chat.state.me) return;
  const now = Date.now();
  if (typingTo === key && now - lastTyping < TYPING_EVERY_MS) return;
  lastTyping = now;
  typingTo = key;
  if (!realtime?.sendFrame({ type: 'typing', to: key, typing: true })) void api.post('/api/v1/webchat/typing', { to: key, typing: true }).catch(() => undefined);
}
export function stopTyping(key: string): void {
  if (typingTo !== key) return;
  typingTo = null;
  lastTyping = 0;
  if (!realtime?.sendFrame({ type: 'typing', to: key, typing: false })) void api.post('/api/v1/webchat/typing', { to: key, typing: false }).catch(() => undefined);
}

export function nudgeRealtime(): void {
  realtime?.nudge();
}

// ---------- profile and preferences ----------

export async function updateMe(patch: { display_name?: string; avatar_file_id?: string | null; public_visible?: boolean; chat_address?: string }): Promise<void> {
  const out = await api.put('/api/v1/pchat/auth/me', patch);
  logins.update({ display_name: out.user.display_name, chat_address: out.user.chat_address });
  chat.set({ me: out.user.chat_address, myName: out.user.display_name });
  chat.learnUsers([out.user]);
}

export async function setHidden(hidden: boolean): Promise<void> {
  ui.setPrefs({ hidePresence: hidden });
  await sendPresence(!hidden);
  await api.put('/api/v1/pchat/auth/me', { public_visible: !hidden }).catch(() => undefined);
}

export async function loadLanguagePrefs(): Promise<void> {
  try {
    const out = await api.get('/api/v1/webchat/language-prefs');
    const lang = out.receive_language ?? out.prefs?.receive_language ?? '';
    ui.setPrefs({ receiveLanguage: lang ?? '' });
    convLangs.load(chat.state.me, out.per_conversation ?? {});
  } catch {
    // Older relays have no translation routes: the settings stay local.
    convLangs.load(chat.state.me);
  }
}

let languageList: Promise<[string, string][]> | null = null;
/** The relay's translation languages as [code, name] (empty where it has none); asked once per session. */
export function translationLanguages(): Promise<[string, string][]> {
  languageList ??= api.get('/api/v1/webchat/languages').then(
    (out) => (out.languages ?? []).map((x: any): [string, string] => (typeof x === 'string' ? [x, x] : [x.code ?? x.id, x.name ?? x.code])),
    () => ((languageList = null), []),
  );
  return languageList!;
}

/** The language captions in a conversation are in (its own choice, else Settings); null: none. */
export function captionLanguage(key: string): string | null {
  return convLangs.target(key, ui.state.prefs.receiveLanguage);
}

/**
 * One conversation's translation: a language, TRANSLATE_OFF, or null to follow Settings. The
 * relay keeps languages (and translates that chat's new messages as they arrive); recent
 * messages already here are translated now, and captions in the previous language go.
 */
export async function setConversationLanguage(key: string, choice: string | null): Promise<void> {
  await api.put('/api/v1/webchat/language-prefs', { per_conversation: { [key]: choice && choice !== TRANSLATE_OFF ? choice : null } });
  convLangs.choose(key, choice);
  const target = captionLanguage(key);
  if (!target) return;
  chat.dropTranslations(key, target);
  const ids = chat.untranslated(key, target, RETRANSLATE_RECENT);
  if (ids.length === 0) return;
  const out = await api.post('/api/v1/webchat/translate-batch', { message_ids: ids, target });
  for (const t of out.translations ?? []) if (t.translated) chat.applyEvent({ type: 'translation', message_id: t.message_id, text: t.text, language: t.language ?? target });
}

export async function setReceiveLanguage(lang: string): Promise<void> {
  ui.setPrefs({ receiveLanguage: lang });
  await api.put('/api/v1/webchat/language-prefs', { receive_language: lang || null });
}

// ---------- groups ----------

export interface Group {
  id: string;
  name: string;
  mode: 'chat' | 'stream';
  visibility: 'public' | 'private';
  role: string | null;
  member: boolean;
  join_policy?: string;
  can_write?: boolean;
}

export const groups = new Map<string, Group>();

function toGroup(raw: any): Group {
  return {
    id: raw.group_id ?? raw.id,
    name: raw.name ?? raw.group_id ?? raw.id,
    mode: raw.mode === 'stream' ? 'stream' : 'chat',
    visibility: raw.visibility === 'private' ? 'private' : 'public',
    role: raw.role ?? raw.my_role ?? null,
    member: raw.member ?? raw.is_member ?? !!(raw.role ?? raw.my_role),
    join_policy: raw.join_policy,
    can_write: raw.can_write,
  };
}

export function canWrite(g: Group | undefined): boolean {
  if (!g) return true;
  if (!g.member) return false;
  if (typeof g.can_write === 'boolean') return g.can_write;
  return g.mode !== 'stream' || g.role === 'owner' || g.role === 'admin' || g.role === 'creator';
}

export async function loadGroups(): Promise<void> {
  try {
    const out = await api.get('/api/v1/webchat/groups');
    groups.clear();
    for (const raw of out.groups ?? []) {
      const g = toGroup(raw);
      groups.set(g.id, g);
      if (g.member) chat.ensureConversation(`group:${g.id}`, { title: g.name, kind: 'group', readOnly: !canWrite(g) });
      else if (chat.state.conversations[`group:${g.id}`]) chat.ensureConversation(`group:${g.id}`, { readOnly: true });
    }
    chat.changed();
  } catch {
    // No groups on this relay (yet).
  }
}

/**
 * Leaves a group. Its conversation leaves the list (the relay's list no longer has it either)
 * and closes if open. The relay refuses the owner (the group is handed over first): that
 * refusal is thrown for the caller to show.
 */
export async function leaveGroup(id: string): Promise<void> {
  await api.post(`/api/v1/webchat/groups/${encodeURIComponent(id)}/leave`);
  forgetGroup(id);
  await loadGroups();
}

/**
 * Joins a public group, or asks to: the relay decides by the group's join policy (open: you are
 * in; approval: a request waits for its admins, remembered in the store until they answer).
 * Joined, a conversation whose history was refused (you had been removed, or left) is asked
 * again and, if open, loads: the member_added event does the same, whichever comes first.
 */
export async function joinGroup(id: string): Promise<'joined' | 'requested'> {
  const out = await api.post(`/api/v1/webchat/groups/${encodeURIComponent(id)}/join-requests`, {});
  if (out.status === 'requested' || out.status === 'pending') {
    chat.setJoinRequest(id, 'requested');
    return 'requested';
  }
  const key = `group:${id}`;
  chat.askAgain(key);
  chat.setJoinRequest(id, null);
  await loadGroups();
  await loadIfOpen(key);
  return 'joined';
}

/** History asked for afresh (askAgain): the open conversation loads it now, another when opened. */
async function loadIfOpen(key: string): Promise<void> {
  if (chat.state.active === key && !chat.messages(key).loaded) await loadOlder(key);
}

function forgetGroup(id: string): void {
  const key = `group:${id}`;
  // On a phone the conversation filled the screen: show the list, not an empty pane.
  if (chat.state.active === key) ui.set({ pane: 'list', replyTo: null, editing: null, convSearchOpen: false });
  chat.dropConversation(key);
}

export async function createGroup(body: { name: string; visibility: string; mode: string; join_policy?: string }): Promise<void> {
  const out = await api.post('/api/v1/webchat/groups', body);
  await loadGroups();
  const id = out.group?.group_id ?? out.group?.id ?? out.group_id ?? out.id;
  if (id) await openConversation(`group:${id}`, { title: body.name });
}

export { ApiError };
