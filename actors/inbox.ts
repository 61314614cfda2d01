// The inbox of one user (one chat address): stream `inbox:<user_id>`.
// Its context is small on purpose — sequence, per-consumer cursors, the block list — never the
// message history, which lives in the journal and is read by key range.
import { assign, setup } from 'xstate';
import { accept, refuse, type Decision } from './decision.ts';

export const INBOX_VERSION = 1;

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
  at: number;
}

export type InboxEvent =
  /** A message addressed to this inbox (a saved message to oneself included). */
  | ({ type: 'msg_in' } & MessageBody)
  /** This user's copy of a message it sent to someone else; carries the idempotency record. */
  | ({ type: 'msg_out'; idem_key?: string; body_hash?: string } & MessageBody)
  | { type: 'edited'; id: string; text: string; at: number }
  | { type: 'deleted'; id: string; at: number }
  /** A receipt for a message this user sent. */
  | { type: 'receipt'; id: string; status: 'delivered' | 'read'; by: string; at: number }
  /** This user read these incoming messages. */
  | { type: 'marked_read'; ids: string[]; at: number }
  /** A consumer (session) claimed everything up to `upto`. */
  | { type: 'cursor'; consumer: string; upto: number; at: number }
  | { type: 'blocked'; user: string; at: number }
  | { type: 'unblocked'; user: string; at: number }
  | { type: 'conversation_deleted'; peer: string; upto: number; at: number }
  | { type: 'archived'; peer: string; archived: boolean; at: number }
  /** Receive-side translation of a message (or a voice clip's transcript) in this inbox: daemon/translation.ts. */
  | { type: 'translation'; id: string; part: string; language: string; text: string; source_language: string; engine: string; pivot?: string; transcript?: string; at: number };

export interface InboxContext {
  user: string;
  seq: number;
  cursors: Record<string, number>;
  /** Highest cursor of any consumer: where a new consumer starts. */
  top: number;
  blocked: string[];
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
  context: ({ input }) => ({ user: input.user, seq: 0, cursors: {}, top: 0, blocked: [] }),
  initial: 'open',
  states: {
    open: {
      on: {
        cursor: {
          actions: assign(({ context, event }) => ({
            seq: event.seq,
            cursors: { ...context.cursors, [event.consumer]: Math.max(event.upto, context.cursors[event.consumer] ?? 0) },
            top: Math.max(context.top, event.upto),
          })),
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
        // Every other event only advances the sequence.
        '*': { actions: assign(({ event }) => ({ seq: event.seq })) },
      },
    },
  },
});

// ---- command handlers: pure decisions over the context ----

/** Where a consumer's cursor is; a new consumer starts where the most advanced one is. */
export function cursorOf(ctx: InboxContext, consumer: string): number {
  return ctx.cursors[consumer] ?? ctx.top;
}

export function decideReceive(ctx: InboxContext, msg: Extract<InboxEvent, { type: 'msg_in' }>): Decision<InboxEvent> {
  if (msg.from_user !== ctx.user && ctx.blocked.includes(msg.from_user)) {
    return refuse('blocked', 'the recipient does not accept messages from you');
  }
  return accept(msg);
}

/** A new consumer (session) starts where the most advanced one is: it gets what arrives from now on. */
export function decideOpenConsumer(ctx: InboxContext, consumer: string, at: number): Decision<InboxEvent> {
  if (ctx.cursors[consumer] !== undefined) return accept();
  return accept({ type: 'cursor', consumer, upto: ctx.top, at });
}

export function decideClaim(ctx: InboxContext, consumer: string, upto: number, at: number): Decision<InboxEvent> {
  if (upto <= (ctx.cursors[consumer] ?? 0) || upto > ctx.seq) return accept();
  return accept({ type: 'cursor', consumer, upto, at });
}

export function decideBlock(ctx: InboxContext, user: string, block: boolean, at: number): Decision<InboxEvent> {
  if (user === ctx.user) return refuse('bad_request', 'you cannot block yourself');
  const has = ctx.blocked.includes(user);
  if (block === has) return accept();
  return accept(block ? { type: 'blocked', user, at } : { type: 'unblocked', user, at });
}
