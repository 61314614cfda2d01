// Inbound callbacks (webhooks), as seed 002 lists them: subscribe a URL, list, remove. What a
// delivery looks like and how to check its signatures: docs/callbacks.md.
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { CHANNELS } from '../daemon/messaging.ts';

/** The client event types a callback can be limited to (feed.ts's toClient makes them). */
const EVENT_TYPES = ['message', 'edit', 'delete', 'delta', 'receipt', 'group', 'translation'] as const;
/** Filter words: a blank one would leave a filter that lets nothing through. */
const Words = (maxLength: number) => Type.Array(Type.String({ minLength: 1, maxLength, pattern: '\\S' }), { maxItems: 50 });
export const SubscribeBody = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 2048 }),
    /** HMAC key for X-PChat-Signature; the relay makes one when absent. */
    secret: Type.Optional(Type.String({ minLength: 16, maxLength: 256 })),
    channels: Type.Optional(Type.Array(Type.Union(CHANNELS.map((c) => Type.Literal(c))), { maxItems: CHANNELS.length })),
    event_types: Type.Optional(Type.Array(Type.Union(EVENT_TYPES.map((t) => Type.Literal(t))), { maxItems: EVENT_TYPES.length })),
    sources: Type.Optional(Words(64)),
    keywords: Type.Optional(Words(200)),
    min_call_duration_sec: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400 })),
    include_outgoing: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false }, // a misspelt filter is refused, not silently ignored
);
export const CallbackParams = Type.Object({ cb_id: Type.String({ pattern: '^cb_[0-9a-f]{16}$' }) });

export default async function callbackRoutes(app: FastifyInstance) {
  const { callbacks } = app.services;
  const auth = { preHandler: app.requireAuth };
  const path = '/api/v1/webchat/callbacks/inbound';

  app.get(path, auth, async (req) => ({ success: true, callbacks: callbacks.list(req.auth) }));

  app.post<{ Body: Static<typeof SubscribeBody> }>(path, { ...auth, schema: { body: SubscribeBody } }, async (req) => ({
    success: true,
    callback: await callbacks.add(req.auth, req.body),
  }));

  app.get<{ Params: Static<typeof CallbackParams> }>(`${path}/:cb_id`, { ...auth, schema: { params: CallbackParams } }, async (req) => ({
    success: true,
    callback: callbacks.get(req.auth, req.params.cb_id),
  }));

  app.delete<{ Params: Static<typeof CallbackParams> }>(`${path}/:cb_id`, { ...auth, schema: { params: CallbackParams } }, async (req) => ({
    success: true,
    ...(await callbacks.remove(req.auth, req.params.cb_id)),
  }));
}
