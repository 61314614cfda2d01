// Files, voice, transcription, translation and read-aloud, wired together: the engines chosen
// by config, the Files and Translation services, and the few hooks messaging calls
// (attachments in, attachment details and translations out, receive-side after a send).
import type { Attachment, InboxEvent, MessageBody } from '../actors/inbox.ts';
import type { Core } from './core.ts';
import { Audio } from './engines/audio.ts';
import { EngineJobs } from './engines/proc.ts';
import { createSpeaker, type Speaker } from './engines/speak.ts';
import { createTranscriber } from './engines/transcribe.ts';
import { createTranslator, LibreTranslateTranslator } from './engines/translate.ts';
import { Files, type RemovedFile } from './files.ts';
import type { MessageRecord } from './projections.ts';
import { Translation, translationEvent } from './translation.ts';

/** What messaging asks of the media side. */
export interface MessageMedia {
  /** The message's attachments: structured ones checked, the text's metadata parsed (throws unknown_file). */
  resolveAttachments(body: { text?: string; attachments?: Attachment[] }): Attachment[] | undefined;
  /** Attachments as recipients see them (name, size, mime, kind, url, duration, peaks). */
  attachmentViews(list: Attachment[] | undefined): unknown[];
  /** The viewer's cached translation of an incoming message, if they asked for one. */
  translationFor(viewer: string, rec: MessageRecord): unknown;
  /** Client form of the media side's inbox events (`translation`), or null for others. */
  clientEvent(seq: number, ev: InboxEvent): Record<string, unknown> | null;
  /** After a send is durable: receive-side translation. */
  onSent(msg: MessageBody): void;
  /** The same after a group send, for its members. */
  onGroupSent(msg: Omit<MessageBody, 'to_user' | 'to'>, group: string): void;
  /** After an edit (or a streamed reply's close) is durable: the new text's receive-side translation. */
  onEdited(rec: MessageRecord, text: string): void;
  /**
   * Files a message named, in the run that staged its delete: those no live message (nor
   * profile picture) names any more are staged as removed, to commit with the delete.
   */
  removeUnnamed(fileIds: readonly string[], at: number): RemovedFile[];
  /** After that commit: their blobs deleted unless another file shares the bytes. */
  deleteBlobs(removed: readonly RemovedFile[]): Promise<void>;
  /** The language a viewer reads a message in (null: as sent). */
  languageFor(viewer: string, rec: MessageRecord): string | null;
}

/** Messaging without the media side (unit tests of messaging alone). */
export const NO_MEDIA: MessageMedia = {
  resolveAttachments: (body) => body.attachments,
  attachmentViews: (list) => list ?? [],
  translationFor: () => undefined,
  clientEvent: () => null,
  onSent: () => {},
  onGroupSent: () => {},
  onEdited: () => {},
  removeUnnamed: () => [],
  deleteBlobs: async () => {},
  languageFor: () => null,
};

export interface Capability {
  on: boolean;
  engine: string;
  hint?: string;
}

export class Media implements MessageMedia {
  readonly audio: Audio;
  readonly files: Files;
  readonly translation: Translation;
  readonly speaker: Speaker;

  constructor(private readonly core: Core) {
    const { config } = core;
    this.audio = new Audio(config.enginePath, config.engineTimeoutMs, new EngineJobs(config.mediaJobsMax, config.mediaQueueMax));
    this.files = new Files(core, this.audio, createTranscriber(config, this.audio));
    this.translation = new Translation(core, createTranslator(config), this.files);
    this.speaker = createSpeaker(config, this.audio);
  }

  /** Reads what HTTP engines offer (LibreTranslate's languages); local engines need nothing. */
  async init() {
    const t = this.translation.translator;
    if (t instanceof LibreTranslateTranslator) await t.init();
  }

  capabilities(): Record<string, Capability> {
    const cap = (engine: string, hint: string | null): Capability => (hint ? { on: false, engine, hint } : { on: true, engine });
    return {
      upload: { on: true, engine: 'disk' },
      waveform: cap('ffmpeg', this.audio.available ? null : 'install the Debian package ffmpeg'),
      transcribe: cap(this.files.transcriber.engine, this.files.transcriber.unavailableHint),
      translate: cap(this.translation.translator.engine, this.translation.translator.unavailableHint),
      speak: cap(this.speaker.engine, this.speaker.unavailableHint),
    };
  }

  resolveAttachments(body: { text?: string; attachments?: Attachment[] }) {
    return this.files.resolveAttachments(body);
  }

  attachmentViews(list: Attachment[] | undefined) {
    return (list ?? []).map((a) => this.files.attachmentView(a));
  }

  translationFor(viewer: string, rec: MessageRecord) {
    return this.translation.translationFor(viewer, rec);
  }

  clientEvent(seq: number, ev: InboxEvent) {
    return ev.type === 'translation' ? translationEvent(seq, ev) : null;
  }

  onSent(msg: MessageBody) {
    this.translation.onSent(msg);
  }

  onGroupSent(msg: Omit<MessageBody, 'to_user' | 'to'>, group: string) {
    this.translation.onGroupSent(msg, group);
  }

  onEdited(rec: MessageRecord, text: string) {
    this.translation.onEdited(rec, text);
  }

  removeUnnamed(fileIds: readonly string[], at: number) {
    return this.files.removeUnnamed(fileIds, at);
  }

  deleteBlobs(removed: readonly RemovedFile[]) {
    return this.files.deleteBlobs(removed);
  }

  languageFor(viewer: string, rec: MessageRecord) {
    return this.translation.languageFor(viewer, rec);
  }

  close() {
    this.files.transcriber.close();
    this.translation.translator.close();
    this.speaker.close();
  }
}
