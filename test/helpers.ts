// Test helpers: a real relay on a loopback port with a temp data dir, and a tiny client.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer } from 'node:net';
import { Writable } from 'node:stream';
import WebSocket from 'ws';
import { loadConfig, type Config } from '../daemon/config.ts';
import { createLogger } from '../daemon/logger.ts';
import { startRelay, type Relay } from '../daemon/relay.ts';
import type { Core } from '../daemon/core.ts';
import type { Journal } from '../journal/journal.ts';

export interface TestRelay {
  relay: Relay;
  url: string;
  dir: string;
  config: Config;
  /** Every log line the relay wrote, parsed. */
  logs: Record<string, unknown>[];
  api: <T = any>(method: string, path: string, body?: unknown, token?: string, headers?: Record<string, string>) => Promise<ApiResponse<T>>;
  login: (email: string, opts?: Record<string, unknown>) => Promise<{ token: string; user: any; session: any }>;
  stop: () => Promise<void>;
  /** Stops the relay and starts it again on the same data dir and port. */
  restart: (env?: Record<string, string>) => Promise<void>;
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export function tempDir(prefix = 'pchat-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Runs `fn` with a fresh temp dir, removed afterwards whatever happens. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = tempDir();
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Moves the clock of everything in this process (a relay started in-process included) `ms`
 * ahead of real time, from now until `restore()`; calls replace each other's shift.
 */
export const clock = {
  real: Date.now,
  shift(ms: number) {
    const real = clock.real;
    Date.now = () => real() + ms;
  },
  restore() {
    Date.now = clock.real;
  },
};

export function testConfig(dir: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    PCHAT_DATA_DIR: join(dir, 'data'),
    PCHAT_UPLOAD_DIR: join(dir, 'uploads'),
    PCHAT_DEV_EXPOSE_CODES: 'true',
    LOG_LEVEL: 'info',
    ...env,
  });
}

export async function request<T = any>(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
  headers: Record<string, string> = {},
): Promise<ApiResponse<T>> {
  const h: Record<string, string> = { ...headers };
  if (token) h['x-pchat-session'] = token;
  let payload: string | undefined;
  if (body !== undefined) {
    payload = typeof body === 'string' ? body : JSON.stringify(body);
    h['content-type'] ??= 'application/json';
  }
  let res: Response;
  try {
    res = await fetch(base + path, { method, headers: h, body: payload });
  } catch (err) {
    // A keep-alive socket to a relay that was just restarted on this port can be found dead
    // only when used; the request never reached a server, so it is sent once more.
    const code = ((err as Error).cause as { code?: string } | undefined)?.code;
    if (code !== 'UND_ERR_SOCKET' && code !== 'ECONNRESET') throw err;
    res = await fetch(base + path, { method, headers: h, body: payload });
  }
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** A relay in this process (services called directly, no HTTP), with a way to log users in; in `keepDir` if given (kept on stop). */
export async function startInProcessRelay(prefix = 'pchat-inproc-', keepDir?: string) {
  const dir = keepDir ?? tempDir(prefix);
  const config = testConfig(dir, { PCHAT_FREE_MODE_ENABLED: 'true', LOG_LEVEL: 'error' });
  const relay = await startRelay(config, createLogger('error'));
  const { accounts } = relay.services;
  /** Logs `address` in (address@t.invalid) and returns its Auth. */
  const user = async (address: string) => {
    const email = `${address}@t.invalid`;
    const { dev_code } = await accounts.requestCode(email);
    const { token } = await accounts.verifyCode({ email, code: dev_code!, chat_address: address });
    return accounts.authenticate(token)!;
  };
  const stop = async () => {
    await relay.close();
    if (!keepDir) rmSync(dir, { recursive: true, force: true });
  };
  return { relay, user, stop };
}

export async function startTestRelay(env: Record<string, string> = {}): Promise<TestRelay> {
  const dir = tempDir();
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line.trim()) logs.push(JSON.parse(line));
      cb();
    },
  });
  let config = testConfig(dir, env);
  let relay = await startRelay(config, createLogger(config.logLevel, sink));
  const t: TestRelay = {
    relay,
    url: relay.url,
    dir,
    config,
    logs,
    api: (method, path, body, token, headers) => request(t.url, method, path, body, token, headers),
    async login(email, opts = {}) {
      const req = await t.api('POST', '/api/v1/pchat/auth/request-code', { email, purpose: 'login' });
      if (req.status !== 200) throw new Error(`request-code ${req.status} ${JSON.stringify(req.body)}`);
      const ver = await t.api('POST', '/api/v1/pchat/auth/verify-code', { email, code: req.body.dev_code, ...opts });
      if (ver.status !== 200) throw new Error(`verify-code ${ver.status} ${JSON.stringify(ver.body)}`);
      return { token: ver.body.session_token, user: ver.body.user, session: ver.body.session };
    },
    async stop() {
      await t.relay.close();
      rmSync(dir, { recursive: true, force: true });
    },
    async restart(extra = {}) {
      await t.relay.close();
      // Let the client notice its keep-alive sockets were closed before reusing the port.
      await new Promise((r) => setTimeout(r, 20));
      const port = new URL(t.url).port;
      config = testConfig(dir, { ...env, PORT: port, ...extra });
      relay = await startRelay(config, createLogger(config.logLevel, sink));
      t.relay = relay;
      t.config = config;
      t.url = relay.url;
    },
  };
  return t;
}

export interface WsClient {
  ws: WebSocket;
  frames: any[];
  /** Resolves with the first frame (already received or coming) that matches, past `from`. */
  next: (pred: (f: any) => boolean, ms?: number) => Promise<any>;
  /** Sends a frame. */
  send: (frame: unknown) => void;
  closed: Promise<{ code: number; reason: string }>;
  close: () => Promise<void>;
}

/** A real `ws` client on the relay's WebSocket; `token` goes in the header when given. */
export function openWs(base: string, opts: { token?: string; query?: string } = {}): Promise<WsClient> {
  const url = `${base.replace(/^http/, 'ws')}/api/v1/webchat/ws${opts.query ? `?${opts.query}` : ''}`;
  const ws = new WebSocket(url, { headers: opts.token ? { 'x-pchat-session': opts.token } : {} });
  const frames: any[] = [];
  const waiting = new Set<() => void>();
  ws.on('message', (data) => {
    frames.push(JSON.parse(String(data)));
    for (const w of [...waiting]) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  const client: WsClient = {
    ws,
    frames,
    closed,
    send: (frame) => ws.send(JSON.stringify(frame)),
    next(pred, ms = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const f = frames.find(pred);
          if (f) {
            waiting.delete(check);
            clearTimeout(timer);
            resolve(f);
          }
        };
        const timer = setTimeout(() => {
          waiting.delete(check);
          reject(new Error(`no matching frame in ${ms} ms; got ${JSON.stringify(frames).slice(0, 2000)}`));
        }, ms);
        waiting.add(check);
        check();
      });
    },
    async close() {
      if (ws.readyState !== ws.CLOSED) ws.close();
      await closed;
    },
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('error', reject);
  });
}

/** Polls `fn` until it returns a truthy value (bounded by `ms`). */
export async function eventually<T>(fn: () => T | Promise<T>, ms = 5000, step = 20): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, step));
  }
}

/** A port nobody listens on right now (for spawned relays). */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * A request half sent when the relay starts draining (its connection is busy, so it is not
 * closed as idle) and finished during the drain: `head` goes first, `rest` once `t.stop()` has
 * begun. Resolves with the raw answer (status line, headers, body) and its parsed JSON body, once both are done.
 */
export async function requestDuringDrain(t: TestRelay, head: string, rest: string): Promise<{ raw: string; body: any }> {
  const { hostname, port } = new URL(t.url);
  const socket = connect(Number(port), hostname);
  await new Promise((r) => socket.once('connect', r));
  let raw = '';
  socket.on('data', (d) => (raw += d));
  const closed = new Promise((r) => socket.once('close', r));
  socket.write(head);
  await new Promise((r) => setTimeout(r, 50));
  const stopping = t.stop();
  socket.write(rest);
  await closed;
  await stopping;
  return { raw, body: JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) };
}

/** The journal's next commit fails with `message` once it has run (a disk that filled at its flush); later ones go through. */
export function failNextCommit(journal: Journal, message: string) {
  const commit = journal.commit.bind(journal);
  let failNext = true;
  journal.commit = () => {
    if (!failNext) return commit();
    failNext = false;
    return commit().then(() => Promise.reject(new Error(message)));
  };
}

/**
 * For a test of a failed journal commit: `process.exit` records its codes in `exits` instead of
 * exiting. `restore()` puts it back and clears `core`'s fault (it did not exit here: let it close).
 */
export function catchExits(core: Core): { exits: (number | undefined)[]; restore: () => void } {
  const exit = process.exit;
  const exits: (number | undefined)[] = [];
  process.exit = ((code?: number) => void exits.push(code)) as typeof process.exit;
  return {
    exits,
    restore() {
      process.exit = exit;
      (core as unknown as { fault?: string }).fault = undefined;
    },
  };
}
