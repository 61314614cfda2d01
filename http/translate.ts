// Translation: translate-text, translate (by message id), translate-batch, translations
// (cached only), language-prefs, languages.
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { Refusal } from '../actors/decision.ts';
import { LANGUAGE_PREFS_MAX, MAX_BATCH } from '../daemon/translation.ts';
import { engineCall } from './files.ts';

const Lang = Type.String({ minLength: 2, maxLength: 16 });
const MessageId = Type.String({ minLength: 1, maxLength: 64 });

export const TranslateTextBody = Type.Object({ text: Type.String({ minLength: 1 }), target: Lang, source: Type.Optional(Lang) });
export const TranslateBody = Type.Object({ message_id: MessageId, target: Lang });
export const TranslateBatchBody = Type.Object({
  message_ids: Type.Optional(Type.Array(MessageId, { minItems: 1, maxItems: MAX_BATCH })),
  texts: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: MAX_BATCH })),
  target: Lang,
  source: Type.Optional(Lang),
});
export const TranslationsQuery = Type.Object({
  /** Comma-separated message ids, or the parameter repeated (?message_ids=a&message_ids=b), or both. */
  message_ids: Type.Union([Type.String({ minLength: 1, maxLength: 64 * MAX_BATCH }), Type.Array(Type.String({ maxLength: 64 * MAX_BATCH }), { minItems: 1, maxItems: MAX_BATCH })]),
  target: Type.Optional(Lang),
});
export const LanguagePrefsBody = Type.Object({
  receive_language: Type.Optional(Type.Union([Lang, Type.Null(), Type.Literal('')])),
  per_conversation: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 80 }), Type.Union([Lang, Type.Null(), Type.Literal('')]), { maxProperties: LANGUAGE_PREFS_MAX })),
});

export default async function translateRoutes(app: FastifyInstance) {
  const { media, core } = app.services;
  const { translation } = media;
  const auth = { preHandler: app.requireAuth };
  const w = '/api/v1/webchat';
  const checkLength = (text: string) => {
    if (text.length > core.config.textMaxChars) throw new Refusal('text_too_long', `text is ${text.length} characters; the limit is ${core.config.textMaxChars}`);
  };

  app.post<{ Body: Static<typeof TranslateTextBody> }>(`${w}/translate-text`, { ...auth, schema: { body: TranslateTextBody } }, async (req) => {
    checkLength(req.body.text);
    const t = await engineCall(req, () => translation.translateText(req.body.text, req.body.target, req.body.source));
    return { success: true, original: req.body.text, translated_text: t.text, ...t };
  });

  app.post<{ Body: Static<typeof TranslateBody> }>(`${w}/translate`, { ...auth, schema: { body: TranslateBody } }, async (req) => ({
    success: true,
    ...(await engineCall(req, () => translation.translateMessage(req.auth, req.body.message_id, req.body.target))),
  }));

  app.post<{ Body: Static<typeof TranslateBatchBody> }>(`${w}/translate-batch`, { ...auth, schema: { body: TranslateBatchBody } }, async (req) => {
    for (const t of req.body.texts ?? []) checkLength(t);
    return { success: true, ...(await engineCall(req, () => translation.translateBatch(req.auth, req.body))) };
  });

  app.get<{ Querystring: Static<typeof TranslationsQuery> }>(`${w}/translations`, { ...auth, schema: { querystring: TranslationsQuery } }, async (req) => {
    const ids = [req.query.message_ids].flat().flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean).slice(0, MAX_BATCH);
    return { success: true, ...translation.cachedTranslations(req.auth, ids, req.query.target) };
  });

  app.get(`${w}/language-prefs`, auth, async (req) => ({ success: true, ...translation.prefs(req.auth.user) }));

  app.put<{ Body: Static<typeof LanguagePrefsBody> }>(`${w}/language-prefs`, { ...auth, schema: { body: LanguagePrefsBody } }, async (req) => ({
    success: true,
    ...(await engineCall(req, () => translation.setPrefs(req.auth, req.body))),
  }));

  app.get(`${w}/languages`, async () => ({
    success: true,
    ...translation.languages(),
    speech: {
      transcribe: { engine: media.files.transcriber.engine, languages: media.files.transcriber.unavailableHint ? [] : media.files.transcriber.languages },
      speak: { engine: media.speaker.engine, languages: media.speaker.unavailableHint ? [] : media.speaker.languages },
    },
  }));
}
