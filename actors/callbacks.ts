// A user's inbound callbacks (webhooks): stream `callbacks:<user_id>`. Each subscription is a
// URL the relay POSTs the user's new events to, with filters, a signing secret, and its own
// named consumer on the user's inbox (`cb_<id>`): its cursor is journaled like any other, so
// a delivery that failed, or was cut by a restart, is sent again. What gave up after the retry
// budget is kept here as a dead letter (the newest few per subscription).
import { assign, setup } from 'xstate';
import { accept, own, refuse, type Decision } from './decision.ts';

export const CALLBACKS_VERSION = 1;
/** Dead letters kept per subscription, newest last: enough to see what is failing and why. */
export const DEAD_LETTERS_KEPT = 20;

export interface Filters {
  /** Channels whose events are sent (null: all). Relay events are all `pchat`. */
  channels: string[] | null;
  /** Client event types sent (message, edit, delete, delta, receipt, group, translation; null: all). */
  event_types: string[] | null;
  /** Chat addresses whose events are sent (null: anyone's). */
  sources: string[] | null;
  /** Only events whose text holds one of these (case and accents aside; null: any). */
  keywords: string[] | null;
  /** Calls shorter than this are not sent (call events: none on this relay yet). */
  min_call_duration_sec: number | null;
  /** Also the user's own messages (from any of their sessions). */
  include_outgoing: boolean;
}

export interface Subscription extends Filters {
  id: string;
  url: string;
  /** HMAC key of the `X-PChat-Signature` header: the relay must keep it to sign with. */
  secret: string;
  created_at: number;
}

export interface DeadLetter {
  /** The feed seq of the event that was given up on. */
  event_seq: number;
  event_type: string;
  error: string;
  attempts: number;
  at: number;
}

export type CallbackEvent =
  | { type: 'cb_added'; sub: Subscription; at: number }
  | { type: 'cb_removed'; id: string; at: number }
  | ({ type: 'cb_dead'; id: string } & DeadLetter);

export interface CallbacksContext {
  user: string;
  seq: number;
  subs: Record<string, Subscription>;
  dead: Record<string, DeadLetter[]>;
}

type Sequenced = CallbackEvent & { seq: number };

export const callbacksMachine = setup({
  types: { context: {} as CallbacksContext, events: {} as Sequenced, input: {} as { user: string } },
}).createMachine({
  id: 'callbacks',
  context: ({ input }) => ({ user: input.user, seq: 0, subs: {}, dead: {} }),
  on: {
    cb_added: { actions: assign(({ context, event }) => ({ seq: event.seq, subs: { ...context.subs, [event.sub.id]: event.sub } })) },
    cb_removed: {
      actions: assign(({ context, event }) => {
        const { [event.id]: _sub, ...subs } = context.subs;
        const { [event.id]: _dead, ...dead } = context.dead;
        return { seq: event.seq, subs, dead };
      }),
    },
    cb_dead: {
      actions: assign(({ context, event: { type: _t, id, seq, ...letter } }) => ({
        seq,
        dead: { ...context.dead, [id]: [...(own(context.dead, id) ?? []), letter].slice(-DEAD_LETTERS_KEPT) },
      })),
    },
  },
});

export function decideAdd(ctx: CallbacksContext, sub: Subscription, max: number, at: number): Decision<CallbackEvent> {
  const subs = Object.values(ctx.subs);
  if (subs.length >= max) return refuse('too_many_callbacks', `you have ${subs.length} callbacks, the most this relay allows; delete one first`);
  const same = subs.find((s) => s.url === sub.url);
  if (same) return refuse('conflict', `you already have a callback to ${sub.url} (${same.id}); delete it first to change its filters`);
  return accept({ type: 'cb_added', sub, at });
}

export function decideRemove(ctx: CallbacksContext, id: string, at: number): Decision<CallbackEvent> {
  if (!own(ctx.subs, id)) return refuse('unknown_callback', `no callback "${id}" of yours`);
  return accept({ type: 'cb_removed', id, at });
}

/** A delivery given up on, for a subscription that still exists. */
export function decideDead(ctx: CallbacksContext, id: string, letter: DeadLetter): Decision<CallbackEvent> {
  return own(ctx.subs, id) ? accept({ type: 'cb_dead', id, ...letter }) : accept();
}
