// Translation: one-shot text, messages by id (cached in the journal), batches, language
// preferences, and receive-side translation.
//
// Receive-side is asynchronous on purpose: a send is acknowledged as soon as the message is
// durable, without waiting for an engine (Apertium takes milliseconds, a voice clip's
// transcription seconds). After the send commits, the recipient's translation is computed,
// journaled (`xlate:<message_id>`, the cache) and appended to the recipient's inbox as a
// `translation` event, so poll / WS / SSE deliver `{type:"translation", message_id, language,
// text}` right after the message. Message views read later carry it inline as `translation`.
// The original text is never replaced.
import { own, Refusal } from '../actors/decision.ts';
import type { Attachment, MessageBody } from '../actors/inbox.ts';
import { MEDIA_VERSION, mediaStreamMachine, NO_PREFS, prefsMachine, type LanguagePrefs, type TranslationBody, type XlateEvent } from '../actors/media.ts';
import type { Auth } from './accounts.ts';
import { Group, sha256, type Core } from './core.ts';
import type { GroupContext } from '../actors/group.ts';
import { detectLanguage, languageName, normalizeLanguage } from './engines/languages.ts';
import { unavailable } from './engines/proc.ts';
import { unsupportedPair, withPivots, type LanguagePair, type Translator } from './engines/translate.ts';
import type { Files } from './files.ts';
import type { TranslationRecord } from './media-projections.ts';
import type { MessageRecord } from './projections.ts';
import type { ActorKind } from './registry.ts';

export const XlateStream: ActorKind = { prefix: 'xlate', machine: mediaStreamMachine, version: MEDIA_VERSION };
export const PrefsStream: ActorKind = { prefix: 'prefs', machine: prefsMachine, version: MEDIA_VERSION };

/** One-shot translations kept in memory (message translations are journaled instead). */
const TEXT_CACHE_MAX = 5_000;
/** Receive-side jobs running at once: the engines are single processes anyway. */
const RECEIVE_CONCURRENCY = 2;
/** Most items one batch may ask for. */
export const MAX_BATCH = 100;
/** Language tried when a text is too short to tell and nobody said. */
const FALLBACK_LANGUAGE = 'en';

const ATTACHMENT_LINE = /^.*\[attachment:[a-z]+\].*$|^\s*\S*\/api\/v1\/webchat\/files\/file_[0-9a-f]{32}\S*\s*$/gm;
/** The words of a message, without the attachment metadata lines the seed's clients paste in. */
export const wordsOf = (text: string) => text.replace(ATTACHMENT_LINE, '').trim();

export interface TextTranslation {
  text: string;
  source: string;
  target: string;
  engine: string;
  pivot: string | null;
  /** False when the text already was in the target language. */
  translated: boolean;
  /** True when the source language was guessed from the text. */
  detected: boolean;
}

/** Per-conversation languages a user keeps at most (each save writes them all). */
export const LANGUAGE_PREFS_MAX = 500;

export class Translation {
  private readonly textCache = new Map<string, TextTranslation>();
  private running = 0;
  private readonly queue: (() => Promise<void>)[] = [];
  /** Resolves when every receive-side job queued so far is done (tests, shutdown). */
  private idle: Promise<void> = Promise.resolve();
  private markIdle: () => void = () => {};

  constructor(
    private readonly core: Core,
    readonly translator: Translator,
    private readonly files: Files,
  ) {}

  // ---------- languages and prefs ----------

  pairs(): LanguagePair[] {
    return withPivots(this.translator.pairs());
  }

  languages() {
    const pairs = this.pairs();
    const codes = [...new Set(pairs.flatMap((p) => [p.source, p.target]))].sort();
    return {
      engine: this.translator.engine,
      available: !this.translator.unavailableHint,
      languages: codes.map((code) => ({ code, name: languageName(code), targets: pairs.filter((p) => p.source === code).map((p) => p.target).sort() })),
      pairs: pairs.map((p) => ({ source: p.source, target: p.target, ...(p.via ? { via: p.via } : {}) })),
      pivot_note: pairs.some((p) => p.via) ? 'pairs with "via" have no direct engine and go through that language' : undefined,
    };
  }

  prefs(user: string): LanguagePrefs {
    return this.core.projections.media.prefs(user) ?? NO_PREFS;
  }

  private checkLanguage(code: string): string {
    const c = normalizeLanguage(code);
    if (!this.pairs().some((p) => p.source === c || p.target === c)) {
      throw new Refusal('unsupported_language', `no translation into or out of ${languageName(c)} (${c}) on this relay; see GET /api/v1/webchat/languages`);
    }
    return c;
  }

  async setPrefs(auth: Auth, body: { receive_language?: string | null; per_conversation?: Record<string, string | null> }): Promise<LanguagePrefs> {
    const setsLanguage = (body.receive_language ?? '') !== '' || Object.values(body.per_conversation ?? {}).some((l) => l !== null && l !== '');
    if (setsLanguage) await this.translator.ready?.(); // the languages it is checked against
    const prior = this.prefs(auth.user);
    let receive = prior.receive_language;
    if (body.receive_language !== undefined) receive = body.receive_language === null || body.receive_language === '' ? null : this.checkLanguage(body.receive_language);
    const per = { ...prior.per_conversation };
    for (const [peer, lang] of Object.entries(body.per_conversation ?? {})) {
      const key = peer.trim().toLowerCase();
      if (lang === null || lang === '') delete per[key];
      else per[key] = this.checkLanguage(lang);
    }
    const kept = Object.keys(per).length;
    if (kept > LANGUAGE_PREFS_MAX) {
      throw new Refusal('conflict', `that would keep ${kept} per-conversation languages; at most ${LANGUAGE_PREFS_MAX} (clear some with null)`);
    }
    const next: LanguagePrefs = { receive_language: receive, per_conversation: per };
    this.core.registry.apply(PrefsStream, auth.user, [{ type: 'language_prefs', ...next, at: Date.now() }]);
    await this.core.commit();
    return next;
  }

  // ---------- translating ----------

  private async guessSource(text: string, target: string, hint: string | null): Promise<{ source: string; detected: boolean }> {
    const pairs = this.pairs();
    const candidates = [...new Set([target, ...pairs.filter((p) => p.target === target).map((p) => p.source)])];
    const coverage = this.translator.coverage ? await this.translator.coverage(text, candidates) : undefined;
    const guess = await detectLanguage(text, candidates, coverage);
    if (guess) return { source: guess, detected: true };
    return { source: hint && candidates.includes(hint) ? hint : FALLBACK_LANGUAGE, detected: false };
  }

  /** Translates text; the source is guessed when not given. Same-language text comes back as is. */
  async translateText(text: string, targetRaw: string, sourceRaw?: string, hint: string | null = null): Promise<TextTranslation> {
    if (this.translator.unavailableHint) throw unavailable('translation', this.translator.unavailableHint);
    await this.translator.ready?.();
    const target = normalizeLanguage(targetRaw);
    if (!this.pairs().some((p) => p.target === target)) throw unsupportedPair(sourceRaw ? normalizeLanguage(sourceRaw) : 'auto', target, this.pairs());
    const given = sourceRaw && sourceRaw !== 'auto' ? normalizeLanguage(sourceRaw) : null;
    const { source, detected } = given ? { source: given, detected: false } : await this.guessSource(text, target, hint);
    if (source === target || !text.trim()) return { text, source, target, engine: this.translator.engine, pivot: null, translated: false, detected };
    const pair = this.pairs().find((p) => p.source === source && p.target === target);
    if (!pair) throw unsupportedPair(source, target, this.pairs());
    const key = `${source}>${target}\u0000${text}`;
    const hit = this.textCache.get(key);
    if (hit) return { ...hit, detected };
    const t = await this.translator.translate(text, source, target);
    const out: TextTranslation = { text: t.text, source, target, engine: t.engine, pivot: t.pivot ?? null, translated: true, detected };
    if (this.textCache.size >= TEXT_CACHE_MAX) this.textCache.clear();
    this.textCache.set(key, out);
    return out;
  }

  /** A message the caller takes part in: sent or received directly, or in a group they are in. */
  private participant(auth: Auth, id: string): MessageRecord {
    const rec = this.visibleTo(auth.user, id);
    if (!rec) throw new Refusal('unknown_message', `no message "${id}" in your conversations`);
    return rec;
  }

  private visibleTo(user: string, id: string): MessageRecord | undefined {
    const rec = this.core.projections.message(id);
    return rec && this.core.seesMessage(user, rec) ? rec : undefined;
  }

  /** A message's translation: from the journal when its text has not changed, else computed and journaled. */
  private async messageTranslation(rec: MessageRecord, targetRaw: string, stage = true): Promise<TranslationRecord | null> {
    const target = normalizeLanguage(targetRaw);
    const words = wordsOf(rec.text);
    if (!words || rec.deleted_at) return null;
    const hash = sha256(words).slice(0, 32);
    const cached = this.core.projections.media.translation(rec.id, target);
    if (cached && cached.source_hash === hash) return cached;
    const senderPrefs = this.prefs(rec.from_user).receive_language;
    const t = await this.translateText(words, target, undefined, senderPrefs);
    const body: TranslationBody = {
      part: '',
      language: target,
      source_language: t.source,
      text: t.text,
      engine: t.engine,
      ...(t.pivot ? { pivot: t.pivot } : {}),
      source_hash: hash,
    };
    const ev: XlateEvent = { type: 'translated', message_id: rec.id, ...body, at: Date.now() };
    if (stage) this.core.registry.apply(XlateStream, rec.id, [ev]);
    return { ...body, message_id: rec.id, at: ev.at };
  }

  async translateMessage(auth: Auth, id: string, target: string) {
    const rec = this.participant(auth, id);
    const t = await this.messageTranslation(rec, target);
    await this.core.commit();
    return this.translationView(rec, normalizeLanguage(target), t);
  }

  private translationView(rec: MessageRecord, target: string, t: TranslationRecord | null) {
    return {
      message_id: rec.id,
      target,
      language: target,
      original: rec.text,
      text: t ? t.text : wordsOf(rec.text),
      translated_text: t ? t.text : wordsOf(rec.text),
      source_language: t?.source_language ?? null,
      engine: t?.engine ?? this.translator.engine,
      pivot: t?.pivot ?? null,
      translated: !!t && t.source_language !== target,
    };
  }

  async translateBatch(auth: Auth, body: { message_ids?: string[]; texts?: string[]; target: string; source?: string }) {
    if (!!body.message_ids === !!body.texts) throw new Refusal('validation_failed', 'give message_ids or texts (one of them)');
    if (body.texts) {
      const translations = [];
      for (const text of body.texts) translations.push(await this.translateText(text, body.target, body.source));
      return { target: normalizeLanguage(body.target), translations };
    }
    const translations = [];
    for (const id of body.message_ids!) {
      const rec = this.participant(auth, id);
      translations.push(this.translationView(rec, normalizeLanguage(body.target), await this.messageTranslation(rec, body.target)));
    }
    await this.core.commit();
    return { target: normalizeLanguage(body.target), translations };
  }

  /** Cached translations only: nothing is computed. */
  cachedTranslations(auth: Auth, ids: string[], targetRaw?: string) {
    const target = targetRaw ? normalizeLanguage(targetRaw) : this.prefs(auth.user).receive_language;
    if (!target) throw new Refusal('validation_failed', 'give target, or set receive_language in language-prefs');
    const out = [];
    for (const id of ids) {
      const rec = this.visibleTo(auth.user, id);
      if (!rec || rec.deleted_at) continue; // a deleted message keeps no words, nor translations
      // Only what still says what the message says: its text as last edited, its clips' captions.
      const hash = sha256(wordsOf(rec.text)).slice(0, 32);
      const clips = new Set((rec.attachments ?? []).map((a) => a.file_id));
      for (const t of this.core.projections.media.translations(id, target)) {
        if (t.part ? clips.has(t.part) : t.source_hash === hash) out.push(this.recordView(t));
      }
    }
    return { target, translations: out };
  }

  private recordView(t: TranslationRecord) {
    return {
      message_id: t.message_id,
      language: t.language,
      text: t.text,
      source_language: t.source_language,
      engine: t.engine,
      pivot: t.pivot ?? null,
      ...(t.part ? { file_id: t.part, transcript: t.transcript ?? null } : {}),
      at: new Date(t.at).toISOString(),
    };
  }

  /** The translation a viewer's message view carries (their receive language, text unchanged since). */
  translationFor(viewer: string, rec: MessageRecord) {
    const target = this.languageFor(viewer, rec);
    if (!target) return undefined;
    const t = this.core.projections.media.translation(rec.id, target);
    if (!t || t.source_hash !== sha256(wordsOf(rec.text)).slice(0, 32)) return undefined;
    return { language: t.language, text: t.text, source_language: t.source_language, engine: t.engine, pivot: t.pivot ?? null };
  }

  // ---------- receive side ----------

  /**
   * The language `viewer` reads a conversation in (null: as sent): their setting for it (keyed
   * by the peer's address, or `group:<id>`), else their receive language.
   */
  private readsIn(viewer: string, conversation: string): string | null {
    const prefs = this.prefs(viewer);
    return own(prefs.per_conversation, conversation) ?? prefs.receive_language;
  }

  /** Called after a message is durable: queues the recipient's translation if they asked for one. */
  onSent(msg: Pick<MessageBody, 'id' | 'from_user' | 'to_user' | 'from' | 'text' | 'attachments'>) {
    if (msg.from_user === msg.to_user) return;
    const voices = this.worthTranslating(msg);
    const target = voices && this.readsIn(msg.to_user, msg.from);
    if (voices && target) this.enqueue(() => this.receiveSide(msg.id, target, voices, { inboxOf: msg.to_user }));
  }

  /**
   * The same for a group message, for every member but the sender who reads the group in
   * another language: one job, off the send path, which translates once per language and
   * journals each translation once, in the group's stream (readers in that language get it).
   */
  onGroupSent(msg: Pick<MessageBody, 'id' | 'from_user' | 'text' | 'attachments'>, group: string) {
    const voices = this.worthTranslating(msg);
    if (!voices) return;
    this.enqueue(async () => {
      const members = Object.keys(this.core.registry.context<GroupContext>(Group, group).members);
      const targets = new Set<string>();
      for (const member of members) {
        const target = member !== msg.from_user && this.readsIn(member, `group:${group}`);
        if (target) targets.add(target);
      }
      for (const target of targets) await this.receiveSide(msg.id, target, voices, { group });
    });
  }

  /**
   * After an edit (or a streamed reply's close): the new words translated for the readers who
   * get translations, as after a send. Its voice clips are unchanged and keep their captions.
   */
  onEdited(rec: MessageRecord, text: string) {
    const msg = { ...rec, text, attachments: undefined };
    if (rec.group) this.onGroupSent(msg, rec.group);
    else this.onSent(msg);
  }

  /** The voice clips to caption, or undefined when there is nothing to translate (or no engine to do it). */
  private worthTranslating(msg: Pick<MessageBody, 'text' | 'attachments'>): Attachment[] | undefined {
    const voices = (msg.attachments ?? []).filter((a) => a.kind === 'voice');
    const text = !!wordsOf(msg.text) && !this.translator.unavailableHint;
    const speech = voices.length > 0 && !this.files.transcriber.unavailableHint;
    return text || speech ? voices : undefined;
  }

  /** The language `viewer` reads this message in (null: as sent). */
  languageFor(viewer: string, rec: MessageRecord): string | null {
    if (rec.from_user === viewer) return null;
    return this.readsIn(viewer, rec.group ? rec.to : (this.core.projections.user(rec.from_user)?.chat_address ?? rec.from));
  }

  private enqueue(job: () => Promise<void>) {
    if (this.running === 0 && this.queue.length === 0) this.idle = new Promise((r) => (this.markIdle = r));
    this.queue.push(job);
    this.pump();
  }

  private pump() {
    while (this.running < RECEIVE_CONCURRENCY && this.queue.length) {
      const job = this.queue.shift()!;
      this.running++;
      void job()
        .catch((err) => this.core.log.warn({ err: (err as Error).message }, 'receive-side translation failed'))
        .finally(() => {
          this.running--;
          if (this.running === 0 && this.queue.length === 0) this.markIdle();
          this.pump();
        });
    }
  }

  /** Resolves when the receive-side jobs queued so far are done. */
  settled(): Promise<void> {
    return this.idle;
  }

  /**
   * Translates message `id` (text and voice clips) into `target` and journals the result where
   * its readers find it: the recipient's inbox, or the group's stream (one write per language).
   */
  private async receiveSide(id: string, target: string, voices: Attachment[], where: { inboxOf: string } | { group: string }) {
    const rec = this.core.projections.message(id);
    if (!rec || rec.deleted_at) return;
    const events: { part: string; language: string; text: string; source_language: string; engine: string; pivot?: string; transcript?: string }[] = [];
    if (!this.translator.unavailableHint) {
      try {
        const t = await this.messageTranslation(rec, target);
        if (t && t.source_language !== target) events.push(t);
      } catch (err) {
        if (!(err instanceof Refusal)) throw err;
        this.core.log.debug({ message_id: id, reason: err.message }, 'no receive-side translation');
      }
    }
    for (const v of voices) {
      const file = this.files.record(v.file_id);
      if (!file || this.files.transcriber.unavailableHint) continue;
      let transcript;
      try {
        transcript = await this.files.transcribe(file);
      } catch (err) {
        if (!(err instanceof Refusal)) throw err;
        continue;
      }
      if (!transcript.text) continue;
      let caption = { text: transcript.text, source_language: transcript.language, engine: transcript.engine, pivot: undefined as string | undefined };
      if (transcript.language !== target && !this.translator.unavailableHint) {
        try {
          const t = await this.translateText(transcript.text, target, transcript.language);
          caption = { text: t.text, source_language: transcript.language, engine: t.engine, pivot: t.pivot ?? undefined };
        } catch (err) {
          if (!(err instanceof Refusal)) throw err;
        }
      }
      const body: TranslationBody = {
        part: v.file_id,
        language: target,
        source_language: caption.source_language,
        text: caption.text,
        engine: caption.engine,
        ...(caption.pivot ? { pivot: caption.pivot } : {}),
        source_hash: sha256(transcript.text).slice(0, 32),
        transcript: transcript.text,
      };
      this.core.registry.apply(XlateStream, id, [{ type: 'translated', message_id: id, ...body, at: Date.now() }]);
      events.push(body);
    }
    if (events.length === 0) {
      await this.core.commit();
      return;
    }
    const at = Date.now();
    const feedEvents = events.map((e) => ({
      type: 'translation' as const,
      id,
      part: e.part,
      language: e.language,
      text: e.text,
      source_language: e.source_language,
      engine: e.engine,
      ...(e.pivot ? { pivot: e.pivot } : {}),
      ...(e.transcript ? { transcript: e.transcript } : {}),
      at,
    }));
    if ('inboxOf' in where) {
      this.core.applyInbox(where.inboxOf, feedEvents);
      await this.core.commit([where.inboxOf]);
      return;
    }
    this.core.applyGroup(where.group, feedEvents);
    const group = this.core.registry.context<GroupContext>(Group, where.group);
    await this.core.commit(Object.keys(group.members).filter((u) => this.languageFor(u, rec) === target));
  }
}

/** The client form of an inbox `translation` event (poll / WS / SSE). */
export function translationEvent(seq: number, ev: { id: string; part: string; language: string; text: string; source_language: string; engine: string; pivot?: string; transcript?: string; at: number }) {
  return {
    type: 'translation',
    seq,
    message_id: ev.id,
    language: ev.language,
    text: ev.text,
    source_language: ev.source_language,
    engine: ev.engine,
    pivot: ev.pivot ?? null,
    ...(ev.part ? { file_id: ev.part, transcript: ev.transcript ?? null } : {}),
    at: new Date(ev.at).toISOString(),
  };
}
