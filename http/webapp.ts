// The browser app (web/ built to web/dist) at /app/webchat/, and `/` redirecting to it.
// Every answer of this plugin carries a strict Content-Security-Policy: scripts and styles
// only from this origin, no inline script, no eval, no framing.
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const WEBAPP_PREFIX = '/app/webchat/';
export const WEBAPP_ENTRY = `${WEBAPP_PREFIX}chat.html`;
const DIST = fileURLToPath(new URL('../web/dist/', import.meta.url));

// connect-src allows other https/wss origins because the app can be pointed at a private relay.
export const WEBAPP_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob:",
  "connect-src 'self' https: wss:",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export default async function webappRoutes(app: FastifyInstance) {
  app.get('/', async (_req, reply) => reply.redirect(WEBAPP_ENTRY, 302));

  await app.register(async (scope) => {
    scope.addHook('onSend', async (req, reply) => {
      reply.header('content-security-policy', WEBAPP_CSP);
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'no-referrer');
      // The entry page must never be stale after an upgrade; hashed assets may be cached.
      const hashed = req.url.startsWith(`${WEBAPP_PREFIX}assets/`) && reply.statusCode === 200;
      reply.header('cache-control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache');
    });
    if (!existsSync(DIST)) {
      scope.get(`${WEBAPP_PREFIX}*`, async (_req, reply) =>
        reply.code(503).type('text/plain').send('The browser app is not built. Run `npm run build:web` (npm start does it for you).'),
      );
      return;
    }
    scope.get(WEBAPP_PREFIX.slice(0, -1), async (_req, reply) => reply.redirect(WEBAPP_ENTRY, 302));
    await scope.register(fastifyStatic, {
      root: DIST,
      prefix: WEBAPP_PREFIX,
      index: ['chat.html'],
      cacheControl: false,
    });
  });
}
