// Presence heartbeat, typing, and the directory.
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { nameSchema } from './auth.ts';
import { MAX_DIRECTORY_LIMIT } from '../daemon/presence.ts';

const Name = nameSchema();
/** A channel name a session listens on (`pchat`, `sms`, …): letters, digits and . _ : + - only. */
const ListenChannel = Type.String({ maxLength: 32, pattern: '^[A-Za-z0-9._:+-]*$' });

export const PresenceBody = Type.Object({
  chat_address: Type.Optional(Type.String({ maxLength: 64 })),
  display_name: Type.Optional(Name),
  visible: Type.Optional(Type.Boolean()),
  device_name: Type.Optional(Name),
  session_name: Type.Optional(Name),
  listen_channel: Type.Optional(ListenChannel),
  typing_to: Type.Optional(Type.String({ maxLength: 64 })),
  phone_id: Type.Optional(Type.String({ maxLength: 128 })),
});

export const TypingBody = Type.Object({
  to: Type.String({ minLength: 1, maxLength: 64 }),
  typing: Type.Optional(Type.Boolean()),
});

export const DirectoryQuery = Type.Object({
  q: Type.Optional(Type.String({ maxLength: 80 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_DIRECTORY_LIMIT })),
});

export default async function presenceRoutes(app: FastifyInstance) {
  const { presence, messaging } = app.services;

  app.post<{ Body: Static<typeof PresenceBody> }>(
    '/api/v1/webchat/presence',
    { preHandler: app.requireAuth, schema: { body: PresenceBody } },
    async (req) => ({ success: true, ...(await presence.heartbeat(req.auth, req.body)) }),
  );

  app.post<{ Body: Static<typeof TypingBody> }>(
    '/api/v1/webchat/typing',
    { preHandler: app.requireAuth, schema: { body: TypingBody } },
    async (req) => {
      messaging.typing(req.auth, req.body.to, req.body.typing ?? true);
      return { success: true };
    },
  );

  app.get<{ Querystring: Static<typeof DirectoryQuery> }>(
    '/api/v1/webchat/directory',
    { preHandler: app.requireAuth, schema: { querystring: DirectoryQuery } },
    async (req) => ({ success: true, ...presence.directory(req.auth.user, req.query.q, req.query.limit ?? 100) }),
  );
}
