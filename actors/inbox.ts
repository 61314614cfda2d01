// The inbox of one user (one chat address): stream `inbox:<user_id>`.
// Its context is small on purpose — sequence, per-consumer cursors, the block list — never the
// message history, which lives in the journal and is read by key range.
import { assign, setup } from 'xstate';
import { accept, own, refuse, type Decision } from './decision.ts';

export const INBOX_VERSION = 2;

export interface Attachment {
  file_id: string;
  kind: string;
  caption?: string;
}

export interface MessageBody {
  id: string;
  from_user: string;
  to_user: string;
  /** Addresses at send time, as the peers saw them. */
  from: string;
  to: string;
  text: string;
  reply_to?: string;
  attachments?: Attachment[];
  /** The session that sent it: its own poll does not echo it back. */
  sender_session: string;
  /** Open for streamed deltas until a final edit. */
  streaming?: boolean;
  /** Bot-to-bot hop count (loop guard). */
  hops?: number;
  at: number;
}

/** A span of group membership: group events with from < seq <= until are this user's. */
export type Span = [from: number, until: number | null];

export interface Membership {
  spans: Span[];
  /** Last group message seq this user read, and its number in the group. */
  read: number;
  read_n: number;
  archived?: boolean;
}

/**
 * Spans kept per group: past MAX_SPANS, those every consumer has read are dropped first
 * (re-reading that far back is not offered); spans not read yet are kept up to
 * MAX_UNREAD_SPANS (a member removed and re-added many times before reading still gets what
 * was sent while they were in).
 */
const MAX_SPANS = 8;
const MAX_UNREAD_SPANS = 64;

export type InboxEvent =
  /**
   * A message addressed to this inbox (a saved message to oneself included). `prev_conv` is the
   * seq, in this inbox, of the conversation's message before it (0: the first; absent in
   * events older than the field), so history walks a conversation without an index row per message.
   * A saved message carries its sender's idempotency record (`idem_key`), as `msg_out` does.
   */
  | ({ type: 'msg_in'; prev_conv?: number; idem_key?: string; body_hash?: string } & MessageBody)
  /** This user's copy of a message it sent to someone else; carries the idempotency record. */
  | ({ type: 'msg_out'; prev_conv?: number; idem_key?: string; body_hash?: string } & MessageBody)
  | { type: 'edited'; id: string; text: string; at: number; final?: boolean }
  | { type: 'deleted'; id: string; at: number }
  /** A chunk appended to a streamed message. */
  | { type: 'delta'; id: string; delta: string; at: number }
  /** Joined a group at seq `from`, when it had sent `n` messages (absent in older events). */
  | { type: 'joined'; group: string; from: number; n?: number; at: number }
  | { type: 'left'; group: string; until: number; at: number }
  | { type: 'group_read'; group: string; upto: number; n: number; at: number }
  /** What a non-member learns about a group (the answer to a join request); `by`: the admin who answered (absent in events journaled before it was kept). */
  | { type: 'group_note'; group: string; action: string; name: string; by?: string; at: number }
  /** A receipt for a message this user sent. */
  | { type: 'receipt'; id: string; status: 'delivered' | 'read'; by: string; at: number }
  /** This user read these incoming messages. */
  | { type: 'marked_read'; ids: string[]; at: number }
  /** A consumer (session) claimed everything up to `upto`. */
  | { type: 'cursor'; consumer: string; upto: number; at: number }
  /** Live connections pushed this user's feed up to `upto` (group messages count as delivered from there; coalesced, not per push). */
  | { type: 'pushed'; upto: number; at: number }
  /** A session logged out: its cursor is dropped (the inbox context must not grow with every login). */
  | { type: 'consumer_closed'; consumer: string; at: number }
  | { type: 'blocked'; user: string; at: number }
  | { type: 'unblocked'; user: string; at: number }
  | { type: 'conversation_deleted'; peer: string; upto: number; at: number }
  | { type: 'archived'; peer: string; archived: boolean; at: number }
  /** Receive-side translation of a message (or a voice clip's transcript) in this inbox: daemon/translation.ts. */
  | { type: 'translation'; id: string; part: string; language: string; text: string; source_language: string; engine: string; pivot?: string; transcript?: string; at: number };

/**
 * Events the inbox machine does not fold: they change nothing in its context (the messages,
 * receipts and translations live in the journal and the projections). The registry journals
 * them without sending them to the actor (see ActorKind.passive); test/actors checks that
 * none of them has a transition of its own.
 */
export const INBOX_PASSIVE: ReadonlySet<InboxEvent['type']> = new Set([
  'msg_in',
  'msg_out',
  'edited',
  'deleted',
  'delta',
  'group_note',
  'receipt',
  'marked_read',
  'conversation_deleted',
  'translation',
] as const);

export interface InboxContext {
  user: string;
  /** Seq of the last event folded here (passive events are not: the stream's head is the registry's). */
  seq: number;
  cursors: Record<string, number>;
  /** Highest cursor of any consumer but the relay's own (see `isRelayConsumer`): where a new consumer starts. */
  top: number;
  /** Highest seq a live connection pushed (absent in snapshots older than the field). */
  pushed?: number;
  blocked: string[];
  groups: Record<string, Membership>;
}

type Sequenced = InboxEvent & { seq: number };

export const inboxMachine = setup({
  types: {
    context: {} as InboxContext,
    events: {} as Sequenced,
    input: {} as { user: string },
  },
}).createMachine({
  id: 'inbox',
  context: ({ input }) => ({ user: input.user, seq: 0, cursors: {}, top: 0, blocked: [], groups: {} }),
  initial: 'open',
  states: {
    open: {
      on: {
        cursor: {
          actions: assign(({ context, event }) => ({
            seq: event.seq,
            cursors: { ...context.cursors, [event.consumer]: Math.max(event.upto, own(context.cursors, event.consumer) ?? 0) },
            top: isRelayConsumer(event.consumer) ? context.top : Math.max(context.top, event.upto),
          })),
        },
        pushed: {
          actions: assign(({ context, event }) => ({ seq: event.seq, pushed: Math.max(context.pushed ?? 0, event.upto) })),
        },
        consumer_closed: {
          actions: assign(({ context, event }) => {
            const { [event.consumer]: _dropped, ...cursors } = context.cursors;
            return { seq: event.seq, cursors };
          }),
        },
        blocked: {
          actions: assign(({ context, event }) => ({
            seq: event.seq,
            blocked: context.blocked.includes(event.user) ? context.blocked : [...context.blocked, event.user],
          })),
        },
        unblocked: {
          actions: assign(({ context, event }) => ({ seq: event.seq, blocked: context.blocked.filter((u) => u !== event.user) })),
        },
        joined: {
          actions: assign(({ context, event: e }) => {
            const prior = own(context.groups, e.group);
            const spans: Span[] = [...(prior?.spans ?? []), [e.from, null] as Span];
            const floor = Math.min(context.top, ...Object.values(context.cursors));
            while (spans.length > MAX_SPANS) {
              const read = spans.findIndex(([, until]) => until !== null && until <= floor);
              if (read >= 0) spans.splice(read, 1);
              else if (spans.length > MAX_UNREAD_SPANS) spans.shift();
              else break;
            }
            // What the group said before this join is not unread (it is not in the feed either).
            const read_n = Math.max(prior?.read_n ?? 0, e.n ?? 0);
            return { seq: e.seq, groups: { ...context.groups, [e.group]: { read: prior?.read ?? e.from, read_n, spans } } };
          }),
        },
        left: {
          actions: assign(({ context, event: e }) => {
            const prior = own(context.groups, e.group);
            if (!prior) return { seq: e.seq };
            const spans = prior.spans.map(([from, until]): Span => [from, until ?? e.until]);
            return { seq: e.seq, groups: { ...context.groups, [e.group]: { ...prior, spans } } };
          }),
        },
        archived: {
          actions: assign(({ context, event: e }) => {
            const gid = e.peer.startsWith('group:') ? e.peer.slice(6) : undefined;
            const prior = gid ? own(context.groups, gid) : undefined;
            if (!gid || !prior) return { seq: e.seq };
            return { seq: e.seq, groups: { ...context.groups, [gid]: { ...prior, archived: e.archived } } };
          }),
        },
        group_read: {
          actions: assign(({ context, event: e }) => {
            const prior = own(context.groups, e.group);
            if (!prior || e.upto <= prior.read) return { seq: e.seq };
            // Never below what joining marked read (a re-join's gap stays read).
            return { seq: e.seq, groups: { ...context.groups, [e.group]: { ...prior, read: e.upto, read_n: Math.max(prior.read_n, e.n) } } };
          }),
        },
        // Every other event only advances the sequence.
        '*': { actions: assign(({ event }) => ({ seq: event.seq })) },
      },
    },
  },
});

// ---- command handlers: pure decisions over the context ----

/**
 * A consumer of the relay's own (a callback's, `cb_…`): it keeps a cursor like any other, but
 * it is no device of the user's, so it moves neither `top` (where a new session starts: past
 * what a filtered callback skipped, a new phone would get nothing) nor what counts as delivered
 * of a group's messages (read from `top`).
 */
export const isRelayConsumer = (consumer: string) => consumer.startsWith('cb_');

/** Where a consumer's cursor is; a new consumer starts where the most advanced one is. */
export function cursorOf(ctx: InboxContext, consumer: string): number {
  return own(ctx.cursors, consumer) ?? ctx.top;
}

/** Whether the inbox's owner takes what `from` sends them (not if they blocked them). */
export const accepts = (ctx: InboxContext, from: string) => from === ctx.user || !ctx.blocked.includes(from);

/** Refuses anything `from` would bring into this inbox — a message, a change to one — if its owner blocked them. */
export function decideAccept(ctx: InboxContext, from: string): Decision<InboxEvent> {
  return accepts(ctx, from) ? accept() : refuse('blocked', 'the recipient does not accept messages from you');
}

export function decideReceive(ctx: InboxContext, msg: Extract<InboxEvent, { type: 'msg_in' }>): Decision<InboxEvent> {
  const accepted = decideAccept(ctx, msg.from_user);
  return accepted.refusal ? accepted : accept(msg);
}

/**
 * A new consumer (session) starts where the most advanced one is: it gets what arrives from now
 * on. One of the relay's own (a callback's) starts at `from`, past everything journaled so far.
 */
export function decideOpenConsumer(ctx: InboxContext, consumer: string, at: number, from = ctx.top): Decision<InboxEvent> {
  if (own(ctx.cursors, consumer) !== undefined) return accept();
  return accept({ type: 'cursor', consumer, upto: from, at });
}

/** Drops the cursors of sessions that logged out (those that have one). */
export function decideCloseConsumers(ctx: InboxContext, consumers: readonly string[], at: number): Decision<InboxEvent> {
  return accept(...consumers.filter((c) => own(ctx.cursors, c) !== undefined).map((consumer) => ({ type: 'consumer_closed' as const, consumer, at })));
}

/** Moves a consumer's cursor forward to `upto` (never back, never past what exists: `head`). */
export function decideClaim(ctx: InboxContext, consumer: string, upto: number, head: number, at: number): Decision<InboxEvent> {
  if (upto <= (own(ctx.cursors, consumer) ?? 0) || upto > head) return accept();
  return accept({ type: 'cursor', consumer, upto, at });
}

/** Whether the user is a member of the group now. */
export function isMemberNow(ctx: InboxContext, group: string): boolean {
  const spans = own(ctx.groups, group)?.spans;
  return !!spans && spans.length > 0 && spans[spans.length - 1][1] === null;
}

export function decideBlock(ctx: InboxContext, user: string, block: boolean, at: number): Decision<InboxEvent> {
  if (user === ctx.user) return refuse('bad_request', 'you cannot block yourself');
  const has = ctx.blocked.includes(user);
  if (block === has) return accept();
  return accept(block ? { type: 'blocked', user, at } : { type: 'unblocked', user, at });
}
