// The Fastify front: validation (TypeBox schemas, strict types for bodies), one error
// handler over http/errors.ts, per-IP rate limits, session authentication, and the route
// plugins. Routes stay thin: parse → authorize → call the service → map the reply.
import { STATUS_CODES } from 'node:http';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { Ajv, type ValidateFunction } from 'ajv';
import sjson from 'secure-json-parse';
import type { Logger } from 'pino';
import { Refusal } from '../actors/decision.ts';
import type { Auth } from '../daemon/accounts.ts';
import type { Services } from '../daemon/relay.ts';
import { errorBody } from './errors.ts';
import { allowCrossOrigin } from './cors.ts';
import authRoutes from './auth.ts';
import healthRoutes from './health.ts';
import messageRoutes from './messages.ts';
import presenceRoutes from './presence.ts';
import groupRoutes from './groups.ts';
import callbackRoutes from './callbacks.ts';
import realtimeRoutes from './realtime.ts';
import fileRoutes from './files.ts';
import translateRoutes from './translate.ts';
import webappRoutes from './webapp.ts';

declare module 'fastify' {
  interface FastifyRequest {
    auth: Auth;
  }
  interface FastifyInstance {
    services: Services;
    requireAuth: (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void;
  }
  interface FastifyContextConfig {
    /** true: this route answers while the relay drains (others are refused with `draining`). */
    whileDraining?: boolean;
  }
}

export function sessionToken(req: FastifyRequest): string | undefined {
  const header = req.headers['x-pchat-session'];
  if (typeof header === 'string' && header) return header.trim();
  const authz = req.headers.authorization;
  if (authz?.startsWith('Bearer ')) return authz.slice(7).trim();
  return undefined;
}

export function sendError(reply: FastifyReply, code: string, message?: string, retryAfterSec?: number) {
  const { status, body } = errorBody(code, message);
  if (retryAfterSec) reply.header('Retry-After', String(retryAfterSec));
  return reply.code(status).send(body);
}

export async function buildApp(services: Services, log: Logger): Promise<FastifyInstance> {
  const { config } = services.core;
  const app = Fastify({
    loggerInstance: log,
    // One line per request would dominate the log of a busy relay; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimitBytes,
    // Behind the proxies named in PCHAT_TRUST_PROXY, req.ip (and so every per-IP limit) is the client's.
    trustProxy: config.trustProxy ?? false,
    // Off: Fastify's own 503 has its own body; the onRequest hook below answers a request
    // that arrives while draining with `draining` in the error envelope instead.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // Parked long-polls hold a request up to 30 s; the proxy in front decides the rest.
    requestTimeout: 0,
    // A request that cannot even be parsed (bad framing, a body shorter than its length,
    // oversized headers) is answered in the same envelope as every other error.
    clientErrorHandler(err: NodeJS.ErrnoException, socket) {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      const code = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request_timeout' : err.code === 'HPE_HEADER_OVERFLOW' ? 'headers_too_large' : 'bad_request';
      const { status, body } = errorBody(code, code === 'bad_request' ? `the request could not be parsed as HTTP (${err.code ?? 'malformed'})` : undefined);
      const text = JSON.stringify(body);
      if (socket.writable) {
        socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(text)}\r\nContent-Type: application/json; charset=utf-8\r\n\r\n${text}`);
      }
      socket.destroy(err);
    },
  });

  // Bodies are validated strictly (a "5" is not a number); query strings are coerced.
  // validateSchema off: the schemas come from TypeBox, and checking them would first compile
  // the JSON Schema meta-schema (~20 ms, on the first request after a start).
  const strict = new Ajv({ allErrors: false, coerceTypes: false, useDefaults: true, removeAdditional: false, strict: false, validateSchema: false });
  const coercing = new Ajv({ allErrors: false, coerceTypes: true, useDefaults: true, removeAdditional: false, strict: false, validateSchema: false });
  // Each schema is compiled on its route's first request: compiling them all up front was most
  // of the relay's start-up CPU, and a restarted relay should answer its first poll at once.
  app.setValidatorCompiler(({ schema, httpPart }) => {
    const ajv = httpPart === 'body' ? strict : coercing;
    let compiled: ValidateFunction | undefined;
    const validate = (data: unknown) => {
      compiled ??= ajv.compile(schema);
      const ok = compiled(data);
      validate.errors = compiled.errors;
      return ok;
    };
    validate.errors = null as ValidateFunction['errors'];
    return validate;
  });

  // Our own JSON parser, so a poisoned body is explained as such (Fastify's hides why). An
  // empty body is no body (see the preValidation hook below).
  const parseJson = (text: string, done: (err: Error | null, body?: unknown) => void) => {
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, sjson.parse(text, { protoAction: 'error', constructorAction: 'error' }));
    } catch (err) {
      const poisoned = !(err instanceof SyntaxError);
      done(new Refusal('invalid_json', poisoned ? 'the body contains a forbidden key (__proto__ or constructor.prototype)' : `the body is not valid JSON: ${(err as Error).message}`), undefined);
    }
  };
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => parseJson(body as string, done));
  // `curl -d '{…}'` without a Content-Type sends form-urlencoded (the seed's own examples do):
  // a JSON body is read as JSON whatever the label; anything else is not something we take.
  // Not from a web page, though: a browser sends these types cross-site without asking first
  // (no CORS preflight), and with an Origin header; a page's JSON comes as application/json.
  app.addContentTypeParser(['application/x-www-form-urlencoded', 'text/plain'], { parseAs: 'string' }, (req, body, done) => {
    if (req.headers.origin !== undefined) return done(new Refusal('unsupported_media_type', 'from a web page, send JSON with Content-Type: application/json'), undefined);
    const text = (body as string).trim();
    if (text === '' || text.startsWith('{') || text.startsWith('[')) return parseJson(text, done);
    done(new Refusal('unsupported_media_type', 'send the body as JSON (Content-Type: application/json)'), undefined);
  });

  app.decorate('services', services);
  app.decorateRequest('auth', null as unknown as Auth);
  app.decorate('requireAuth', (req: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void) => {
    let auth: Auth | null;
    try {
      auth = services.accounts.authenticate(sessionToken(req));
    } catch (err) {
      return done(err as Error);
    }
    if (!auth) return done(new Refusal('unauthorized'));
    req.auth = auth;
    done();
  });

  // First, so that every answer (a refusal while draining too) is readable by a GUI on another site.
  allowCrossOrigin(app as unknown as FastifyInstance);

  // Callback hooks, not async ones: they run on every request, and an async hook costs a
  // promise and a microtask turn each time.
  app.addHook('onRequest', (req, reply, done) => {
    // A route that answers for itself while draining says so (/health: 503 with the journal's state and why).
    if (services.draining() && !req.routeOptions.config.whileDraining) return sendError(reply, 'draining');
    done();
  });
  // A POST with no body has an empty one: the seeds list routes whose fields are all optional
  // without a body (`POST …/poll`, `…/join-requests`), and a schema alone refuses a missing body
  // ("body must be object"). A route that needs a field still says which; a PUT (an update)
  // still has to say what it changes.
  app.addHook('preValidation', (req, _reply, done) => {
    if (req.body === undefined && req.method === 'POST' && req.routeOptions.schema?.body) req.body = {};
    done();
  });
  // While draining, answers close their keep-alive connection so shutdown need not wait for it.
  app.addHook('onSend', (req, reply, payload, done) => {
    if (services.draining()) reply.header('connection', 'close');
    // Reads answer from durable state only: a GET's answer, once computed, waits for the
    // commit holding every write it could have seen (one batch: a few ms under load), so it
    // never shows a write a crash could still take back. (Feed reads are bounded by the
    // durable seq themselves; writes answer after their own commit; SSE is hijacked.)
    const settled = req.method === 'GET' && reply.statusCode < 400 && req.url.startsWith('/api/') ? services.core.settled() : undefined;
    if (!settled) return done(null, payload);
    settled.then(() => done(null, payload), (err: Error) => done(err));
  });

  app.setErrorHandler((err: any, req, reply) => {
    if (err instanceof Refusal) return sendError(reply, err.code, err.message === err.code ? undefined : err.message, err.retryAfterSec);
    if (err.validation) {
      const first = err.validation[0];
      const where = `${err.validationContext ?? 'body'}${first?.instancePath ?? ''}`.replace(/\//g, '.');
      return sendError(reply, 'validation_failed', `${where} ${first?.message ?? 'is invalid'}`);
    }
    switch (err.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return sendError(reply, 'body_too_large', `the body is larger than ${config.bodyLimitBytes} bytes`);
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return sendError(reply, 'unsupported_media_type');
    }
    if (err.statusCode === 429) return sendError(reply, 'rate_limited', err.message);
    if (err.statusCode === 503) return sendError(reply, 'draining');
    // A session token in a URL (an auto-login link to the app) never reaches the log.
    req.log.error({ err, url: req.url.replace(/pct_[A-Za-z0-9_-]+/g, 'pct_[redacted]') }, 'request failed');
    return sendError(reply, 'internal_error');
  });

  app.setNotFoundHandler((req, reply) => sendError(reply, 'route_not_found', `no route ${req.method} ${req.url.split('?')[0]}`));

  await app.register(rateLimit, {
    global: true,
    max: config.requestsPerIpPerMinute,
    timeWindow: 60_000,
    errorResponseBuilder: (_req, ctx) => {
      const err = Object.assign(new Error(`rate limit: ${ctx.max} requests per ${ctx.after}`), { statusCode: 429 });
      return err;
    },
  });

  await app.register(healthRoutes);
  await app.register(authRoutes);
  await app.register(presenceRoutes);
  await app.register(messageRoutes);
  await app.register(groupRoutes);
  await app.register(callbackRoutes);
  await app.register(realtimeRoutes);
  await app.register(fileRoutes);
  await app.register(translateRoutes);
  await app.register(webappRoutes);
  return app as unknown as FastifyInstance;
}
