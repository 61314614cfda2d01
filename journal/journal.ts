// The append-only journal: one LMDB environment, events keyed (stream, seq), snapshots per
// stream, and named index databases that projections keep.
//
// A seq is global: every event staged anywhere takes the next number, and a stream's events
// are the subsequence that belongs to it. So seqs of one stream grow but are not contiguous,
// and several streams (an inbox and the groups its user belongs to) merge by seq into one
// ordered feed with one cursor. Each event also stores the seq before it in its stream, so a
// missing event is still detected. The newest seq (and its stream) is one `head` record in
// `meta`, rewritten once per write batch in the batch's own transaction; format 2 kept an
// `order` row per event instead, a write per event for what only start-up and rebuilds read.
//
// Events and index records are stored as JSON: they are plain JSON data, and on this hot
// path V8's JSON is cheaper than msgpack records (whose shared structures also run out with
// the many shapes of events and records). Snapshots and meta stay msgpack.
//
// Guarantees, bluntly:
// - `commit()` resolves only after everything staged before it is committed AND flushed to
//   disk. lmdb's put promise resolves at commit, before the flush (overlappingSync), so we
//   also await `root.flushed`. Callers acknowledge nothing before `commit()` resolves.
// - Writes staged in one synchronous run go into one LMDB transaction (lmdb batches every
//   write of an event turn), so a command's events and its index updates land together.
// - Staging expects the stream's head the caller last saw; anything else is a JournalConflict.
// - `durableSeq` is the highest seq known to be on disk: readers never look past it.
// - A journal that cannot be opened or verified throws JournalError; nothing is emptied.
// - If a commit fails, the in-memory state is ahead of the disk: the process must stop
//   (the daemon exits) and restart from the journal. Nothing unacknowledged is lost that way.
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type Key, type RootDatabase } from 'lmdb';

/** Bumped when the on-disk layout changes incompatibly. */
export const JOURNAL_FORMAT = 4;
/** Older formats upgraded at open: msgpack events in `events`, and an `order` row per event (2)
 * or already the head record (3); format 4 moved the events to `events_v3` as JSON. */
const UPGRADABLE = [2, 3];
/** Events copied per transaction while upgrading. */
const UPGRADE_CHUNK = 10_000;
/** Recently staged events kept decoded in memory (all streams together), for live readers. */
const TAIL_EVENTS = 8192;
/** ... and at most about this many bytes of them (texts can be long). */
const TAIL_BYTES = 32 * 2 ** 20;
/** Of which one stream keeps at most this many (a busy group must not evict every inbox). */
const TAIL_PER_STREAM = 512;
/** Keys sort after every real seq of a stream. */
const SEQ_MAX = Number.MAX_SAFE_INTEGER;

/** Rough heap size of a decoded event: a fixed part plus its text (UTF-16). */
export function eventBytes(ev: object): number {
  const { text, delta } = ev as { text?: unknown; delta?: unknown };
  return 256 + (typeof text === 'string' ? text.length * 2 : 0) + (typeof delta === 'string' ? delta.length * 2 : 0);
}

export class JournalError extends Error {}
export class JournalConflict extends JournalError {}

/** Marks a staged index removal in the overlay. */
const REMOVED = Symbol('removed');
const overlayKey = (name: string, key: Key) => (typeof key === 'string' ? `${name}\u0000s${key}` : `${name}\u0000j${JSON.stringify(key)}`);

export type StoredEvent = { type: string; at: number };
export interface Snapshot {
  seq: number;
  version: number;
  state: unknown;
}
export interface ReadEvent {
  seq: number;
  /** The stream's previous seq (0 for its first event). */
  prev: number;
  event: StoredEvent;
}
type Stored = [prev: number, event: StoredEvent];
/** The newest event of the journal: `meta` key `head`. */
interface Head {
  seq: number;
  stream: string;
}

// LMDB trusts its file: a damaged header makes it crash the process instead of failing.
// So before opening we check what LMDB would rely on first: both meta pages carry the magic
// and data version, the page size is sane, and the file is whole pages long. (The newest
// meta's last page may lie past the end of a healthy file, so that is not a test.)
const LMDB_MAGIC = 0xbeefc0de;
const LMDB_DATA_VERSION = 2;
const META = { magic: 0x18, version: 0x1c, pageSize: 0x30 };

function checkHeader(file: string) {
  if (!existsSync(file)) return;
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const bad = (why: string) => new JournalError(`journal file ${file} is damaged (${why}); restore it from backup — it was left untouched`);
    if (size === 0) throw bad('empty file');
    const head = Buffer.alloc(0xa0);
    readSync(fd, head, 0, head.length, 0);
    const pageSize = head.readUInt32LE(META.pageSize);
    if (head.readUInt32LE(META.magic) !== LMDB_MAGIC || head.readUInt32LE(META.version) !== LMDB_DATA_VERSION) throw bad('first meta page');
    if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0 || size < 2 * pageSize) throw bad('page size');
    const second = Buffer.alloc(0xa0);
    readSync(fd, second, 0, second.length, pageSize);
    if (second.readUInt32LE(META.magic) !== LMDB_MAGIC || second.readUInt32LE(META.version) !== LMDB_DATA_VERSION) throw bad('second meta page');
    // LMDB files grow in whole pages; a partial copy or a cut-off write does not.
    if (size % pageSize !== 0) throw bad(`truncated: ${size} bytes is not a whole number of ${pageSize}-byte pages`);
  } finally {
    closeSync(fd);
  }
}

export class Journal {
  readonly root: RootDatabase;
  private readonly events: Database<Stored, [string, number]>;
  /** Last seq of each stream touched by this process (staged writes included). */
  private readonly heads = new Map<string, number>();
  private readonly snapshots: Database<Snapshot, string>;
  private readonly meta: Database<unknown, string>;
  private readonly indexes = new Map<string, Database<any, any>>();
  private gseq = 0;
  /** Stream of the newest staged event, and the seq last written to the `head` record. */
  private gstream = '';
  private headWritten = 0;
  private durable = 0;
  private readonly overlay = new Map<string, { value: unknown }>();
  /**
   * The newest staged events of recently written streams, oldest first and contiguous (each
   * one's `prev` is the seq before it): a live reader asks for exactly what was just written,
   * and gets it without a B-tree read and a decode.
   */
  private readonly tail = new Map<string, ReadEvent[]>();
  private tailSize = 0;
  private tailBytes = 0;
  private lastWrite: Promise<boolean> | undefined;
  private closed = false;

  private constructor(root: RootDatabase) {
    this.root = root;
    this.events = root.openDB({ name: 'events_v3', encoding: 'json' });
    this.snapshots = root.openDB({ name: 'snapshots', cache: true });
    this.meta = root.openDB({ name: 'meta' });
    // Every write batch (the writes of one event turn, one transaction or part of one) ends
    // with the head record if it staged events: the record is never behind the events.
    root.on('beforecommit', () => {
      if (this.gseq > this.headWritten) {
        this.headWritten = this.gseq;
        this.meta.put('head', { seq: this.gseq, stream: this.gstream } satisfies Head);
      }
    });
  }

  /** `notice` hears of slow one-off work at open (a format upgrade). */
  static open(dir: string, notice: (message: string) => void = () => {}): Journal {
    const path = join(dir, 'journal');
    mkdirSync(path, { recursive: true });
    checkHeader(join(path, 'data.mdb'));
    let root: RootDatabase;
    try {
      // The map only bounds the file (remapChunks maps it in pieces): room for an upgrade's
      // two copies of a big journal side by side.
      root = open({ path, maxDbs: 64, mapSize: 2 ** 37, remapChunks: true });
    } catch (err) {
      throw new JournalError(`journal at ${path} cannot be opened: ${(err as Error).message}`);
    }
    const j = new Journal(root);
    try {
      j.verify(path, notice);
    } catch (err) {
      root.close();
      if (err instanceof JournalError) throw err;
      throw new JournalError(`journal at ${path} cannot be read: ${(err as Error).message}`);
    }
    return j;
  }

  private verify(path: string, notice: (message: string) => void) {
    let format = this.meta.get('format') as number | undefined;
    const hasEvents = () => Array.from(this.events.getKeys({ limit: 1 })).length > 0;
    if (format === undefined) {
      // Named databases are keys of the root one: the events of an older layout count too.
      const legacy = Array.from(this.root.getKeys({})).some((name) => name === 'events' || name === 'order');
      if (hasEvents() || legacy) throw new JournalError(`journal at ${path} has events but no format record; refusing to use it`);
      this.meta.putSync('format', JOURNAL_FORMAT);
      this.meta.putSync('created_at', new Date().toISOString());
      format = JOURNAL_FORMAT;
    }
    if (UPGRADABLE.includes(format)) this.upgrade(path, format, notice);
    else if (format !== JOURNAL_FORMAT) throw new JournalError(`journal at ${path} has format ${format}, this relay reads ${JOURNAL_FORMAT} (and upgrades ${UPGRADABLE.join(', ')})`);
    const head = this.meta.get('head') as Head | undefined;
    if (head) {
      // The head record is written in the same transaction as the events it names.
      const stored = this.events.get([head.stream, head.seq]);
      if (stored === undefined) throw new JournalError(`journal at ${path} is inconsistent: its newest event ${head.stream}#${head.seq} is missing; restore from backup`);
      this.gseq = this.headWritten = head.seq;
      this.gstream = head.stream;
    } else if (hasEvents()) {
      throw new JournalError(`journal at ${path} has events but no head record; refusing to use it`);
    }
    this.durable = this.gseq;
  }

  /**
   * Format 2 or 3 → 4: every event is copied from `events` (msgpack) to `events_v3` (JSON) in
   * chunks; the newest seq comes from the last `order` row (2) or the head record (3); the old
   * databases are dropped with the format switch in one last transaction. A crash before that
   * leaves the old format and a partial copy, which the next open starts over. (The index
   * databases change encoding too; the projection version makes them rebuild.) A format-3
   * journal whose events are already in `events_v3` only needs the switch.
   */
  private upgrade(path: string, from: number, notice: (message: string) => void) {
    const old = this.root.openDB<Stored, [string, number]>({ name: 'events' });
    const order = from === 2 ? this.root.openDB<string, number>({ name: 'order' }) : undefined;
    let head = from === 3 ? (this.meta.get('head') as Head | undefined) : undefined;
    if (order) for (const { key, value } of order.getRange({ reverse: true, limit: 1 })) head = { seq: key, stream: value };
    const alreadyJson = from === 3 && Array.from(old.getKeys({ limit: 1 })).length === 0;
    if (head && !alreadyJson && old.get([head.stream, head.seq]) === undefined) {
      throw new JournalError(`journal at ${path} is inconsistent at ${head.stream}#${head.seq}; restore from backup`);
    }
    notice(`journal at ${path}: upgrading format ${from} to ${JOURNAL_FORMAT} (events re-encoded as JSON${order ? ', order rows dropped' : ''})`);
    const started = Date.now();
    let copied = 0;
    if (!alreadyJson) {
      this.events.clearSync();
      let chunk: { key: [string, number]; value: Stored }[] = [];
      const write = () => {
        this.root.transactionSync(() => {
          for (const { key, value } of chunk) this.events.putSync(key, value);
        });
        copied += chunk.length;
        chunk = [];
      };
      for (const { key, value } of old.getRange({})) {
        chunk.push({ key, value });
        if (chunk.length >= UPGRADE_CHUNK) write();
      }
      write();
    }
    this.root.transactionSync(() => {
      if (head) this.meta.putSync('head', head);
      this.meta.putSync('format', JOURNAL_FORMAT);
      this.meta.putSync(`upgraded_from_format_${from}_at`, new Date().toISOString());
      order?.dropSync();
      old.dropSync();
    });
    notice(`journal at ${path}: upgraded ${copied} events in ${Date.now() - started} ms`);
  }

  isEmpty(): boolean {
    return this.gseq === 0 && Array.from(this.events.getKeys({ limit: 1 })).length === 0;
  }

  /** Last seq of a stream, including staged writes. */
  head(stream: string): number {
    let head = this.heads.get(stream);
    if (head === undefined) {
      head = 0;
      for (const key of this.events.getKeys({ start: [stream, SEQ_MAX], end: [stream, 0], reverse: true, limit: 1 })) head = key[1];
      // A stream ahead of the journal's head would get seqs that exist already.
      if (head > this.gseq) throw new JournalError(`journal is inconsistent: ${stream} has event ${head}, past the head record (${this.gseq})`);
      this.heads.set(stream, head);
    }
    return head;
  }

  /** Highest seq staged so far (in any stream). */
  get lastSeq(): number {
    return this.gseq;
  }

  /** Highest seq known to be committed and flushed. */
  get durableSeq(): number {
    return this.durable;
  }

  /**
   * Stages an event after `expectedHead` (the stream's head as the caller knows it) and
   * returns its seq; it is durable once a later `commit()` resolves.
   */
  stage(stream: string, event: StoredEvent, expectedHead: number): number {
    this.assertOpen();
    const head = this.head(stream);
    if (expectedHead !== head) throw new JournalConflict(`${stream}: expected head ${expectedHead}, the journal has ${head}`);
    const seq = this.gseq + 1;
    // The put first: if it throws (a value JSON cannot hold), no seq is taken and the head
    // record, written when the batch closes, never names an event that is not there.
    this.lastWrite = this.events.put([stream, seq], [head, event]);
    this.gseq = seq;
    this.gstream = stream;
    this.heads.set(stream, seq);
    this.remember(stream, { seq, prev: head, event });
    return seq;
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
    const upto = this.gseq;
    const w = this.lastWrite;
    if (w) {
      // `root.flushed` is a thenable read when `then` is called: call it now, while it is the
      // flush of the batch holding our writes. Awaited after `w`, it would be the flush of
      // whatever batch is open by then, and under load every commit would wait a batch more.
      const flushed = new Promise<void>((resolve, reject) => this.root.flushed.then(() => resolve(), reject));
      flushed.catch(() => {}); // if `w` fails first, that is the error reported
      await w;
      await flushed;
      if (this.lastWrite === w) this.lastWrite = undefined;
    }
    if (upto > this.durable) this.durable = upto;
  }

  private remember(stream: string, ev: ReadEvent) {
    let list = this.tail.get(stream);
    if (list) this.tail.delete(stream); // re-inserted below: the map stays in order of last write
    else list = [];
    this.tail.set(stream, list);
    list.push(ev);
    this.tailSize++;
    this.tailBytes += eventBytes(ev.event);
    if (list.length > TAIL_PER_STREAM) {
      for (const dropped of list.splice(0, list.length - TAIL_PER_STREAM / 2)) {
        this.tailSize--;
        this.tailBytes -= eventBytes(dropped.event);
      }
    }
    if (this.tailSize > TAIL_EVENTS || this.tailBytes > TAIL_BYTES) {
      // Streams in the order they were last written: drop the stalest until half is left.
      for (const [name, old] of this.tail) {
        if (this.tailSize <= TAIL_EVENTS / 2 && this.tailBytes <= TAIL_BYTES / 2) break;
        this.tail.delete(name);
        this.tailSize -= old.length;
        for (const e of old) this.tailBytes -= eventBytes(e.event);
      }
    }
  }

  /** Events of `stream` with afterSeq < seq <= toSeq, oldest first. */
  read(stream: string, afterSeq: number, limit = 1000, toSeq = SEQ_MAX): ReadEvent[] {
    const out: ReadEvent[] = [];
    const cached = this.tail.get(stream);
    // The cache holds every event after its first one's predecessor: serve the read from it.
    if (cached && cached.length && cached[0].prev <= afterSeq) {
      let lo = 0;
      let hi = cached.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cached[mid].seq <= afterSeq) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < cached.length && out.length < limit && cached[i].seq <= toSeq; i++) out.push(cached[i]);
      return out;
    }
    for (const { key, value } of this.events.getRange({ start: [stream, afterSeq + 1], end: [stream, toSeq + 1], limit })) {
      out.push({ seq: key[1], prev: value[0], event: value[1] });
    }
    return out;
  }

  /** One event of `stream`, or undefined; staged events included (like `read`, from the tail). */
  readOne(stream: string, seq: number): ReadEvent | undefined {
    const cached = this.tail.get(stream);
    if (cached && cached.length && cached[0].prev < seq) {
      const hit = this.read(stream, seq - 1, 1, seq)[0];
      if (hit) return hit;
    }
    const stored = this.events.get([stream, seq]);
    return stored && { seq, prev: stored[0], event: stored[1] };
  }

  /** Events of `stream` with seq < beforeSeq, newest first. */
  readBack(stream: string, beforeSeq: number, limit = 1000): ReadEvent[] {
    const out: ReadEvent[] = [];
    for (const { key, value } of this.events.getRange({ start: [stream, beforeSeq - 1], end: [stream, 0], reverse: true, limit })) {
      out.push({ seq: key[1], prev: value[0], event: value[1] });
    }
    return out;
  }

  /**
   * Every event of every stream in global order, for rebuilding indexes. The keys are read
   * first (stream by stream) and sorted by seq, then the events are read in that order: a
   * few bytes per event of memory, and no per-event order rows to keep on every write.
   */
  *all(): Generator<{ stream: string; seq: number; event: StoredEvent }> {
    const streams: string[] = [];
    const seqs: number[] = [];
    const owner: number[] = [];
    for (const [stream, seq] of this.events.getKeys({})) {
      if (streams[streams.length - 1] !== stream) streams.push(stream);
      seqs.push(seq);
      owner.push(streams.length - 1);
    }
    const byOrder = Uint32Array.from(seqs.keys()).sort((a, b) => seqs[a] - seqs[b]);
    for (const i of byOrder) {
      const stream = streams[owner[i]];
      const stored = this.events.get([stream, seqs[i]]);
      if (stored) yield { stream, seq: seqs[i], event: stored[1] };
    }
  }

  /** A named index database owned by the projections. Range reads see committed data only. */
  index<K extends Key, V>(name: string): Database<V, K> {
    let db = this.indexes.get(name);
    if (!db) {
      db = this.root.openDB({ name: `ix_${name}`, encoding: 'json' });
      this.indexes.set(name, db);
    }
    return db as Database<V, K>;
  }

  /** Point read that sees writes staged but not yet committed (decisions in the same tick need them). */
  indexGet<V>(name: string, key: Key): V | undefined {
    const staged = this.overlay.get(overlayKey(name, key));
    if (staged) return staged.value === REMOVED ? undefined : (staged.value as V);
    return this.index<Key, V>(name).get(key);
  }

  indexPut(name: string, key: Key, value: unknown) {
    this.assertOpen();
    this.stageIndex(name, key, value, this.index(name).put(key, value));
  }

  indexRemove(name: string, key: Key) {
    this.assertOpen();
    this.stageIndex(name, key, REMOVED, this.index(name).remove(key));
  }

  private stageIndex(name: string, key: Key, value: unknown, write: Promise<boolean>) {
    // lmdb's own cache cannot serve this: it is keyed by identity, and our keys are arrays.
    const k = overlayKey(name, key);
    const entry = { value };
    this.overlay.set(k, entry);
    this.lastWrite = write;
    void write.then(
      () => this.overlay.get(k) === entry && this.overlay.delete(k),
      () => {},
    );
  }

  /** Drops every index database (used before a rebuild). */
  async clearIndexes(names: string[]) {
    await this.commit();
    this.overlay.clear();
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
