// /api/v1/pchat/auth/...: request-code, verify-code, me, logout, logout-all.
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { publicUser } from '../daemon/accounts.ts';

const Email = Type.String({ minLength: 3, maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$' });
/**
 * A name people see (display, device, session, group names): no control characters and no
 * bidirectional overrides, which would disguise it (or what follows it) in others' lists.
 */
export const nameSchema = (minLength = 0) =>
  Type.String({ minLength, maxLength: 80, pattern: '^[^\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069]*$' });
const Name = nameSchema();
const Address = Type.String({ minLength: 1, maxLength: 64 });

export const RequestCodeBody = Type.Object({
  email: Email,
  display_name: Type.Optional(Name),
  purpose: Type.Optional(Type.Literal('login')),
});

export const VerifyCodeBody = Type.Object({
  email: Email,
  code: Type.String({ pattern: '^[0-9]{6}$' }),
  display_name: Type.Optional(Name),
  chat_address: Type.Optional(Address),
  public_visible: Type.Optional(Type.Boolean()),
  device_name: Type.Optional(Name),
  session_name: Type.Optional(Name),
});

export const UpdateMeBody = Type.Object(
  {
    display_name: Type.Optional(nameSchema(1)),
    avatar_file_id: Type.Optional(Type.Union([Type.String({ maxLength: 128 }), Type.Null()])),
    public_visible: Type.Optional(Type.Boolean()),
    chat_address: Type.Optional(Address),
  },
  // A field that cannot be changed here (email, suspended, …) is refused, not ignored.
  { additionalProperties: false },
);

const HOUR = 3_600_000;

export default async function authRoutes(app: FastifyInstance) {
  const { accounts, core, presence, live } = app.services;
  const base = '/api/v1/pchat/auth';

  app.post<{ Body: Static<typeof RequestCodeBody> }>(
    `${base}/request-code`,
    {
      schema: { body: RequestCodeBody },
      // With codes exposed, the answer holds the login code: no page of another site may read it (http/cors.ts).
      config: { rateLimit: { max: core.config.codeRequestsPerIpPerHour, timeWindow: HOUR }, crossOrigin: !core.config.devExposeCodes },
    },
    async (req) => ({ success: true, ...(await accounts.requestCode(req.body.email.trim().toLowerCase(), req.body.display_name?.trim() || undefined)) }),
  );

  app.post<{ Body: Static<typeof VerifyCodeBody> }>(
    `${base}/verify-code`,
    { schema: { body: VerifyCodeBody }, config: { rateLimit: { max: core.config.codeVerifiesPerIpPerHour, timeWindow: HOUR } } },
    async (req) => {
      const { closed_sessions, ...out } = await accounts.verifyCode({ ...req.body, email: req.body.email.trim().toLowerCase() });
      if (closed_sessions.length) {
        presence.drop(closed_sessions);
        live.closeSessions(out.user.id, closed_sessions);
      }
      return { success: true, ...out };
    },
  );

  app.get(`${base}/me`, { preHandler: app.requireAuth }, async (req) => {
    // This session as verify-code named it (and presence renamed it since).
    const s = core.projections.session(req.auth.user, req.auth.sid);
    return {
      success: true,
      user: publicUser(req.auth.record),
      session: { id: req.auth.sid, device_name: s?.device_name ?? null, session_name: s?.session_name ?? null, listen_channel: s?.listen_channel ?? null, visible: !s?.hidden },
    };
  });

  app.put<{ Body: Static<typeof UpdateMeBody> }>(
    `${base}/me`,
    { preHandler: app.requireAuth, schema: { body: UpdateMeBody } },
    async (req) => ({ success: true, user: await accounts.updateMe(req.auth, req.body) }),
  );

  app.post(`${base}/logout`, { preHandler: app.requireAuth }, async (req) => {
    const out = await accounts.logout(req.auth, false);
    presence.drop([req.auth.sid]);
    live.closeSessions(req.auth.user, [req.auth.sid]);
    return { success: true, ...out };
  });

  app.post(`${base}/logout-all`, { preHandler: app.requireAuth }, async (req) => {
    const sids = core.projections.sessions(req.auth.user).map((s) => s.sid);
    const out = await accounts.logout(req.auth, true);
    presence.drop(sids);
    live.closeSessions(req.auth.user, sids);
    return { success: true, ...out };
  });
}
