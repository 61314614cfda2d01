// Indexes for files and languages, derived from the file:, xlate: and prefs: streams and kept
// in the same transaction as their events (called from Projections.apply, so a rebuild from
// the journal recreates them too). Which messages name a file is counted here as well
// (`file_refs`), from the message events Projections folds: a file is kept while one lives.
import type { Journal, StoredEvent } from '../journal/journal.ts';
import { RecordCache } from './record-cache.ts';
import type { FileBody, FileEvent, LanguagePrefs, PrefsEvent, TranscriptBody, TranslationBody, XlateEvent } from '../actors/media.ts';

export const MEDIA_INDEXES = ['files', 'blobs', 'unsent', 'file_refs', 'orphan_blobs', 'transcripts', 'upload_usage', 'xlate', 'langprefs'] as const;

export interface FileRecord extends FileBody {
  created_at: number;
  /**
   * Removed (see Files.sweepUnsent and Files.removeUnnamed): the id answers 410 file_gone.
   * `gone_reason` says why: never sent, or the last message naming it was deleted.
   */
  gone_at?: number;
  gone_reason?: FileGoneReason;
  /** Made a profile picture (once is enough): never removed for want of a message naming it. */
  profile?: true;
}

export type FileGoneReason = Extract<FileEvent, { type: 'removed' }>['reason'];

/** A file's URL, as upload answers it and as it appears in a message's text. */
export const FILE_URL_RE = /\/api\/v1\/webchat\/files\/(file_[0-9a-f]{32})/g;
/** How long such a URL is: a link that may have started in a streamed reply's earlier delta is this far back. */
export const FILE_URL_LENGTH = '/api/v1/webchat/files/file_'.length + 32;

const NO_LINKS: readonly string[] = Object.freeze([]);

/** File ids linked in a text, each once (most texts carry none: no regex, nor a new array, for them). */
export function fileLinks(text: string | undefined): readonly string[] {
  if (!text?.includes('/files/file_')) return NO_LINKS;
  return [...new Set(Array.from(text.matchAll(FILE_URL_RE), (m) => m[1]))];
}

export type TranslationRecord = TranslationBody & { message_id: string; at: number };

/** The UTC day an upload counts against (the per-user daily byte budget). */
export const usageDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Language prefs kept in memory (null: none set): every send and every push reads them. */
const PREFS_CACHE_MAX = 50_000;

export class MediaProjections {
  private readonly prefsCache = new RecordCache<LanguagePrefs | null>(PREFS_CACHE_MAX);

  constructor(private readonly j: Journal) {}

  /** Forgets cached records (before a rebuild). */
  clearCaches() {
    this.prefsCache.clear();
  }

  file(id: string): FileRecord | undefined {
    return this.j.indexGet<FileRecord>('files', id);
  }
  /** How many files (not removed) name this blob: they share the bytes. */
  blobFiles(sha: string): number {
    return this.j.indexGet<number>('blobs', sha) ?? 0;
  }
  /** Whether no message (nor profile picture) has named this file yet. */
  unsent(rec: FileRecord): boolean {
    return this.j.indexGet<number>('unsent', [rec.created_at, rec.file_id]) !== undefined;
  }
  /** Ids of files never named by a message and uploaded before `before`, oldest first (committed state). */
  unsentBefore(before: number, limit: number): string[] {
    return Array.from(this.j.index<[number, string], number>('unsent').getKeys({ start: [0], end: [before], limit }).map((key) => key[1]));
  }
  /** The file whose removal listed this blob as an orphan, for the sweeper to delete (and journal); undefined: not listed. */
  orphanFile(sha: string): string | undefined {
    return this.j.indexGet<string>('orphan_blobs', sha);
  }
  /** How many messages not deleted name this file (see MessageRecord.files). */
  refs(id: string): number {
    return this.j.indexGet<number>('file_refs', id) ?? 0;
  }
  /** Blobs no file names any more whose bytes may still be on disk, with the file last removed. */
  orphanBlobs(limit: number): { sha256: string; file_id: string }[] {
    return Array.from(this.j.index<string, string>('orphan_blobs').getRange({ limit }).map(({ key, value }) => ({ sha256: key, file_id: value })));
  }

  /**
   * One more message names file `id` (`by` 1), or one naming it was deleted (-1). Called once
   * per message and file (Projections keeps which files each message names). Unknown and
   * removed files are not counted: false.
   */
  refer(id: string, by: 1 | -1): boolean {
    const rec = this.file(id);
    if (!rec || rec.gone_at) return false;
    if (by > 0 && this.unsent(rec)) this.j.indexRemove('unsent', [rec.created_at, id]);
    const n = this.refs(id) + by;
    if (n > 0) this.j.indexPut('file_refs', id, n);
    else this.j.indexRemove('file_refs', id);
    return true;
  }
  /** File `id` is made a profile picture: no longer an unsent upload, and kept whatever messages are deleted. */
  profile(id: string) {
    const rec = this.file(id);
    if (!rec) return;
    if (this.unsent(rec)) this.j.indexRemove('unsent', [rec.created_at, id]);
    if (!rec.profile) this.j.indexPut('files', id, { ...rec, profile: true } satisfies FileRecord);
  }
  transcript(sha: string): TranscriptBody | undefined {
    return this.j.indexGet<TranscriptBody>('transcripts', sha);
  }
  usage(user: string, day: string): number {
    return this.j.indexGet<number>('upload_usage', [user, day]) ?? 0;
  }
  translation(messageId: string, language: string, part = ''): TranslationRecord | undefined {
    return this.j.indexGet<TranslationRecord>('xlate', [messageId, language, part]);
  }
  translations(messageId: string, language: string): TranslationRecord[] {
    return Array.from(
      this.j
        .index<[string, string, string], TranslationRecord>('xlate')
        .getRange({ start: [messageId, language, ''], end: [messageId, language, '\uffff'] })
        .map(({ value }) => value),
    );
  }
  prefs(user: string): LanguagePrefs | undefined {
    let prefs = this.prefsCache.get(user);
    if (prefs === undefined) {
      prefs = this.j.indexGet<LanguagePrefs>('langprefs', user) ?? null;
      this.prefsCache.set(user, prefs);
    }
    return prefs ?? undefined;
  }

  apply(kind: string, id: string, event: StoredEvent) {
    if (kind === 'file') {
      const ev = event as FileEvent;
      if (ev.type === 'uploaded') {
        const { type: _t, at, ...body } = ev;
        this.j.indexPut('files', id, { ...body, created_at: at } satisfies FileRecord);
        this.j.indexPut('unsent', [at, id], 1);
        this.j.indexPut('blobs', ev.sha256, this.blobFiles(ev.sha256) + 1);
        // Bytes a removed file left behind are someone's again (see Files.receive).
        if (this.orphanFile(ev.sha256) !== undefined) this.j.indexRemove('orphan_blobs', ev.sha256);
        const day = usageDay(at);
        this.j.indexPut('upload_usage', [ev.owner, day], this.usage(ev.owner, day) + ev.size);
      } else if (ev.type === 'removed') {
        const rec = this.file(id);
        if (!rec || rec.gone_at) return;
        this.j.indexPut('files', id, { ...rec, gone_at: ev.at, gone_reason: ev.reason } satisfies FileRecord);
        this.j.indexRemove('unsent', [rec.created_at, id]);
        const left = this.blobFiles(rec.sha256) - 1;
        if (left > 0) this.j.indexPut('blobs', rec.sha256, left);
        else {
          this.j.indexRemove('blobs', rec.sha256);
          this.j.indexPut('orphan_blobs', rec.sha256, id); // until `blob_removed` says the bytes are gone
        }
      } else if (ev.type === 'blob_removed') {
        // Only the entry this file's removal made: bytes uploaded again since are another matter.
        if (this.orphanFile(ev.sha256) === id) this.j.indexRemove('orphan_blobs', ev.sha256);
      } else if (ev.type === 'transcribed') {
        this.j.indexPut('transcripts', ev.sha256, { text: ev.text, language: ev.language, engine: ev.engine, duration: ev.duration } satisfies TranscriptBody);
      }
    } else if (kind === 'xlate') {
      const ev = event as XlateEvent;
      const { type: _t, ...rec } = ev;
      this.j.indexPut('xlate', [ev.message_id, ev.language, ev.part], rec satisfies TranslationRecord);
    } else if (kind === 'prefs') {
      const ev = event as PrefsEvent;
      const prefs: LanguagePrefs = { receive_language: ev.receive_language, per_conversation: ev.per_conversation };
      this.prefsCache.set(id, prefs);
      this.j.indexPut('langprefs', id, prefs);
    }
  }
}
