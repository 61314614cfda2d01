// Files and voice: upload (multipart, one or many files), download (streamed, Range, ETag,
// safe headers), transcribe (multipart or {file_id}), speak (read-aloud as ogg/opus).
import { createReadStream, existsSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { Type, type Static } from '@sinclair/typebox';
import { Ajv, type ValidateFunction } from 'ajv';
import { Refusal } from '../actors/decision.ts';
import type { Auth } from '../daemon/accounts.ts';
import { EngineError } from '../daemon/engines/proc.ts';
import { detectLanguage, normalizeLanguage } from '../daemon/engines/languages.ts';
import { isInlineSafe, type Received } from '../daemon/files.ts';
import type { FileRecord } from '../daemon/media-projections.ts';
import { wordsOf } from '../daemon/translation.ts';

const FileParams = Type.Object({ file_id: Type.String({ minLength: 1, maxLength: 64 }) });
/** Multipart bodies are streamed, not parsed into an object; the query can only say the kind. */
export const UploadQuery = Type.Object({
  kind: Type.Optional(Type.Union(['auto', 'file', 'voice', 'audio'].map((k) => Type.Literal(k)))),
  /** Where the files will be sent: checked before a byte is stored (a stream group's observers may not post). */
  to: Type.Optional(Type.String({ minLength: 1, maxLength: 320 })),
});
/** Checked in the handler (the route also takes multipart), compiled on first use. (Ajv, not
 * TypeBox's Value: that module alone was ~100 kB of the daemon bundle, parsed at every start.) */
let transcribeBody: ValidateFunction | undefined;
export const TranscribeBody = Type.Object({
  file_id: Type.String({ minLength: 1, maxLength: 64 }),
  language: Type.Optional(Type.String({ minLength: 2, maxLength: 16 })),
});
export const TranscribeQuery = Type.Object({ language: Type.Optional(Type.String({ minLength: 2, maxLength: 16 })) });
export const SpeakBody = Type.Object({
  // Something to read: blank text would be a second of silence.
  text: Type.Optional(Type.String({ minLength: 1, pattern: '\\S' })),
  message_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  language: Type.Optional(Type.String({ minLength: 2, maxLength: 16 })),
});

const KIND_HINTS = new Set(['auto', 'file', 'voice', 'audio']);
/** busboy's words for a body it cannot parse: no boundary (or one too long), or cut off before its end. */
const MALFORMED_MULTIPART = /^(Multipart: Boundary not found|Boundary required|Unexpected end of multipart data|\w+ terminated early due to unexpected end of multipart data|The needle cannot (be an empty|have a length bigger))/;

/** What a client whose multipart body is cut or malformed is told. */
const ENDS_EARLY = 'the multipart body is malformed or ends early (check its boundary and closing delimiter)';

/** multipart's own errors, in our table's words. */
function multipartRefusal(err: any, maxBytes: number, maxFiles: number): unknown {
  switch (err?.code) {
    case 'FST_REQ_FILE_TOO_LARGE':
      return new Refusal('payload_too_large', `a file is larger than ${maxBytes} bytes (PCHAT_UPLOAD_MAX_BYTES)`);
    case 'FST_FILES_LIMIT':
      return new Refusal('too_many_files', `at most ${maxFiles} files per upload`);
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new Refusal('validation_failed', 'too many fields in the multipart body');
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new Refusal('unsupported_media_type', 'send multipart/form-data with one or more "file" parts');
    case 'FST_PROTO_VIOLATION':
      return new Refusal('validation_failed', 'a multipart field may not be named __proto__ or constructor');
    case 'ERR_STREAM_PREMATURE_CLOSE': // the body cut while multipart destroys the part being read
      return new Refusal('bad_request', ENDS_EARLY);
  }
  if (err instanceof Error && !(err instanceof Refusal) && MALFORMED_MULTIPART.test(err.message)) {
    return new Refusal('bad_request', ENDS_EARLY);
  }
  return err;
}

/** Engine failures are logged with their detail and answered without it (no paths or stderr out). */
export async function engineCall<T>(req: FastifyRequest, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof EngineError) {
      req.log.warn({ err: err.message, url: req.url }, 'engine failed');
      throw new Refusal('engine_failed', 'the engine could not process this input');
    }
    throw err;
  }
}

function contentDisposition(kind: 'inline' | 'attachment', name: string) {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  // RFC 8187 allows fewer bare characters than encodeURIComponent leaves: ' ( ) * are escaped
  // too, or strict parsers reject the whole header ("Ann's notes.pdf").
  const ext = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${ext}`;
}

/** One `bytes=a-b` range, or null for the whole file (no header, several ranges, stale If-Range). */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | null | 'unsatisfiable' {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return null;
  const [, a, b] = m;
  if (a === '' && b === '') return null;
  let start: number;
  let end: number;
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(a);
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}

export default async function fileRoutes(app: FastifyInstance) {
  const { media, core } = app.services;
  const { files, translation, speaker } = media;
  const { config } = core;
  const auth = { preHandler: app.requireAuth };
  const w = '/api/v1/webchat';

  await app.register(multipart, {
    throwFileSizeLimit: true,
    limits: { fileSize: config.uploadMaxBytes, files: config.uploadMaxFiles, fields: 20, fieldSize: 4096, parts: config.uploadMaxFiles + 20, headerPairs: 100 },
  });

  /** Receives every file part of a multipart request and registers them; nothing is kept on failure. */
  async function receiveAll(req: FastifyRequest, a: Auth, defaultKind: string, maxFiles = config.uploadMaxFiles): Promise<FileRecord[]> {
    if (!req.isMultipart()) throw new Refusal('unsupported_media_type', 'send multipart/form-data with one or more "file" parts');
    const received: Received[] = [];
    let kind = defaultKind;
    try {
      for await (const part of req.parts()) {
        if (part.type === 'field') {
          if (part.fieldname === 'kind' || part.fieldname === 'attachment_kind') {
            const v = String(part.value).trim().toLowerCase();
            if (!KIND_HINTS.has(v)) throw new Refusal('validation_failed', `kind must be one of ${[...KIND_HINTS].join(', ')}`);
            kind = v;
          }
          continue;
        }
        if (received.length >= maxFiles) throw new Refusal('too_many_files', `at most ${maxFiles} file(s) here`);
        // A part the body ended inside can come already destroyed, without an error: reading
        // it would wait forever (and hold this request's blobs and budget).
        if (part.file.destroyed && !part.file.readableEnded) throw new Refusal('bad_request', ENDS_EARLY);
        received.push(await files.receive(a, part.file, part.filename, kind));
      }
      if (received.length === 0) throw new Refusal('validation_failed', 'no file in the multipart body (send it as a "file" part)');
      return await files.register(a, received);
    } catch (err) {
      await files.discard(received);
      throw multipartRefusal(err, config.uploadMaxBytes, config.uploadMaxFiles);
    }
  }

  app.post<{ Querystring: Static<typeof UploadQuery> }>(`${w}/upload`, { ...auth, schema: { querystring: UploadQuery } }, async (req) => {
    if (req.query.to) app.services.messaging.assertCanSend(req.auth, req.query.to);
    const recs = await receiveAll(req, req.auth, req.query.kind ?? 'auto');
    const views = recs.map((r) => files.uploadView(r));
    // The seed's clients read url/size at the top level; multi-file clients read `files`.
    return { success: true, ...views[0], files: views, attachment: views.map((v) => v.attachment).join('\n') };
  });

  app.get<{ Params: Static<typeof FileParams> }>(`${w}/files/:file_id`, { schema: { params: FileParams } }, async (req, reply) => {
    const rec = files.known(req.params.file_id);
    const path = files.blobPath(rec.sha256);
    if (!existsSync(path)) {
      req.log.error({ file_id: rec.file_id, sha256: rec.sha256 }, 'blob missing from the upload dir');
      throw new Refusal('unknown_file', `the bytes of "${rec.file_id}" are missing on this relay`);
    }
    const etag = `"${rec.sha256}"`;
    const inline = isInlineSafe(rec.mime);
    reply.header('ETag', etag);
    reply.header('Accept-Ranges', 'bytes');
    reply.header('X-Content-Type-Options', 'nosniff');
    // Same id, same bytes, forever.
    reply.header('Cache-Control', 'private, max-age=31536000, immutable');
    reply.header('Content-Type', rec.mime.startsWith('text/') ? `${rec.mime}; charset=utf-8` : rec.mime);
    reply.header('Content-Disposition', contentDisposition(inline ? 'inline' : 'attachment', rec.name));
    if (!inline) reply.header('Content-Security-Policy', 'sandbox');
    const match = req.headers['if-none-match'];
    // Weak comparison (RFC 9110 13.1.2): a cache may send our tag back as W/"…".
    if (match && match.split(',').some((t) => t.trim().replace(/^W\//, '') === etag || t.trim() === '*')) return reply.code(304).send();
    const ifRange = req.headers['if-range'];
    const range = ifRange && ifRange !== etag ? null : parseRange(req.headers.range, rec.size);
    if (range === 'unsatisfiable') {
      reply.header('Content-Range', `bytes */${rec.size}`);
      reply.header('Content-Type', 'application/json; charset=utf-8');
      reply.removeHeader('Content-Disposition');
      throw new Refusal('range_not_satisfiable', `the file has ${rec.size} bytes`);
    }
    if (range) {
      reply.code(206);
      reply.header('Content-Range', `bytes ${range.start}-${range.end}/${rec.size}`);
      reply.header('Content-Length', String(range.end - range.start + 1));
      return reply.send(createReadStream(path, { start: range.start, end: range.end }));
    }
    reply.header('Content-Length', String(rec.size));
    return reply.send(createReadStream(path));
  });

  // Two bodies: a multipart clip (streamed, so no body schema applies) or JSON checked here.
  app.post<{ Body: unknown; Querystring: Static<typeof TranscribeQuery> }>(`${w}/transcribe`, { ...auth, schema: { querystring: TranscribeQuery } }, async (req) => {
    let rec: FileRecord;
    let language = req.query.language ? normalizeLanguage(req.query.language) : undefined;
    if (req.isMultipart()) {
      files.assertHears(language); // before the clip is stored and counted against the budget
      // Kind by the bytes ('auto'): a video's sound track is heard too, as by {file_id}.
      [rec] = await receiveAll(req, req.auth, 'auto', 1);
    } else {
      const valid = (transcribeBody ??= new Ajv({ strict: false, validateSchema: false }).compile(TranscribeBody));
      if (!valid(req.body)) {
        const first = valid.errors?.[0];
        throw new Refusal('validation_failed', `body${first?.instancePath.replace(/\//g, '.') ?? ''} ${first?.message ?? 'must be {file_id}'}; or send the clip as a multipart "file" part`);
      }
      const body = req.body as Static<typeof TranscribeBody>;
      rec = files.known(body.file_id);
      if (body.language) language = normalizeLanguage(body.language);
    }
    const t = await engineCall(req, () => files.transcribe(rec, language));
    return { success: true, file_id: rec.file_id, text: t.text, language: t.language, engine: t.engine, duration: t.duration, cached: t.cached };
  });

  app.post<{ Body: Static<typeof SpeakBody> }>(`${w}/speak`, { ...auth, schema: { body: SpeakBody } }, async (req, reply) => {
    const { text: given, message_id, language: lang } = req.body;
    if (!!given === !!message_id) throw new Refusal('validation_failed', 'give text or message_id (one of them)');
    if (speaker.unavailableHint) throw new Refusal('engine_unavailable', `read-aloud is off on this relay: ${speaker.unavailableHint}`);
    let text: string;
    let language: string | null = lang ? normalizeLanguage(lang) : null;
    if (message_id) {
      const rec = core.projections.message(message_id);
      // Direct messages one sent or received, and those of the groups one is in (as translate).
      if (!rec || !core.seesMessage(req.auth.user, rec)) throw new Refusal('unknown_message', `no message "${message_id}" in your conversations`);
      text = wordsOf(rec.text);
      if (!text) throw new Refusal('validation_failed', 'that message has no words to read aloud');
      // A message is read in the language asked for (or the reader's receive language): translated first when needed.
      language ??= translation.prefs(req.auth.user).receive_language;
      if (language && !translation.translator.unavailableHint) {
        const t = await engineCall(req, () => translation.translateText(text, language!, undefined, translation.prefs(rec.from_user).receive_language));
        text = t.text;
      }
    } else {
      text = given!;
    }
    if (text.length > config.speakMaxChars) throw new Refusal('text_too_long', `read-aloud takes up to ${config.speakMaxChars} characters; this is ${text.length}`);
    if (!language) {
      const t = translation.translator;
      const candidates = translation.languages().languages.map((l) => l.code).filter((l) => speaker.languages.includes(l));
      language = (await detectLanguage(text, candidates, t.coverage && !t.unavailableHint ? await t.coverage(text, candidates) : undefined)) ?? 'en';
    }
    const speech = await engineCall(req, () => speaker.speak(text, language!));
    reply.header('Content-Type', speech.mime);
    reply.header('X-PChat-Language', speech.language);
    reply.header('X-PChat-Engine', speech.engine);
    reply.header('Cache-Control', 'no-store');
    return reply.send(speech.audio);
  });
}
