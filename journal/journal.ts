// The append-only journal: one LMDB environment, events keyed by a global seq, a per-stream
// index of their seqs, snapshots per stream, and named index databases that projections keep.
//
// A seq is global: every event staged anywhere takes the next number, and a stream's events
// are the subsequence that belongs to it. So seqs of one stream grow but are not contiguous,
// and several streams (an inbox and the groups its user belongs to) merge by seq into one
// ordered feed with one cursor. Each event also stores its stream and the seq before it in
// its stream, so a missing event is still detected. The newest seq (and its stream) is one
// `head` record in `meta`, rewritten once per write batch in the batch's own transaction.
//
// Layout (format 5). Events are keyed by seq alone, so every commit appends at the end of one
// B-tree and dirties a handful of pages. Format 4 keyed them (stream, seq): each event went
// into its own stream's leaf page, and a commit of 50 messages dirtied and wrote some 250
// pages — the kernel's page writes and LMDB's write thread were a third of a send's CPU. Which
// seqs belong to a stream is kept in `segments`, rows (stream, first seq) → seqs, written at
// checkpoints: the seqs staged since the last one are held in memory per stream, and every
// CHECKPOINT_EVENTS events they are written as one row per stream, together with `indexed`
// (the seq up to which rows cover every event) in one transaction. At open, the few events
// after `indexed` are read in seq order to rebuild what memory held; a clean close checkpoints.
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
import { closeSync, existsSync, fstatSync, linkSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { open, type Database, type Key, type RootDatabase } from 'lmdb';

/** Bumped when the on-disk layout changes incompatibly. */
export const JOURNAL_FORMAT = 5;
/** Older formats upgraded at open, all with events keyed (stream, seq): msgpack events in
 * `events` with an `order` row per event (2) or a head record (3); JSON in `events_v3` (4, and
 * some 3s). */
const UPGRADABLE = [2, 3, 4];
/** Events staged between two checkpoints of the stream index (see the header): what an open
 * after a crash reads again, and the most seqs memory holds for the index. */
const CHECKPOINT_EVENTS = 4096;
/** Seqs per `segments` row written by an upgrade (checkpoints write what they have). */
const UPGRADE_SEGMENT = 256;
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
type Stored = [stream: string, prev: number, event: StoredEvent];
/** An event as formats 2–4 kept it, under the key (stream, seq). */
type LegacyStored = [prev: number, event: StoredEvent];
/** The newest event of the journal: `meta` key `head`. */
interface Head {
  seq: number;
  stream: string;
}

// LMDB trusts its file: a damaged header makes it crash the process instead of failing, and a
// page it reads past the end of the file kills it with SIGBUS. So before opening we check what
// LMDB would rely on first: both meta pages carry the magic and data version, the page size is
// sane, the file is whole pages long, and the root pages the newest meta names (of the free
// list, rewritten by every commit and so mostly at the end, and of the main database) are in
// the file — a file cut at a page boundary loses them first. (The newest meta's last page is
// no test: pages a commit allocated and freed again are never written, so it may lie past the
// end of a healthy file.) A cut that keeps both roots still passes.
const LMDB_MAGIC = 0xbeefc0de;
const LMDB_DATA_VERSION = 2;
const META = { magic: 0x18, version: 0x1c, pageSize: 0x30, freeRoot: 0x58, mainRoot: 0x88, txnid: 0x98 };
/** The root of an empty database. */
const NO_PAGE = 0xffffffffffffffffn;

function checkHeader(file: string) {
  if (!existsSync(file)) {
    // LMDB makes its lock file together with the data file: the lock without the data means the
    // journal was deleted or left out of a restore. Starting would be starting an empty relay.
    const lock = join(dirname(file), 'lock.mdb');
    if (existsSync(lock)) {
      throw new JournalError(`journal file ${file} is missing but ${lock} is there (deleted, or left out of a restore); restore it from backup, or remove the directory to start an empty relay`);
    }
    return;
  }
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
    const newest = head.readBigUInt64LE(META.txnid) >= second.readBigUInt64LE(META.txnid) ? head : second;
    const pages = BigInt(size / pageSize);
    for (const [what, at] of [['free list', META.freeRoot], ['main database', META.mainRoot]] as const) {
      const root = newest.readBigUInt64LE(at);
      if (root !== NO_PAGE && root >= pages) throw bad(`truncated: the ${what}'s root is page ${root}, the file holds ${pages} pages`);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The file naming the process that writes a journal. LMDB lets several processes open one
 * environment, but seqs are handed out from memory: a second relay on the same data dir would
 * give the same seqs to other events and acknowledged messages would be lost. A file left by a
 * relay that is gone (a crash, kill -9) is taken over.
 */
const WRITER_FILE = 'writer.pid';
/** Tries at claiming it while other relays starting at the same moment take and let go of it. */
const CLAIM_ATTEMPTS = 20;

/** This boot of the machine and when a process started in it (Linux /proc; undefined elsewhere). */
function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
}
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]; // field 22, starttime
  } catch {
    return undefined;
  }
}

/** What a claim says: the pid, then (Linux) the boot and the process's start time. */
const claimText = () => `${process.pid}\n${bootId() ?? ''}\n${startTime(process.pid) ?? ''}\n`;

/**
 * Whether the relay that wrote `claim` still runs. A pid alone is not enough: after a reboot
 * (a power loss leaves the claim behind) the pid may be another program's, even another node
 * process's (the phone bridge), so a claim naming its boot and start time is live only in the
 * same boot with the same start time. Claims without them (older relays) fall back to: a live
 * node process.
 */
function claimIsLive(claim: string): boolean {
  const [pidText, boot, started] = claim.split('\n');
  const pid = Number.parseInt(pidText, 10);
  if (!(pid > 0) || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (boot && started) return boot === bootId() && started === startTime(pid);
  try {
    // Linux: a pid reused since (after a reboot) by something that is not node is not a relay.
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('node');
  } catch {
    return true;
  }
}

/** The process id of a relay that holds the journal at `path` and still runs, if any (for tools working beside it). */
export function liveWriter(path: string): number | undefined {
  let claim: string;
  try {
    claim = readFileSync(join(path, WRITER_FILE), 'utf8');
  } catch {
    return undefined;
  }
  return claimIsLive(claim) ? Number.parseInt(claim, 10) : undefined;
}

function claimWriter(path: string): string {
  const file = join(path, WRITER_FILE);
  const inUse = (claim: string) =>
    new JournalError(`journal at ${path} is in use by process ${claim.split('\n')[0].trim()} (named in ${file}); stop that relay first — two relays on one data dir would lose acknowledged messages`);
  // The claim appears with its content, in one step (a hard link to a file written first): a
  // relay starting at the same moment never reads it empty and takes it for a dead one's.
  const mine = join(path, `${WRITER_FILE}.${process.pid}`);
  writeFileSync(mine, claimText());
  try {
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      try {
        linkSync(mine, file);
        return file;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new JournalError(`journal at ${path}: cannot claim ${file} (${(err as Error).message})`);
      }
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        continue; // let go of meanwhile: try again
      }
      if (claimIsLive(text)) throw inUse(text);
      // A dead relay's claim is moved aside in one step, so of several relays starting at once
      // only one moves that very file; one that moved a newer claim instead (another relay's,
      // made in between) puts it back and stops.
      const aside = join(path, `${WRITER_FILE}.stale.${process.pid}`);
      try {
        renameSync(file, aside);
      } catch {
        continue;
      }
      const moved = readFileSync(aside, 'utf8');
      if (moved !== text) {
        try {
          linkSync(aside, file);
        } finally {
          rmSync(aside, { force: true });
        }
        throw inUse(moved);
      }
      rmSync(aside, { force: true });
    }
    throw new JournalError(`journal at ${path}: cannot claim ${file} (other relays keep claiming it)`);
  } finally {
    rmSync(mine, { force: true });
  }
}

function releaseWriter(file: string) {
  try {
    if (Number.parseInt(readFileSync(file, 'utf8'), 10) === process.pid) rmSync(file, { force: true });
  } catch {
    // gone already
  }
}

export class Journal {
  readonly root: RootDatabase;
  private readonly events: Database<Stored, number>;
  /** Rows (stream, first seq) → the stream's seqs from there, written at checkpoints. */
  private readonly segments: Database<number[], [string, number]>;
  /** Seqs staged since the last checkpoint, per stream, ascending; and how many in all. */
  private unwritten = new Map<string, number[]>();
  private unwrittenCount = 0;
  /** Rows staged by checkpoints whose transaction has not committed yet, oldest first. */
  private readonly inflight = new Map<string, number[][]>();
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
  /** This process's claim on the journal (see WRITER_FILE), given up at close. */
  private writerFile: string | undefined;

  private constructor(root: RootDatabase) {
    this.root = root;
    this.events = root.openDB({ name: 'events_v5', encoding: 'json' });
    this.segments = root.openDB({ name: 'segments_v5' });
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
    const writer = claimWriter(path);
    try {
      const j = Journal.openClaimed(path, notice);
      j.writerFile = writer;
      return j;
    } catch (err) {
      releaseWriter(writer);
      throw err;
    }
  }

  private static openClaimed(path: string, notice: (message: string) => void): Journal {
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
      const legacy = Array.from(this.root.getKeys({})).some((name) => name === 'events' || name === 'order' || name === 'events_v3');
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
      const stored = this.events.get(head.seq);
      if (stored?.[0] !== head.stream) throw new JournalError(`journal at ${path} is inconsistent: its newest event ${head.stream}#${head.seq} is missing; restore from backup`);
      this.gseq = this.headWritten = head.seq;
      this.gstream = head.stream;
    } else if (hasEvents()) {
      throw new JournalError(`journal at ${path} has events but no head record; refusing to use it`);
    }
    this.durable = this.gseq;
    // The events staged after the last checkpoint: their seqs go back to memory, to be written
    // at the next one (at most CHECKPOINT_EVENTS of them, read in one pass at the B-tree's end).
    const indexed = (this.meta.get('indexed') as number | undefined) ?? 0;
    if (indexed > this.gseq) throw new JournalError(`journal at ${path} is inconsistent: its stream index covers seq ${indexed}, past the newest event ${this.gseq}; restore from backup`);
    for (const { key, value } of this.events.getRange({ start: indexed + 1 })) {
      this.note(value[0], key);
      this.heads.set(value[0], key);
    }
  }

  /**
   * Format 2, 3 or 4 → 5: every event is copied from its (stream, seq) key in `events`
   * (msgpack) or `events_v3` (JSON) to its seq in `events_v5`, and each stream's seqs are
   * written as `segments_v5` rows, in chunks; the newest seq comes from the last `order` row
   * (2) or the head record (3, 4); the old databases are dropped with the format switch in one
   * last transaction. A crash before that leaves the old format and a partial copy, which the
   * next open starts over. (The index databases changed encoding at 4; the projection version
   * makes them rebuild.)
   */
  private upgrade(path: string, from: number, notice: (message: string) => void) {
    const msgpack = this.root.openDB<LegacyStored, [string, number]>({ name: 'events' });
    const json = this.root.openDB<LegacyStored, [string, number]>({ name: 'events_v3', encoding: 'json' });
    // Format 3 wrote msgpack, or JSON once its events had been moved; 2 wrote msgpack only.
    const source = from === 4 || (from === 3 && Array.from(msgpack.getKeys({ limit: 1 })).length === 0) ? json : msgpack;
    const order = from === 2 ? this.root.openDB<string, number>({ name: 'order' }) : undefined;
    let head = from === 2 ? undefined : (this.meta.get('head') as Head | undefined);
    if (order) for (const { key, value } of order.getRange({ reverse: true, limit: 1 })) head = { seq: key, stream: value };
    if (head && source.get([head.stream, head.seq]) === undefined) {
      throw new JournalError(`journal at ${path} is inconsistent at ${head.stream}#${head.seq}; restore from backup`);
    }
    notice(`journal at ${path}: upgrading format ${from} to ${JOURNAL_FORMAT} (events keyed by seq, a stream index${order ? ', order rows dropped' : ''})`);
    const started = Date.now();
    let copied = 0;
    this.events.clearSync(); // what an interrupted upgrade left
    this.segments.clearSync();
    // Keys come stream by stream, each stream's in seq order: its seqs are cut into rows.
    let segment: { stream: string; seqs: number[] } | undefined;
    let chunk: { key: [string, number]; value: LegacyStored }[] = [];
    const closeSegment = () => {
      if (segment) this.segments.putSync([segment.stream, segment.seqs[0]], segment.seqs);
      segment = undefined;
    };
    const write = (last: boolean) => {
      this.root.transactionSync(() => {
        for (const { key, value } of chunk) {
          const [stream, seq] = key;
          this.events.putSync(seq, [stream, value[0], value[1]]);
          if (segment && (segment.stream !== stream || segment.seqs.length >= UPGRADE_SEGMENT)) closeSegment();
          if (segment) segment.seqs.push(seq);
          else segment = { stream, seqs: [seq] };
        }
        if (last) closeSegment();
      });
      copied += chunk.length;
      chunk = [];
    };
    for (const { key, value } of source.getRange({})) {
      chunk.push({ key, value });
      if (chunk.length >= UPGRADE_CHUNK) write(false);
    }
    write(true);
    this.root.transactionSync(() => {
      if (head) this.meta.putSync('head', head);
      this.meta.putSync('indexed', head?.seq ?? 0);
      this.meta.putSync('format', JOURNAL_FORMAT);
      this.meta.putSync(`upgraded_from_format_${from}_at`, new Date().toISOString());
      order?.dropSync();
      msgpack.dropSync();
      json.dropSync();
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
      // Seqs staged in this process are in `heads` already: the last row has the rest.
      for (const { value } of this.segments.getRange({ start: [stream, SEQ_MAX], end: [stream, 0], reverse: true, limit: 1 })) head = value[value.length - 1];
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
    this.lastWrite = this.events.put(seq, [stream, head, event]);
    this.gseq = seq;
    this.gstream = stream;
    this.heads.set(stream, seq);
    this.note(stream, seq);
    this.remember(stream, { seq, prev: head, event });
    if (this.unwrittenCount >= CHECKPOINT_EVENTS) this.checkpoint();
    return seq;
  }

  private note(stream: string, seq: number) {
    const seqs = this.unwritten.get(stream);
    if (seqs) seqs.push(seq);
    else this.unwritten.set(stream, [seq]);
    this.unwrittenCount++;
  }

  /**
   * Writes the seqs staged since the last checkpoint, one `segments` row per stream, and
   * `indexed` with them: one synchronous run, so one transaction. Once it commits, reads find
   * the rows on disk and memory lets go of them (checkpoints commit in the order they ran).
   */
  private checkpoint() {
    if (this.unwrittenCount === 0) return;
    const rows = this.unwritten;
    this.unwritten = new Map();
    this.unwrittenCount = 0;
    for (const [stream, seqs] of rows) {
      this.segments.put([stream, seqs[0]], seqs);
      const staged = this.inflight.get(stream);
      if (staged) staged.push(seqs);
      else this.inflight.set(stream, [seqs]);
    }
    const written = this.meta.put('indexed', this.gseq);
    this.lastWrite = written;
    void written.then(
      () => {
        for (const stream of rows.keys()) {
          const staged = this.inflight.get(stream);
          staged?.shift();
          if (staged?.length === 0) this.inflight.delete(stream);
        }
      },
      () => {}, // a failed commit stops the process (see Core.commit)
    );
  }

  /** Seqs of `stream` that committed rows may not hold yet (checkpointed or not), ascending. */
  private pendingSeqs(stream: string): number[] {
    const staged = this.inflight.get(stream);
    const unwritten = this.unwritten.get(stream);
    if (!staged) return unwritten ?? [];
    return unwritten ? [...staged.flat(), ...unwritten] : staged.flat();
  }

  /** Seqs of `stream` with afterSeq < seq <= toSeq, ascending, at most `limit`. */
  private seqsAfter(stream: string, afterSeq: number, limit: number, toSeq: number): number[] {
    const out: number[] = [];
    // The row that would hold afterSeq + 1 starts at or before it.
    let from = afterSeq + 1;
    for (const key of this.segments.getKeys({ start: [stream, afterSeq + 1], end: [stream, 0], reverse: true, limit: 1 })) from = key[1];
    let covered = afterSeq;
    for (const { value } of this.segments.getRange({ start: [stream, from], end: [stream, SEQ_MAX] })) {
      for (const seq of value) {
        if (seq <= afterSeq) continue;
        if (seq > toSeq || out.length >= limit) return out;
        out.push(seq);
      }
      covered = Math.max(covered, value[value.length - 1]);
    }
    // A row committed a moment ago may still be in memory too: take only what lies past it.
    for (const seq of this.pendingSeqs(stream)) {
      if (seq <= covered) continue;
      if (seq > toSeq || out.length >= limit) break;
      out.push(seq);
    }
    return out;
  }

  /** The committed event at `seq`, which must belong to `stream`; undefined if not committed yet. */
  private stored(stream: string, seq: number): ReadEvent | undefined {
    const stored = this.events.get(seq);
    if (stored === undefined) return undefined;
    if (stored[0] !== stream) throw new JournalError(`journal is inconsistent: seq ${seq} is indexed under ${stream} but belongs to ${stored[0]}`);
    return { seq, prev: stored[1], event: stored[2] };
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
    for (const seq of this.seqsAfter(stream, afterSeq, limit, toSeq)) {
      const ev = this.stored(stream, seq);
      if (!ev) break; // staged, not committed: nor is anything after it
      out.push(ev);
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
    const stored = this.events.get(seq);
    return stored?.[0] === stream ? { seq, prev: stored[1], event: stored[2] } : undefined;
  }

  /** Events of `stream` with seq < beforeSeq, newest first (committed ones). */
  readBack(stream: string, beforeSeq: number, limit = 1000): ReadEvent[] {
    const out: ReadEvent[] = [];
    if (limit <= 0) return out;
    const take = (seq: number) => {
      const ev = this.stored(stream, seq);
      if (ev) out.push(ev);
      return out.length >= limit;
    };
    const pending = this.pendingSeqs(stream);
    for (let i = pending.length - 1; i >= 0; i--) if (pending[i] < beforeSeq && take(pending[i])) return out;
    // Rows hold what lies below memory's seqs (a row committed a moment ago may be in both).
    const below = pending.length ? Math.min(beforeSeq, pending[0]) : beforeSeq;
    for (const { value } of this.segments.getRange({ start: [stream, below - 1], end: [stream, 0], reverse: true })) {
      for (let i = value.length - 1; i >= 0; i--) if (value[i] < below && take(value[i])) return out;
    }
    return out;
  }

  /** Every event of every stream in global (seq) order, for rebuilding indexes. */
  *all(): Generator<{ stream: string; seq: number; event: StoredEvent }> {
    // In chunks, each its own read: one iterator held across the caller's commits would pin
    // one snapshot for the whole rebuild, and no page freed meanwhile could be reused.
    for (let after = 0; ; ) {
      const chunk = Array.from(this.events.getRange({ start: after + 1, limit: 10_000 }));
      if (chunk.length === 0) return;
      after = chunk[chunk.length - 1].key;
      for (const { key, value } of chunk) yield { stream: value[0], seq: key, event: value[2] };
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
    this.checkpoint(); // the next open reads nothing again
    await this.commit();
    this.closed = true;
    await this.root.close();
    if (this.writerFile) releaseWriter(this.writerFile);
  }
}
