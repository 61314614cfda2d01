// Conversations, messages, typing, presence and the realtime cursor. Pure state: the
// controller (app.ts) feeds it API answers and realtime events; views only read it.
import { Store } from '../lib/store.ts';
import { conversationKey, type ChannelFilter } from '../lib/parse.ts';

export type MsgStatus = 'pending' | 'sent' | 'delivered' | 'read' | 'failed';

export interface Attachment {
  file_id: string;
  kind: string;
  caption?: string;
  name?: string;
  mime?: string;
  size?: number;
  url?: string;
  duration_ms?: number;
  waveform?: number[];
}

export interface Translation {
  text: string;
  language: string;
  /** For a voice clip: what was heard, before translation. */
  transcript?: string;
  /** Asked for with Translate on this message: shown even where captions are off. */
  onDemand?: boolean;
}

export interface Msg {
  id: string;
  localId?: string;
  seq?: number;
  from: string;
  to: string;
  group?: string | null;
  display_name?: string | null;
  text: string;
  reply_to?: string | null;
  attachments: Attachment[];
  created_at: string;
  edited_at?: string | null;
  deleted: boolean;
  status: MsgStatus;
  outgoing: boolean;
  streaming?: boolean;
  channel?: string;
  translation?: Translation | null;
  error?: string;
  /** A failed send that never got an answer from the relay: sent again once it is back. */
  resend?: boolean;
}

export type ConvKind = 'direct' | 'saved' | 'group';

export interface Conv {
  key: string;
  kind: ConvKind;
  title: string;
  unread: number;
  archived: boolean;
  updated_at: string;
  last?: Msg | null;
  channel: string;
  /** Stream group where you may not write. */
  readOnly?: boolean;
}

/**
 * Why the relay will not give a conversation's history: `not_member`, a group you are not (or no
 * longer) in (403 for a public group, 404 for a private one, or the event of your removal);
 * `no_address`, no such chat address on the relay (404); `refused`, any other 404 or 403.
 */
export type Unavailable = 'not_member' | 'no_address' | 'refused';

export interface ConvMessages {
  list: Msg[];
  hasMore: boolean;
  nextBefore: number | null;
  loaded: boolean;
  /** The relay will not give its history, and why; what was loaded before stays. */
  unavailable?: Unavailable;
}

export type ConnState = 'connecting' | 'online' | 'reconnecting' | 'offline';

/** A request of yours to join a group (approval policy): waiting for its admins, or turned down. */
export type JoinRequest = 'requested' | 'rejected';

export interface ChatState {
  me: string;
  myName: string;
  conversations: Record<string, Conv>;
  msgs: Record<string, ConvMessages>;
  /** message id → conversation key */
  index: Record<string, string>;
  typing: Record<string, { name: string; until: number }>;
  online: Record<string, boolean>;
  /** chat address → avatar file id (null: none); from /me, the conversation list, the directory. */
  avatars: Record<string, string | null>;
  /** group id → your join request there, asked for in this session, until you are let in. */
  joinRequests: Record<string, JoinRequest>;
  cursor: number;
  conn: ConnState;
  transport: 'ws' | 'poll' | null;
  active: string | null;
  filter: ChannelFilter;
  search: string;
  showArchived: boolean;
}

/** Typing shows this long after the last typing:true unless typing:false comes first. */
export const TYPING_TTL_MS = 6000;

export function emptyChat(me = '', myName = ''): ChatState {
  return {
    me,
    myName,
    conversations: {},
    msgs: {},
    index: {},
    typing: {},
    online: {},
    avatars: {},
    joinRequests: {},
    cursor: 0,
    conn: 'connecting',
    transport: null,
    active: null,
    filter: 'all',
    search: '',
    showArchived: false,
  };
}

const STATUS_RANK: Record<MsgStatus, number> = { failed: 0, pending: 1, sent: 2, delivered: 3, read: 4 };

function translationOf(raw: any): Translation | null {
  const t = raw?.translation;
  if (t && typeof t === 'object' && typeof t.text === 'string') return { text: t.text, language: t.language ?? t.target ?? '' };
  if (typeof raw?.translated_text === 'string') return { text: raw.translated_text, language: raw.translated_language ?? raw.target ?? '' };
  return null;
}

/** Whether message `a` came before `b` (by seq when both have one: clocks may differ). */
const olderThan = (a: Msg, b: Msg) => (a.seq !== undefined && b.seq !== undefined ? a.seq < b.seq : a.created_at < b.created_at);

/** The newest message of a loaded list that came from the relay (not a local copy). */
function newestFromRelay(list: Msg[]): Msg | undefined {
  for (let i = list.length - 1; i >= 0; i--) if (!list[i].localId) return list[i];
  return undefined;
}

/** The relay's message view → ours. */
export function toMsg(raw: any, me: string, outgoing?: boolean): Msg {
  const from = raw.from ?? raw.source ?? '';
  return {
    id: raw.id ?? raw.message_id,
    seq: typeof raw.seq === 'number' ? raw.seq : undefined,
    from,
    to: raw.to ?? '',
    group: (typeof raw.group === 'object' && raw.group ? raw.group.id : raw.group) ?? raw.group_id ?? null,
    display_name: raw.display_name ?? null,
    text: raw.text ?? '',
    reply_to: raw.reply_to ?? null,
    attachments: Array.isArray(raw.attachments) ? raw.attachments : [],
    created_at: raw.created_at ?? new Date().toISOString(),
    edited_at: raw.edited_at ?? null,
    deleted: !!raw.deleted,
    status: (raw.status as MsgStatus) ?? 'sent',
    outgoing: outgoing ?? from === me,
    streaming: !!raw.streaming,
    channel: raw.channel ?? 'pchat',
    translation: translationOf(raw),
  };
}

/**
 * A message event's message (realtime or search) as ours, its conversation, and the title that
 * conversation takes if the list does not have it yet: the group's name, else who wrote it.
 */
export function eventMessage(ev: any, me: string): { msg: Msg; key: string; title: string } {
  const msg = toMsg(ev.message, me, ev.outgoing);
  // Saved messages are yours (a relay before this one sent them with outgoing:false).
  if (msg.from === me && msg.to === me) msg.outgoing = true;
  const key = conversationKey(msg, me, msg.outgoing);
  const group = ev.message.group;
  return { msg, key, title: typeof group === 'object' && group?.name ? group.name : titleFrom(key, msg) };
}

/** The title a conversation new to the list takes from one of its messages (no group name known). */
export function titleFrom(key: string, msg: Msg): string {
  return msg.outgoing ? key : (msg.display_name ?? key);
}

export class ChatStore extends Store<ChatState> {
  constructor(me = '', myName = '') {
    super(emptyChat(me, myName));
  }

  reset(me: string, myName: string, cursor = 0): void {
    this.state = { ...emptyChat(me, myName), cursor };
    this.changed();
  }

  // ---------- conversations ----------

  private conv(key: string, seed?: Partial<Conv>): Conv {
    let c = this.state.conversations[key];
    if (!c) {
      const kind: ConvKind = key.startsWith('group:') ? 'group' : key === this.state.me ? 'saved' : 'direct';
      c = {
        key,
        kind,
        title: kind === 'saved' ? 'Saved messages' : key,
        unread: 0,
        archived: false,
        updated_at: new Date(0).toISOString(),
        last: null,
        channel: 'pchat',
        ...seed,
      };
      this.state.conversations[key] = c;
    }
    return c;
  }

  /** Loads `GET conversations` (and, for groups, whatever the groups list says). */
  loadConversations(list: any[], opts: { archived?: boolean } = {}): void {
    for (const raw of list) {
      const key = raw.group_id ? `group:${raw.group_id}` : (raw.peer ?? raw.chat_address);
      if (!key) continue;
      const last = raw.last_message ? toMsg(raw.last_message, this.state.me) : null;
      const c = this.conv(key);
      c.title = raw.saved ? 'Saved messages' : (raw.display_name ?? raw.name ?? c.title);
      // A list asked for before a message came live, answered after it, is behind for this
      // conversation: its last message, time, unread count and archive state (a message takes
      // a conversation out of the archive) would undo the live ones. Behind what the relay
      // gave: a local copy (unsent) is in no list, and its time is the browser's.
      const known = c.last?.localId ? newestFromRelay(this.state.msgs[key]?.list ?? []) : c.last;
      if (!(last && known && olderThan(last, known))) {
        c.archived = raw.archived ?? opts.archived ?? c.archived;
        c.unread = raw.unread ?? c.unread;
        c.updated_at = raw.updated_at ?? c.updated_at;
        c.last = last ?? c.last;
        c.channel = last?.channel ?? raw.channel ?? c.channel;
      }
      if (raw.avatar_file_id !== undefined && !raw.group_id) this.state.avatars[key] = raw.avatar_file_id;
      if (raw.saved) c.kind = 'saved';
      if (raw.kind === 'group' || raw.group_id) {
        c.kind = 'group';
        c.readOnly = raw.mode === 'stream' && raw.role !== 'owner' && raw.role !== 'admin';
      }
    }
    this.changed();
  }

  /** Opens (or creates) a conversation with an address, a group or yourself. */
  ensureConversation(key: string, seed?: Partial<Conv>): Conv {
    const c = this.conv(key, seed);
    if (seed) Object.assign(c, seed);
    this.changed();
    return c;
  }

  /**
   * What a user list (the directory, /me) says about people: their avatar, and the display
   * name of a direct conversation still titled with the bare address. Only stated fields change.
   */
  learnUsers(users: { chat_address?: string; display_name?: string | null; avatar_file_id?: string | null }[]): void {
    let changed = false;
    for (const u of users) {
      if (!u.chat_address) continue;
      if (u.avatar_file_id !== undefined && this.state.avatars[u.chat_address] !== u.avatar_file_id) {
        this.state.avatars[u.chat_address] = u.avatar_file_id;
        changed = true;
      }
      const c = this.state.conversations[u.chat_address];
      if (c?.kind === 'direct' && u.display_name && c.title === c.key) {
        c.title = u.display_name;
        changed = true;
      }
    }
    if (changed) this.changed();
  }

  /** The avatar file id of a conversation's peer (or yours, for saved messages). */
  avatarOf(key: string): string | null {
    if (key.startsWith('group:')) return null;
    return this.state.avatars[key] ?? null;
  }

  /** Forgets a conversation and its loaded messages (a group left); closes it if it was open. */
  dropConversation(key: string): void {
    delete this.state.conversations[key];
    delete this.state.msgs[key];
    delete this.state.typing[key];
    for (const [id, k] of Object.entries(this.state.index)) if (k === key) delete this.state.index[id];
    if (this.state.active === key) this.state.active = null;
    this.changed();
  }

  setActive(key: string | null): void {
    this.state.active = key;
    if (key) this.conv(key);
    this.changed();
  }

  setFilter(patch: Partial<Pick<ChatState, 'filter' | 'search' | 'showArchived'>>): void {
    this.set(patch);
  }

  /** The sidebar: filtered by channel, search text and archive state, newest first. */
  visibleConversations(): Conv[] {
    const { filter, search, showArchived } = this.state;
    const q = search.trim().toLowerCase();
    return Object.values(this.state.conversations)
      .filter((c) => c.archived === showArchived)
      .filter((c) => filter === 'all' || c.channel === filter)
      .filter((c) => !q || c.title.toLowerCase().includes(q) || c.key.toLowerCase().includes(q) || (c.last?.text ?? '').toLowerCase().includes(q))
      .sort((a, b) => (a.kind === 'saved' ? -1 : 0) - (b.kind === 'saved' ? -1 : 0) || b.updated_at.localeCompare(a.updated_at));
  }

  totalUnread(): number {
    return Object.values(this.state.conversations).reduce((n, c) => n + (c.archived ? 0 : c.unread), 0);
  }

  // ---------- messages ----------

  messages(key: string): ConvMessages {
    let m = this.state.msgs[key];
    if (!m) {
      m = { list: [], hasMore: true, nextBefore: null, loaded: false };
      this.state.msgs[key] = m;
    }
    return m;
  }

  /** The bounded window a view renders: the newest `size` messages. */
  window(key: string, size: number): { items: Msg[]; hiddenOlder: number } {
    const list = this.state.msgs[key]?.list ?? [];
    const start = Math.max(0, list.length - size);
    return { items: list.slice(start), hiddenOlder: start };
  }

  find(id: string): Msg | undefined {
    const key = this.state.index[id];
    return key ? this.state.msgs[key]?.list.find((m) => m.id === id) : undefined;
  }

  /**
   * The local copy (pending or failed) of one of our sends in a conversation, known by the
   * idempotency key the relay gives back on our own copy of a message: the app sends each
   * with its local id as the key (app.ts `deliver`). Undefined without a key.
   */
  private localCopy(key: string, idemKey: unknown): Msg | undefined {
    if (typeof idemKey !== 'string' || !idemKey) return undefined;
    return this.state.msgs[key]?.list.find((x) => x.localId === idemKey);
  }

  /** A local copy goes from its conversation: the relay's own message stands for it. */
  private forgetLocal(key: string, local: Msg): void {
    const m = this.messages(key);
    m.list = m.list.filter((x) => x !== local);
    delete this.state.index[local.localId!];
    const c = this.conv(key);
    if (c.last?.localId === local.localId) c.last = m.list[m.list.length - 1] ?? null;
  }

  /** A history page (oldest first) — prepended before what is loaded. */
  loadHistory(key: string, page: { messages: any[]; has_more?: boolean; next_before?: number | null }): void {
    const m = this.messages(key);
    const older: Msg[] = [];
    for (const raw of page.messages) {
      const msg = toMsg(raw, this.state.me);
      // One of our sends whose answer was lost: the relay has it, so the local copy goes.
      const local = this.localCopy(key, raw?.idempotency_key);
      if (local) this.forgetLocal(key, local);
      if (this.state.index[msg.id]) continue;
      this.state.index[msg.id] = key;
      older.push(msg);
    }
    m.list = [...older, ...m.list];
    // Live events can arrive before the first history page and be older than its newest
    // message: keep seq order (unsent messages, without a seq, stay last).
    if (older.length && m.list.some((x, i) => i > 0 && x.seq !== undefined && m.list[i - 1].seq !== undefined && m.list[i - 1].seq! > x.seq)) {
      m.list.sort((a, b) => (a.seq ?? Number.MAX_SAFE_INTEGER) - (b.seq ?? Number.MAX_SAFE_INTEGER));
    }
    // Refused since it was asked for (you were removed meanwhile): its messages were yours to
    // read when asked, but there is nothing older to ask for, whatever the page says.
    m.hasMore = !m.unavailable && !!page.has_more;
    m.nextBefore = m.unavailable ? null : (page.next_before ?? null);
    m.loaded = true;
    const c = this.conv(key);
    const newest = m.list[m.list.length - 1];
    if (newest && (!c.last || newest.created_at >= c.last.created_at)) c.last = newest;
    this.changed();
  }

  /**
   * The relay refused a conversation's history (404, 403): nothing (more) to load there. The
   * newest message the conversation list gave (its preview in the sidebar, written while you
   * could read it) is among what the app had: it stays to read, as the loaded messages do.
   */
  historyUnavailable(key: string, why: Unavailable = 'refused'): void {
    this.messages(key).unavailable = why;
    const last = this.state.conversations[key]?.last;
    if (last && !last.localId && !this.state.index[last.id]) this.insert(key, last);
    this.loadHistory(key, { messages: [], has_more: false });
  }

  /**
   * You were removed from a group (its `member_removed` event): the messages loaded stay, no
   * older page will come (the relay refuses them now). One never loaded still asks the relay
   * when opened; its refusal shows the same.
   */
  private removedFromGroup(key: string): void {
    if (!this.state.conversations[key] && !this.state.msgs[key]) return;
    const m = this.messages(key);
    m.unavailable = 'not_member';
    m.hasMore = false;
    m.nextBefore = null;
  }

  /**
   * Forgets that the relay refused a conversation's history, so it is asked again (added back
   * to a group; an address nobody had, opened again: someone may have taken it since). The
   * messages loaded go, all but your own unsent ones.
   */
  askAgain(key: string): void {
    const old = this.state.msgs[key];
    if (!old?.unavailable) return;
    for (const x of old.list) if (!x.localId && this.state.index[x.id] === key) delete this.state.index[x.id];
    this.state.msgs[key] = { list: old.list.filter((x) => x.localId), hasMore: true, nextBefore: null, loaded: false };
  }

  /** Your request to join a group: sent, turned down, or (null) over: you are in. */
  setJoinRequest(groupId: string, state: JoinRequest | null): void {
    if (state) this.state.joinRequests[groupId] = state;
    else delete this.state.joinRequests[groupId];
    this.changed();
  }

  private insert(key: string, msg: Msg): void {
    const m = this.messages(key);
    const list = m.list;
    // Usually the newest; otherwise keep seq order (a resumed stream can deliver older ones).
    let i = list.length;
    if (msg.seq !== undefined) {
      while (i > 0 && list[i - 1].seq !== undefined && list[i - 1].seq! > msg.seq) i--;
    }
    m.list = [...list.slice(0, i), msg, ...list.slice(i)];
    this.state.index[msg.id] = key;
  }

  /** An optimistic outgoing message, shown before the relay confirms it. */
  addPending(key: string, text: string, opts: { reply_to?: string | null; attachments?: Attachment[] } = {}): Msg {
    const localId = `local_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
    const msg: Msg = {
      id: localId,
      localId,
      from: this.state.me,
      to: key,
      text,
      reply_to: opts.reply_to ?? null,
      attachments: opts.attachments ?? [],
      created_at: new Date().toISOString(),
      deleted: false,
      status: 'pending',
      outgoing: true,
      display_name: this.state.myName,
      channel: 'pchat',
    };
    const m = this.messages(key);
    m.list = [...m.list, msg];
    this.state.index[localId] = key;
    const c = this.conv(key);
    c.last = msg;
    c.updated_at = msg.created_at;
    this.changed();
    return msg;
  }

  confirmSent(localId: string, reply: { message_id: string; seq?: number; created_at?: string }): void {
    const key = this.state.index[localId];
    if (!key) return;
    const m = this.messages(key);
    const pending = m.list.find((x) => x.localId === localId);
    delete this.state.index[localId];
    if (!pending) return;
    if (this.state.index[reply.message_id]) {
      // The realtime stream delivered it first: keep that one.
      m.list = m.list.filter((x) => x !== pending);
    } else {
      const sent: Msg = { ...pending, localId: undefined, id: reply.message_id, seq: reply.seq, created_at: reply.created_at ?? pending.created_at, status: 'sent' };
      m.list = m.list.map((x) => (x === pending ? sent : x));
      this.state.index[reply.message_id] = key;
      const c = this.conv(key);
      if (c.last === pending) c.last = sent;
    }
    this.changed();
  }

  /** `resend`: the relay was not reached (or could not answer), so the send may go again by itself. */
  failSent(localId: string, error: string, resend = false): void {
    const key = this.state.index[localId];
    if (!key) return;
    const m = this.messages(key);
    m.list = m.list.map((x) => (x.localId === localId ? { ...x, status: 'failed', error, resend } : x));
    this.changed();
  }

  /** Failed sends to go again once the relay is back, in the order they were written. */
  toResend(): Msg[] {
    return Object.values(this.state.msgs)
      .flatMap((m) => m.list.filter((x) => x.localId && x.status === 'failed' && x.resend))
      .sort((a, b) => a.created_at.localeCompare(b.created_at));
  }

  /** A local copy discarded by the user (a send that failed): gone, from the sidebar's preview too. */
  dropLocal(localId: string): void {
    const key = this.state.index[localId];
    const local = key ? this.localCopy(key, localId) : undefined;
    if (!key || !local) return;
    this.forgetLocal(key, local);
    this.changed();
  }

  private patchMsg(id: string, patch: (m: Msg) => Partial<Msg>): Msg | undefined {
    const key = this.state.index[id];
    if (!key) return this.patchLast(id, patch);
    const m = this.state.msgs[key];
    if (!m) return undefined;
    let out: Msg | undefined;
    m.list = m.list.map((x) => {
      if (x.id !== id) return x;
      out = { ...x, ...patch(x) };
      return out;
    });
    const c = this.state.conversations[key];
    if (c?.last?.id === id && out) c.last = out;
    this.changed();
    return out;
  }

  /** A message its sender deleted before it was read leaves the unread count, as it leaves the relay's. */
  private uncount(id: string): void {
    const key = this.state.index[id];
    const list = key ? (this.state.msgs[key]?.list ?? []) : [];
    const c = key ? this.state.conversations[key] : this.withLast(id);
    const m = key ? list.find((x) => x.id === id) : c?.last;
    if (!c?.unread || !m || m.outgoing || m.deleted || m.status === 'read') return;
    // Before an answer of ours it was not counted (writing answers what came before).
    if (m.seq !== undefined && list.some((x) => x.outgoing && x.seq !== undefined && x.seq > m.seq!)) return;
    c.unread--;
  }

  /** The conversation whose newest message is `id` (known from the conversation list even before its history is loaded). */
  private withLast(id: string) {
    return Object.values(this.state.conversations).find((x) => x.last?.id === id);
  }

  /** A conversation's newest message known only from the conversation list (its history not loaded yet). */
  private patchLast(id: string, patch: (m: Msg) => Partial<Msg>): Msg | undefined {
    const c = this.withLast(id);
    if (!c?.last) return undefined;
    c.last = { ...c.last, ...patch(c.last) };
    this.changed();
    return c.last;
  }

  patchStatus(id: string, status: MsgStatus): void {
    this.patchMsg(id, () => ({ status, error: undefined }));
  }

  /** Incoming messages (not active, or the tab hidden) count as unread. */
  private isUnreadFor(key: string, focused: boolean): boolean {
    return !(focused && this.state.active === key);
  }

  /**
   * Applies one realtime event (poll / WebSocket / SSE share the shape). Returns the message
   * when a new incoming one arrived (for notifications and read marking).
   */
  applyEvent(ev: any, focused = true): Msg | null {
    if (typeof ev?.seq === 'number') {
      // At-least-once delivery: what is at or before the cursor was applied already.
      if (ev.seq <= this.state.cursor) return null;
      this.state.cursor = ev.seq;
    }
    switch (ev?.type) {
      case 'message': {
        if (!ev.message) return null;
        const { msg, key, title } = eventMessage(ev, this.state.me);
        if (msg.outgoing) {
          // Our own send echoed: it replaces its local copy in place. The relay gives our own
          // copies back with the send's idempotency key (our local id): that finds the copy
          // whether it is still pending (echo before the HTTP answer) or failed (the answer was
          // lost, yet the message landed). A copy that failed is never matched by its text: an
          // identical text from another device must not clear a message that never landed.
          const idemKey = ev.message.idempotency_key;
          const keyed = typeof idemKey === 'string' && idemKey !== '';
          const m = this.state.msgs[key];
          const local = keyed
            ? this.localCopy(key, idemKey)
            : !this.state.index[msg.id]
              ? // A relay that does not say (or a send without a key): the pending copy with this text.
                m?.list.find((x) => x.status === 'pending' && x.localId && x.text === msg.text && x.attachments.length === msg.attachments.length)
              : undefined;
          if (local && this.state.index[msg.id]) {
            // Shown already (a history page brought it): the copy just goes; the status merges below.
            this.forgetLocal(key, local);
          } else if (local && m) {
            m.list = m.list.map((x) => (x === local ? msg : x));
            delete this.state.index[local.localId!];
            this.state.index[msg.id] = key;
            const c = this.conv(key);
            // By local id: a failed copy is a new object, the preview may hold the pending one.
            if (c.last?.localId === local.localId) c.last = msg;
            this.changed();
            return null;
          }
        }
        if (this.state.index[msg.id]) {
          // Seen already (history, our own send, or a re-read after reconnect): merge status only.
          this.patchMsg(msg.id, (x) => ({ status: STATUS_RANK[msg.status] > STATUS_RANK[x.status] ? msg.status : x.status, seq: x.seq ?? msg.seq }));
          return null;
        }
        this.insert(key, msg);
        // Written to you from an address the relay had not known: it is someone's now.
        if (!msg.outgoing && this.state.msgs[key].unavailable === 'no_address') this.state.msgs[key].unavailable = undefined;
        const c = this.conv(key, { title });
        // At or before the newest message the conversation list gave, the relay's unread count
        // already has it (the stream replays from the stored cursor after a reload or reconnect).
        const counted = msg.seq !== undefined && c.last?.seq !== undefined && c.last.seq >= msg.seq;
        if (!msg.outgoing && c.kind === 'direct' && msg.display_name) c.title = msg.display_name;
        const newest = msg.created_at >= (c.last?.created_at ?? '');
        if (newest) {
          c.last = msg;
          c.updated_at = msg.created_at;
        }
        c.channel = msg.channel ?? c.channel;
        c.archived = msg.outgoing ? c.archived : false;
        delete this.state.typing[key];
        // Writing (here or on another device) answers what came before: the relay no longer counts it unread either.
        if (msg.outgoing) {
          if (newest) c.unread = 0;
        } else if (!counted && this.isUnreadFor(key, focused)) c.unread++;
        this.changed();
        return msg.outgoing ? null : msg;
      }
      case 'edit':
        this.patchMsg(ev.message_id, () => ({ text: ev.text ?? '', edited_at: ev.final ? null : (ev.edited_at ?? new Date().toISOString()), streaming: ev.final ? false : undefined }));
        return null;
      case 'delta':
        this.patchMsg(ev.message_id, (x) => {
          const offset = typeof ev.offset === 'number' ? ev.offset : x.text.length;
          if (offset > x.text.length) return {}; // a gap: the final edit will bring the whole text
          return { text: x.text.slice(0, offset) + (ev.delta ?? ''), streaming: true };
        });
        return null;
      case 'delete':
        this.uncount(ev.message_id);
        this.patchMsg(ev.message_id, () => ({ deleted: true, text: '', attachments: [] }));
        return null;
      case 'receipt':
        this.patchMsg(ev.message_id, (x) => (STATUS_RANK[ev.status as MsgStatus] > STATUS_RANK[x.status] ? { status: ev.status } : {}));
        return null;
      case 'translation':
        this.patchMsg(ev.message_id, () => ({
          translation: { text: ev.text ?? ev.translation ?? '', language: ev.language ?? ev.target ?? '', ...(ev.transcript ? { transcript: ev.transcript } : {}), ...(ev.onDemand ? { onDemand: true } : {}) },
        }));
        return null;
      case 'typing': {
        const key = ev.group ? `group:${String(ev.group).replace(/^group:/, '')}` : ev.from;
        if (!key) return null;
        if (ev.typing === false) delete this.state.typing[key];
        else this.state.typing[key] = { name: ev.display_name ?? ev.from, until: Date.now() + TYPING_TTL_MS };
        this.changed();
        return null;
      }
      case 'group': {
        // Your own membership changing: a group's history is yours to read, or no longer.
        if (ev.address && ev.address === this.state.me && typeof ev.group_id === 'string') {
          if (ev.action === 'member_removed') this.removedFromGroup(`group:${ev.group_id}`);
          else if (ev.action === 'member_added') {
            this.askAgain(`group:${ev.group_id}`); // added back: its history is loaded afresh when open
            delete this.state.joinRequests[ev.group_id];
          }
        }
        // The answer to your join request (your own note: it names no address; admins' copies do).
        if ((ev.action === 'join_approved' || ev.action === 'join_rejected') && typeof ev.group_id === 'string' && (!ev.address || ev.address === this.state.me)) {
          if (ev.action === 'join_rejected') this.state.joinRequests[ev.group_id] = 'rejected';
          else delete this.state.joinRequests[ev.group_id];
        }
        this.changed();
        return null;
      }
      case 'presence':
        if (ev.address) {
          this.state.online[ev.address] = !!ev.online;
          this.changed();
        }
        return null;
      default:
        this.changed();
        return null;
    }
  }

  /** A conversation's captions in any other language than `keep` go (its translation language changed). */
  dropTranslations(key: string, keep: string | null): void {
    const m = this.state.msgs[key];
    if (!m?.list.some((x) => x.translation && x.translation.language !== keep)) return;
    m.list = m.list.map((x) => (x.translation && x.translation.language !== keep ? { ...x, translation: null } : x));
    this.changed();
  }

  /** Incoming text messages of a conversation, newest last, that have no caption in `lang`. */
  untranslated(key: string, lang: string, limit: number): string[] {
    const list = this.state.msgs[key]?.list ?? [];
    return list
      .filter((x) => !x.outgoing && !x.deleted && !x.localId && x.text.trim() && x.translation?.language !== lang)
      .slice(-limit)
      .map((x) => x.id);
  }

  typingIn(key: string, now = Date.now()): string | null {
    const t = this.state.typing[key];
    return t && t.until > now ? t.name : null;
  }

  /** When the first typing indicator still showing runs out (null: none shows). */
  typingEnds(now = Date.now()): number | null {
    let first: number | null = null;
    for (const t of Object.values(this.state.typing)) if (t.until > now && (first === null || t.until < first)) first = t.until;
    return first;
  }

  /** Incoming messages of a conversation not yet marked read; zeroes its unread count. */
  takeUnread(key: string): string[] {
    const m = this.state.msgs[key];
    const c = this.state.conversations[key];
    const ids = (m?.list ?? []).filter((x) => !x.outgoing && x.status !== 'read' && !x.id.startsWith('local_')).map((x) => x.id);
    if (c && c.unread) {
      c.unread = 0;
      this.changed();
    }
    for (const id of ids) this.patchMsg(id, () => ({ status: 'read' }));
    return ids;
  }

  setConn(conn: ConnState, transport?: 'ws' | 'poll' | null): void {
    if (this.state.conn === conn && (transport === undefined || this.state.transport === transport)) return;
    this.set({ conn, ...(transport !== undefined ? { transport } : {}) });
  }

  /** Searches the loaded messages of one conversation. */
  searchIn(key: string, query: string): Msg[] {
    const q = query.trim().toLowerCase();
    if (!q) return [];
    return (this.state.msgs[key]?.list ?? []).filter((m) => !m.deleted && (m.text.toLowerCase().includes(q) || m.attachments.some((a) => (a.name ?? '').toLowerCase().includes(q))));
  }
}
