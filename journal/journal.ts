// The append-only journal: one LMDB environment, events keyed (stream, seq), a global order
// key, snapshots per stream, and named index databases that projections keep.
//
// Guarantees, bluntly:
// - `commit()` resolves only after everything staged before it is committed AND flushed to
//   disk. lmdb's put promise resolves at commit, before the flush (overlappingSync), so we
//   also await `root.flushed`. Callers acknowledge nothing before `commit()` resolves.
// - Writes staged in one synchronous run go into one LMDB transaction (lmdb batches every
//   write of an event turn), so a command's events and its index updates land together.
// - A stream's seqs are contiguous; staging seq N+2 after N is a JournalConflict, not an
//   overwrite.
// - A journal that cannot be opened or verified throws JournalError; nothing is emptied.
// - If a commit fails, the in-memory state is ahead of the disk: the process must stop
//   (the daemon exits) and restart from the journal. Nothing unacknowledged is lost that way.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';

/** Bumped when the on-disk layout changes incompatibly. */
export const JOURNAL_FORMAT = 1;
/** How many of the newest events are checked against their stream heads at open. */
const VERIFY_TAIL = 1000;
/** Keys sort after every real seq of a stream. */
const SEQ_MAX = Number.MAX_SAFE_INTEGER;

export class JournalError extends Error {}
export class JournalConflict extends JournalError {}

export type StoredEvent = { type: string; at: number };
export interface Snapshot {
  seq: number;
  version: number;
  state: unknown;
}
export interface ReadEvent {
  seq: number;
  event: StoredEvent;
}

export class Journal {
  readonly root: RootDatabase;
  private readonly events: Database<StoredEvent, [string, number]>;
  private readonly heads: Database<number, string>;
  private readonly snapshots: Database<Snapshot, string>;
  private readonly order: Database<[string, number], number>;
  private readonly meta: Database<unknown, string>;
  private readonly indexes = new Map<string, Database<any, any>>();
  private gseq = 0;
  private lastWrite: Promise<boolean> | undefined;
  private closed = false;

  private constructor(root: RootDatabase) {
    this.root = root;
    this.events = root.openDB({ name: 'events' });
    // cache: reads see staged writes at once (pinned until committed), so a decision taken
    // right after another in the same tick sees it.
    this.heads = root.openDB({ name: 'heads', cache: true });
    this.snapshots = root.openDB({ name: 'snapshots', cache: true });
    this.order = root.openDB({ name: 'order' });
    this.meta = root.openDB({ name: 'meta' });
  }

  static open(dir: string): Journal {
    const path = join(dir, 'journal');
    mkdirSync(path, { recursive: true });
    let root: RootDatabase;
    try {
      root = open({ path, maxDbs: 64, mapSize: 2 ** 34, remapChunks: true });
    } catch (err) {
      throw new JournalError(`journal at ${path} cannot be opened: ${(err as Error).message}`);
    }
    const j = new Journal(root);
    try {
      j.verify(path);
    } catch (err) {
      root.close();
      if (err instanceof JournalError) throw err;
      throw new JournalError(`journal at ${path} cannot be read: ${(err as Error).message}`);
    }
    return j;
  }

  private verify(path: string) {
    const format = this.meta.get('format') as number | undefined;
    if (format === undefined) {
      if (Array.from(this.order.getKeys({ limit: 1 })).length > 0) {
        throw new JournalError(`journal at ${path} has events but no format record; refusing to use it`);
      }
      this.meta.putSync('format', JOURNAL_FORMAT);
      this.meta.putSync('created_at', new Date().toISOString());
    } else if (format !== JOURNAL_FORMAT) {
      throw new JournalError(`journal at ${path} has format ${format}, this relay reads ${JOURNAL_FORMAT}`);
    }
    let checked = 0;
    for (const { key, value } of this.order.getRange({ reverse: true, limit: VERIFY_TAIL })) {
      if (checked === 0) this.gseq = key;
      checked++;
      const [stream, seq] = value;
      const head = this.heads.get(stream);
      if (head === undefined || head < seq || this.events.get([stream, seq]) === undefined) {
        throw new JournalError(`journal at ${path} is inconsistent at ${stream}#${seq} (global ${key}); restore from backup`);
      }
    }
  }

  isEmpty(): boolean {
    return this.gseq === 0 && Array.from(this.order.getKeys({ limit: 1 })).length === 0;
  }

  /** Last seq of a stream, including staged writes. */
  head(stream: string): number {
    return this.heads.get(stream) ?? 0;
  }

  /** Stage an event; it is durable once a later `commit()` resolves. */
  stage(stream: string, seq: number, event: StoredEvent) {
    this.assertOpen();
    const head = this.head(stream);
    if (seq !== head + 1) throw new JournalConflict(`${stream}: expected seq ${head + 1}, got ${seq}`);
    this.events.put([stream, seq], event);
    this.heads.put(stream, seq);
    this.lastWrite = this.order.put(++this.gseq, [stream, seq]);
  }

  saveSnapshot(stream: string, snap: Snapshot) {
    this.assertOpen();
    this.lastWrite = this.snapshots.put(stream, snap);
  }

  loadSnapshot(stream: string): Snapshot | undefined {
    return this.snapshots.get(stream);
  }

  /** Resolves when every write staged so far is committed and flushed to disk. */
  async commit(): Promise<void> {
    const w = this.lastWrite;
    if (!w) return;
    await w;
    await this.root.flushed;
    if (this.lastWrite === w) this.lastWrite = undefined;
  }

  read(stream: string, afterSeq: number, limit = 1000, toSeq = SEQ_MAX): ReadEvent[] {
    const out: ReadEvent[] = [];
    for (const { key, value } of this.events.getRange({ start: [stream, afterSeq + 1], end: [stream, toSeq + 1], limit })) {
      out.push({ seq: key[1], event: value });
    }
    return out;
  }

  /** Every event of every stream in global (commit) order, for rebuilding indexes. */
  *all(): Generator<{ stream: string; seq: number; event: StoredEvent }> {
    for (const { value } of this.order.getRange({})) {
      const [stream, seq] = value;
      const event = this.events.get([stream, seq]);
      if (event) yield { stream, seq, event };
    }
  }

  /** A named index database owned by the projections; reads see staged writes. */
  index<K extends import('lmdb').Key, V>(name: string): Database<V, K> {
    let db = this.indexes.get(name);
    if (!db) {
      db = this.root.openDB({ name: `ix_${name}`, cache: true });
      this.indexes.set(name, db);
    }
    return db as Database<V, K>;
  }

  indexPut(name: string, key: import('lmdb').Key, value: unknown) {
    this.assertOpen();
    this.lastWrite = this.index(name).put(key, value);
  }

  indexRemove(name: string, key: import('lmdb').Key) {
    this.assertOpen();
    this.lastWrite = this.index(name).remove(key);
  }

  /** Drops every index database (used before a rebuild). */
  async clearIndexes(names: string[]) {
    for (const name of names) await this.index(name).clearAsync();
  }

  getMeta<T>(key: string): T | undefined {
    return this.meta.get(key) as T | undefined;
  }

  setMeta(key: string, value: unknown) {
    this.lastWrite = this.meta.put(key, value);
  }

  /** lmdb's own hot backup (a consistent copy, not a file copy of a live journal). */
  async backup(path: string, compact = true) {
    await this.root.backup(path, compact);
  }

  private assertOpen() {
    if (this.closed) throw new JournalError('journal is closed');
  }

  async close() {
    if (this.closed) return;
    await this.commit();
    this.closed = true;
    await this.root.close();
  }
}
