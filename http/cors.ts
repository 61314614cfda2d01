// CORS. The WebChat GUI is pointed at whichever relay its user picks (seed 002: Settings →
// Private Server Relay, and launch links whose --site is not the --relay), so browsers must be
// let to call this relay from any origin. Allowing every origin is safe here because nothing
// rides on cookies: a page gets only what a token it already holds (X-PChat-Session or
// Authorization) gives, so there is no credentials mode. A cross-site form post, which needs
// no preflight, is still refused by the body parsers (http/app.ts).
// A route can opt out with `config: { crossOrigin: false }`: request-code does while
// PCHAT_DEV_EXPOSE_CODES is on, as it then answers with the login code itself, so any page the
// user opens could read it and log in as anyone on a relay only this machine or LAN reaches. That
// answer is not marked readable: a GUI on another site logs in on a relay that mails its codes.
import type { FastifyInstance } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: this route's answers are not marked readable by pages of other sites. */
    crossOrigin?: boolean;
  }
}

const ALLOW_METHODS = 'GET, POST, PUT, DELETE, OPTIONS';
const ALLOW_HEADERS = 'Content-Type, X-PChat-Session, Authorization, Range, If-Range, If-None-Match, Last-Event-ID';
/** What the app reads from answers: limits, file ranges and names. */
const EXPOSE_HEADERS = 'Retry-After, ETag, Content-Range, Content-Disposition, Content-Length, Accept-Ranges';
/** Browsers cache a preflight this long (Chromium caps it at 2 h), not asking before each call. */
const PREFLIGHT_MAX_AGE_S = 7200;

/** On the root instance, before the routes: every answer to a browser's cross-origin request says it may read it. */
export function allowCrossOrigin(app: FastifyInstance) {
  // Until a route opts out, the hook need not look its options up (req.routeOptions is built
  // afresh on each read, some 0.3 µs, on every cross-origin request).
  let optOuts = false;
  app.addHook('onRoute', (route) => {
    if (route.config?.crossOrigin === false) optOuts = true;
  });
  // A callback hook, as the others on every request (see http/app.ts).
  app.addHook('onRequest', (req, reply, done) => {
    if (req.headers.origin !== undefined && !(optOuts && req.routeOptions.config.crossOrigin === false)) {
      reply.header('access-control-allow-origin', '*');
      reply.header('access-control-expose-headers', EXPOSE_HEADERS);
    }
    done();
  });
  // The preflight, for any path: a route that does not exist still answers 404 to the real call.
  app.options('*', (_req, reply) => {
    reply
      .code(204)
      .header('access-control-allow-methods', ALLOW_METHODS)
      .header('access-control-allow-headers', ALLOW_HEADERS)
      .header('access-control-max-age', String(PREFLIGHT_MAX_AGE_S))
      .send();
  });
}
