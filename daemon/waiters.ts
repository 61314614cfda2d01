// Parked long-polls and ephemeral events (typing, presence) per user. Nothing here is durable:
// ephemeral events live a short while in a small ring, and waking a parked poll only tells it
// to read the journal again.

/** Ephemeral events kept per user; older ones are dropped (they are hints, not data). */
const RING_SIZE = 64;
/** An ephemeral event older than this is stale (typing stops meaning anything). */
const EPHEMERAL_TTL_MS = 30_000;

export interface EphemeralEvent {
  type: 'typing' | 'presence' | 'receipt';
  [k: string]: unknown;
}

/** What an event is the newest state of, if it replaces earlier ones: who is online, who types where. */
function supersedes(event: EphemeralEvent): string | undefined {
  if (event.type === 'presence') return `presence\u0000${event.chat_address}`;
  if (event.type === 'typing') return `typing\u0000${event.from}\u0000${event.group_id ?? ''}`;
  return undefined; // a receipt is about its own message
}

interface Ring {
  items: { n: number; at: number; event: EphemeralEvent }[];
}

export class Waiters {
  private readonly parked = new Map<string, Set<() => void>>();
  /** Live connections (WebSocket, SSE): told on every wake, until they unsubscribe. */
  private readonly listeners = new Map<string, Set<() => void>>();
  private readonly rings = new Map<string, Ring>();
  private readonly marks = new Map<string, number>();
  private closed = false;
  /** One counter for all rings, so a ring dropped and re-created never reuses a number. */
  private counter = 0;

  /** Resolves true when woken for `user`, false on timeout or abort. */
  wait(user: string, ms: number, signal?: AbortSignal): Promise<boolean> {
    if (this.closed || ms <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      let set = this.parked.get(user);
      if (!set) this.parked.set(user, (set = new Set()));
      const done = (woken: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        set!.delete(wake);
        if (set!.size === 0 && this.parked.get(user) === set) this.parked.delete(user);
        resolve(woken);
      };
      const wake = () => done(true);
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), ms);
      signal?.addEventListener('abort', onAbort, { once: true });
      set.add(wake);
    });
  }

  wake(user: string) {
    const set = this.parked.get(user);
    if (set) for (const wake of [...set]) wake();
    const live = this.listeners.get(user);
    if (live) for (const fn of live) fn();
  }

  /** Calls `fn` on every wake for `user`; returns the unsubscribe. */
  subscribe(user: string, fn: () => void): () => void {
    let set = this.listeners.get(user);
    if (!set) this.listeners.set(user, (set = new Set()));
    set.add(fn);
    return () => {
      set!.delete(fn);
      if (set!.size === 0 && this.listeners.get(user) === set) this.listeners.delete(user);
    };
  }

  /** Forgets what a consumer has seen (a closed live connection). */
  forget(user: string, consumer: string) {
    this.marks.delete(`${user}\u0000${consumer}`);
  }

  /** Answers every parked poll now (shutdown). */
  wakeAll() {
    this.closed = true;
    for (const user of [...this.parked.keys()]) this.wake(user);
  }

  /** True once the relay is draining: nothing parks any more. */
  get isClosed() {
    return this.closed;
  }

  get parkedCount() {
    let n = 0;
    for (const set of this.parked.values()) n += set.size;
    return n;
  }

  push(user: string, event: EphemeralEvent, now = Date.now()) {
    let ring = this.rings.get(user);
    if (!ring) this.rings.set(user, (ring = { items: [] }));
    // A newer state of the same thing replaces the older one, so one busy peer (a session
    // flipping its visibility in a loop) cannot push everyone else's hints out of the ring.
    const key = supersedes(event);
    if (key !== undefined) ring.items = ring.items.filter((i) => supersedes(i.event) !== key);
    ring.items.push({ n: ++this.counter, at: now, event });
    if (ring.items.length > RING_SIZE) ring.items.shift();
    this.wake(user);
  }

  /** Ephemeral events for `user` that `consumer` has not seen; marks them seen. */
  take(user: string, consumer: string, now = Date.now()): EphemeralEvent[] {
    const ring = this.rings.get(user);
    const key = `${user}\u0000${consumer}`;
    const mark = this.marks.get(key);
    this.marks.set(key, this.counter);
    if (!ring) return [];
    // A consumer seen for the first time starts now: old typing hints are noise.
    if (mark === undefined) return [];
    return ring.items.filter((i) => i.n > mark && now - i.at < EPHEMERAL_TTL_MS).map((i) => i.event);
  }

  /** Whether `consumer` has unseen fresh ephemeral events. */
  hasNew(user: string, consumer: string, now = Date.now()): boolean {
    const ring = this.rings.get(user);
    if (!ring) return false;
    const mark = this.marks.get(`${user}\u0000${consumer}`);
    if (mark === undefined) return false;
    return ring.items.some((i) => i.n > mark && now - i.at < EPHEMERAL_TTL_MS);
  }

  /** Makes `consumer` known, so ephemeral events from now on are kept for it. */
  register(user: string, consumer: string) {
    const key = `${user}\u0000${consumer}`;
    if (!this.marks.has(key)) this.marks.set(key, this.counter);
  }

  /** Drops rings with nothing fresh, and their marks. */
  sweep(now = Date.now()) {
    for (const [user, ring] of this.rings) {
      const last = ring.items[ring.items.length - 1];
      if (!last || now - last.at > EPHEMERAL_TTL_MS) this.rings.delete(user);
    }
    if (this.marks.size > 100_000) this.marks.clear();
  }
}
