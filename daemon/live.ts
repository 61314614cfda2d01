// Live connections (WebSocket and SSE): one LiveSession per connection, each with its own
// position in the user's feed. A commit that touches the user wakes the session, which reads
// the feed from its position and pushes what is new — the same events poll returns.
//
// Memory is bounded per connection: when the bytes queued to a client pass the cap, the
// client is told to resume from the last seq it processed and the connection is closed;
// nothing is lost, because everything is in the journal.
// The stored cursor of the connection's consumer moves only on the client's `ack` (delivery is
// at-least-once; clients dedupe by seq). First deliveries of direct messages are recorded as
// they are pushed, with the next commit (Core.stageSoon).
import type { Auth } from './accounts.ts';
import type { Core } from './core.ts';
import type { Feed } from './feed.ts';

/** Events read per step when pushing. */
const PUSH_BATCH = 200;
/** How often a paused push looks whether the client has taken its queue. */
const DRAIN_CHECK_MS = 20;

export interface LiveSink {
  /** Writes one event to the client. */
  send(event: Record<string, unknown>): void;
  /** Runs `write` (several sends) so that what it writes leaves together. */
  batch(write: () => void): void;
  /** Bytes written but not yet taken by the client. */
  buffered(): number;
  /** Tells the client to resume from `cursor`, then ends the connection. */
  resume(cursor: number, reason: 'slow_consumer' | 'internal_error'): void;
}

let connections = 0;

export class LiveSession {
  readonly id = `live${++connections}`;
  private pos: number;
  private scheduled = false;
  private stopped = false;
  private unsubscribe: () => void = () => {};
  /** Since when the client's queue has been over the cap (0: it is not). */
  private overSince = 0;
  private retry: NodeJS.Timeout | undefined;
  /** Called once when the session stops (the registry forgets it). */
  onStop: () => void = () => {};

  constructor(
    private readonly core: Core,
    private readonly feed: Feed,
    readonly auth: Auth,
    readonly consumer: string,
    after: number,
    private readonly sink: LiveSink,
    private readonly bufferCap: number,
    /** How long a client may stay over the cap before it is cut (it is slow, not busy). */
    private readonly slowAfterMs: number,
  ) {
    this.pos = after;
  }

  /** Where this connection has pushed up to. */
  get position() {
    return this.pos;
  }

  start() {
    this.core.waiters.register(this.auth.user, this.id);
    this.unsubscribe = this.core.waiters.subscribe(this.auth.user, () => this.schedule());
    this.feed.live(this.auth, 1);
    this.pump();
  }

  stop() {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.retry);
    this.unsubscribe();
    this.core.waiters.forget(this.auth.user, this.id);
    this.feed.live(this.auth, -1);
    this.onStop();
  }

  private schedule() {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  /**
   * Pushes everything new (journal events after `pos`, then live-only events). While the
   * client's queue is over the cap, pushing pauses; a client that stays over it for
   * `slowAfterMs` is told to resume later and cut.
   */
  pump() {
    if (this.stopped) return;
    try {
      this.push();
    } catch (err) {
      // A failure reading the feed ends this connection (told where to resume), not the relay.
      this.core.log.error({ err: (err as Error).message, user: this.auth.user, pos: this.pos }, 'a live push failed; the connection was ended');
      this.sink.resume(this.pos, 'internal_error');
      this.stop();
    }
  }

  private push() {
    for (;;) {
      // Measured between batches, with nothing corked: what the client has not taken yet.
      if (this.sink.buffered() > this.bufferCap) return this.wait();
      this.overSince = 0;
      const batch = this.feed.readBatch(this.auth.user, this.consumer, this.pos, PUSH_BATCH);
      // One batch's frames leave together (one syscall), not one each; but a batch stops once
      // the client's queue passes the cap (a batch of large events is many times the cap).
      let upto = batch.scanned;
      this.sink.batch(() => {
        const last = batch.events.length - 1;
        for (let i = 0; i <= last; i++) {
          this.sink.send(batch.events[i]);
          if (i < last && this.sink.buffered() > this.bufferCap) {
            upto = batch.events[i].seq as number;
            break;
          }
        }
      });
      const cut = upto < batch.scanned;
      this.pos = upto;
      const delivered = cut ? batch.delivered.filter((rec) => (rec.in_seq ?? 0) <= upto) : batch.delivered;
      if (delivered.length) this.feed.deliveredSoon(this.auth, delivered);
      const groupUpto = cut ? Math.min(batch.groupUpto, upto) : batch.groupUpto;
      if (groupUpto) this.feed.pushedSoon(this.auth.user, groupUpto);
      if (!batch.more && !cut) break;
    }
    const live = this.core.waiters.take(this.auth.user, this.id);
    if (live.length) this.sink.batch(() => live.forEach((event) => this.sink.send(event)));
  }

  private wait() {
    const now = Date.now();
    this.overSince ||= now;
    if (now - this.overSince >= this.slowAfterMs) {
      this.sink.resume(this.pos, 'slow_consumer');
      this.stop();
      return;
    }
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.pump(), DRAIN_CHECK_MS);
  }

}

/** Why the relay ends a live connection: it is shutting down, or the session logged out. */
export type CloseReason = 'draining' | 'logged_out';

/** Every live session of the relay, so shutdown (and logout) can end them. */
export class LiveRegistry {
  private readonly sessions = new Set<{ session: LiveSession; close: (why: CloseReason) => void }>();
  /** Open WebSockets and the bytes queued to them, for /health (set by the WebSocket route). */
  websockets: () => { open: number; queued_bytes: number } = () => ({ open: 0, queued_bytes: 0 });

  add(session: LiveSession, close: (why: CloseReason) => void) {
    const entry = { session, close };
    this.sessions.add(entry);
    session.onStop = () => this.sessions.delete(entry);
  }

  get size() {
    return this.sessions.size;
  }

  /** Ends the live connections of these sessions of `user` (they logged out: their token is void). */
  closeSessions(user: string, sids: readonly string[]) {
    for (const entry of [...this.sessions]) {
      if (entry.session.auth.user !== user || !sids.includes(entry.session.auth.sid)) continue;
      entry.session.stop();
      entry.close('logged_out');
    }
  }

  closeAll() {
    for (const { session, close } of [...this.sessions]) {
      session.stop();
      close('draining');
    }
    this.sessions.clear();
  }
}
