// Real-time delivery: WebSocket `GET /api/v1/webchat/ws` and SSE `GET /api/v1/webchat/events`.
// Both stream exactly the feed's events from a cursor (docs/realtime.md). A token never goes
// in a URL: the header, or (WebSocket, for browsers) a first `auth` frame.
import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import websocket from '@fastify/websocket';
import type { WebSocket } from 'ws';
import { Ajv, type ValidateFunction } from 'ajv';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Refusal } from '../actors/decision.ts';
import type { Auth } from '../daemon/accounts.ts';
import { LiveSession, type CloseReason, type LiveSink } from '../daemon/live.ts';
import { frameJson } from '../daemon/feed.ts';
import { errorBody } from './errors.ts';
import { sessionToken } from './app.ts';
import { Consumer, SendBody } from './messages.ts';
import { PresenceBody } from './presence.ts';

/** A browser has this long to send its `auth` frame. */
const AUTH_TIMEOUT_MS = 10_000;
/** Close codes (4000–4999 are ours). */
const CLOSE = { unauthorized: 4001, badFrame: 4002, slowConsumer: 4008, draining: 1001, internalError: 1011 } as const;

export const LiveQuery = Type.Object({
  consumer: Type.Optional(Consumer),
  after: Type.Optional(Type.Integer({ minimum: 0 })),
});

/** What a client may put in `ref` to match the answer: a short string or a number (it is echoed back). */
const Ref = Type.Union([Type.String({ maxLength: 128 }), Type.Number()]);
/** How long a connection told to resume may take to close before it is cut (and what is queued to it freed). */
const CLOSE_GRACE_MS = 2_000;
/** When an SSE client refused for a passing reason (a restart) comes back, by default: about a restart's length. */
const SSE_RETRY_SEC = 2;
/** Commands of one connection in progress at once; past this the socket is not read until some are answered. */
const INFLIGHT_MAX = 256;

const Frames = {
  auth: Type.Object({ type: Type.Literal('auth'), session: Type.String({ minLength: 1, maxLength: 200 }), consumer: Type.Optional(Consumer), after: Type.Optional(Type.Integer({ minimum: 0 })) }),
  send: Type.Composite([Type.Omit(SendBody, ['channel']), Type.Object({ type: Type.Literal('send'), channel: Type.Optional(Type.String({ maxLength: 16 })), ref: Type.Optional(Ref) })]),
  ack: Type.Object({ type: Type.Literal('ack'), upto: Type.Integer({ minimum: 0 }), ref: Type.Optional(Ref) }),
  typing: Type.Object({ type: Type.Literal('typing'), to: Type.String({ minLength: 1, maxLength: 64 }), typing: Type.Optional(Type.Boolean()), ref: Type.Optional(Ref) }),
  read: Type.Object({ type: Type.Literal('read'), message_ids: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 500 }), ref: Type.Optional(Ref) }),
  // The heartbeat's own fields, checked as POST /webchat/presence checks them.
  presence: Type.Composite([
    Type.Pick(PresenceBody, ['visible', 'device_name', 'session_name', 'listen_channel']),
    Type.Object({ type: Type.Literal('presence'), ref: Type.Optional(Ref) }),
  ]),
  ping: Type.Object({ type: Type.Literal('ping'), ref: Type.Optional(Ref) }),
} satisfies Record<string, TSchema>;
type FrameType = keyof typeof Frames;

const ajv = new Ajv({ allErrors: false, coerceTypes: false, strict: false, validateSchema: false }); // TypeBox-made schemas (see http/app.ts)
// Compiled on first use, not when the relay starts (start-up time is first-poll latency).
const validators: Partial<Record<FrameType, ValidateFunction>> = {};
const validatorFor = (type: string): ValidateFunction | undefined =>
  Object.hasOwn(Frames, type) ? (validators[type as FrameType] ??= ajv.compile(Frames[type as FrameType])) : undefined;
let validRef: ValidateFunction | undefined;
/** A `ref` as an answer echoes it: only a valid one (a frame refused before validation may carry anything). */
const refOf = (ref: unknown) => ((validRef ??= ajv.compile(Ref))(ref) ? ref : undefined);

/** Any failure as a refusal from the error table, with its status and body (unknown ones are internal). */
function refusalOf(err: unknown) {
  const r = err instanceof Refusal ? err : new Refusal('internal_error');
  return { r, ...errorBody(r.code, r.message === r.code ? undefined : r.message) };
}

function refusalFrame(ref: unknown, err: unknown) {
  const { r, body } = refusalOf(err);
  return { type: 'error', ref, error: body.error, message: body.message, ...(r.retryAfterSec ? { retry_after: r.retryAfterSec } : {}) };
}

/**
 * WebSocket frames per client IP per minute. HTTP requests are limited per IP by
 * @fastify/rate-limit; frames on an open socket never pass through it, so they get the same
 * budget (PCHAT_REQUESTS_PER_IP_PER_MINUTE), counted on their own, in one fixed window for
 * every IP (memory: one number per IP seen this minute).
 */
class FrameBudget {
  private windowStart = Date.now();
  private readonly counts = new Map<string, number>();
  constructor(private readonly perMinute: number) {}

  /** 0: the frame may run; otherwise the seconds until the budget renews. */
  take(ip: string, now = Date.now()): number {
    if (now - this.windowStart >= 60_000) {
      this.windowStart = now;
      this.counts.clear();
    }
    const n = (this.counts.get(ip) ?? 0) + 1;
    this.counts.set(ip, n);
    return n > this.perMinute ? Math.max(1, Math.ceil((this.windowStart + 60_000 - now) / 1000)) : 0;
  }
}

export default async function realtimeRoutes(app: FastifyInstance) {
  const { feed, messaging, presence, accounts, live, core } = app.services;
  const bufferCap = core.config.liveBufferBytes;
  const HEARTBEAT_MS = core.config.heartbeatMs;
  const frameBudget = new FrameBudget(core.config.requestsPerIpPerMinute);
  await app.register(websocket, { options: { maxPayload: core.config.bodyLimitBytes } });

  // One heartbeat for every WebSocket: a ping frame (and a JSON ping), and a socket that did
  // not answer the previous ping is cut.
  const sockets = new Map<WebSocket, { alive: boolean }>();
  const heartbeat = setInterval(() => {
    const at = new Date().toISOString();
    for (const [socket, state] of sockets) {
      if (!state.alive) {
        socket.terminate();
        continue;
      }
      state.alive = false;
      socket.ping();
      socket.send(JSON.stringify({ type: 'ping', at }));
    }
  }, HEARTBEAT_MS);
  heartbeat.unref();
  app.addHook('onClose', async () => clearInterval(heartbeat));
  live.websockets = () => {
    let queued = 0;
    for (const socket of sockets.keys()) queued += socket.bufferedAmount;
    return { open: sockets.size, queued_bytes: queued };
  };

  const start = async (auth: Auth, consumerName: string | undefined, after: number | undefined, sink: LiveSink, close: (why: CloseReason) => void) => {
    const consumer = await feed.openConsumer(auth, consumerName);
    await core.settled(); // the stored cursor as it is on disk (another request's claim may be staged)
    // While it opened, shutdown may have begun or the session logged out (and its connections
    // were closed, this one not yet among them): then it ends as they did.
    if (app.services.draining() || !core.sessionOpen(auth)) {
      close(app.services.draining() ? 'draining' : 'logged_out');
      return () => {};
    }
    feed.assertLiveRoom(auth.user);
    const from = Math.min(after ?? feed.cursor(auth, consumer), core.durableSeq);
    const session = new LiveSession(core, feed, auth, consumer, from, sink, bufferCap, HEARTBEAT_MS / 2);
    live.add(session, close);
    sink.send({ type: 'ready', cursor: from, consumer, chat_address: auth.record.chat_address, heartbeat_ms: HEARTBEAT_MS });
    session.start();
    return () => session.stop();
  };

  app.get<{ Querystring: Static<typeof LiveQuery> }>('/api/v1/webchat/ws', { websocket: true, schema: { querystring: LiveQuery } }, (socket: WebSocket, req: FastifyRequest<{ Querystring: Static<typeof LiveQuery> }>) => {
    const state = { alive: true };
    sockets.set(socket, state);
    socket.on('pong', () => (state.alive = true));
    let auth: Auth | undefined;
    let consumer: string | undefined;
    let stop: (() => void) | undefined;
    const send = (frame: object) => socket.readyState === socket.OPEN && socket.send(frameJson(frame));
    // A command's reply leaves with what its commit pushes to this same socket (a send's own
    // message, receipts that rode the same commit): the socket stays corked until this turn's
    // immediates have run, the pushes among them (queued when the commit woke the readers).
    // One syscall instead of two or three, for the socket and for the client.
    let held = false;
    const sendHeld = (frame: object) => {
      if (!held) {
        held = true;
        req.socket.cork();
        setImmediate(() => {
          held = false;
          req.socket.uncork();
        });
      }
      send(frame);
    };
    // Answers leave in the order the commands came (a ping answered at once waits for the send
    // before it), and never pile up: while more than the buffer cap is queued to the client,
    // or INFLIGHT_MAX commands are in progress, the socket is not read (the client's own
    // frames wait in its TCP queue), until it takes what was sent.
    const answers: { frame?: object | null }[] = [];
    let paused = false;
    const flowControl = () => {
      const over = socket.bufferedAmount > bufferCap || answers.length >= INFLIGHT_MAX;
      if (over && !paused) {
        paused = true;
        socket.pause();
      } else if (!over && paused) {
        paused = false;
        socket.resume();
      }
    };
    req.socket.on('drain', flowControl);
    /** A place in the answer order for the frame just received; `null`: it needs no answer. */
    const slot = () => {
      const entry: { frame?: object | null } = {};
      answers.push(entry);
      flowControl();
      return (frame: object | null) => {
        entry.frame = frame;
        while (answers.length && answers[0].frame !== undefined) {
          const next = answers.shift()!.frame;
          if (next) sendHeld(next);
        }
        flowControl();
      };
    };
    const sink: LiveSink = {
      send,
      batch(write) {
        // Frames written in one push leave in one syscall, not one each.
        req.socket.cork();
        try {
          write();
        } finally {
          req.socket.uncork();
        }
      },
      buffered: () => socket.bufferedAmount,
      resume(cursor, reason) {
        send({ type: 'resume', cursor, reason });
        socket.close(reason === 'slow_consumer' ? CLOSE.slowConsumer : CLOSE.internalError, reason);
        // A client that does not read never answers the close either: what is queued to it is
        // let go after a short grace, not when the heartbeat (or ws's 30 s close timer) ends it.
        setTimeout(() => socket.terminate(), CLOSE_GRACE_MS).unref();
      },
    };
    let gone = false;
    /** Set by `begin`: whether the connection started (false: refused, and closing). */
    let starting: Promise<boolean> | undefined;
    const begin = (a: Auth, name?: string, after?: number) => {
      auth = a;
      consumer = name;
      starting = (async () => {
        try {
          const s = await start(a, name, after, sink, (why) =>
            why === 'logged_out' ? socket.close(CLOSE.unauthorized, 'logged out') : socket.close(CLOSE.draining, 'relay restarting'),
          );
          if (gone) s();
          else stop = s;
          return true;
        } catch (err) {
          send(refusalFrame(undefined, err));
          socket.close(CLOSE.badFrame, 'refused');
          return false;
        }
      })();
    };
    socket.on('close', () => {
      gone = true;
      sockets.delete(socket);
      stop?.();
    });

    const headerToken = sessionToken(req);
    let authTimer: NodeJS.Timeout | undefined;
    if (headerToken) {
      const a = accounts.authenticate(headerToken);
      if (!a) {
        send({ type: 'error', error: 'unauthorized', message: errorBody('unauthorized').body.message });
        socket.close(CLOSE.unauthorized, 'unauthorized');
        return;
      }
      begin(a, req.query.consumer, req.query.after);
    } else {
      authTimer = setTimeout(() => socket.close(CLOSE.unauthorized, 'no auth frame'), AUTH_TIMEOUT_MS);
    }

    socket.on('message', async (data, isBinary) => {
      const answer = slot();
      // Every frame counts, malformed ones too.
      const wait = frameBudget.take(req.ip);
      const limited = (ref: unknown) =>
        refusalFrame(ref, new Refusal('rate_limited', `rate limit: ${core.config.requestsPerIpPerMinute} frames per minute from one address`, wait));
      let frame: { type?: unknown; ref?: unknown } & Record<string, unknown>;
      try {
        if (isBinary) throw new Error('binary');
        frame = JSON.parse(data.toString());
        if (!frame || typeof frame !== 'object' || Array.isArray(frame)) throw new Error('not an object');
      } catch {
        return answer(wait ? limited(undefined) : { type: 'error', error: 'invalid_json', message: 'each frame is one JSON object' });
      }
      if (wait) return answer(limited(refOf(frame.ref)));
      const type = frame.type as FrameType;
      const validate = validatorFor(type);
      if (!validate) {
        return answer({ type: 'error', ref: refOf(frame.ref), error: 'validation_failed', message: `unknown frame type ${JSON.stringify(frame.type)?.slice(0, 64)}` });
      }
      const ref = refOf(frame.ref);
      if (!validate(frame)) {
        const first = validate.errors?.[0];
        return answer({ type: 'error', ref, error: 'validation_failed', message: `frame${(first?.instancePath ?? '').replace(/\//g, '.')} ${first?.message ?? 'is invalid'}` });
      }
      if (!auth) {
        if (type !== 'auth') return answer({ type: 'error', ref, error: 'unauthorized', message: 'send {"type":"auth","session":"pct_…"} first' });
        clearTimeout(authTimer);
        const f = frame as Static<typeof Frames.auth>;
        const a = accounts.authenticate(f.session);
        if (!a) {
          send({ type: 'error', error: 'unauthorized', message: errorBody('unauthorized').body.message });
          socket.close(CLOSE.unauthorized, 'unauthorized');
          return answer(null);
        }
        begin(a, f.consumer, f.after);
        await starting;
        return answer(null); // `ready`, or the refusal, was the answer
      }
      // Frames that came right behind the `auth` frame (or the header) wait for the start:
      // none runs on a connection that is then refused, and `ready` comes first.
      if (starting && !(await starting)) return answer(null);
      try {
        // The account as it is now (renamed, suspended since the socket opened), not as it was;
        // a session closed meanwhile (logout, or the session cap) ends the socket.
        const now = core.currentAuth(auth);
        if (!now) {
          answer({ type: 'error', ref, error: 'unauthorized', message: 'this session was logged out' });
          socket.close(CLOSE.unauthorized, 'unauthorized');
          return;
        }
        auth = now;
        const result = await command(auth, consumer, type, frame);
        answer(ref !== undefined || type === 'send' ? { type: 'ack', ref, for: type, ...result } : null);
      } catch (err) {
        if (!(err instanceof Refusal)) req.log.error({ err }, 'websocket command failed');
        answer(refusalFrame(ref, err));
      }
    });
  });

  async function command(auth: Auth, consumer: string | undefined, type: FrameType, frame: Record<string, unknown>): Promise<Record<string, unknown>> {
    switch (type) {
      case 'auth':
        throw new Refusal('conflict', 'this connection is already authenticated');
      case 'send': {
        const { type: _t, ref: _r, ...body } = frame as Static<typeof Frames.send>;
        return { ...(await messaging.send(auth, body)) };
      }
      case 'ack': {
        return feed.ack(auth, consumer, (frame as Static<typeof Frames.ack>).upto);
      }
      case 'typing': {
        const f = frame as Static<typeof Frames.typing>;
        messaging.typing(auth, f.to, f.typing ?? true);
        return {};
      }
      case 'read':
        return { ...(await messaging.markRead(auth, { message_ids: (frame as Static<typeof Frames.read>).message_ids })) };
      case 'presence': {
        // Only the frame's own fields: anything else (display_name, typing_to) was never checked.
        const { visible, device_name, session_name, listen_channel } = frame as Static<typeof Frames.presence>;
        return { ...(await presence.heartbeat(auth, { visible, device_name, session_name, listen_channel })) };
      }
      case 'ping':
        return { at: new Date().toISOString() };
    }
  }

  app.get<{ Querystring: Static<typeof LiveQuery> }>(
    '/api/v1/webchat/events',
    { preHandler: app.requireAuth, schema: { querystring: LiveQuery } },
    (req, reply) => {
      // An EventSource that reconnects sends the id of the last event it got, on the same URL:
      // that wins over the URL's `after` (which would replay everything since). Digits only.
      const header = req.headers['last-event-id'];
      const lastId = typeof header === 'string' && /^\d{1,15}$/.test(header.trim()) ? Number(header.trim()) : undefined;
      const after = lastId === undefined ? req.query.after : Math.max(lastId, req.query.after ?? 0);
      reply.hijack();
      const raw = reply.raw;
      // The stream's head goes out with its first event (`ready`), so a refusal before it can
      // still be a plain JSON error with its status (see `refuse`). Hijacked, it is written by
      // hand: the headers set before (CORS, rate limit) are carried over.
      const open = () => {
        if (raw.headersSent) return;
        raw.writeHead(200, {
          ...(reply.getHeaders() as OutgoingHttpHeaders),
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        raw.socket?.setNoDelay(true);
      };
      const write = (event: Record<string, unknown>) => {
        if (raw.writableEnded) return;
        open();
        const id = typeof event.seq === 'number' ? `id: ${event.seq}\n` : '';
        raw.write(`${id}event: ${event.type}\ndata: ${frameJson(event)}\n\n`);
      };
      const sink: LiveSink = {
        send: write,
        batch(run) {
          raw.cork();
          try {
            run();
          } finally {
            raw.uncork();
          }
        },
        buffered: () => raw.writableLength,
        resume(cursor, reason) {
          write({ type: 'resume', cursor, reason });
          raw.end();
          // As for the WebSocket: a client that does not read is cut (its queue freed); one that took it all keeps its socket.
          setTimeout(() => raw.writableFinished || raw.destroy(), CLOSE_GRACE_MS).unref();
        },
      };
      let stop: (() => void) | undefined;
      let gone = false;
      const ping = setInterval(() => raw.headersSent && !raw.writableEnded && raw.write(`: ping ${new Date().toISOString()}\n\n`), HEARTBEAT_MS);
      raw.on('close', () => {
        gone = true;
        clearInterval(ping);
        stop?.();
      });
      const refuse = (err: unknown) => {
        const { r, status, body } = refusalOf(err);
        // A browser's EventSource gives up for good on a non-200 answer: a refusal that passes
        // (a restart, the account's connection cap) is a stream that says when to come back.
        const passing = status === 503 || status === 429;
        if (!raw.headersSent && !passing) {
          raw.writeHead(status, { ...(reply.getHeaders() as OutgoingHttpHeaders), 'content-type': 'application/json; charset=utf-8', ...(r.retryAfterSec ? { 'retry-after': String(r.retryAfterSec) } : {}) });
          raw.end(JSON.stringify(body));
          return;
        }
        if (!raw.headersSent) {
          open();
          raw.write(`retry: ${(r.retryAfterSec ?? SSE_RETRY_SEC) * 1000}\n\n`);
        }
        write(refusalFrame(undefined, err));
        raw.end();
      };
      const close = (why: CloseReason) => {
        if (raw.headersSent) raw.end();
        else refuse(why === 'draining' ? new Refusal('draining') : new Refusal('unauthorized', 'this session was logged out'));
      };
      start(req.auth, req.query.consumer, after, sink, close).then((s) => (gone ? s() : (stop = s)), refuse);
    },
  );
}
