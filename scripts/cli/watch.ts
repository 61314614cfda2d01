// --watch: presence on, then the inbox as a stream — WebSocket first (docs/realtime.md),
// long-poll when the relay has no WebSocket — with reconnects and backoff. The persona's cursor
// is stored after every printed batch and sent as `after` on every (re)connect, so a restart
// neither loses nor repeats an event. SIGINT / SIGTERM: presence off, then exit 0.
import WebSocket from 'ws';
import type { Options } from './args.ts';
import { CliError, EXIT } from './errors.ts';
import { networkReason } from './http.ts';
import { Reader, type PollAnswer } from './inbox.ts';
import type { Printer } from './format.ts';
import { presenceBody, relogin, type Session } from './session.ts';

/** A third of the relay's 60 s presence window: two heartbeats may be lost before we look offline. */
export const HEARTBEAT_MS = 20_000;
/** Long-poll park time; under the relay's 30 s cap and typical proxy idle timeouts. */
export const LONGPOLL_WAIT_MS = 25_000;
/** Events per long-poll answer. */
const POLL_BATCH = 100;
/** Reconnect backoff stops growing here. */
export const MAX_BACKOFF_MS = 30_000;
/** A WebSocket with no frame and no pong for this long is dead (the relay pings every 25 s). */
const WS_IDLE_MS = 60_000;
/** Offline presence on stop must not hang the exit. */
const OFFLINE_TIMEOUT_MS = 5_000;

class WsUnavailable extends Error {}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

export async function watch(s: Session, o: Options, printer: Printer): Promise<void> {
  const reader = new Reader(s, printer);
  const stop = new AbortController();
  let stopping = false;
  let ws: WebSocket | undefined;
  let wsUnavailable = o.transport === 'poll';
  let announced = false;

  const onSignal = (sig: string) => {
    if (stopping) process.exit(130);
    stopping = true;
    printer.status({ type: 'stopping', signal: sig }, `webchat-cli: ${sig}: going offline`);
    stop.abort();
    ws?.close(1000, 'client stopping');
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  // The reader of stdout went away (`| grep -m1 …` got its line): stop as on a signal, offline.
  const onStdoutClosed = () => !stopping && onSignal('stdout closed');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  process.stdout.on('error', onStdoutClosed);

  const ready = (transport: string) => {
    const p = s.persona;
    printer.status(
      { type: 'ready', transport, chat_address: p.chat_address, cursor: p.cursor ?? null },
      `webchat-cli: watching ${p.chat_address} via ${transport}${announced ? ' (reconnected)' : ''} — Ctrl-C to stop`,
    );
    announced = true;
  };

  // 401 anywhere: the token expired or was revoked — log in again (or fail with one line).
  const withLogin = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof CliError && err.status === 401 && !stopping) {
        await relogin(s, o);
        return fn();
      }
      throw err;
    }
  };

  const heartbeat = () => withLogin(() => s.client.call('POST', '/api/v1/webchat/presence', presenceBody(s.persona, true)));
  await heartbeat();
  let heartbeatFailing = false;
  const hbTimer = setInterval(() => {
    heartbeat().then(
      () => (heartbeatFailing = false),
      (err: Error) => {
        if (err instanceof CliError && err.exitCode === EXIT.auth) return fatal(err);
        if (!heartbeatFailing && !stopping) process.stderr.write(`webchat-cli: presence heartbeat failed: ${err.message}\n`);
        heartbeatFailing = true;
      },
    );
  }, HEARTBEAT_MS);
  let fatalError: Error | undefined;
  const fatal = (err: Error) => {
    fatalError = err;
    stop.abort();
    ws?.terminate();
  };

  const runPoll = async () => {
    ready('long-poll');
    while (!stop.signal.aborted) {
      const started = Date.now();
      let r: PollAnswer;
      try {
        r = await withLogin(() =>
          s.client.call<PollAnswer>('POST', '/api/v1/webchat/poll', reader.pollBody(POLL_BATCH, LONGPOLL_WAIT_MS), {
            timeoutMs: LONGPOLL_WAIT_MS + 15_000,
            signal: stop.signal,
          }),
        );
      } catch (err) {
        if (stop.signal.aborted) return;
        throw err;
      }
      reader.take(r.events, r.cursor);
      backoff = 0;
      // A relay that cannot park a poll answers at once; do not spin.
      if (r.events.length === 0 && Date.now() - started < 1000) await sleep(o.interval * 1000, stop.signal);
    }
  };

  const runWs = () =>
    new Promise<void>((resolve, reject) => {
      const cursor = s.persona.cursor;
      const url = `${s.client.base.replace(/^http/, 'ws')}/api/v1/webchat/ws${cursor !== undefined ? `?after=${cursor}` : ''}`;
      const sock = new WebSocket(url, { headers: { 'x-pchat-session': s.client.token ?? '' }, handshakeTimeout: 10_000 });
      ws = sock;
      let alive = true;
      let ackTimer: NodeJS.Immediate | undefined;
      let closeReason: Error | undefined;
      const idle = setInterval(() => {
        if (!alive) return sock.terminate();
        alive = false;
        if (sock.readyState === WebSocket.OPEN) sock.ping();
      }, WS_IDLE_MS / 2);
      sock.on('pong', () => (alive = true));
      sock.on('unexpected-response', (_req, res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        if (status === 401) closeReason = new CliError('session token refused', EXIT.auth, 'unauthorized', 401);
        else if (status === 404 || status === 400 || status === 426) closeReason = new WsUnavailable(`HTTP ${status} on upgrade`);
        else closeReason = new Error(`HTTP ${status} on WebSocket upgrade`);
        sock.terminate();
      });
      sock.on('error', (err) => {
        closeReason ??= new Error(networkReason({ name: err.name, message: err.message, cause: err }));
      });
      sock.on('message', (data) => {
        alive = true;
        let frame: any;
        try {
          frame = JSON.parse(String(data));
        } catch {
          return;
        }
        switch (frame.type) {
          case 'ready':
            backoff = 0;
            ready('websocket');
            return;
          case 'ping':
          case 'ack':
            return;
          case 'resume':
            closeReason = new Error(`relay asked to resume (${frame.reason ?? 'no reason'})`);
            sock.close(1000);
            return;
          case 'error':
            process.stderr.write(`webchat-cli: relay: ${frame.message ?? frame.error}\n`);
            return;
        }
        if (typeof frame.seq !== 'number') return;
        reader.take([frame]);
        // One ack per burst: the relay's stored cursor follows what we printed.
        ackTimer ??= setImmediate(() => {
          ackTimer = undefined;
          if (sock.readyState === WebSocket.OPEN && s.persona.cursor !== undefined) sock.send(JSON.stringify({ type: 'ack', upto: s.persona.cursor }));
        });
      });
      sock.on('close', (code, why) => {
        clearInterval(idle);
        if (ws === sock) ws = undefined;
        if (stop.signal.aborted) return resolve();
        // 4001: the relay took the upgrade but not the token (expired, or the session logged out).
        if (code === 4001) closeReason ??= new CliError('session token refused', EXIT.auth, 'unauthorized', 401);
        reject(closeReason ?? new Error(`connection closed (${code}${why.length ? ` ${why}` : ''})`));
      });
    });

  let backoff = 0;
  try {
    while (!stop.signal.aborted) {
      try {
        if (wsUnavailable) await runPoll();
        else await runWs();
      } catch (err) {
        if (stop.signal.aborted) break;
        if (err instanceof WsUnavailable) {
          if (o.transport === 'ws') throw new CliError(`the relay at ${s.client.base} has no WebSocket (${err.message})`, EXIT.refused);
          wsUnavailable = true;
          printer.status({ type: 'transport', transport: 'long-poll', reason: err.message }, `webchat-cli: no WebSocket on this relay (${err.message}); using long-poll`);
          continue;
        }
        if (err instanceof CliError && err.status === 401) {
          await relogin(s, o);
          continue;
        }
        if (err instanceof CliError && err.exitCode !== EXIT.unreachable && err.status !== undefined && err.status < 500 && err.status !== 429) throw err;
        const base = Math.max(100, o.interval * 1000);
        backoff = Math.min(MAX_BACKOFF_MS, backoff ? backoff * 2 : base);
        const wait = Math.round(backoff * (0.8 + Math.random() * 0.4));
        printer.status(
          { type: 'reconnecting', reason: (err as Error).message, in_ms: wait },
          `webchat-cli: ${(err as Error).message}; reconnecting in ${(wait / 1000).toFixed(1)} s`,
        );
        await sleep(wait, stop.signal);
      }
    }
  } finally {
    clearInterval(hbTimer);
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    process.stdout.off('error', onStdoutClosed);
  }
  if (fatalError) throw fatalError;

  try {
    await s.client.call('POST', '/api/v1/webchat/presence', presenceBody(s.persona, false), { timeoutMs: OFFLINE_TIMEOUT_MS });
    printer.status({ type: 'stopped', presence: 'offline' }, 'webchat-cli: offline');
  } catch (err) {
    throw new CliError(`stopped, but could not set presence offline: ${(err as Error).message}`, EXIT.unreachable);
  }
}
