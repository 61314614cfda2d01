// The journaled side of files and languages: one stream per uploaded file (`file:<file_id>`),
// per translated message (`xlate:<message_id>`) and per user's language preferences
// (`prefs:<user_id>`). Blobs themselves live on disk, content-addressed; these events say
// which blob a file id names, what was heard in it and what it was translated to. Each stream
// is a tiny machine: its context is the sequence (and, for prefs, the prefs themselves).
import { assign, setup } from 'xstate';

export const MEDIA_VERSION = 1;

export type FileKind = 'image' | 'video' | 'audio' | 'voice' | 'file';

export interface FileBody {
  file_id: string;
  sha256: string;
  size: number;
  /** Sniffed from the bytes, never the client's claim. */
  mime: string;
  /** The client's filename, cleaned; metadata only, never a path. */
  name: string;
  kind: FileKind;
  owner: string;
  duration: number | null;
  peaks: number[] | null;
}

export interface TranscriptBody {
  text: string;
  language: string;
  engine: string;
  duration: number | null;
}

export type FileEvent =
  | ({ type: 'uploaded'; at: number } & FileBody)
  | ({ type: 'transcribed'; sha256: string; at: number } & TranscriptBody)
  /**
   * The file's id is gone for good: no message named it within PCHAT_UNSENT_UPLOAD_TTL_HOURS
   * (`unsent`), or the last message naming it was deleted, and it is no profile picture (`deleted`).
   */
  | { type: 'removed'; reason: 'unsent' | 'deleted'; sha256: string; at: number }
  /** The blob of a removed file, which no other file shared, was deleted from the upload dir. */
  | { type: 'blob_removed'; sha256: string; at: number };

export interface TranslationBody {
  /** '' for the message text, or the voice clip whose transcript this translates. */
  part: string;
  language: string;
  source_language: string;
  text: string;
  engine: string;
  pivot?: string;
  /** sha256 of the source text: an edited message is translated again. */
  source_hash: string;
  transcript?: string;
}

export type XlateEvent = { type: 'translated'; message_id: string; at: number } & TranslationBody;

export interface LanguagePrefs {
  receive_language: string | null;
  /** Peer chat address (or group:<id>) → language for that conversation. */
  per_conversation: Record<string, string>;
}

export type PrefsEvent = { type: 'language_prefs'; at: number } & LanguagePrefs;

export const NO_PREFS: LanguagePrefs = { receive_language: null, per_conversation: {} };

/** file: and xlate: streams only count; their content is read through the projections. */
export const mediaStreamMachine = setup({
  types: { context: {} as { seq: number }, events: {} as { type: string; seq: number } },
}).createMachine({
  id: 'media',
  context: { seq: 0 },
  on: { '*': { actions: assign(({ event }) => ({ seq: event.seq })) } },
});

export const prefsMachine = setup({
  types: { context: {} as { seq: number; prefs: LanguagePrefs }, events: {} as PrefsEvent & { seq: number } },
}).createMachine({
  id: 'prefs',
  context: { seq: 0, prefs: NO_PREFS },
  on: {
    language_prefs: {
      actions: assign(({ event }) => ({ seq: event.seq, prefs: { receive_language: event.receive_language, per_conversation: event.per_conversation } })),
    },
  },
});
