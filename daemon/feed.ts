// The feed of one user: their inbox stream merged by seq with the streams of the groups they
// belong to (within their membership spans), turned into client events. Poll, WebSocket and
// SSE all read it through `readBatch`, so they return exactly the same events.
//
// Group messages are written once, to the group's stream; a 1,000-member group costs one
// write per message, and each member's reader pays a range read instead.
import { own, Refusal } from '../actors/decision.ts';
import { cursorOf, decideClaim, decideCloseConsumers, decideOpenConsumer, isMemberNow, isRelayConsumer, type InboxContext, type InboxEvent } from '../actors/inbox.ts';
import { decideSee, isAdmin, type GroupContext, type GroupEvent } from '../actors/group.ts';
import { assertOwnAddress, type Auth } from './accounts.ts';
import { Core, Group, Inbox, iso } from './core.ts';
import type { MessageRecord } from './projections.ts';
import type { EphemeralEvent } from './waiters.ts';
import { NO_MEDIA, type MessageMedia } from './media.ts';

/** Default and largest poll batch (the seed's clients ask for 20–50). */
export const DEFAULT_POLL_LIMIT = 20;
export const MAX_POLL_LIMIT = 500;
/** Events read per stream per step while merging. */
const READ_CHUNK = 256;
/** A consumer whose batch had nothing visible still moves past this many skipped events. */
const SKIP_CLAIM = 256;
const GROUP_ID = /^grp_[0-9a-f]{16}$/;
/** Named consumers per inbox (sessions aside): workers, tabs, hooks — not one per request. */
const MAX_NAMED_CONSUMERS = 32;
/** How often the marks of what live connections pushed are journaled (see `pushedSoon`). */
const PUSHED_FLUSH_MS = 10 * 60_000;
/** Journal events one search looks at, at most (~5 µs of reads each here): past them it says where to go on (`next_before`). */
export const SEARCH_SCAN_MAX = 10_000;
/** Events a search looks at before it lets other requests run (a turn of the event loop). */
const SEARCH_SLICE = 500;
/** Events read per stream per step while searching back. */
const SEARCH_CHUNK = 256;
/** Retry-After (seconds) for a parked poll or live connection refused at the account's cap. */
const LIVE_FULL_RETRY_SEC = 5;
/** Consumer names: short, no spaces (they are keys in the inbox context). */
export const CONSUMER_PATTERN = '^[A-Za-z0-9._:-]{1,64}$';

/** A consumer a client named: not a session's own (`ses_…`), not one of the relay's (`cb_…`). */
const isNamedConsumer = (consumer: string) => !consumer.startsWith('ses_') && !isRelayConsumer(consumer);

export type ClientEvent = Record<string, unknown>;

/** Group message events kept to be handed to every member as one object (see `sharedEvent`). */
const SHARED_EVENTS_MAX = 2048;
/** Event objects handed to many readers (see `sharedEvent`), and their JSON once written. */
const shared = new WeakSet<object>();
const frames = new WeakMap<object, string>();
/** A client event as JSON text; an event shared by many readers is serialized once. */
export function frameJson(event: object): string {
  if (!shared.has(event)) return JSON.stringify(event);
  let json = frames.get(event);
  if (json === undefined) {
    json = JSON.stringify(event);
    frames.set(event, json);
  }
  return json;
}

/** Text as search compares it: lower case, accents and other combining marks dropped. */
export const foldText = (text: string) => (/^[\x00-\x7f]*$/.test(text) ? text : text.normalize('NFKD').replace(/\p{M}+/gu, '')).toLowerCase();

export interface Batch {
  events: ClientEvent[];
  /** Incoming messages among `events` (the seed's `messages` list). */
  messages: ClientEvent[];
  /** Direct messages read here for the first time: they get a delivered receipt on claim. */
  delivered: MessageRecord[];
  /** Seq of the newest group message from someone else among `events` (0 if none). */
  groupUpto: number;
  /** Seq of the last visible event returned (0 if none). */
  lastVisible: number;
  /** How far the read got: every event of this user's streams up to here was looked at. */
  scanned: number;
  more: boolean;
}

interface Source {
  stream: string;
  /** Events with from < seq <= until belong to this user. */
  from: number;
  until: number;
}

export class Feed {
  /** Called when a session starts or stops holding a live connection (long-poll, WS, SSE). */
  onLive: (auth: Auth, delta: 1 | -1) => void = () => {};
  /**
   * Live connections and parked polls each user holds, for PCHAT_LIVE_PER_USER_MAX. Counted
   * from admission to end, not from the waiters' sets: a woken poll is out of those until it
   * parks again, and a connection let in meanwhile would take its place past the cap.
   */
  private readonly held = new Map<string, number>();
  /** Told of every poll (presence counts it as a heartbeat). */
  onPoll: (auth: Auth) => void = () => {};
  /** Files and translation (daemon/media.ts): attachment details and translations out. */
  media: MessageMedia = NO_MEDIA;

  /** Pushed marks not journaled yet (see `pushedSoon`), and the timer that journals them. */
  private readonly pushedMarks = new Map<string, number>();
  private pushedTimer: NodeJS.Timeout | undefined;

  /** seq → the event every member but the sender sees for a group message, while its inputs are unchanged. */
  private readonly sharedEvents = new Map<number, { rec: MessageRecord; group: GroupContext; sender: unknown; event: ClientEvent; message: ClientEvent }>();

  constructor(private readonly core: Core) {}

  inbox(user: string): InboxContext {
    return this.core.registry.context<InboxContext>(Inbox, user);
  }

  group(id: string): GroupContext {
    return this.core.registry.context<GroupContext>(Group, id);
  }

  /**
   * A group the caller may see: a private group is unknown (404) to outsiders. An id that is
   * not a group id is refused before any actor is loaded for it, so probes cost no memory.
   */
  visibleGroup(auth: Auth, id: string): GroupContext {
    if (!GROUP_ID.test(id)) throw new Refusal('unknown_group', `no group "${id}" on this relay`);
    const group = this.group(id);
    const seen = decideSee(group, auth.user);
    if (seen.refusal) throw seen.refusal;
    return group;
  }

  /** The consumer a request reads as: its session's own, or a named one (`ses_…` names are the sessions'). */
  consumerOf(auth: Auth, consumer?: string): string {
    if (consumer === undefined || consumer === auth.sid) return auth.sid;
    if (consumer.startsWith('ses_')) throw new Refusal('validation_failed', 'consumer names starting "ses_" are reserved for sessions; pick another name');
    if (isRelayConsumer(consumer)) throw new Refusal('validation_failed', 'consumer names starting "cb_" are reserved for callbacks; pick another name');
    return consumer;
  }

  /**
   * Makes a named consumer known (its cursor starts where the most advanced one is), so what
   * arrives from now on is kept for it even while another consumer claims.
   */
  async openConsumer(auth: Auth, consumerName?: string): Promise<string> {
    const consumer = this.consumerOf(auth, consumerName);
    const ctx = this.inbox(auth.user);
    if (own(ctx.cursors, consumer) !== undefined) return consumer;
    const named = Object.keys(ctx.cursors).filter(isNamedConsumer).length;
    if (consumer !== auth.sid && named >= MAX_NAMED_CONSUMERS) {
      throw new Refusal('conflict', `this inbox already has ${named} named consumers (the limit); reuse one, or remove one with DELETE /api/v1/webchat/consumers/<name>`);
    }
    this.core.applyInbox(auth.user, decideOpenConsumer(ctx, consumer, Date.now()).events);
    await this.core.commit();
    return consumer;
  }

  /**
   * The inbox's named consumers (not sessions', not callbacks'), with their cursors, by name.
   * For GET /consumers, whose answer waits until what it read is on disk (http/app.ts's onSend).
   */
  namedConsumers(auth: Auth): { consumer: string; cursor: number }[] {
    const { cursors } = this.inbox(auth.user);
    return Object.keys(cursors)
      .filter(isNamedConsumer)
      .sort()
      .map((consumer) => ({ consumer, cursor: cursors[consumer] }));
  }

  /**
   * Removes a named consumer: its cursor goes, and with it what it alone had kept unclaimed. A
   * connection or worker that uses the name again starts it afresh, as a new one.
   */
  async removeConsumer(auth: Auth, name: string) {
    const consumer = this.consumerOf(auth, name);
    if (consumer === auth.sid || own(this.inbox(auth.user).cursors, consumer) === undefined) {
      throw new Refusal('unknown_consumer', `no named consumer "${name}" on your inbox`);
    }
    this.closeConsumer(auth.user, consumer);
    await this.core.commit();
    return { removed: consumer };
  }

  /** Stages a consumer of the relay's own (a callback's), starting after everything journaled so far: it gets what arrives from now on. */
  openConsumerAt(user: string, consumer: string, at: number) {
    const ctx = this.inbox(user);
    this.core.applyInbox(user, decideOpenConsumer(ctx, consumer, at, Math.max(ctx.top, this.core.journal.lastSeq)).events);
  }

  /** Stages the end of a consumer (a named one, a callback's): its cursor goes. */
  closeConsumer(user: string, consumer: string) {
    this.core.applyInbox(user, decideCloseConsumers(this.inbox(user), [consumer], Date.now()).events);
  }

  cursor(auth: Auth, consumer?: string): number {
    return cursorOf(this.inbox(auth.user), this.consumerOf(auth, consumer));
  }

  private sources(user: string): Source[] {
    const out: Source[] = [{ stream: `inbox:${user}`, from: 0, until: Number.MAX_SAFE_INTEGER }];
    for (const [gid, m] of Object.entries(this.inbox(user).groups)) {
      for (const [from, until] of m.spans) out.push({ stream: `group:${gid}`, from, until: until ?? Number.MAX_SAFE_INTEGER });
    }
    return out;
  }

  /** Up to `limit` client-visible events after `after`, never past what is durable. */
  readBatch(user: string, consumer: string, after: number, limit: number): Batch {
    const durable = this.core.durableSeq;
    const sources = this.sources(user).filter((s) => s.until > after);
    const batch: Batch = { events: [], messages: [], delivered: [], groupUpto: 0, lastVisible: 0, scanned: after, more: false };
    let pos = after;
    while (pos < durable) {
      let bound = durable;
      const rows: { seq: number; stream: string; event: unknown }[] = [];
      for (const s of sources) {
        const lo = Math.max(pos, s.from);
        const hi = Math.min(durable, s.until);
        if (lo >= hi) continue;
        const chunk = this.core.journal.read(s.stream, lo, READ_CHUNK, hi);
        if (chunk.length === READ_CHUNK) bound = Math.min(bound, chunk[chunk.length - 1].seq);
        for (const r of chunk) rows.push({ seq: r.seq, stream: s.stream, event: r.event });
      }
      if (sources.length > 1) rows.sort((a, b) => a.seq - b.seq);
      for (const r of rows) {
        if (r.seq > bound) break;
        const c = this.toClient(user, r.stream, r.seq, r.event as InboxEvent | GroupEvent, consumer);
        if (c) {
          if (batch.events.length >= limit) {
            batch.more = true;
            batch.scanned = pos;
            return batch;
          }
          batch.events.push(c.event);
          batch.lastVisible = r.seq;
          if (c.message) batch.messages.push(c.message);
          if (c.delivered) batch.delivered.push(c.delivered);
          const ev = r.event as GroupEvent;
          if (ev.type === 'g_msg' && ev.from_user !== user) batch.groupUpto = r.seq;
        }
        pos = r.seq;
      }
      pos = bound;
    }
    batch.scanned = pos;
    return batch;
  }

  /** A user's chat address as it is now. */
  private addressOf(user: string): string {
    return this.core.projections.user(user)?.chat_address ?? user;
  }

  /** Client-visible form of a journal event, or null for internal bookkeeping. */
  private toClient(
    user: string,
    stream: string,
    seq: number,
    ev: InboxEvent | GroupEvent,
    consumer: string,
  ): { event: ClientEvent; message?: ClientEvent; delivered?: MessageRecord } | null {
    const { projections } = this.core;
    switch (ev.type) {
      case 'msg_in':
      case 'msg_out':
      case 'g_msg': {
        let rec = projections.message(ev.id);
        if (!rec) return null;
        // A conversation the reader deleted stays deleted for them, also when re-read with `after`.
        if (ev.type !== 'g_msg' && seq <= projections.clearedUpto(user, ev.type === 'msg_out' ? ev.to_user : ev.from_user)) return null;
        // A former member re-reading the group's messages (`after`) sees them as they were sent,
        // and the edits and deletes made while they were in it: nothing the group did since.
        const former = ev.type === 'g_msg' && !isMemberNow(this.inbox(user), stream.slice('group:'.length));
        if (former) rec = { ...rec, text: ev.text, attachments: ev.attachments, edited_at: null, deleted_at: null, streaming: ev.streaming };
        // A reply still streaming shows its text as opened: the deltas after it bring the rest
        // (the record's text has them already: shown here, each would arrive twice).
        else if (rec.streaming) rec = { ...rec, text: ev.text };
        // A saved message (to oneself) is the user's own writing: outgoing, yet new to their
        // other sessions (it is how a note reaches one's other devices).
        const saved = ev.type === 'msg_in' && ev.from_user === user;
        const outgoing = saved || ev.type === 'msg_out' || (ev.type === 'g_msg' && ev.from_user === user);
        // media: the reader's receive-side translation, when already computed
        const translation = outgoing ? undefined : former ? null : (this.media.translationFor(user, rec) ?? null);
        // The sender's own copy never takes the shared event (that one says outgoing:false and
        // carries no idempotency key; for the sender `translation` is undefined, not null): it
        // is built below, for them alone, and the other members' path is unchanged.
        if (ev.type === 'g_msg' && !former && translation === null && !rec.attachments?.length && !rec.streaming) {
          const shared = this.sharedEvent(seq, rec);
          return { event: shared.event, message: ev.sender_session !== consumer ? shared.message : undefined };
        }
        // The sender's own copy (a direct send, a saved message, their group message) carries the
        // idempotency key they sent it with: a client that lost the send's answer knows it by it.
        const key = outgoing && ev.idem_key ? { idempotency_key: ev.idem_key } : {};
        const message = { ...this.messageView(rec, seq, !former), ...(outgoing ? key : { translation }) };
        const event = { type: 'message', seq, outgoing, message };
        const incoming = (saved || !outgoing) && ev.sender_session !== consumer;
        const delivered = ev.type === 'msg_in' && ev.from_user !== user && !rec.delivered_at ? rec : undefined;
        return { event, message: incoming ? message : undefined, delivered };
      }
    }
    // Changes to a direct message the reader deleted with its conversation are not news to them.
    if ('id' in ev && !stream.startsWith('group:') && this.inDeletedConversation(user, ev.id)) return null;
    switch (ev.type) {
      case 'edited':
        // A message deleted since keeps none of its words: not even in its earlier edits.
        if (projections.message(ev.id)?.deleted_at) return null;
        return { event: { type: 'edit', seq, message_id: ev.id, text: ev.text, edited_at: iso(ev.at), ...(ev.final ? { final: true } : {}) } };
      case 'deleted':
        return { event: { type: 'delete', seq, message_id: ev.id, deleted_at: iso(ev.at) } };
      case 'delta': {
        // Late readers see only the final text (the message event shows it, then the final edit);
        // so does a member who joined after the message was opened (they never had its start).
        const rec = projections.message(ev.id);
        if (!rec?.streaming) return null;
        if (rec.group && !this.inSameSpan(user, rec.group, rec.group_seq ?? 0, seq)) return null;
        return { event: { type: 'delta', seq, message_id: ev.id, delta: ev.delta } };
      }
      case 'receipt':
        return { event: { type: 'receipt', seq, message_id: ev.id, status: ev.status, by: ev.by, at: iso(ev.at) } };
      case 'group_note': {
        // Who let them in (they see the members now anyway); a refusal does not tell the one
        // turned away which admin said no. A note journaled before the answerer was kept says
        // nothing either.
        const by = ev.by === undefined || ev.action === 'join_rejected' ? {} : { by: this.addressOf(ev.by) };
        return { event: { type: 'group', seq, group_id: ev.group, action: ev.action, name: ev.name, ...by, at: iso(ev.at) } };
      }
      case 'translation': {
        const rec = projections.message(ev.id);
        if (!rec || rec.deleted_at) return null; // a deleted message keeps no words, nor translations
        // A group's translation is for the members who read the group in its language.
        if (stream.startsWith('group:') && this.media.languageFor(user, rec) !== ev.language) return null;
        const media = this.media.clientEvent(seq, ev); // media: `translation` events
        return media ? { event: media } : null;
      }
    }
    if (!stream.startsWith('group:')) return null;
    const group_id = stream.slice(6);
    const base = { type: 'group', seq, group_id, at: iso(ev.at) };
    // In a stream group, who else joins or leaves is for the admins; observers see their own.
    const quiet = (about: string) => about !== user && this.group(group_id).mode === 'stream' && !isAdmin(this.group(group_id), user);
    if ((ev.type === 'member_added' || ev.type === 'member_removed' || ev.type === 'role_set') && quiet(ev.user)) return null;
    switch (ev.type) {
      case 'created':
        return {
          event: { ...base, action: 'created', name: ev.name, visibility: ev.visibility, mode: ev.mode, by: this.addressOf(ev.owner), member_count: 1 + (ev.members?.length ?? 0) },
        };
      case 'member_added':
        return { event: { ...base, action: 'member_added', address: this.addressOf(ev.user), role: ev.role, by: this.addressOf(ev.by) } };
      case 'member_removed':
        return { event: { ...base, action: ev.left ? 'left' : 'member_removed', address: this.addressOf(ev.user), by: this.addressOf(ev.by) } };
      case 'role_set':
        return { event: { ...base, action: 'role_set', address: this.addressOf(ev.user), role: ev.role, by: this.addressOf(ev.by) } };
      case 'settings': {
        const { type: _t, at: _a, by, ...change } = ev;
        return { event: { ...base, action: 'updated', ...change, by: this.addressOf(by) } };
      }
      case 'join_requested':
      case 'join_decided': {
        // Who asked to join is for the admins only.
        if (!isAdmin(this.group(group_id), user)) return null;
        // `by`: who acted, the requester asking or the admin answering.
        const action = ev.type === 'join_requested' ? 'join_requested' : `join_${ev.action === 'approve' ? 'approved' : 'rejected'}`;
        const by = ev.type === 'join_requested' ? ev.user : ev.by;
        return { event: { ...base, action, request_id: ev.request_id, address: this.addressOf(ev.user), by: this.addressOf(by) } };
      }
    }
    return null;
  }

  /** Whether `user` deleted their conversation with this direct message in it (see Projections.inDeletedConversation). */
  private inDeletedConversation(user: string, id: string): boolean {
    const rec = this.core.projections.message(id);
    return !!rec && this.core.projections.inDeletedConversation(user, rec);
  }

  /**
   * What every member but the sender reads for a group message without attachments or a
   * translation: one object for all of them (and so one JSON text, see `frameJson`), rebuilt
   * when the message, the group or the sender's record changes.
   */
  private sharedEvent(seq: number, rec: MessageRecord) {
    const group = this.group(rec.group!);
    const sender = this.core.projections.user(rec.from_user);
    const hit = this.sharedEvents.get(seq);
    if (hit && hit.rec === rec && hit.group === group && hit.sender === sender) return hit;
    const message = { ...this.messageView(rec, seq), translation: null };
    const entry = { rec, group, sender, message, event: { type: 'message', seq, outgoing: false, message } };
    shared.add(entry.event);
    if (this.sharedEvents.size >= SHARED_EVENTS_MAX) this.sharedEvents.clear();
    this.sharedEvents.set(seq, entry);
    return entry;
  }

  /**
   * Whether `user` was in the group both when its message `msgSeq` came and at `seq`, without
   * leaving in between (their membership spans are (from, until], seqs of the group's stream).
   */
  inSameSpan(user: string, gid: string, msgSeq: number, seq: number): boolean {
    const spans = own(this.inbox(user).groups, gid)?.spans ?? [];
    return spans.some(([from, until]) => from < msgSeq && msgSeq <= seq && (until === null || seq <= until));
  }

  /** A message as clients see it; `withGroupName` false for a former member (the name is the group's now). */
  messageView(rec: MessageRecord, seq?: number, withGroupName = true) {
    const { projections } = this.core;
    const sender = projections.user(rec.from_user);
    const group = rec.group ? this.group(rec.group) : undefined;
    // Who, as they are called now: replying to `from` reaches the sender even after a rename.
    const from = sender?.chat_address ?? rec.from;
    return {
      id: rec.id,
      message_id: rec.id,
      seq,
      channel: 'pchat',
      from,
      source: from,
      to: group ? rec.to : (projections.user(rec.to_user)?.chat_address ?? rec.to),
      display_name: sender?.display_name,
      text: rec.text,
      reply_to: rec.reply_to ?? null,
      attachments: this.media.attachmentViews(rec.attachments),
      created_at: iso(rec.created_at),
      edited_at: iso(rec.edited_at),
      deleted: rec.deleted_at !== null,
      ...(group ? { group: { id: group.id, name: withGroupName ? group.name : null, mode: group.mode } } : {}),
      ...(rec.streaming ? { streaming: true } : {}),
      status: rec.read_at ? 'read' : rec.delivered_at ? 'delivered' : 'sent',
    };
  }

  // ---------- poll / ack ----------

  async poll(
    auth: Auth,
    body: { chat_address?: string; limit?: number; after?: number; wait_ms?: number; consumer?: string; peek?: boolean },
    signal?: AbortSignal,
  ) {
    assertOwnAddress(auth, body.chat_address);
    this.onPoll(auth);
    const { user } = auth;
    // A peek makes its consumer known too: what arrives from now on is kept for it, so an `ack`
    // of what it peeked never finds its cursor already moved past by another consumer.
    const consumer = await this.openConsumer(auth, body.consumer);
    const { waiters, config } = this.core;
    const ephemeralKey = `${auth.sid}\u0000${consumer}`;
    waiters.register(user, ephemeralKey);
    const limit = Math.min(body.limit ?? DEFAULT_POLL_LIMIT, MAX_POLL_LIMIT);
    const deadline = Date.now() + Math.min(body.wait_ms ?? 0, config.longPollMaxMs);
    let live = false;
    try {
      for (;;) {
        const from = body.after ?? cursorOf(this.inbox(user), consumer);
        const batch = this.readBatch(user, consumer, from, limit);
        const ephemeral = waiters.take(user, ephemeralKey);
        const remaining = deadline - Date.now();
        if (batch.events.length || ephemeral.length || remaining <= 0 || signal?.aborted || waiters.isClosed) {
          const cursor = body.peek ? cursorOf(this.inbox(user), consumer) : await this.claim(auth, consumer, from, batch);
          // The cursor may hold another request's claim that is staged, not yet on disk (a peek,
          // or a poll with nothing to claim): a crash could still take it back, so answer with
          // it only once it is durable.
          await this.core.settled();
          return {
            events: [...batch.events, ...ephemeral],
            messages: batch.messages,
            cursor,
            consumer,
            // Paging with `after` (or peeking) goes on from here; the stored cursor above only moves forward.
            ...(body.peek || body.after !== undefined ? { next_after: batch.more ? batch.lastVisible : Math.max(batch.scanned, from) } : {}),
            has_more: batch.more,
          };
        }
        if (!live) {
          this.assertLiveRoom(user);
          live = true;
          this.live(auth, 1);
        }
        await waiters.wait(user, remaining, signal);
        // A logout (of this session, or logout-all) wakes its parked polls: they end now, as
        // its live connections do, instead of holding a dead token until wait_ms.
        if (!this.core.sessionOpen(auth)) {
          throw new Refusal('unauthorized', 'this session was logged out');
        }
      }
    } finally {
      if (live) this.live(auth, -1);
    }
  }

  /**
   * Refuses one more parked poll or live connection for `user` past PCHAT_LIVE_PER_USER_MAX:
   * each holds a socket, a wake-up and up to a buffer cap of queued bytes.
   */
  assertLiveRoom(user: string) {
    const max = this.core.config.livePerUserMax;
    if ((this.held.get(user) ?? 0) >= max) {
      throw new Refusal('too_many_connections', `this account already holds ${max} live connections and parked polls, the most this relay allows`, LIVE_FULL_RETRY_SEC);
    }
  }

  /** A live connection or parked poll of `auth` begins (1) or ends (-1); admitted by `assertLiveRoom` first. */
  live(auth: Auth, delta: 1 | -1) {
    const n = (this.held.get(auth.user) ?? 0) + delta;
    if (n > 0) this.held.set(auth.user, n);
    else this.held.delete(auth.user);
    this.onLive(auth, delta);
  }

  // ---------- search ----------

  /**
   * The caller's messages, newest first, whose text (or an attachment's name or caption) holds every word
   * of `q` (case and accents aside): direct ones, saved ones, and those of groups while the
   * caller was in them, each as poll shows it (a deleted conversation's are not found, a
   * deleted message has no words). `peer` narrows it to one conversation (`group:grp_…` for a
   * group). There is no word index: it reads back through the caller's streams, at most
   * SEARCH_SCAN_MAX events per call, a slice per event-loop turn; `next_before` is where the
   * next call goes on.
   */
  async search(auth: Auth, q: string, opts: { peer?: string; before?: number; limit: number; scanMax?: number }) {
    const { user } = auth;
    const terms = foldText(q).split(/\s+/).filter(Boolean);
    if (terms.length === 0) throw new Refusal('validation_failed', 'q has no words to look for');
    const hasAll = (text: string) => {
      const folded = foldText(text);
      return terms.every((t) => folded.includes(t));
    };
    let sources = this.sources(user);
    let withUser: string | undefined;
    const peer = opts.peer?.trim().toLowerCase();
    if (peer?.startsWith('group:')) {
      const gid = peer.slice('group:'.length);
      sources = sources.filter((s) => s.stream === `group:${gid}`);
      // Only groups the caller was in: anything else is unknown to them (as a private group is).
      if (sources.length === 0) throw new Refusal('unknown_group', `you were never in a group "${gid}"`);
    } else if (peer) {
      withUser = this.core.projections.userByAddress(peer);
      if (!withUser) throw new Refusal('unknown_recipient', `no chat address "${peer}" on this relay`);
      sources = sources.filter((s) => s.stream === `inbox:${user}`);
    }
    const top = Math.min(opts.before ?? Number.MAX_SAFE_INTEGER, this.core.durableSeq + 1);
    // Each stream read back in chunks, merged newest first.
    const heads = sources.map((s) => ({ s, buf: [] as { seq: number; event: unknown }[], pos: Math.min(top, s.until + 1), done: false, leftAt: undefined as number | undefined }));
    const front = (h: (typeof heads)[number]) => {
      if (h.buf.length === 0 && !h.done) {
        const chunk = this.core.journal.readBack(h.s.stream, h.pos, SEARCH_CHUNK);
        if (chunk.length < SEARCH_CHUNK) h.done = true;
        if (chunk.length) h.pos = chunk[chunk.length - 1].seq;
        h.buf = chunk.filter((e) => e.seq > h.s.from);
        if (h.buf.length < chunk.length) h.done = true;
      }
      return h.buf[0];
    };
    /** When the caller left the group of this span (Infinity while in it): its closing event's time. */
    const leftAt = (h: (typeof heads)[number]) => {
      if (h.s.until === Number.MAX_SAFE_INTEGER) return Infinity;
      h.leftAt ??= (this.core.journal.readOne(h.s.stream, h.s.until)?.event as { at?: number } | undefined)?.at ?? Infinity;
      return h.leftAt;
    };
    const results: ClientEvent[] = [];
    let scanned = 0;
    let low = top;
    for (;;) {
      let next: (typeof heads)[number] | undefined;
      for (const h of heads) if (front(h) && (!next || h.buf[0].seq > next.buf[0].seq)) next = h;
      if (!next) return { results, has_more: false, next_before: null };
      if (results.length === opts.limit || scanned === (opts.scanMax ?? SEARCH_SCAN_MAX)) return { results, has_more: true, next_before: low };
      const { seq, event } = next.buf.shift()!;
      if (++scanned % SEARCH_SLICE === 0) await new Promise((resume) => setImmediate(resume));
      low = seq;
      const ev = event as InboxEvent | GroupEvent;
      if (ev.type !== 'msg_in' && ev.type !== 'msg_out' && ev.type !== 'g_msg') continue;
      // The other side of a direct message (oneself for a saved one).
      if (withUser !== undefined && (ev.type === 'msg_out' ? ev.to_user : ev.from_user) !== withUser) continue;
      // Cheap test first, on the text as it is now and as it was sent (what a former member sees).
      const rec = this.core.projections.message(ev.id);
      if (!rec || (!rec.attachments?.length && !hasAll(rec.text) && !(ev.type === 'g_msg' && hasAll(ev.text)))) continue;
      // A former member reads a group's messages as sent (see toClient), and poll follows one
      // deleted while they were in with its delete event; a search result has none to follow,
      // so such a message is not found (its words are gone for them too).
      if (ev.type === 'g_msg' && rec.deleted_at !== null && rec.deleted_at <= leftAt(next) && !isMemberNow(this.inbox(user), rec.group!)) continue;
      const view = this.toClient(user, next.s.stream, seq, ev, auth.sid);
      if (!view) continue;
      const message = view.event.message as { text?: string; attachments?: { name?: string; caption?: string }[]; idempotency_key?: string };
      const words = [message.text ?? '', ...(message.attachments ?? []).flatMap((a) => [a.name ?? '', a.caption ?? ''])];
      if (!hasAll(words.join('\n'))) continue;
      // The send's key is for its echo and history, not for search (docs/realtime.md). Only
      // the sender's own copy has one, built for this read alone (never a shared event).
      if (view.event.outgoing) delete message.idempotency_key;
      results.push(view.event);
    }
  }

  /** Where a claim of this batch moves the cursor: past what was shown, or past a long skip. */
  static claimPoint(from: number, batch: Batch): number {
    return batch.lastVisible || batch.scanned - from >= SKIP_CLAIM ? batch.scanned : from;
  }

  /** Advances the consumer's cursor and records first deliveries; durable before it returns. */
  private async claim(auth: Auth, consumer: string, from: number, batch: Batch): Promise<number> {
    const upto = Feed.claimPoint(from, batch);
    await this.advance(auth, consumer, upto, batch.delivered);
    return cursorOf(this.inbox(auth.user), consumer);
  }

  /** Moves a consumer's cursor to `upto` and records deliveries, in one durable commit. */
  async advance(auth: Auth, consumer: string, upto: number, delivered: MessageRecord[] = []) {
    const { user } = auth;
    const at = Date.now();
    const decision = decideClaim(this.inbox(user), consumer, upto, this.core.durableSeq, at);
    if (decision.events.length === 0 && delivered.length === 0) return;
    this.core.applyInbox(user, decision.events);
    await this.recordDelivered(auth, delivered, at);
  }

  /** First-delivery receipts to the senders of `delivered` (and whatever was staged with them); durable on return. */
  async recordDelivered(auth: Auth, delivered: MessageRecord[], at = Date.now()) {
    const wake = new Set<string>();
    this.stageDelivered(auth, delivered, at, wake);
    await this.core.commit(wake);
  }

  /** The same for what a live connection pushed: nobody waits, so it rides along with the next commit. */
  deliveredSoon(auth: Auth, delivered: MessageRecord[]) {
    this.core.stageSoon((wake) => this.stageDelivered(auth, delivered, Date.now(), wake));
  }

  /**
   * Stages a delivered receipt per message not yet delivered; adds each sender to `wake`. A
   * receipt that fails is logged and skipped: it must not fail the read it rides on (the
   * reader's claim would be lost with it, or the others' receipts).
   */
  private stageDelivered(auth: Auth, delivered: MessageRecord[], at: number, wake: Set<string>) {
    const by = this.core.projections.user(auth.user)?.chat_address ?? auth.record.chat_address; // as called now (a live session may predate a rename)
    for (const rec of delivered) {
      // Another consumer may have delivered it in the meantime.
      if (this.core.projections.message(rec.id)?.delivered_at) continue;
      try {
        this.core.applyInbox(rec.from_user, [{ type: 'receipt', id: rec.id, status: 'delivered', by, at }]);
        wake.add(rec.from_user);
      } catch (err) {
        this.core.log.error({ err: (err as Error).message, message_id: rec.id }, 'a delivered receipt could not be recorded');
      }
    }
  }

  /**
   * A live connection pushed group messages up to `upto`: group receipts count them delivered
   * (see `pushedUpTo`). Group messages get no receipt each (a 1,000-member group would cost
   * 1,000 writes per message), and the marks are kept in memory: journaled (as the inbox's
   * `pushed` mark) only every PUSHED_FLUSH_MS and at shutdown, so a busy group does not fill
   * the journal with them; a crash forgets at most that much of "delivered" (not of delivery).
   */
  pushedSoon(user: string, upto: number) {
    if (upto <= (this.pushedMarks.get(user) ?? 0)) return;
    this.pushedMarks.set(user, upto);
    if (this.pushedTimer) return;
    this.pushedTimer = setTimeout(() => void this.flushPushed().catch((err) => this.core.log.error({ err: (err as Error).message }, 'recording pushed marks failed')), PUSHED_FLUSH_MS);
    this.pushedTimer.unref();
  }

  /** The newest seq pushed to any live connection of `user` (journaled or not yet). */
  pushedUpTo(user: string): number {
    return Math.max(this.pushedMarks.get(user) ?? 0, this.inbox(user).pushed ?? 0);
  }

  /** Journals the marks that moved since (every PUSHED_FLUSH_MS, and at shutdown). */
  async flushPushed() {
    clearTimeout(this.pushedTimer);
    this.pushedTimer = undefined;
    if (this.pushedMarks.size === 0) return;
    const at = Date.now();
    for (const [user, upto] of this.pushedMarks) {
      if (upto > (this.inbox(user).pushed ?? 0)) this.core.applyInbox(user, [{ type: 'pushed', upto, at }]);
    }
    this.pushedMarks.clear();
    await this.core.commit();
  }

  /** Explicit ack: the consumer has processed everything up to `upto`. */
  async ack(auth: Auth, consumerName: string | undefined, upto: number) {
    // Checked first: a refused ack must not create its consumer either.
    if (upto > this.core.durableSeq) {
      throw new Refusal('validation_failed', `upto ${upto} is past the newest event (${this.core.durableSeq})`);
    }
    const consumer = await this.openConsumer(auth, consumerName);
    await this.advance(auth, consumer, upto);
    // An ack that moved nothing answers with a cursor another request may have only staged: durable first.
    await this.core.settled();
    return { consumer, cursor: cursorOf(this.inbox(auth.user), consumer) };
  }

  /** Ephemeral events pushed to every current member of a group but `except`. */
  pushToGroup(group: GroupContext, event: EphemeralEvent, except: readonly string[] = []) {
    for (const member of Object.keys(group.members)) if (!except.includes(member)) this.core.waiters.push(member, event);
  }
}
