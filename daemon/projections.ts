// Projections: indexes derived from journal events, written in the same transaction as the
// events (so they are never behind) and rebuildable from the journal in global order.
// Bump PROJECTION_VERSION when a projection's shape changes: the next start rebuilds.
import { eventBytes, type Journal, type StoredEvent } from '../journal/journal.ts';
import type { InboxEvent, MessageBody } from '../actors/inbox.ts';
import { profileFields, type AccountEvent } from '../actors/account.ts';
import { settingsFields, type GroupEvent, type JoinPolicy, type Mode, type Visibility } from '../actors/group.ts';
import type { CallbackEvent } from '../actors/callbacks.ts';
import { FILE_URL_LENGTH, fileLinks, MEDIA_INDEXES, MediaProjections } from './media-projections.ts';
import { RecordCache } from './record-cache.ts';

/**
 * 5: index records are JSON (journal format 3), no longer msgpack. 6: a rename keeps the old
 * address reserved for its owner (a rebuild must agree with a live store on who owns which).
 * 7: uploads no message names are listed (`unsent`), and blobs count the files naming them,
 * for the unsent-upload sweeper (which must never take a file a message names). 8: messages
 * keep the files they name (`files`), files count the live messages naming them (`file_refs`)
 * and whether they were made a profile picture: a file goes with the last message naming it.
 */
export const PROJECTION_VERSION = 8;
/** Earlier addresses a user keeps after renames; past this many the oldest is released. */
export const RETIRED_ADDRESSES_MAX = 5;

export const INDEXES = ['users', 'emails', 'addresses', 'tokens', 'sessions', 'msgs', 'convs', 'convidx', 'cleared', 'idem', 'blocks', 'reports', 'groups', 'callbacks', ...MEDIA_INDEXES] as const;

export interface UserRecord {
  id: string;
  email: string;
  display_name: string;
  chat_address: string;
  public_visible: boolean;
  avatar_file_id: string | null;
  created_at: number;
  suspended: boolean;
  /** Addresses this user had before, still theirs (newest last; see RETIRED_ADDRESSES_MAX). */
  retired?: string[];
}

/** The current state of a message: its body as sent, plus what happened to it since. */
export interface MessageRecord extends Omit<MessageBody, 'at'> {
  /** Set for a group message (then `to_user` is empty and `to` is `group:<id>`). */
  group?: string;
  /** A group message's number in its group, and its seq in the group's stream. */
  n?: number;
  group_seq?: number;
  /** A direct message's seq in its recipient's inbox (absent in records older than the field). */
  in_seq?: number;
  /**
   * Files the message names, each counted once in `file_refs` while it lives: its attachments
   * and the file links in its text as sent, edited or streamed (an edit adds, never takes away).
   * Absent when none; dropped (and uncounted) when the message is deleted.
   */
  files?: string[];
  created_at: number;
  edited_at: number | null;
  deleted_at: number | null;
  delivered_at: number | null;
  read_at: number | null;
}

export interface ConversationRecord {
  peer: string;
  last_id: string;
  last_at: number;
  last_seq: number;
  unread: number;
  archived: boolean;
  /** Seq of the owner's newest message to the peer: writing answers what came before, which no longer counts as unread. */
  answered?: number;
}

export interface IdemRecord {
  hash: string;
  id: string;
  seq: number;
  at: number;
}

/** What the directory shows of a group. */
export interface GroupRecord {
  id: string;
  name: string;
  visibility: Visibility;
  mode: Mode;
  join_policy: JoinPolicy;
  owner: string;
  member_count: number;
  created_at: number;
}

export interface TokenRecord {
  user: string;
  sid: string;
}

export interface SessionRecord {
  device_name?: string;
  session_name?: string;
  listen_channel?: string;
  /** Hidden from the directory (presence `visible: false`), across restarts. */
  hidden?: boolean;
  opened_at: number;
  /** When the session was last seen, as last saved (the account's `session_seen`). */
  last_seen?: number;
}

type MsgEvent = Extract<InboxEvent, { type: 'msg_in' | 'msg_out' }>;
/** One message of a history page; `idem_key` only on the reader's own messages sent with one. */
export interface HistoryRow {
  seq: number;
  id: string;
  idem_key?: string;
}

/** The history row of a message event at `seq`, as `reader` sees it. */
export const historyRow = (seq: number, ev: { id: string; from_user: string; idem_key?: string }, reader: string): HistoryRow =>
  ev.idem_key && ev.from_user === reader ? { seq, id: ev.id, idem_key: ev.idem_key } : { seq, id: ev.id };

/** A session's names as a directory search matches them (lowercase; the NUL keeps them apart). */
export const sessionNames = (s: { session_name?: string | null; device_name?: string | null }) => `${s.session_name ?? ''}\u0000${s.device_name ?? ''}`.toLowerCase();

/** The other side of a direct message in its owner's inbox (undefined for other events). */
const peerOf = (ev: StoredEvent) => (ev.type === 'msg_out' ? (ev as MsgEvent).to_user : ev.type === 'msg_in' ? (ev as MsgEvent).from_user : undefined);
/** Inbox events read back, at most, to find where a history page starts. */
const HISTORY_SEEK_MAX = 4096;

/** Hot records kept decoded in memory; past this many the cache starts over. */
const CACHE_MAX = 50_000;
/** Message records are bigger (they carry the text): fewer of them, and a byte budget. */
const MESSAGE_CACHE_MAX = 10_000;
const MESSAGE_CACHE_BYTES = 32 * 2 ** 20;

export class Projections {
  // Read on every request (auth) and every message view; changed only by our own projector.
  private readonly users = new RecordCache<UserRecord>(CACHE_MAX);
  private readonly tokens = new RecordCache<TokenRecord>(CACHE_MAX);
  /** User id by chat address: every direct message resolves its recipient. */
  private readonly addresses = new RecordCache<string>(CACHE_MAX);
  /** Conversation rows by `user\u0000peer` (null: known absent): read and rewritten on every message. */
  private readonly convs = new RecordCache<ConversationRecord | null>(CACHE_MAX);
  /** Message records: written on send, read by every push, poll and receipt of that message. */
  private readonly msgs = new RecordCache<MessageRecord>(MESSAGE_CACHE_MAX, eventBytes, MESSAGE_CACHE_BYTES);
  /** Files, transcripts, translations, language prefs (daemon/media-projections.ts). */
  readonly media: MediaProjections;

  /** Users who ever deleted a conversation: every other reader skips the `cleared` lookup on each message it reads. */
  private readonly clearers = new Set<string>();

  constructor(private readonly j: Journal) {
    this.media = new MediaProjections(j);
    for (const [user] of j.index<[string, string], number>('cleared').getKeys({})) this.clearers.add(user);
  }

  private put<T>(cache: RecordCache<T>, index: string, key: string, value: T) {
    cache.set(key, value);
    this.j.indexPut(index, key, value);
  }

  private cached<T>(cache: RecordCache<T>, index: string, key: string): T | undefined {
    let rec = cache.get(key);
    if (!rec) {
      rec = this.j.indexGet<T>(index, key);
      if (rec) cache.set(key, rec);
    }
    return rec;
  }

  user(id: string): UserRecord | undefined {
    return this.cached(this.users, 'users', id);
  }
  userByEmail(email: string): string | undefined {
    return this.j.indexGet<string>('emails', email);
  }
  userByAddress(address: string): string | undefined {
    return this.cached(this.addresses, 'addresses', address.toLowerCase());
  }
  token(hash: string): TokenRecord | undefined {
    return this.cached(this.tokens, 'tokens', hash);
  }
  message(id: string): MessageRecord | undefined {
    return this.cached(this.msgs, 'msgs', id);
  }
  idem(user: string, key: string): IdemRecord | undefined {
    return this.j.indexGet<IdemRecord>('idem', [user, key]);
  }
  /** The seq of `user`'s inbox up to which they deleted their conversation with `peer` (0: never). */
  clearedUpto(user: string, peer: string): number {
    if (!this.clearers.has(user)) return 0;
    return this.j.indexGet<number>('cleared', [user, peer]) ?? 0;
  }

  /**
   * Whether `user` deleted their conversation with this direct message in it (its copy is at or
   * below the deletion point). Records older than `in_seq` cannot tell: no. A sender's copy is
   * the seq after the recipient's (both staged in one run), so the recipient's seq serves both.
   */
  inDeletedConversation(user: string, rec: MessageRecord): boolean {
    if (rec.group || rec.in_seq === undefined) return false;
    return rec.in_seq <= this.clearedUpto(user, rec.from_user === user ? rec.to_user : rec.from_user);
  }

  conversation(user: string, peer: string): ConversationRecord | undefined {
    const key = `${user}\u0000${peer}`;
    let rec = this.convs.get(key);
    if (rec === undefined) {
      rec = this.j.indexGet<ConversationRecord>('convs', [user, peer]) ?? null;
      this.convs.set(key, rec);
    }
    return rec ?? undefined;
  }
  private putConversation(user: string, peer: string, rec: ConversationRecord) {
    this.convs.set(`${user}\u0000${peer}`, rec);
    this.j.indexPut('convs', [user, peer], rec);
  }
  private removeConversation(user: string, peer: string) {
    this.convs.set(`${user}\u0000${peer}`, null);
    this.j.indexRemove('convs', [user, peer]);
  }
  conversations(user: string): ConversationRecord[] {
    const rows = this.j
      .index<[string, string], ConversationRecord>('convs')
      .getRange({ start: [user], end: [user, '\uffff'] })
      .map(({ value }) => value);
    return Array.from(rows);
  }
  /**
   * Message ids of one conversation, newest first, with seq < before, never past what is
   * durable. Messages are chained in the inbox (each one's `prev_conv`), so this walks point
   * reads from the newest; a conversation deleted up to a seq (`cleared`) ends the walk there.
   * Events journaled before the chain existed are found in `convidx`, written only for them.
   * The owner's own messages read from the chain come with the idempotency key they were sent
   * with (`idem_key`, read from the event already in hand); those from `convidx` without it.
   */
  history(user: string, peer: string, before: number, limit: number): HistoryRow[] {
    const out: HistoryRow[] = [];
    const stream = `inbox:${user}`;
    const cleared = this.clearedUpto(user, peer);
    const durable = this.j.durableSeq;
    const start = this.historyStart(stream, peer, before, cleared);
    let seq = start.seq;
    let legacyBelow = start.legacyBelow;
    while (seq > cleared && out.length < limit) {
      const ev = this.j.readOne(stream, seq)?.event as MsgEvent | undefined;
      if (!ev) break;
      if (seq < before && seq <= durable) out.push(historyRow(seq, ev, user));
      if (ev.prev_conv === undefined) {
        legacyBelow = seq; // journaled before the chain: the rest is in the index
        break;
      }
      seq = ev.prev_conv;
    }
    if (legacyBelow && out.length < limit) {
      const below = Math.min(legacyBelow, before);
      const rows = this.j
        .index<[string, string, number], string>('convidx')
        .getRange({ start: [user, peer, below - 1], end: [user, peer, cleared], reverse: true, limit: limit - out.length })
        .map(({ key, value }) => ({ seq: key[2], id: value }));
      out.push(...rows);
    }
    return out;
  }

  /**
   * Where a history page starts: the newest message of the conversation below `before`. When
   * `before` is one of its messages (the usual next page) that is its `prev_conv`; otherwise
   * the inbox is read back from `before` (range reads, bounded) until one is found.
   */
  private historyStart(stream: string, peer: string, before: number, cleared: number): { seq: number; legacyBelow: number } {
    if (before > this.j.durableSeq) return { seq: this.conversationHead(stream, peer), legacyBelow: 0 };
    const at = this.j.readOne(stream, before)?.event;
    if (at && peerOf(at) === peer) {
      const prev = (at as MsgEvent).prev_conv;
      return prev === undefined ? { seq: 0, legacyBelow: before } : { seq: prev, legacyBelow: 0 };
    }
    let pos = before;
    for (let scanned = 0; scanned < HISTORY_SEEK_MAX && pos > cleared; ) {
      const chunk = this.j.readBack(stream, pos, 256);
      if (chunk.length === 0) break;
      for (const { seq, event } of chunk) {
        if (seq <= cleared) return { seq: 0, legacyBelow: 0 };
        if (peerOf(event) === peer) return { seq, legacyBelow: 0 };
      }
      scanned += chunk.length;
      pos = chunk[chunk.length - 1].seq;
    }
    // Far back (or nothing found): walk from the newest message instead.
    return { seq: this.conversationHead(stream, peer), legacyBelow: 0 };
  }

  private conversationHead(stream: string, peer: string): number {
    return this.conversation(stream.slice('inbox:'.length), peer)?.last_seq ?? 0;
  }

  session(user: string, sid: string): SessionRecord | undefined {
    return this.j.indexGet<SessionRecord>('sessions', [user, sid]);
  }
  sessions(user: string): (SessionRecord & { sid: string })[] {
    const rows = this.j
      .index<[string, string], SessionRecord>('sessions')
      .getRange({ start: [user], end: [user, '\uffff'] })
      .map(({ key, value }) => ({ sid: key[1], ...value }));
    return Array.from(rows);
  }
  /** Users with a session whose session or device name contains `needle` (lowercase). */
  usersWithSessionNamed(needle: string): Set<string> {
    const out = new Set<string>();
    for (const { key, value } of this.j.index<[string, string], SessionRecord>('sessions').getRange({})) {
      if (sessionNames(value).includes(needle)) out.add(key[0]);
    }
    return out;
  }
  /** Whether `user` blocked `other`. */
  hasBlocked(user: string, other: string): boolean {
    return this.j.indexGet<number>('blocks', [user, other]) !== undefined;
  }
  blocked(user: string): string[] {
    const rows = this.j
      .index<[string, string], number>('blocks')
      .getKeys({ start: [user], end: [user, '\uffff'] })
      .map((key) => key[1]);
    return Array.from(rows);
  }
  groupRecord(id: string): GroupRecord | undefined {
    return this.j.indexGet<GroupRecord>('groups', id);
  }
  allGroups(): Iterable<GroupRecord> {
    return this.j.index<string, GroupRecord>('groups').getRange({}).map(({ value }) => value);
  }
  allUsers(): Iterable<UserRecord> {
    return this.j.index<string, UserRecord>('users').getRange({}).map(({ value }) => value);
  }

  /** Every inbound callback subscription, as (user, id): the relay starts their workers at boot. */
  callbackKeys(): [string, string][] {
    return Array.from(this.j.index<[string, string], number>('callbacks').getKeys({}));
  }

  private callback(user: string, ev: CallbackEvent) {
    if (ev.type === 'cb_added') this.j.indexPut('callbacks', [user, ev.sub.id], ev.at);
    else if (ev.type === 'cb_removed') this.j.indexRemove('callbacks', [user, ev.id]);
  }

  /** Applies one event to the indexes. Called for every staged event and on rebuild. */
  apply(stream: string, seq: number, event: StoredEvent) {
    const colon = stream.indexOf(':');
    const kind = stream.slice(0, colon);
    const id = stream.slice(colon + 1);
    if (kind === 'inbox') this.inbox(id, seq, event as InboxEvent);
    else if (kind === 'group') this.group(id, seq, event as GroupEvent);
    else if (kind === 'user') this.account(id, event as AccountEvent);
    else if (kind === 'callbacks') this.callback(id, event as CallbackEvent);
    else this.media.apply(kind, id, event);
  }

  /** A new message's record: written once, from the recipient's copy (`msg_in`) or the group's `g_msg`. */
  private putMessage(ev: Omit<MsgEvent, 'type'> & { group?: string; n?: number; group_seq?: number; in_seq?: number }) {
    const rec: MessageRecord = {
      id: ev.id,
      from_user: ev.from_user,
      to_user: ev.to_user,
      from: ev.from,
      to: ev.to,
      text: ev.text,
      reply_to: ev.reply_to,
      attachments: ev.attachments,
      sender_session: ev.sender_session,
      ...(ev.group ? { group: ev.group, n: ev.n, group_seq: ev.group_seq } : { in_seq: ev.in_seq }),
      ...(ev.streaming ? { streaming: true } : {}),
      ...(ev.hops ? { hops: ev.hops } : {}),
      created_at: ev.at,
      edited_at: null,
      deleted_at: null,
      delivered_at: null,
      read_at: null,
    };
    // Most messages name no file: no list and no index write for them.
    const links = fileLinks(ev.text);
    if (ev.attachments?.length || links.length) {
      const named = new Set([...(ev.attachments ?? []).map((a) => a.file_id), ...links]);
      const files = [...named].filter((f) => this.media.refer(f, 1));
      if (files.length) rec.files = files;
    }
    this.put(this.msgs, 'msgs', ev.id, rec);
  }

  /**
   * Files linked in `text` that the message does not name yet: counted now, and the record's
   * `files` as it becomes ({} when nothing changes, e.g. the second copy of a direct edit).
   */
  private nameMore(rec: MessageRecord, text: string): Partial<MessageRecord> {
    if (rec.deleted_at) return {};
    const added = fileLinks(text).filter((f) => !rec.files?.includes(f) && this.media.refer(f, 1));
    return added.length ? { files: [...(rec.files ?? []), ...added] } : {};
  }

  /**
   * Changes to a message body, whichever stream carries them. A direct message's change is in
   * both peers' inboxes: edits rewrite the same record twice, but a delta is folded only from
   * the recipient's copy (`fold` false for the sender's).
   */
  private messageChange(ev: InboxEvent | GroupEvent, fold = true) {
    switch (ev.type) {
      case 'edited': {
        const rec = this.message(ev.id);
        // A file link written in by an edit is named too (and kept while the message lives).
        if (rec) this.put(this.msgs, 'msgs', ev.id, { ...rec, text: ev.text, edited_at: ev.final ? null : ev.at, ...(ev.final ? { streaming: false } : {}), ...this.nameMore(rec, ev.text) });
        return true;
      }
      case 'deleted': {
        // Applied twice for a direct message (both inboxes): the files are let go of once.
        const rec = this.message(ev.id);
        if (rec && !rec.deleted_at) for (const f of rec.files ?? []) this.media.refer(f, -1);
        this.updateMessage(ev.id, { text: '', attachments: undefined, files: undefined, deleted_at: ev.at, streaming: false });
        return true;
      }
      case 'delta': {
        const rec = fold ? this.message(ev.id) : undefined;
        if (rec?.streaming) {
          const text = rec.text + ev.delta;
          // A link may have begun in an earlier delta: read back one link's length before this one.
          const more = this.nameMore(rec, text.slice(Math.max(0, rec.text.length - FILE_URL_LENGTH)));
          this.put(this.msgs, 'msgs', ev.id, { ...rec, text, ...more });
        }
        return true;
      }
    }
    return false;
  }

  private group(id: string, seq: number, ev: GroupEvent) {
    if (this.messageChange(ev)) return;
    const rec = this.groupRecord(id);
    switch (ev.type) {
      case 'created':
        this.j.indexPut('groups', id, {
          id,
          name: ev.name,
          visibility: ev.visibility,
          mode: ev.mode,
          join_policy: ev.join_policy,
          owner: ev.owner,
          member_count: 1 + (ev.members?.length ?? 0),
          created_at: ev.at,
        } satisfies GroupRecord);
        break;
      case 'settings':
        if (rec) {
          this.j.indexPut('groups', id, { ...rec, ...settingsFields(ev) });
        }
        break;
      case 'member_added':
      case 'member_removed':
        if (rec) this.j.indexPut('groups', id, { ...rec, member_count: Math.max(0, rec.member_count + (ev.type === 'member_added' ? 1 : -1)) });
        break;
      case 'role_set':
        if (rec && ev.role === 'owner') this.j.indexPut('groups', id, { ...rec, owner: ev.user });
        break;
      case 'g_msg': {
        this.putMessage({ ...ev, to_user: '', to: `group:${id}`, group_seq: seq });
        if (ev.idem_key) this.j.indexPut('idem', [ev.from_user, ev.idem_key], { hash: ev.body_hash ?? '', id: ev.id, seq, at: ev.at } satisfies IdemRecord);
        break;
      }
    }
  }

  /** A message in a conversation: one more unread (`unreadDelta` 1), none (0), or the owner's own answer (`answer`: nothing before it is unread). */
  private touchConversation(user: string, peer: string, ev: MsgEvent, seq: number, unreadDelta: 0 | 1 | 'answer') {
    const prior = this.conversation(user, peer);
    const answered = unreadDelta === 'answer' ? seq : prior?.answered;
    this.putConversation(user, peer, {
      peer,
      last_id: ev.id,
      last_at: ev.at,
      last_seq: seq,
      unread: unreadDelta === 'answer' ? 0 : (prior?.unread ?? 0) + unreadDelta,
      archived: false,
      ...(answered ? { answered } : {}),
    } satisfies ConversationRecord);
    // Chained messages need no row here (see `history`); only those journaled before the chain.
    if (ev.prev_conv === undefined) this.j.indexPut('convidx', [user, peer, seq], ev.id);
  }

  private updateMessage(id: string, change: Partial<MessageRecord>) {
    const rec = this.message(id);
    if (rec) this.put(this.msgs, 'msgs', id, { ...rec, ...change });
  }

  private inbox(user: string, seq: number, ev: InboxEvent) {
    if (ev.type === 'deleted') this.unreadGone(user, ev.id);
    // Both peers' inboxes carry a change: the second application rewrites the same record.
    if (this.messageChange(ev, ev.type !== 'delta' || this.message(ev.id)?.to_user === user)) return;
    switch (ev.type) {
      case 'msg_in': {
        this.putMessage({ ...ev, in_seq: seq });
        this.touchConversation(user, ev.from_user, ev, seq, ev.from_user === user ? 0 : 1);
        if (ev.from_user === user) this.recordIdem(user, ev, seq);
        break;
      }
      case 'msg_out': {
        // The recipient's msg_in, staged just before in the same commit, wrote the record.
        this.touchConversation(user, ev.to_user, ev, seq, 'answer');
        this.recordIdem(user, ev, seq);
        break;
      }
      case 'receipt':
        if (ev.status === 'delivered') {
          const rec = this.message(ev.id);
          if (rec && !rec.delivered_at) this.updateMessage(ev.id, { delivered_at: ev.at });
        }
        break;
      case 'marked_read': {
        const perPeer = new Map<string, number>();
        for (const id of ev.ids) {
          const rec = this.message(id);
          if (!rec || rec.read_at || rec.to_user !== user) continue;
          this.updateMessage(id, { read_at: ev.at, delivered_at: rec.delivered_at ?? ev.at });
          if (rec.deleted_at) continue; // no longer counted as unread since its delete (see `unreadGone`)
          if (this.countedUnread(user, rec)) perPeer.set(rec.from_user, (perPeer.get(rec.from_user) ?? 0) + 1);
        }
        for (const [peer, n] of perPeer) {
          const conv = this.conversation(user, peer);
          if (conv) this.putConversation(user, peer, { ...conv, unread: Math.max(0, conv.unread - n) });
        }
        break;
      }
      case 'blocked':
        this.j.indexPut('blocks', [user, ev.user], ev.at);
        break;
      case 'unblocked':
        this.j.indexRemove('blocks', [user, ev.user]);
        break;
      case 'archived': {
        const conv = this.conversation(user, ev.peer);
        if (conv) this.putConversation(user, ev.peer, { ...conv, archived: ev.archived });
        break;
      }
      case 'conversation_deleted': {
        // History stops at `upto` from now on (the chain runs through the deleted messages);
        // the chain of later messages starts afresh (the row below is gone); old index rows go.
        this.j.indexPut('cleared', [user, ev.peer], ev.upto);
        this.clearers.add(user);
        for (const key of this.j.index<[string, string, number], string>('convidx').getKeys({ start: [user, ev.peer, 0], end: [user, ev.peer, ev.upto + 1] })) {
          this.j.indexRemove('convidx', key);
        }
        const conv = this.conversation(user, ev.peer);
        if (conv && conv.last_seq <= ev.upto) this.removeConversation(user, ev.peer);
        break;
      }
      case 'cursor':
        break;
    }
  }

  /**
   * A message its sender deleted no longer counts as unread for its recipient (there is
   * nothing left to read), unless it was read already or lies in a deleted conversation.
   * Applied in the recipient's inbox (a delete is in both, once each).
   */
  private unreadGone(user: string, id: string) {
    const rec = this.message(id);
    if (!rec || rec.group || rec.to_user !== user || rec.read_at || !this.countedUnread(user, rec)) return;
    const conv = this.conversation(user, rec.from_user);
    if (conv?.unread) this.putConversation(user, rec.from_user, { ...conv, unread: conv.unread - 1 });
  }

  /**
   * Whether a direct message to `user`, not read yet, is counted in their conversation's
   * unread: not their own, not in a conversation they deleted since (its unread went with it),
   * and not before their newest answer (writing answers what came before). A record without
   * `in_seq` is older than the field, so older than any `answered` (a rebuild gives it one).
   */
  private countedUnread(user: string, rec: MessageRecord): boolean {
    if (rec.from_user === user || this.inDeletedConversation(user, rec)) return false;
    const answered = this.conversation(user, rec.from_user)?.answered;
    return !answered || (rec.in_seq !== undefined && rec.in_seq > answered);
  }

  private recordIdem(user: string, ev: MsgEvent & { idem_key?: string; body_hash?: string }, seq: number) {
    if (ev.idem_key) {
      this.j.indexPut('idem', [user, ev.idem_key], { hash: ev.body_hash ?? '', id: ev.id, seq, at: ev.at } satisfies IdemRecord);
    }
  }

  private account(user: string, ev: AccountEvent) {
    switch (ev.type) {
      case 'created': {
        const rec: UserRecord = {
          id: user,
          email: ev.email,
          display_name: ev.display_name,
          chat_address: ev.chat_address,
          public_visible: ev.public_visible,
          avatar_file_id: ev.avatar_file_id ?? null,
          created_at: ev.at,
          suspended: false,
        };
        this.put(this.users, 'users', user, rec);
        if (rec.avatar_file_id) this.media.profile(rec.avatar_file_id);
        this.j.indexPut('emails', ev.email, user);
        this.put(this.addresses, 'addresses', ev.chat_address, user);
        break;
      }
      case 'profile_updated': {
        const rec = this.user(user);
        if (!rec) break;
        const changes = profileFields(ev);
        let retired = rec.retired;
        if (changes.chat_address && changes.chat_address !== rec.chat_address) {
          // The old address stays this user's: nobody else can claim it (and be taken for
          // them by whoever replies to an old message); what is sent to it still reaches them.
          // Up to RETIRED_ADDRESSES_MAX of them: past that the oldest is free again.
          retired = [...(rec.retired ?? []).filter((a) => a !== changes.chat_address), rec.chat_address];
          for (const freed of retired.splice(0, Math.max(0, retired.length - RETIRED_ADDRESSES_MAX))) {
            if (this.userByAddress(freed) === user) {
              this.addresses.delete(freed);
              this.j.indexRemove('addresses', freed);
            }
          }
          this.put(this.addresses, 'addresses', changes.chat_address, user);
        }
        this.put(this.users, 'users', user, { ...rec, ...changes, ...(retired?.length ? { retired } : {}) });
        if (changes.avatar_file_id) this.media.profile(changes.avatar_file_id); // a profile picture is not an unsent upload, and stays
        break;
      }
      case 'session_opened':
        this.put(this.tokens, 'tokens', ev.token_hash, { user, sid: ev.sid } satisfies TokenRecord);
        this.j.indexPut('sessions', [user, ev.sid], {
          device_name: ev.device_name,
          session_name: ev.session_name,
          opened_at: ev.at,
        } satisfies SessionRecord);
        break;
      case 'session_named': {
        const prior = this.j.indexGet<SessionRecord>('sessions', [user, ev.sid]);
        if (prior) {
          this.j.indexPut('sessions', [user, ev.sid], {
            ...prior,
            device_name: ev.device_name,
            session_name: ev.session_name,
            listen_channel: ev.listen_channel,
            hidden: ev.hidden,
          });
        }
        break;
      }
      case 'session_seen': {
        const prior = this.j.indexGet<SessionRecord>('sessions', [user, ev.sid]);
        if (prior && (prior.last_seen ?? 0) < ev.at) this.j.indexPut('sessions', [user, ev.sid], { ...prior, last_seen: ev.at });
        break;
      }
      case 'session_closed':
        this.tokens.delete(ev.token_hash);
        this.j.indexRemove('tokens', ev.token_hash);
        this.j.indexRemove('sessions', [user, ev.sid]);
        break;
      case 'reported':
        this.j.indexPut('reports', [user, ev.at, ev.by], { reason: ev.reason, message_id: ev.message_id, counts: ev.counts !== false });
        break;
      case 'suspended': {
        const rec = this.user(user);
        if (rec) this.put(this.users, 'users', user, { ...rec, suspended: true });
        break;
      }
    }
  }

  /**
   * Rebuilds every index from the journal when the projection version changed; `starting` is
   * told first (it can take a while). Stopped by `signal` between chunks: the version is
   * written only at the end, so the next start rebuilds again.
   */
  async rebuildIfStale(signal?: AbortSignal, starting?: () => void): Promise<boolean> {
    const version = this.j.getMeta<number>('projection_version');
    if (version === PROJECTION_VERSION) return false;
    if (version === undefined && this.j.isEmpty()) {
      this.j.setMeta('projection_version', PROJECTION_VERSION);
      await this.j.commit();
      return false;
    }
    starting?.();
    await this.rebuild(signal);
    return true;
  }

  async rebuild(signal?: AbortSignal) {
    this.users.clear();
    this.tokens.clear();
    this.addresses.clear();
    this.convs.clear();
    this.msgs.clear();
    this.media.clearCaches();
    await this.j.clearIndexes([...INDEXES]);
    let n = 0;
    for (const { stream, seq, event } of this.j.all()) {
      this.apply(stream, seq, event);
      // Keep each transaction a manageable size (and hear a stop between them).
      if (++n % 10_000 === 0) {
        await this.j.commit();
        signal?.throwIfAborted();
      }
    }
    this.j.setMeta('projection_version', PROJECTION_VERSION);
    await this.j.commit();
  }
}
