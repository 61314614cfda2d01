// The loop guard: two bots answering each other forever are stopped at the relay.
//
// A message that answers the other side of a conversation (the previous message in that
// conversation came from someone else, less than `windowMs` ago) is a *hop*; its hop count is
// one more than the message it answers, as long as the same two senders keep taking turns (in
// a group, a third speaker starts the count over). A sender's further messages keep the count
// (a bot acknowledging, then answering, does not start over); a pause longer than the window
// resets it. A one-way stream never climbs. A message a person sends from the browser app (a
// session with device_name "browser") is a person stepping in: the count starts over, so a
// person chatting briskly with an AI session is never taken for a loop.
// Three rules refuse a send with 429 `loop_guard`: the hop count passes `maxHops`; one sender
// has taken more than `replyBudget` turns (hops) in the conversation within the window; or more
// than LONG_BUDGET turns within LONG_WINDOW_MS without a pause of the window.
// A hop count a sender claims (`hops`, carried over from elsewhere) stamps and checks their own
// message; only in a direct conversation does it carry on to the answer (in a group, any member
// could otherwise silence everyone by claiming a high count).
//
// The state is in memory on purpose: it is a brake, not a record; a restart releases it.
import { Refusal } from '../actors/decision.ts';

interface Lane {
  lastFrom: string;
  lastAt: number;
  hops: number;
  /** The two senders taking turns in the current count ("a|b"), once someone answered. */
  pair?: string;
  /** The last message came from a person at the browser app: answering it is not a bot's turn. */
  lastByPerson?: boolean;
  /** Times of recent hops, per sender. */
  replies: Map<string, number[]>;
}

/** The long budget: turns per sender per conversation within this window (a pause of `windowMs` clears it). */
export const LONG_WINDOW_MS = 10 * 60_000;
export const LONG_BUDGET = 120;
/** Lanes kept at most; past it the oldest are dropped. */
const MAX_LANES = 100_000;

export class LoopGuard {
  private readonly lanes = new Map<string, Lane>();

  constructor(
    private readonly maxHops: number,
    private readonly replyBudget: number,
    private readonly windowMs: number,
  ) {}

  /** The conversation key: a group, or the unordered pair of users. */
  static lane(from: string, to: string, group?: string): string {
    if (group) return `g:${group}`;
    return from < to ? `${from}|${to}` : `${to}|${from}`;
  }

  /**
   * Checks a send and returns its hop count; throws `loop_guard` when it must not go out.
   * Call `record` once the message is accepted.
   */
  check(lane: string, from: string, claimedHops = 0, now = Date.now(), person = false): number {
    const l = this.lanes.get(lane);
    const hops = Math.max(claimedHops, l && !person ? this.next(l, from, now).hops : 0);
    if (hops > this.maxHops) {
      throw new Refusal(
        'loop_guard',
        `loop guard: this conversation has gone back and forth ${hops} times without a pause of ${Math.round(this.windowMs / 1000)} s (limit ${this.maxHops}); pause, or have a person step in`,
        Math.ceil(this.windowMs / 1000),
      );
    }
    if (this.isTurn(l, from, hops, now)) {
      const turns = l && !this.paused(l, now) ? (l.replies.get(from) ?? []) : [];
      if (turns.filter((t) => now - t < LONG_WINDOW_MS).length >= LONG_BUDGET) {
        throw new Refusal(
          'loop_guard',
          `loop guard: you answered this conversation ${LONG_BUDGET} times in ${LONG_WINDOW_MS / 60_000} minutes without a pause of ${Math.round(this.windowMs / 1000)} s; pause, or have a person step in`,
          Math.ceil(this.windowMs / 1000),
        );
      }
      const recent = turns.filter((t) => now - t < this.windowMs);
      if (recent.length >= this.replyBudget) {
        const retry = Math.max(1, Math.ceil((recent[0] + this.windowMs - now) / 1000));
        throw new Refusal(
          'loop_guard',
          `loop guard: you answered this conversation ${recent.length} times in ${Math.round(this.windowMs / 1000)} s (budget ${this.replyBudget}); retry in ${retry} s`,
          retry,
        );
      }
    }
    return hops;
  }

  /** Whether the lane has been quiet for the window: that clears its count and its budgets. */
  private paused(l: Lane, now: number): boolean {
    return now - l.lastAt >= this.windowMs;
  }

  /** Where a message from `from` now leaves the lane's count (see the header). */
  private next(l: Lane, from: string, now: number): { hops: number; pair?: string } {
    if (this.paused(l, now)) return { hops: 0 };
    if (l.lastFrom === from) return { hops: l.hops, pair: l.pair };
    const pair = l.lastFrom < from ? `${l.lastFrom}|${from}` : `${from}|${l.lastFrom}`;
    return { hops: l.pair === undefined || l.pair === pair ? l.hops + 1 : 1, pair };
  }

  /** Whether a message with this hop count takes a turn (counts against the reply budget): not a follow-up of the sender's own. */
  private isTurn(l: Lane | undefined, from: string, hops: number, now: number): boolean {
    return hops > 0 && !(l && ((l.lastFrom === from && now - l.lastAt < this.windowMs) || l.lastByPerson));
  }

  record(lane: string, from: string, hops: number, now = Date.now(), person = false) {
    let l = this.lanes.get(lane);
    if (!l) {
      if (this.lanes.size >= MAX_LANES) this.sweep(now, true);
      this.lanes.set(lane, (l = { lastFrom: from, lastAt: now, hops: 0, replies: new Map() }));
    } else if (this.paused(l, now)) {
      l.replies.clear();
    }
    const turn = this.isTurn(l, from, hops, now);
    const observed = person ? { hops: 0 } : this.next(l, from, now);
    l.pair = observed.pair;
    l.lastByPerson = person;
    l.lastFrom = from;
    l.lastAt = now;
    l.hops = lane.startsWith('g:') || person ? observed.hops : hops;
    if (turn) {
      const recent = (l.replies.get(from) ?? []).filter((t) => now - t < LONG_WINDOW_MS);
      recent.push(now);
      l.replies.set(from, recent);
    }
  }

  /** Drops lanes quiet for longer than the window (all of them when `hard` and still full). */
  sweep(now = Date.now(), hard = false) {
    for (const [key, l] of this.lanes) if (now - l.lastAt >= this.windowMs) this.lanes.delete(key);
    if (hard && this.lanes.size >= MAX_LANES) this.lanes.clear();
  }
}
