// Indexes for files and languages, derived from the file:, xlate: and prefs: streams and kept
// in the same transaction as their events (called from Projections.apply, so a rebuild from
// the journal recreates them too).
import type { Journal, StoredEvent } from '../journal/journal.ts';
import { RecordCache } from './record-cache.ts';
import type { FileBody, FileEvent, LanguagePrefs, PrefsEvent, TranscriptBody, TranslationBody, XlateEvent } from '../actors/media.ts';

export const MEDIA_INDEXES = ['files', 'blobs', 'transcripts', 'upload_usage', 'xlate', 'langprefs'] as const;

export interface FileRecord extends FileBody {
  created_at: number;
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
  /** A file id that names this blob (any: they share the bytes). */
  blobRef(sha: string): string | undefined {
    return this.j.indexGet<string>('blobs', sha);
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
        if (!this.blobRef(ev.sha256)) this.j.indexPut('blobs', ev.sha256, id);
        const day = usageDay(at);
        this.j.indexPut('upload_usage', [ev.owner, day], this.usage(ev.owner, day) + ev.size);
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
