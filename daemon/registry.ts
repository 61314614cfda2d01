// The actor registry: each long-lived entity is a root XState actor, addressed by stream
// name, hydrated on first use from its latest snapshot plus the journal tail, and passivated
// when idle. `apply` stages events in the journal and folds them into the actor in the same
// synchronous run; the caller awaits `journal.commit()` before telling anyone.
import { createActor, type AnyActor, type AnyStateMachine } from 'xstate';
import { JournalError, type Journal, type StoredEvent } from '../journal/journal.ts';

export interface ActorKind {
  /** Stream prefix, e.g. `inbox` for `inbox:<id>`. */
  prefix: string;
  machine: AnyStateMachine;
  /** Stored with each snapshot; a snapshot of another version is ignored and the stream replayed. */
  version: number;
  input?: (id: string) => unknown;
  /**
   * Event types the machine has no transition for but its catch-all that records the seq
   * (messages, receipts, edits in an inbox): they are journaled but not sent to the actor,
   * on the hot path or in replay. The stream's head is kept here instead, so the context's
   * `seq` is the seq of the last event that changed it.
   */
  passive?: ReadonlySet<string>;
}

interface Entry {
  actor: AnyActor;
  stream: string;
  /** The stream's last seq, passive events included. */
  head: number;
  lastUsed: number;
  /** Events since the last snapshot. */
  sinceSnapshot: number;
}

/** Events replayed per read while hydrating. */
const REPLAY_CHUNK = 500;

export class Registry {
  /** Loaded actors by kind, then id: looked up by the id strings callers hold (their hashes are
   * cached), not by a stream name built afresh on every call. */
  private readonly entries = new Map<ActorKind, Map<string, Entry>>();
  hydrations = 0;

  constructor(
    private readonly journal: Journal,
    private readonly snapshotEvery: number,
    /** Called for every staged event, in the same synchronous run (projections). */
    private readonly onStage: (stream: string, seq: number, event: StoredEvent) => void = () => {},
  ) {}

  context<C>(kind: ActorKind, id: string): C {
    return this.entry(kind, id).actor.getSnapshot().context as C;
  }

  /** Whether the actor's machine is in `state` (top-level state name). */
  matches(kind: ActorKind, id: string, state: string): boolean {
    return this.entry(kind, id).actor.getSnapshot().matches(state);
  }

  /** The stream's last seq (staged events included). */
  head(kind: ActorKind, id: string): number {
    return this.entry(kind, id).head;
  }

  /** Stages `events` for the actor and folds them. Returns the seq given to each. */
  apply<E extends StoredEvent>(kind: ActorKind, id: string, events: readonly E[]): number[] {
    const entry = this.entry(kind, id);
    const stream = entry.stream;
    const seqs: number[] = [];
    for (const event of events) {
      const seq = this.journal.stage(stream, event, entry.head);
      entry.head = seq;
      if (!kind.passive?.has(event.type)) entry.actor.send({ ...event, seq } as never);
      this.onStage(stream, seq, event);
      seqs.push(seq);
      if (++entry.sinceSnapshot >= this.snapshotEvery) {
        entry.sinceSnapshot = 0;
        this.journal.saveSnapshot(stream, { seq, version: kind.version, state: entry.actor.getPersistedSnapshot() });
      }
    }
    return seqs;
  }

  private entry(kind: ActorKind, id: string): Entry {
    let ofKind = this.entries.get(kind);
    if (!ofKind) this.entries.set(kind, (ofKind = new Map()));
    let entry = ofKind.get(id);
    if (!entry) {
      const stream = `${kind.prefix}:${id}`;
      entry = { ...this.hydrate(kind, id, stream), stream, lastUsed: 0 };
      ofKind.set(id, entry);
    }
    entry.lastUsed = Date.now();
    return entry;
  }

  private hydrate(kind: ActorKind, id: string, stream: string): { actor: AnyActor; head: number; sinceSnapshot: number } {
    this.hydrations++;
    const snap = this.journal.loadSnapshot(stream);
    const usable = snap && snap.version === kind.version;
    const actor = usable
      ? createActor(kind.machine, { snapshot: snap.state as never, input: kind.input?.(id) })
      : createActor(kind.machine, { input: kind.input?.(id) });
    actor.start();
    let seq = usable ? snap.seq : 0;
    let replayed = 0;
    const head = this.journal.head(stream);
    while (seq < head) {
      const chunk = this.journal.read(stream, seq, REPLAY_CHUNK);
      if (chunk.length === 0) throw new JournalError(`${stream}: events after ${seq} are missing (head ${head}); the journal is damaged`);
      for (const { seq: s, prev, event } of chunk) {
        if (prev !== seq) throw new JournalError(`${stream}: the event before ${s} (${prev}) is missing; the journal is damaged`);
        if (!kind.passive?.has(event.type)) actor.send({ ...event, seq: s } as never);
        seq = s;
        replayed++;
      }
    }
    return { actor, head: seq, sinceSnapshot: replayed };
  }

  /** Drops actors unused for `idleMs`. Call only when no write is staged but uncommitted. */
  passivate(idleMs: number, now = Date.now()): number {
    let n = 0;
    for (const ofKind of this.entries.values()) {
      for (const [id, entry] of ofKind) {
        if (now - entry.lastUsed >= idleMs) {
          entry.actor.stop();
          ofKind.delete(id);
          n++;
        }
      }
    }
    return n;
  }

  get size() {
    let n = 0;
    for (const ofKind of this.entries.values()) n += ofKind.size;
    return n;
  }
}
