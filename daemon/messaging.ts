// Messages: send (to a chat address, a group or oneself), streamed replies, receipts, edit,
// delete, conversations, history, block, report, typing. Every write goes through the owning
// actor — the recipient's and sender's inboxes for a direct message, the group's stream for a
// group message (written once) — and is durable before the caller hears of it.
// Reading (poll, WS, SSE) is the Feed's job (daemon/feed.ts).
import { own, Refusal } from '../actors/decision.ts';
import { accepts, decideAccept, decideBlock, decideReceive, isMemberNow, type Attachment, type InboxContext, type InboxEvent, type Membership } from '../actors/inbox.ts';
import { decideReport, type AccountContext } from '../actors/account.ts';
import { decideWrite, isMember, type GroupContext, type GroupEvent } from '../actors/group.ts';
import { assertOwnAddress, type Auth } from './accounts.ts';
import { Account, Core, Inbox, iso, messageId, sha256 } from './core.ts';
import type { Feed } from './feed.ts';
import { NO_MEDIA, type MessageMedia } from './media.ts';
import { LoopGuard } from './loopguard.ts';
import { historyRow, type HistoryRow, type MessageRecord } from './projections.ts';
import type { EphemeralEvent } from './waiters.ts';

/** An idempotency key is honoured this long, as SPEC.md promises. */
export const IDEMPOTENCY_WINDOW_MS = 24 * 3_600_000;
/** The device name the browser app gives its sessions (web/src/app.ts). */
const BROWSER_DEVICE = 'browser';
/** Messages of a conversation looked through, newest first, for one the reported account wrote (see `report`). */
const REPORT_EVIDENCE_SCAN = 200;
/** ... or of the reporter's whole inbox as journaled (a conversation they deleted included). */
const REPORT_INBOX_SCAN = 5_000;
/** Group members listed by name in a receipt status; past this only counts are given. */
const RECEIPT_NAMES_MAX = 50;

export interface SendBody {
  channel?: string;
  to: string;
  text?: string;
  source?: string;
  idempotency_key?: string;
  reply_to?: string;
  attachments?: Attachment[];
  hops?: number;
}

export interface SendReply {
  message_id: string;
  id: string;
  status: 'sent';
  seq: number;
  created_at: string;
  to: string;
  channel: 'pchat';
  streaming?: boolean;
}

type Target = { kind: 'user'; user: string } | { kind: 'group'; group: GroupContext };

/** Every channel a send (or a callback's filter) may name: WebChat's own, then the phone bridge's. */
export const CHANNELS = ['pchat', 'sms', 'wa', 'tg', 'email', 'notify'] as const;
const PHONE_CHANNELS = new Set<string>(CHANNELS.slice(1));

export class Messaging {
  private readonly inflight = new Map<string, Promise<{ hash: string; reply: SendReply }>>();
  readonly loopGuard: LoopGuard;
  /** Files and translation (daemon/media.ts): attachments in, receive-side translation after a send. */
  media: MessageMedia = NO_MEDIA;

  constructor(
    private readonly core: Core,
    private readonly feed: Feed,
  ) {
    const { loopMaxHops, loopReplyBudget, loopWindowMs } = core.config;
    this.loopGuard = new LoopGuard(loopMaxHops, loopReplyBudget, loopWindowMs);
  }

  // ---------- helpers ----------

  private ctx(user: string): InboxContext {
    return this.feed.inbox(user);
  }

  private resolveTarget(auth: Auth, address: string): Target {
    const a = address.trim().toLowerCase();
    if (a.startsWith('group:')) return { kind: 'group', group: this.feed.visibleGroup(auth, address.trim().slice(6)) };
    return { kind: 'user', user: this.resolveAddress(a) };
  }

  private resolveAddress(address: string): string {
    const a = address.trim().toLowerCase();
    if (!a) throw new Refusal('validation_failed', 'the address is blank');
    if (a.startsWith('group:')) throw new Refusal('validation_failed', `"${address}" is a group; this takes a chat address`);
    const user = this.core.projections.userByAddress(a);
    if (!user) throw new Refusal('unknown_recipient', `no chat address "${a}" on this relay`);
    return user;
  }

  private address(user: string): string {
    return this.core.projections.user(user)?.chat_address ?? user;
  }

  messageView(rec: MessageRecord, seq?: number) {
    return this.feed.messageView(rec, seq);
  }

  /** A message the caller takes part in: sent or received directly, or in a group they are in. */
  private participant(auth: Auth, id: string): MessageRecord {
    const rec = this.core.projections.message(id);
    const ok = rec && this.core.seesMessage(auth.user, rec);
    if (!ok) throw new Refusal('unknown_message', `no message "${id}" in your conversations`);
    return rec;
  }

  /** A person at the browser app (the session it opens is named device "browser"): to the loop guard, a person stepping in. */
  private isPerson(auth: Auth): boolean {
    return this.core.registry.context<AccountContext>(Account, auth.user).sessions[auth.sid]?.device_name === BROWSER_DEVICE;
  }

  private assertNotSuspended(auth: Auth) {
    if (auth.record.suspended) throw new Refusal('suspended', 'your account is suspended from sending after abuse reports');
  }

  /** Changes to a message reach its recipient as a new message would: not past their block, nor from a suspended account. */
  private assertMayChange(auth: Auth, rec: MessageRecord) {
    this.assertNotSuspended(auth);
    const accepted = rec.group ? undefined : decideAccept(this.ctx(rec.to_user), auth.user);
    if (accepted?.refusal) throw accepted.refusal;
  }

  private checkText(text: string, allowEmpty: boolean) {
    if (text.length > this.core.config.textMaxChars) {
      throw new Refusal('text_too_long', `text is ${text.length} characters; the limit is ${this.core.config.textMaxChars}`);
    }
    if (!allowEmpty && !text.trim()) throw new Refusal('validation_failed', 'text must not be empty');
  }

  /** Refuses (as a send would) when the caller may not post to `to` — e.g. before an upload. */
  assertCanSend(auth: Auth, to: string) {
    const target = this.resolveTarget(auth, to);
    if (target.kind === 'group') {
      const write = decideWrite(target.group, auth.user);
      if (write.refusal) throw write.refusal;
    } else {
      const accepted = decideAccept(this.ctx(target.user), auth.user);
      if (accepted.refusal) throw accepted.refusal;
    }
  }

  // ---------- send ----------

  async send(auth: Auth, body: SendBody, opts: { streaming?: boolean } = {}): Promise<SendReply> {
    const turn = this.core.admit();
    if (turn) {
      await turn;
      // It waited a turn or more: the session may have been logged out, the account suspended.
      const now = this.core.currentAuth(auth);
      if (!now) throw new Refusal('unauthorized', 'this session was logged out');
      auth = now;
    }
    const channel = body.channel ?? 'pchat';
    if (channel !== 'pchat') {
      if (PHONE_CHANNELS.has(channel)) {
        throw new Refusal('channel_unavailable', `channel "${channel}" needs a phone bridge or SMTP route; none is configured on this relay`);
      }
      throw new Refusal('validation_failed', `channel must be one of ${CHANNELS.join(', ')}`);
    }
    body = { ...body, attachments: this.media.resolveAttachments(body) }; // media: checked + parsed from text
    const text = body.text ?? '';
    this.checkText(text, !!body.attachments?.length || !!opts.streaming);

    const key = body.idempotency_key;
    if (!key) return this.deliver(auth, body, text, opts);
    const hash = sha256(JSON.stringify([body.to.trim().toLowerCase(), text, body.reply_to ?? null, body.attachments ?? null, !!opts.streaming]));
    const slot = `${auth.user}\u0000${key}`;
    const running = this.inflight.get(slot);
    if (running) return this.sameOrConflict(await running, hash);
    const prior = this.core.projections.idem(auth.user, key);
    if (prior && Date.now() - prior.at < IDEMPOTENCY_WINDOW_MS) {
      const rec = this.core.projections.message(prior.id)!;
      const reply = { ...this.reply(rec, prior.seq), ...(opts.streaming ? { streaming: true } : {}) }; // as first answered (the hash covers streaming)
      return this.sameOrConflict({ hash: prior.hash, reply }, hash);
    }
    const work = this.deliver(auth, body, text, opts, key, hash).then((reply) => ({ hash, reply }));
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

  private async deliver(auth: Auth, body: SendBody, text: string, opts: { streaming?: boolean }, idemKey?: string, bodyHash?: string): Promise<SendReply> {
    // Checked for a new message only: a retry of one already sent gets its first answer, even
    // if the sender has been renamed or suspended since.
    assertOwnAddress(auth, body.source, 'source');
    this.assertNotSuspended(auth);
    const target = this.resolveTarget(auth, body.to);
    if (target.kind === 'group') return this.deliverToGroup(auth, target.group, body, text, opts, idemKey, bodyHash);
    const to = target.user;
    if (body.reply_to) {
      const parent = this.core.projections.message(body.reply_to);
      const inConversation =
        parent && !parent.group && ((parent.from_user === auth.user && parent.to_user === to) || (parent.from_user === to && parent.to_user === auth.user));
      if (!inConversation) throw new Refusal('unknown_message', `reply_to "${body.reply_to}" is not a message of this conversation`);
    }
    // A recipient who blocked the sender refuses before the loop guard is asked: the answer is
    // `blocked`, whatever the hops (and a refused send spends none of the pair's budget).
    const accepted = to === auth.user ? undefined : decideAccept(this.ctx(to), auth.user);
    if (accepted?.refusal) throw accepted.refusal;
    const lane = LoopGuard.lane(auth.user, to);
    const person = this.isPerson(auth);
    const at = Date.now();
    const hops = to === auth.user ? 0 : this.loopGuard.check(lane, auth.user, body.hops, at, person);
    const msg = { ...this.body(auth, body, text, opts, hops, at), to_user: to, to: this.address(to) };
    const idem = idemKey ? { idem_key: idemKey, body_hash: bodyHash } : {};
    // Each copy points at the message before it in its owner's view of the conversation.
    const prevConv = (owner: string, peer: string) => this.core.projections.conversation(owner, peer)?.last_seq ?? 0;
    let seq: number;
    if (to === auth.user) {
      [seq] = this.core.applyInbox(to, [{ type: 'msg_in', ...msg, prev_conv: prevConv(to, to), ...idem }]);
    } else {
      const decision = decideReceive(this.ctx(to), { type: 'msg_in', ...msg, prev_conv: prevConv(to, auth.user) });
      if (decision.refusal) throw decision.refusal;
      this.core.applyInbox(to, decision.events);
      [seq] = this.core.applyInbox(auth.user, [{ type: 'msg_out', ...msg, prev_conv: prevConv(auth.user, to), ...idem }]);
    }
    this.loopGuard.record(lane, auth.user, hops, at, person);
    await this.core.commit([to, auth.user]);
    this.media.onSent(msg); // media: receive-side translation, after the send is durable
    return { ...this.replyOf(msg.id, seq, at, msg.to), ...(opts.streaming ? { streaming: true } : {}) };
  }

  /** What every new message carries, direct or to a group. */
  private body(auth: Auth, body: SendBody, text: string, opts: { streaming?: boolean }, hops: number, at: number) {
    return {
      id: messageId(),
      from_user: auth.user,
      from: auth.record.chat_address,
      text,
      reply_to: body.reply_to,
      attachments: body.attachments,
      sender_session: auth.sid,
      ...(opts.streaming ? { streaming: true } : {}),
      ...(hops ? { hops } : {}),
      at,
    };
  }

  private replyOf(id: string, seq: number, at: number, to: string): SendReply {
    return { message_id: id, id, status: 'sent', seq, created_at: iso(at)!, to, channel: 'pchat' };
  }

  private async deliverToGroup(
    auth: Auth,
    group: GroupContext,
    body: SendBody,
    text: string,
    opts: { streaming?: boolean },
    idemKey?: string,
    bodyHash?: string,
  ): Promise<SendReply> {
    const write = decideWrite(group, auth.user);
    if (write.refusal) throw write.refusal;
    if (body.reply_to && this.core.projections.message(body.reply_to)?.group !== group.id) {
      throw new Refusal('unknown_message', `reply_to "${body.reply_to}" is not a message of this group`);
    }
    const lane = LoopGuard.lane(auth.user, '', group.id);
    const person = this.isPerson(auth);
    const at = Date.now();
    const hops = this.loopGuard.check(lane, auth.user, body.hops, at, person);
    const event: GroupEvent = {
      type: 'g_msg',
      n: group.count + 1,
      group: group.id,
      ...this.body(auth, body, text, opts, hops, at),
      ...(idemKey ? { idem_key: idemKey, body_hash: bodyHash } : {}),
    };
    const id = event.id;
    const [seq] = this.core.applyGroup(group.id, [event]);
    this.loopGuard.record(lane, auth.user, hops, at, person);
    await this.core.commit(Object.keys(group.members));
    this.media.onGroupSent(event, group.id); // media: the members' receive-side translations
    return { ...this.replyOf(id, seq, at, `group:${group.id}`), ...(opts.streaming ? { streaming: true } : {}) };
  }

  // ---------- streamed replies ----------

  /** Opens a message that grows by deltas; observers see it live, late readers the final text. */
  streamOpen(auth: Auth, body: { to: string; text?: string; reply_to?: string; idempotency_key?: string }) {
    return this.send(auth, { ...body, channel: 'pchat' }, { streaming: true });
  }

  private openStream(auth: Auth, id: string): MessageRecord {
    const rec = this.writable(auth, id);
    if (rec.from_user !== auth.user) throw new Refusal('not_sender', 'only the sender streams into a message');
    if (!rec.streaming) throw new Refusal('stream_closed', `message "${id}" is not an open stream (it was closed, deleted or never streamed)`);
    this.assertMayChange(auth, rec);
    return rec;
  }

  async streamAppend(auth: Auth, id: string, delta: string) {
    const rec = this.openStream(auth, id);
    const length = rec.text.length + delta.length;
    if (length > this.core.config.textMaxChars) {
      throw new Refusal('text_too_long', `the streamed text would be ${length} characters; the limit is ${this.core.config.textMaxChars}`);
    }
    await this.toParticipants(rec, { type: 'delta', id, delta, at: Date.now() });
    return { message_id: id, length };
  }

  async streamClose(auth: Auth, id: string, text?: string) {
    const rec = this.openStream(auth, id);
    const final = text ?? rec.text;
    const at = Date.now();
    if (!final.trim() && !rec.attachments?.length) {
      // Opened, and nothing came: the stream ends as taken back (an empty message is no message).
      await this.toParticipants(rec, { type: 'deleted', id, at });
      return { message_id: id, text: '', closed_at: iso(at), deleted: true };
    }
    this.checkText(final, false);
    await this.toParticipants(rec, { type: 'edited', id, text: final, final: true, at });
    this.media.onEdited(rec, final); // media: the readers' translations of the whole text
    return { message_id: id, text: final, closed_at: iso(at) };
  }

  // ---------- receipts ----------

  async markRead(auth: Auth, body: { chat_address?: string; message_id?: string; message_ids?: string[] }) {
    assertOwnAddress(auth, body.chat_address);
    const ids = [...new Set([...(body.message_ids ?? []), ...(body.message_id ? [body.message_id] : [])])];
    if (ids.length === 0) throw new Refusal('validation_failed', 'give message_id or message_ids');
    const all = ids.map((id) => this.core.projections.message(id));
    const direct = all.filter((r): r is MessageRecord => !!r && !r.group && r.to_user === auth.user);
    const inGroups = all.filter((r): r is MessageRecord => !!r && !!r.group && isMemberNow(this.ctx(auth.user), r.group));
    const fresh = direct.filter((r) => !r.read_at);
    const at = Date.now();
    const touched = new Set<string>();
    if (fresh.length) {
      this.core.applyInbox(auth.user, [{ type: 'marked_read', ids: fresh.map((r) => r.id), at }]);
      for (const r of fresh) {
        if (r.from_user === auth.user) continue;
        // Read before its delivered receipt was recorded (read within a few ms of a push): the
        // sender still hears "delivered" first, as from every other read.
        const receipts: InboxEvent[] = r.delivered_at ? [] : [{ type: 'receipt', id: r.id, status: 'delivered', by: auth.record.chat_address, at }];
        receipts.push({ type: 'receipt', id: r.id, status: 'read', by: auth.record.chat_address, at });
        this.core.applyInbox(r.from_user, receipts);
        touched.add(r.from_user);
      }
    }
    // A group read is a marker per member (one write per read, not per message per member).
    const newest = new Map<string, MessageRecord>();
    for (const r of inGroups) if ((newest.get(r.group!)?.n ?? 0) < r.n!) newest.set(r.group!, r);
    let groupRead = 0;
    const liveReceipts: [string, EphemeralEvent][] = [];
    for (const [group, r] of newest) {
      const m = this.ctx(auth.user).groups[group];
      const seq = this.groupSeqOf(r);
      if (!m || seq <= m.read) continue;
      this.core.applyInbox(auth.user, [{ type: 'group_read', group, upto: seq, n: r.n!, at }]);
      groupRead += inGroups.filter((x) => x.group === group).length;
      // Told live, if the sender is still in the group (a removed member hears nothing of it).
      if (r.from_user !== auth.user && isMember(this.feed.group(group), r.from_user)) {
        liveReceipts.push([r.from_user, { type: 'receipt', message_id: r.id, group_id: group, status: 'read', by: auth.record.chat_address, at: iso(at) }]);
      }
    }
    if (fresh.length || groupRead) await this.core.commit(touched);
    for (const [sender, event] of liveReceipts) this.core.waiters.push(sender, event);
    const known = new Set([...direct, ...inGroups].map((r) => r.id));
    return { read: fresh.length + groupRead, message_ids: [...known], unknown: ids.filter((id) => !known.has(id)) };
  }

  /** The seq of a group message in its group's stream. */
  private groupSeqOf(rec: MessageRecord): number {
    return rec.group_seq ?? 0;
  }

  receiptStatus(auth: Auth, ids: string[]) {
    const statuses = ids.map((id) => {
      const rec = this.core.projections.message(id);
      const visible = rec && this.core.seesMessage(auth.user, rec);
      if (!rec || !visible) return { message_id: id, status: 'unknown' };
      if (rec.group) return { message_id: id, ...this.groupReceipts(rec) };
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

  /** "Delivered to N, read by M" of its recipients, from their cursors and read markers. */
  private groupReceipts(rec: MessageRecord) {
    const group = this.feed.group(rec.group!);
    const seq = this.groupSeqOf(rec);
    // Its recipients: the members who were in the group when it came, and still are (one who
    // joined since never got it).
    const others = Object.keys(group.members).filter((u) => u !== rec.from_user && this.feed.inSameSpan(u, group.id, seq, Number.MAX_SAFE_INTEGER));
    const deliveredTo: string[] = [];
    const readBy: string[] = [];
    for (const u of others) {
      const inbox = this.ctx(u);
      if ((inbox.groups[group.id]?.read ?? 0) >= seq) readBy.push(u);
      // Delivered: claimed by a poll, pushed by a live connection, or read.
      if (Math.max(inbox.top, this.feed.pushedUpTo(u)) >= seq || (inbox.groups[group.id]?.read ?? 0) >= seq) deliveredTo.push(u);
    }
    const names = (us: string[]) => (us.length <= RECEIPT_NAMES_MAX ? us.map((u) => this.address(u)) : undefined);
    return {
      status: others.length && readBy.length === others.length ? 'read' : others.length && deliveredTo.length === others.length ? 'delivered' : 'sent',
      sent_at: iso(rec.created_at),
      members: others.length,
      delivered_count: deliveredTo.length,
      read_count: readBy.length,
      delivered_to: names(deliveredTo),
      read_by: names(readBy),
    };
  }

  // ---------- edit / delete ----------

  /**
   * A message the caller takes part in and may still write to: in a group, only while the
   * group takes their writes (a stream group's observers, or a writer since demoted, get
   * `stream_read_only`, before any question of whose message it is).
   */
  private writable(auth: Auth, id: string): MessageRecord {
    const rec = this.participant(auth, id);
    if (rec.group) {
      const write = decideWrite(this.feed.group(rec.group), auth.user);
      if (write.refusal) throw write.refusal;
    }
    return rec;
  }

  private ownMessage(auth: Auth, id: string, verb: string): MessageRecord {
    const rec = this.writable(auth, id);
    if (rec.from_user !== auth.user) throw new Refusal('not_sender', `only the sender can ${verb} a message`);
    return rec;
  }

  async edit(auth: Auth, id: string, text: string) {
    const rec = this.ownMessage(auth, id, 'edit');
    if (rec.deleted_at) throw new Refusal('message_deleted', 'the message was deleted');
    this.assertMayChange(auth, rec);
    this.checkText(text, !!rec.attachments?.length); // a photo's words may be taken back; the photo stays
    const at = Date.now();
    await this.toParticipants(rec, { type: 'edited', id, text, at });
    this.media.onEdited(rec, text); // media: the readers' translations of the new text
    return { message_id: id, text, edited_at: iso(at) };
  }

  async remove(auth: Auth, id: string) {
    const rec = this.ownMessage(auth, id, 'delete');
    if (!rec.deleted_at) await this.toParticipants(rec, { type: 'deleted', id, at: Date.now() });
    else await this.core.settled(); // deleted, maybe by a request whose delete is not on disk yet
    return { message_id: id, deleted: true };
  }

  /**
   * A change to a message goes where the message is: both inboxes, or the group's stream. A
   * delete takes the files no other live message names with it, in the same run and commit.
   */
  private async toParticipants(rec: MessageRecord, event: Extract<InboxEvent, { type: 'edited' | 'deleted' | 'delta' }>) {
    const files = event.type === 'deleted' ? rec.files : undefined;
    let users: string[];
    if (rec.group) {
      // A delete carries the message's number: the group's unread counts leave it out.
      this.core.applyGroup(rec.group, [event.type === 'deleted' && rec.n ? { ...event, n: rec.n } : event]);
      users = Object.keys(this.feed.group(rec.group).members);
    } else {
      users = [...new Set([rec.from_user, rec.to_user])];
      for (const u of users) this.core.applyInbox(u, [event]);
    }
    const removed = files ? this.media.removeUnnamed(files, event.at) : [];
    await this.core.commit(users);
    if (removed.length) await this.media.deleteBlobs(removed); // media: the bytes, once the removal is on disk
  }

  // ---------- conversations ----------

  conversations(auth: Auth, archived?: boolean) {
    const direct = this.core.projections.conversations(auth.user).map((c) => {
      const peer = this.core.projections.user(c.peer);
      const last = this.core.projections.message(c.last_id);
      return {
        kind: 'direct',
        peer: peer?.chat_address ?? c.peer,
        chat_address: peer?.chat_address ?? c.peer,
        display_name: peer?.display_name ?? null,
        avatar_file_id: peer?.avatar_file_id ?? null,
        saved: c.peer === auth.user,
        unread: c.unread,
        archived: c.archived,
        last_at: c.last_at,
        updated_at: iso(c.last_at),
        last_message: last ? this.messageView(last, c.last_seq) : null,
      };
    });
    const inbox = this.ctx(auth.user);
    const groups = Object.entries(inbox.groups)
      .filter(([gid]) => isMemberNow(inbox, gid))
      .map(([gid, m]) => {
        const g = this.feed.group(gid);
        const last = g.last ? this.core.projections.message(g.last.id) : undefined;
        const lastAt = g.last?.at ?? g.created_at;
        return {
          kind: 'group',
          peer: `group:${gid}`,
          chat_address: `group:${gid}`,
          group_id: gid,
          display_name: g.name,
          mode: g.mode,
          role: g.members[auth.user],
          saved: false,
          unread: this.groupUnread(auth.user, g, m),
          archived: !!m.archived,
          last_at: lastAt,
          updated_at: iso(lastAt),
          last_message: last ? this.messageView(last, g.last!.seq) : null,
        };
      });
    return [...direct, ...groups]
      .filter((c) => archived === undefined || c.archived === archived)
      .sort((a, b) => b.last_at - a.last_at)
      .map(({ last_at: _l, ...c }) => c);
  }

  /**
   * Unread messages of a group for a member: those after their read marker, after their own
   * newest message (writing to a group answers what came before) and after they joined, less
   * those deleted since.
   */
  private groupUnread(user: string, group: GroupContext, m: Membership): number {
    const seen = Math.max(m.read_n, group.sent_n?.[user] ?? 0);
    const deleted = group.deleted_n?.filter((n) => n > seen).length ?? 0;
    return Math.max(0, group.count - seen - deleted);
  }

  history(auth: Auth, peerAddress: string, before: number | undefined, limit: number) {
    if (peerAddress.trim().toLowerCase().startsWith('group:')) return this.groupHistory(auth, peerAddress.trim().slice(6), before, limit);
    const peer = this.resolveAddress(peerAddress);
    const page = this.core.projections.history(auth.user, peer, before ?? Number.MAX_SAFE_INTEGER, limit + 1);
    const more = page.length > limit;
    const rows = page.slice(0, limit).reverse();
    const messages = rows.map((row) => this.historyView(row));
    return { messages, has_more: more, next_before: more ? rows[0].seq : null };
  }

  /** A history message; the reader's own carries the idempotency key it was sent with, as its feed copy does. */
  private historyView({ seq, id, idem_key }: HistoryRow) {
    const view = this.messageView(this.core.projections.message(id)!, seq);
    return idem_key ? { ...view, idempotency_key: idem_key } : view;
  }

  private groupHistory(auth: Auth, id: string, before: number | undefined, limit: number) {
    const group = this.feed.visibleGroup(auth, id);
    if (!isMember(group, auth.user)) throw new Refusal('not_a_member', `join "${group.name}" to read its messages`);
    const rows: HistoryRow[] = [];
    let pos = Math.min(before ?? Number.MAX_SAFE_INTEGER, this.core.durableSeq + 1);
    while (rows.length <= limit) {
      const chunk = this.core.journal.readBack(`group:${group.id}`, pos, 256);
      if (chunk.length === 0) break;
      for (const { seq, event } of chunk) {
        pos = seq;
        if (event.type === 'g_msg') {
          const ev = event as unknown as Extract<GroupEvent, { type: 'g_msg' }>;
          rows.push(historyRow(seq, ev, auth.user));
        }
        if (rows.length > limit) break;
      }
    }
    const more = rows.length > limit;
    const page = rows.slice(0, limit).reverse();
    const messages = page.map((row) => this.historyView(row));
    return { messages, has_more: more, next_before: more ? page[0].seq : null };
  }

  async deleteConversation(auth: Auth, peerAddress: string) {
    const peer = this.resolveAddress(peerAddress);
    if (!this.core.projections.conversation(auth.user, peer)) {
      await this.core.settled(); // gone, maybe by a delete not yet on disk
      return { deleted: false };
    }
    const upto = this.core.registry.head(Inbox, auth.user);
    this.core.applyInbox(auth.user, [{ type: 'conversation_deleted', peer, upto, at: Date.now() }]);
    await this.core.commit();
    return { deleted: true };
  }

  async archive(auth: Auth, peerAddress: string, archived: boolean) {
    if (peerAddress.trim().toLowerCase().startsWith('group:')) {
      const gid = peerAddress.trim().slice(6);
      const m = own(this.ctx(auth.user).groups, gid);
      if (!m || !isMemberNow(this.ctx(auth.user), gid)) throw new Refusal('unknown_conversation', `no conversation with "${peerAddress}"`);
      if (!!m.archived !== archived) this.core.applyInbox(auth.user, [{ type: 'archived', peer: `group:${gid}`, archived, at: Date.now() }]);
      await this.core.commit(); // also when already so: maybe by another request's write, not yet on disk
      return { peer: `group:${gid}`, archived };
    }
    const peer = this.resolveAddress(peerAddress);
    const conv = this.core.projections.conversation(auth.user, peer);
    if (!conv) throw new Refusal('unknown_conversation', `no conversation with "${peerAddress}"`);
    if (conv.archived !== archived) this.core.applyInbox(auth.user, [{ type: 'archived', peer, archived, at: Date.now() }]);
    await this.core.commit(); // also when already so: maybe by another request's write, not yet on disk
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
    if (!body.reason.trim()) throw new Refusal('validation_failed', 'reason must not be blank');
    let target: string;
    let messageId: string | undefined;
    let wroteToReporter: boolean;
    if (body.message_id) {
      const rec = this.participant(auth, body.message_id);
      target = rec.from_user;
      messageId = rec.id;
      wroteToReporter = true; // a message of theirs the reporter was sent (directly or in a group)
    } else if (body.address) {
      target = this.resolveAddress(body.address);
      wroteToReporter = this.wroteTo(target, auth.user);
    } else {
      throw new Refusal('validation_failed', 'give message_id or address');
    }
    const { registry, config } = this.core;
    const decision = decideReport(
      registry.context<AccountContext>(Account, target),
      { by: auth.user, reason: body.reason, message_id: messageId, counts: wroteToReporter },
      config.autoBlockThreshold,
      Date.now(),
    );
    if (decision.refusal) throw decision.refusal;
    registry.apply(Account, target, decision.events);
    await this.core.commit();
    return { reported: true, address: this.address(target), counted: wroteToReporter };
  }

  /**
   * Whether `from` sent `to` a direct message: among the last REPORT_EVIDENCE_SCAN of their
   * conversation, or else among the last REPORT_INBOX_SCAN events of `to`'s inbox, read as
   * journaled — so a conversation `to` deleted still counts (deleting an abusive conversation
   * and then reporting its author is the natural order).
   */
  private wroteTo(from: string, to: string): boolean {
    const recent = this.core.projections.history(to, from, Number.MAX_SAFE_INTEGER, REPORT_EVIDENCE_SCAN);
    if (recent.some(({ id }) => this.core.projections.message(id)?.from_user === from)) return true;
    let pos = this.core.durableSeq + 1;
    for (let scanned = 0; scanned < REPORT_INBOX_SCAN; ) {
      const chunk = this.core.journal.readBack(`inbox:${to}`, pos, 256);
      if (chunk.length === 0) return false;
      for (const { event } of chunk) if (event.type === 'msg_in' && (event as { from_user?: string }).from_user === from) return true;
      scanned += chunk.length;
      pos = chunk[chunk.length - 1].seq;
    }
    return false;
  }

  typing(auth: Auth, toAddress: string, typing: boolean) {
    const target = this.resolveTarget(auth, toAddress);
    const event: EphemeralEvent = {
      type: 'typing',
      from: auth.record.chat_address,
      display_name: auth.record.display_name,
      typing,
      at: new Date().toISOString(),
    };
    if (target.kind === 'group') {
      // Observers of a stream group do not type into it (refused as their sends are).
      const write = decideWrite(target.group, auth.user);
      if (write.refusal) throw write.refusal;
      // Not to someone the typer blocked: they are not told the typer is around (see Presence.refresh).
      this.feed.pushToGroup(target.group, { ...event, group_id: target.group.id }, [auth.user, ...this.ctx(auth.user).blocked]);
      return;
    }
    const to = target.user;
    if (to === auth.user || !accepts(this.ctx(to), auth.user)) return;
    this.core.waiters.push(to, event);
  }
}
