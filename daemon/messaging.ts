// Direct messages: send, poll (claim / re-read / long-poll), receipts, edit, delete,
// conversations, history, block, report, typing. Every write goes through the owning inbox
// (or account) actor; reads use the projections and the journal's range reads.
import { Refusal } from '../actors/decision.ts';
import { cursorOf, decideBlock, decideClaim, decideReceive, type Attachment, type InboxContext, type InboxEvent } from '../actors/inbox.ts';
import { decideReport, type AccountContext } from '../actors/account.ts';
import type { Auth } from './accounts.ts';
import { Account, Core, Inbox, iso, randomHex, sha256 } from './core.ts';
import type { MessageRecord } from './projections.ts';
import { NO_MEDIA, type MessageMedia } from './media.ts';
import type { EphemeralEvent } from './waiters.ts';

/** An idempotency key is honoured this long, as SPEC.md promises. */
export const IDEMPOTENCY_WINDOW_MS = 24 * 3_600_000;
/** Default and largest poll batch (the seed's clients ask for 20–50). */
export const DEFAULT_POLL_LIMIT = 20;
export const MAX_POLL_LIMIT = 500;

export interface SendBody {
  channel: string;
  to: string;
  text?: string;
  source?: string;
  idempotency_key?: string;
  reply_to?: string;
  attachments?: Attachment[];
}

export interface SendReply {
  message_id: string;
  id: string;
  status: 'sent';
  seq: number;
  created_at: string;
  to: string;
  channel: 'pchat';
}

export type ClientEvent = Record<string, unknown>;

const PHONE_CHANNELS = new Set(['sms', 'wa', 'tg', 'email', 'notify']);

export class Messaging {
  private readonly inflight = new Map<string, Promise<{ hash: string; reply: SendReply }>>();
  /** Called when a session starts or stops holding a live connection (long-poll). */
  onLive: (auth: Auth, delta: 1 | -1) => void = () => {};
  /** Files and translation (daemon/media.ts): attachments in, details and translations out. */
  media: MessageMedia = NO_MEDIA;

  constructor(private readonly core: Core) {}

  // ---------- helpers ----------

  private ctx(user: string): InboxContext {
    return this.core.registry.context<InboxContext>(Inbox, user);
  }

  private ownAddress(auth: Auth, address: string | undefined, field: string) {
    if (address !== undefined && address.trim().toLowerCase() !== auth.record.chat_address) {
      throw new Refusal('not_your_address', `${field} "${address}" is not your chat address (${auth.record.chat_address})`);
    }
  }

  private resolveAddress(address: string): string {
    const a = address.trim().toLowerCase();
    if (a.startsWith('group:')) throw new Refusal('unknown_recipient', `no group "${a.slice(6)}" on this relay`);
    const user = this.core.projections.userByAddress(a);
    if (!user) throw new Refusal('unknown_recipient', `no chat address "${a}" on this relay`);
    return user;
  }

  private address(user: string): string {
    return this.core.projections.user(user)?.chat_address ?? user;
  }

  messageView(rec: MessageRecord, seq?: number) {
    const sender = this.core.projections.user(rec.from_user);
    return {
      id: rec.id,
      message_id: rec.id,
      seq,
      channel: 'pchat',
      from: rec.from,
      source: rec.from,
      to: rec.to,
      display_name: sender?.display_name,
      text: rec.text,
      reply_to: rec.reply_to ?? null,
      attachments: this.media.attachmentViews(rec.attachments),
      created_at: iso(rec.created_at),
      edited_at: iso(rec.edited_at),
      deleted: rec.deleted_at !== null,
      status: rec.read_at ? 'read' : rec.delivered_at ? 'delivered' : 'sent',
    };
  }

  private participant(auth: Auth, id: string): MessageRecord {
    const rec = this.core.projections.message(id);
    if (!rec || (rec.from_user !== auth.user && rec.to_user !== auth.user)) {
      throw new Refusal('unknown_message', `no message "${id}" in your conversations`);
    }
    return rec;
  }

  // ---------- send ----------

  async send(auth: Auth, body: SendBody): Promise<SendReply> {
    if (body.channel !== 'pchat') {
      if (PHONE_CHANNELS.has(body.channel)) {
        throw new Refusal('channel_unavailable', `channel "${body.channel}" needs a phone bridge or SMTP route; none is configured on this relay`);
      }
      throw new Refusal('validation_failed', `channel must be one of pchat, sms, wa, tg, email, notify`);
    }
    this.ownAddress(auth, body.source, 'source');
    body = { ...body, attachments: this.media.resolveAttachments(body) }; // media: checked + parsed from text
    const text = body.text ?? '';
    if (text.length > this.core.config.textMaxChars) {
      throw new Refusal('text_too_long', `text is ${text.length} characters; the limit is ${this.core.config.textMaxChars}`);
    }
    if (!text.trim() && !body.attachments?.length) throw new Refusal('validation_failed', 'text must not be empty');
    if (auth.record.suspended) throw new Refusal('suspended', 'your account is suspended from sending after abuse reports');

    const key = body.idempotency_key;
    if (!key) return this.deliver(auth, body, text);
    const hash = sha256(JSON.stringify([body.to.trim().toLowerCase(), text, body.reply_to ?? null, body.attachments ?? null]));
    const slot = `${auth.user}\u0000${key}`;
    const running = this.inflight.get(slot);
    if (running) return this.sameOrConflict(await running, hash);
    const prior = this.core.projections.idem(auth.user, key);
    if (prior && Date.now() - prior.at < IDEMPOTENCY_WINDOW_MS) {
      const rec = this.core.projections.message(prior.id)!;
      return this.sameOrConflict({ hash: prior.hash, reply: this.reply(rec, prior.seq) }, hash);
    }
    const work = this.deliver(auth, body, text, key, hash).then((reply) => ({ hash, reply }));
    this.inflight.set(slot, work);
    try {
      return (await work).reply;
    } finally {
      this.inflight.delete(slot);
    }
  }

  private sameOrConflict(first: { hash: string; reply: SendReply }, hash: string): SendReply {
    if (first.hash !== hash) {
      throw new Refusal('idempotency_key_reused', 'this idempotency_key was used for a different message');
    }
    return first.reply;
  }

  private reply(rec: MessageRecord, seq: number): SendReply {
    return { message_id: rec.id, id: rec.id, status: 'sent', seq, created_at: iso(rec.created_at)!, to: rec.to, channel: 'pchat' };
  }

  private async deliver(auth: Auth, body: SendBody, text: string, idemKey?: string, bodyHash?: string): Promise<SendReply> {
    const to = this.resolveAddress(body.to);
    if (body.reply_to) {
      const parent = this.core.projections.message(body.reply_to);
      const inConversation =
        parent && ((parent.from_user === auth.user && parent.to_user === to) || (parent.from_user === to && parent.to_user === auth.user));
      if (!inConversation) throw new Refusal('unknown_message', `reply_to "${body.reply_to}" is not a message of this conversation`);
    }
    const at = Date.now();
    const msg = {
      id: `msg_${randomHex(12)}`,
      from_user: auth.user,
      to_user: to,
      from: auth.record.chat_address,
      to: this.address(to),
      text,
      reply_to: body.reply_to,
      attachments: body.attachments,
      sender_session: auth.sid,
      at,
    };
    const idem = idemKey ? { idem_key: idemKey, body_hash: bodyHash } : {};
    let seq: number;
    if (to === auth.user) {
      [seq] = this.core.applyInbox(to, [{ type: 'msg_in', ...msg, ...idem }]);
    } else {
      const decision = decideReceive(this.ctx(to), { type: 'msg_in', ...msg });
      if (decision.refusal) throw decision.refusal;
      this.core.applyInbox(to, decision.events);
      [seq] = this.core.applyInbox(auth.user, [{ type: 'msg_out', ...msg, ...idem }]);
    }
    await this.core.commit([to, auth.user]);
    this.media.onSent(msg); // media: receive-side translation, after the send is durable
    return { message_id: msg.id, id: msg.id, status: 'sent', seq, created_at: iso(at)!, to: msg.to, channel: 'pchat' };
  }

  // ---------- poll ----------

  /** Client-visible form of a journal event, or null for internal bookkeeping. */
  private toClient(seq: number, ev: InboxEvent, consumer: string): { event: ClientEvent; message?: ClientEvent } | null {
    switch (ev.type) {
      case 'msg_in':
      case 'msg_out': {
        const rec = this.core.projections.message(ev.id);
        if (!rec) return null;
        const outgoing = ev.type === 'msg_out';
        // media: the recipient's receive-side translation, when already computed
        const message = { ...this.messageView(rec, seq), ...(outgoing ? {} : { translation: this.media.translationFor(ev.to_user, rec) ?? null }) };
        const event = { type: 'message', seq, outgoing, message };
        return { event, message: !outgoing && ev.sender_session !== consumer ? message : undefined };
      }
      case 'edited':
        return { event: { type: 'edit', seq, message_id: ev.id, text: ev.text, edited_at: iso(ev.at) } };
      case 'deleted':
        return { event: { type: 'delete', seq, message_id: ev.id, deleted_at: iso(ev.at) } };
      case 'receipt':
        return { event: { type: 'receipt', seq, message_id: ev.id, status: ev.status, by: ev.by, at: iso(ev.at) } };
      default: {
        const media = this.media.clientEvent(seq, ev); // media: `translation` events
        return media ? { event: media } : null;
      }
    }
  }

  /** Reads up to `limit` client-visible events after `from`, never past what is durable. */
  private readBatch(user: string, consumer: string, from: number, limit: number) {
    const durable = this.core.durableSeq(user);
    const events: ClientEvent[] = [];
    const messages: ClientEvent[] = [];
    const delivered: MessageRecord[] = [];
    let last = 0;
    let pos = from;
    let more = false;
    while (pos < durable && events.length < limit) {
      const chunk = this.core.journal.read(`inbox:${user}`, pos, Math.min(1000, limit * 2), durable);
      if (chunk.length === 0) break;
      for (const { seq, event } of chunk) {
        pos = seq;
        const c = this.toClient(seq, event as InboxEvent, consumer);
        if (!c) continue;
        if (events.length >= limit) {
          more = true;
          break;
        }
        events.push(c.event);
        last = seq;
        if (c.message) messages.push(c.message);
        const ev = event as InboxEvent;
        if (ev.type === 'msg_in' && ev.from_user !== user) {
          const rec = this.core.projections.message(ev.id);
          if (rec && !rec.delivered_at) delivered.push(rec);
        }
      }
      if (more) break;
    }
    return { events, messages, last, delivered, more: more || pos < durable };
  }

  async poll(
    auth: Auth,
    body: { chat_address?: string; limit?: number; after?: number; wait_ms?: number },
    signal?: AbortSignal,
  ) {
    this.ownAddress(auth, body.chat_address, 'chat_address');
    const { user, sid: consumer } = auth;
    const { waiters, config } = this.core;
    waiters.register(user, consumer);
    const limit = Math.min(body.limit ?? DEFAULT_POLL_LIMIT, MAX_POLL_LIMIT);
    const deadline = Date.now() + Math.min(body.wait_ms ?? 0, config.longPollMaxMs);
    let live = false;
    try {
      for (;;) {
        const from = body.after ?? cursorOf(this.ctx(user), consumer);
        const batch = this.readBatch(user, consumer, from, limit);
        const ephemeral = waiters.take(user, consumer);
        const remaining = deadline - Date.now();
        if (batch.events.length || ephemeral.length || remaining <= 0 || signal?.aborted || waiters.isClosed) {
          const cursor = await this.claim(auth, batch.last, batch.delivered);
          return { events: [...batch.events, ...ephemeral], messages: batch.messages, cursor, has_more: batch.more };
        }
        if (!live) {
          live = true;
          this.onLive(auth, 1);
        }
        await waiters.wait(user, remaining, signal);
      }
    } finally {
      if (live) this.onLive(auth, -1);
    }
  }

  /** Advances the consumer's cursor and records first deliveries; durable before it returns. */
  private async claim(auth: Auth, upto: number, delivered: MessageRecord[]): Promise<number> {
    const { user, sid: consumer } = auth;
    const at = Date.now();
    const decision = decideClaim(this.ctx(user), consumer, upto, at);
    if (decision.events.length === 0 && delivered.length === 0) return cursorOf(this.ctx(user), consumer);
    this.core.applyInbox(user, decision.events);
    const senders: string[] = [];
    for (const rec of delivered) {
      // Another consumer may have claimed it in the meantime.
      if (this.core.projections.message(rec.id)?.delivered_at) continue;
      this.core.applyInbox(rec.from_user, [{ type: 'receipt', id: rec.id, status: 'delivered', by: auth.record.chat_address, at }]);
      senders.push(rec.from_user);
    }
    await this.core.commit(senders);
    return cursorOf(this.ctx(user), consumer);
  }

  // ---------- receipts ----------

  async markRead(auth: Auth, body: { chat_address?: string; message_id?: string; message_ids?: string[] }) {
    this.ownAddress(auth, body.chat_address, 'chat_address');
    const ids = [...new Set([...(body.message_ids ?? []), ...(body.message_id ? [body.message_id] : [])])];
    if (ids.length === 0) throw new Refusal('validation_failed', 'give message_id or message_ids');
    const recs = ids.map((id) => this.core.projections.message(id)).filter((r): r is MessageRecord => !!r && r.to_user === auth.user);
    const fresh = recs.filter((r) => !r.read_at);
    const at = Date.now();
    if (fresh.length) {
      this.core.applyInbox(auth.user, [{ type: 'marked_read', ids: fresh.map((r) => r.id), at }]);
      const senders = new Set<string>();
      for (const r of fresh) {
        if (r.from_user === auth.user) continue;
        this.core.applyInbox(r.from_user, [{ type: 'receipt', id: r.id, status: 'read', by: auth.record.chat_address, at }]);
        senders.add(r.from_user);
      }
      await this.core.commit(senders);
    }
    const known = new Set(recs.map((r) => r.id));
    return { read: fresh.length, message_ids: [...known], unknown: ids.filter((id) => !known.has(id)) };
  }

  receiptStatus(auth: Auth, ids: string[]) {
    const statuses = ids.map((id) => {
      const rec = this.core.projections.message(id);
      if (!rec || (rec.from_user !== auth.user && rec.to_user !== auth.user)) return { message_id: id, status: 'unknown' };
      return {
        message_id: id,
        status: rec.read_at ? 'read' : rec.delivered_at ? 'delivered' : 'sent',
        sent_at: iso(rec.created_at),
        delivered_at: iso(rec.delivered_at),
        read_at: iso(rec.read_at),
      };
    });
    return { statuses, receipts: Object.fromEntries(statuses.map((s) => [s.message_id, s])) };
  }

  // ---------- edit / delete ----------

  async edit(auth: Auth, id: string, text: string) {
    const rec = this.participant(auth, id);
    if (rec.from_user !== auth.user) throw new Refusal('not_sender', 'only the sender can edit a message');
    if (rec.deleted_at) throw new Refusal('message_deleted', 'the message was deleted');
    if (!text.trim()) throw new Refusal('validation_failed', 'text must not be empty');
    if (text.length > this.core.config.textMaxChars) {
      throw new Refusal('text_too_long', `text is ${text.length} characters; the limit is ${this.core.config.textMaxChars}`);
    }
    const at = Date.now();
    return this.toBoth(rec, { type: 'edited', id, text, at }).then(() => ({ message_id: id, text, edited_at: iso(at) }));
  }

  async remove(auth: Auth, id: string) {
    const rec = this.participant(auth, id);
    if (rec.from_user !== auth.user) throw new Refusal('not_sender', 'only the sender can delete a message for everyone');
    if (!rec.deleted_at) await this.toBoth(rec, { type: 'deleted', id, at: Date.now() });
    return { message_id: id, deleted: true };
  }

  private async toBoth(rec: MessageRecord, event: InboxEvent) {
    const users = [...new Set([rec.from_user, rec.to_user])];
    for (const u of users) this.core.applyInbox(u, [event]);
    await this.core.commit(users);
  }

  // ---------- conversations ----------

  conversations(auth: Auth, archived?: boolean) {
    const list = this.core.projections
      .conversations(auth.user)
      .filter((c) => archived === undefined || c.archived === archived)
      .sort((a, b) => b.last_at - a.last_at);
    return list.map((c) => {
      const peer = this.core.projections.user(c.peer);
      const last = this.core.projections.message(c.last_id);
      return {
        peer: peer?.chat_address ?? c.peer,
        chat_address: peer?.chat_address ?? c.peer,
        display_name: peer?.display_name ?? null,
        saved: c.peer === auth.user,
        unread: c.unread,
        archived: c.archived,
        updated_at: iso(c.last_at),
        last_message: last ? this.messageView(last, c.last_seq) : null,
      };
    });
  }

  history(auth: Auth, peerAddress: string, before: number | undefined, limit: number) {
    const peer = this.resolveAddress(peerAddress);
    const page = this.core.projections.history(auth.user, peer, before ?? Number.MAX_SAFE_INTEGER, limit + 1);
    const more = page.length > limit;
    const rows = page.slice(0, limit).reverse();
    const messages = rows.map(({ seq, id }) => this.messageView(this.core.projections.message(id)!, seq));
    return { messages, has_more: more, next_before: more ? rows[0].seq : null };
  }

  async deleteConversation(auth: Auth, peerAddress: string) {
    const peer = this.resolveAddress(peerAddress);
    if (!this.core.projections.conversation(auth.user, peer)) return { deleted: false };
    const upto = this.ctx(auth.user).seq;
    this.core.applyInbox(auth.user, [{ type: 'conversation_deleted', peer, upto, at: Date.now() }]);
    await this.core.commit();
    return { deleted: true };
  }

  async archive(auth: Auth, peerAddress: string, archived: boolean) {
    const peer = this.resolveAddress(peerAddress);
    const conv = this.core.projections.conversation(auth.user, peer);
    if (!conv) throw new Refusal('unknown_conversation', `no conversation with "${peerAddress}"`);
    if (conv.archived !== archived) {
      this.core.applyInbox(auth.user, [{ type: 'archived', peer, archived, at: Date.now() }]);
      await this.core.commit();
    }
    return { peer: this.address(peer), archived };
  }

  // ---------- block / report / typing ----------

  async block(auth: Auth, address: string, block: boolean) {
    const other = this.resolveAddress(address);
    const decision = decideBlock(this.ctx(auth.user), other, block, Date.now());
    if (decision.refusal) throw decision.refusal;
    this.core.applyInbox(auth.user, decision.events);
    await this.core.commit();
    return { address: this.address(other), blocked: block };
  }

  blockedList(auth: Auth) {
    return this.ctx(auth.user).blocked.map((u) => {
      const rec = this.core.projections.user(u);
      return { chat_address: rec?.chat_address ?? u, display_name: rec?.display_name ?? null };
    });
  }

  async report(auth: Auth, body: { message_id?: string; address?: string; reason: string }) {
    let target: string;
    let messageId: string | undefined;
    if (body.message_id) {
      const rec = this.participant(auth, body.message_id);
      target = rec.from_user;
      messageId = rec.id;
    } else if (body.address) {
      target = this.resolveAddress(body.address);
    } else {
      throw new Refusal('validation_failed', 'give message_id or address');
    }
    const { registry, config } = this.core;
    const decision = decideReport(
      registry.context<AccountContext>(Account, target),
      { by: auth.user, reason: body.reason, message_id: messageId },
      config.autoBlockThreshold,
      Date.now(),
    );
    if (decision.refusal) throw decision.refusal;
    registry.apply(Account, target, decision.events);
    await this.core.commit();
    return { reported: true, address: this.address(target) };
  }

  typing(auth: Auth, toAddress: string, typing: boolean) {
    const to = this.resolveAddress(toAddress);
    if (to === auth.user || this.ctx(to).blocked.includes(auth.user)) return;
    const event: EphemeralEvent = {
      type: 'typing',
      from: auth.record.chat_address,
      display_name: auth.record.display_name,
      typing,
      at: new Date().toISOString(),
    };
    this.core.waiters.push(to, event);
  }
}
