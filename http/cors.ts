// CORS. The WebChat GUI is pointed at whichever relay its user picks (seed 002: Settings →
// Private Server Relay, and launch links whose --site is not the --relay), so browsers must be
// let to call this relay from any origin. Allowing every origin is safe here because nothing
// rides on cookies: a page gets only what a token it already holds (X-PChat-Session or
// Authorization) gives, so there is no credentials mode. A cross-site form post, which needs
// no preflight, is still refused by the body parsers (http/app.ts).
// One exception: with PCHAT_DEV_EXPOSE_CODES on, request-code answers with the login code itself,
// so any page the user opens could read it and log in as anyone on a relay only this machine or
// LAN reaches. That answer is not marked readable: a GUI on another site logs in on a relay that
// mails its codes.
import type { FastifyInstance } from 'fastify';

const ALLOW_METHODS = 'GET, POST, PUT, DELETE, OPTIONS';
const ALLOW_HEADERS = 'Content-Type, X-PChat-Session, Authorization, Range, If-Range, If-None-Match, Last-Event-ID';
/** What the app reads from answers: limits, file ranges and names. */
const EXPOSE_HEADERS = 'Retry-After, ETag, Content-Range, Content-Disposition, Content-Length, Accept-Ranges';
/** Browsers cache a preflight this long (Chromium caps it at 2 h), not asking before each call. */
const PREFLIGHT_MAX_AGE_S = 7200;

/** The route whose answer carries the login code when codes are exposed. */
const REQUEST_CODE_ROUTE = '/api/v1/pchat/auth/request-code';

/** On the root instance: every answer to a browser's cross-origin request says it may read it. */
export function allowCrossOrigin(app: FastifyInstance, opts: { codesExposed: boolean }) {
  // A callback hook, as the others on every request (see http/app.ts).
  app.addHook('onRequest', (req, reply, done) => {
    if (req.headers.origin !== undefined && !(opts.codesExposed && req.routeOptions.url === REQUEST_CODE_ROUTE)) {
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
