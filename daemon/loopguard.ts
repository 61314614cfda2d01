// The loop guard: two bots answering each other forever are stopped at the relay.
//
// A message that answers the other side of a conversation (the previous message in that
// conversation came from someone else, less than `windowMs` ago) is a *hop*; its hop count is
// one more than the message it answers, as long as the same two senders keep taking turns (in
// a group, a third speaker starts the count over). A sender's follow-up within FOLLOW_UP_MS
// keeps the count (a bot acknowledging, then answering, does not start over); a later one, or
// a pause longer than the window, resets it. So two bots answering each other climb; people
// double-texting, or a group of people talking, do not. A one-way stream never climbs.
// Two rules refuse a send with 429 `loop_guard`: the hop count passes `maxHops`, or one sender
// has taken more than `replyBudget` turns (hops) in the conversation within the window.
// Senders may carry a hop count over from elsewhere (`hops` on send); the relay takes the larger.
//
// The state is in memory on purpose: it is a brake, not a record; a restart releases it.
import { Refusal } from '../actors/decision.ts';

interface Lane {
  lastFrom: string;
  lastAt: number;
  hops: number;
  /** The two senders taking turns in the current count ("a|b"), once someone answered. */
  pair?: string;
  /** Times of recent hops, per sender. */
  replies: Map<string, number[]>;
}

/** A follow-up from the same sender this soon keeps the hop count (an ack, then the answer). */
export const FOLLOW_UP_MS = 3_000;
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
  check(lane: string, from: string, claimedHops = 0, now = Date.now()): number {
    const l = this.lanes.get(lane);
    const hops = Math.max(claimedHops, l ? this.next(l, from, now).hops : 0);
    if (hops > this.maxHops) {
      throw new Refusal(
        'loop_guard',
        `loop guard: this conversation has gone back and forth ${hops} times without a pause of ${Math.round(this.windowMs / 1000)} s (limit ${this.maxHops}); pause, or have a person step in`,
        Math.ceil(this.windowMs / 1000),
      );
    }
    if (this.isTurn(l, from, hops, now)) {
      const recent = (l?.replies.get(from) ?? []).filter((t) => now - t < this.windowMs);
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

  /** Where a message from `from` now leaves the lane's count (see the header). */
  private next(l: Lane, from: string, now: number): { hops: number; pair?: string } {
    if (now - l.lastAt >= this.windowMs) return { hops: 0 };
    if (l.lastFrom === from) return now - l.lastAt < FOLLOW_UP_MS ? { hops: l.hops, pair: l.pair } : { hops: 0 };
    const pair = l.lastFrom < from ? `${l.lastFrom}|${from}` : `${from}|${l.lastFrom}`;
    return { hops: l.pair === undefined || l.pair === pair ? l.hops + 1 : 1, pair };
  }

  /** Whether a message with this hop count takes a turn (counts against the reply budget): not a follow-up of the sender's own. */
  private isTurn(l: Lane | undefined, from: string, hops: number, now: number): boolean {
    return hops > 0 && !(l && l.lastFrom === from && now - l.lastAt < this.windowMs);
  }

  record(lane: string, from: string, hops: number, now = Date.now()) {
    let l = this.lanes.get(lane);
    if (!l) {
      if (this.lanes.size >= MAX_LANES) this.sweep(now, true);
      this.lanes.set(lane, (l = { lastFrom: from, lastAt: now, hops: 0, replies: new Map() }));
    }
    const turn = this.isTurn(l, from, hops, now);
    l.pair = this.next(l, from, now).pair;
    l.lastFrom = from;
    l.lastAt = now;
    l.hops = hops;
    if (turn) {
      const recent = (l.replies.get(from) ?? []).filter((t) => now - t < this.windowMs);
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
