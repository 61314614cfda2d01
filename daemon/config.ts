// Relay configuration: environment first, then `.env.local`, then the defaults below.
// Every default is a named constant with the reason it has that value. A bad value stops
// start-up with one line naming the variable (ConfigError), never a silent fallback.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';

/** Loopback only: a fresh install must not be reachable from the LAN until the operator says so. */
export const DEFAULT_HOST = '127.0.0.1';
/** The port the seed's clients and docs use. */
export const DEFAULT_PORT = 5110;
/** Embedded journal beside the checkout, as the seed's `./data`. */
export const DEFAULT_DATA_DIR = './data';
/** The seed's upload folder name. */
export const DEFAULT_UPLOAD_DIR = './pchat_uploads';
/** The public relay lets any email sign up; private relays turn this off after onboarding. */
export const DEFAULT_FREE_MODE = true;
/** Codes in API responses are for development only; never the default. */
export const DEFAULT_DEV_EXPOSE_CODES = false;
/** Submission port with STARTTLS is what most providers offer. */
export const DEFAULT_SMTP_PORT = 587;
/** Room for a long message plus JSON framing; uploads have their own limit. */
export const DEFAULT_BODY_LIMIT_BYTES = 256 * 1024;
/** Long enough for a pasted log or a model's answer, short enough to render on a phone. */
export const DEFAULT_TEXT_MAX_CHARS = 32_000;
/** Bounds restart time: at most this many events are replayed to hydrate one actor. */
export const DEFAULT_SNAPSHOT_EVERY = 200;
/** Idle actors are dropped from memory after this; they reload from the journal on use. */
export const DEFAULT_ACTOR_IDLE_MS = 10 * 60_000;
/** The seed's heartbeat window: a session is online this long after its last heartbeat. */
export const DEFAULT_PRESENCE_WINDOW_MS = 60_000;
/** Seed's cap on `wait_ms`; longer parks get cut by proxies anyway. */
export const DEFAULT_LONGPOLL_MAX_MS = 30_000;
/** The most PCHAT_LONGPOLL_MAX_MS may be, and so the most a poll's `wait_ms` may ask (it waits at most the setting). */
export const LONGPOLL_MAX_MS_LIMIT = 120_000;
/** Distinct reporters needed before an address is suspended from sending. */
export const DEFAULT_AUTO_BLOCK_THRESHOLD = 3;
/** Per-IP budget for request-code: enough for a family behind one NAT, not for a spray. */
export const DEFAULT_CODE_REQUESTS_PER_IP_PER_HOUR = 30;
/** Per-IP budget for verify-code: a typo or two per login, not a brute force. */
export const DEFAULT_CODE_VERIFIES_PER_IP_PER_HOUR = 60;
/** Per-IP budget for every other route: a flood guard, not a quota — a LAN box or a reverse
 * proxy puts many agents behind one address. */
export const DEFAULT_REQUESTS_PER_IP_PER_MINUTE = 120_000;
/** 50 MiB matches the upload cap the seed's clients expect. */
export const DEFAULT_UPLOAD_MAX_BYTES = 50 * 1024 * 1024;
/** Loop guard: back-and-forth answers, each within the window, before the relay stops a pair.
 * People rarely trade 50 messages without a 30 s pause; two bots do it in a second. */
export const DEFAULT_LOOP_MAX_HOPS = 50;
/** Loop guard: answers one sender may put into one conversation per window. */
export const DEFAULT_LOOP_REPLY_BUDGET = 30;
/** Loop guard: a pause this long resets the hop count. */
export const DEFAULT_LOOP_WINDOW_MS = 30_000;
/** Bytes queued to one WebSocket / SSE client before it is told to resume from its cursor:
 * a few hundred messages, so a slow phone never makes the relay grow without bound. */
export const DEFAULT_LIVE_BUFFER_BYTES = 1024 * 1024;
/** Live connections (WebSockets, SSE streams, parked long-polls) one account holds at once: two
 * per session at the session cap (a tab and a worker each). Each may have up to
 * PCHAT_LIVE_BUFFER_BYTES queued to it, so this bounds what one account makes the relay hold. */
export const DEFAULT_LIVE_PER_USER_MAX = 200;
/** Inbound callbacks one account subscribes at once: a few integrations each, not a fan-out service. */
export const DEFAULT_CALLBACKS_PER_USER_MAX = 10;
/** Tries of one event before it is dead-lettered: with the doubling backoff from 2 s, some 2–4 minutes of trying with the jitter (a receiver restarting, a deploy). */
export const DEFAULT_CALLBACK_ATTEMPTS = 8;
/** The first retry's wait; each next one doubles (with jitter), up to 10 minutes. */
export const DEFAULT_CALLBACK_RETRY_BASE_MS = 2_000;
/** How long a callback URL has to answer one delivery: a receiver should queue, not work, before answering. */
export const DEFAULT_CALLBACK_TIMEOUT_MS = 10_000;
/** WebSocket pings and SSE comments: under the 60 s idle cut of common proxies and NATs. */
export const DEFAULT_HEARTBEAT_MS = 25_000;
/** Members per group: large stream groups are the point; this bounds the roster in memory. */
export const DEFAULT_GROUP_MAX_MEMBERS = 10_000;
/** Sessions one account holds at most: a login past it closes the oldest (each holds a token, a cursor, presence). */
export const DEFAULT_SESSIONS_PER_USER_MAX = 100;
/** A session unused this many days ends (its token is refused): a device left a season in a drawer, or a token copied off a
 * retired box, should not open the account; anything used weekly never notices. 0 keeps sessions until logout. */
export const DEFAULT_SESSION_IDLE_DAYS = 90;
/** The GUI's multi-file picker sends a handful at once; more is a script, not a person. */
export const DEFAULT_UPLOAD_MAX_FILES = 20;
/** A day of heavy use (a few hundred photos and clips), small enough to protect a small box's disk. */
export const DEFAULT_UPLOAD_DAILY_BYTES = 2 * 1024 ** 3;
/** Long enough for any voice message; pocketsphinx runs near real time, so longer would tie up the worker. */
export const DEFAULT_TRANSCRIBE_MAX_SECONDS = 300;
/** A paragraph or two read aloud; longer text is a document, not a chat message. */
export const DEFAULT_SPEAK_MAX_CHARS = 2_000;
/** Local engines (Debian packages) by default: nothing leaves the box unless an operator says so. */
export const DEFAULT_TRANSLATE_ENGINE = 'apertium';
export const DEFAULT_TRANSCRIBE_ENGINE = 'pocketsphinx';
export const DEFAULT_SPEAK_ENGINE = 'espeak';
/** HTTP engines get this long per call; a slow engine must not hold a request forever. */
export const DEFAULT_ENGINE_TIMEOUT_MS = 60_000;
/** Engine programs (ffmpeg, ffprobe, espeak-ng, flite) run at once: the 2-core box this relay is
 * sized for, where more decoders at a time only share the same cores and take memory each. */
export const DEFAULT_MEDIA_JOBS_MAX = 2;
/** Engine runs waiting for a slot: a multi-file upload (PCHAT_UPLOAD_MAX_FILES) from a user or
 * so. Past that the box is behind by more than a client should wait: it is told to come back. */
export const DEFAULT_MEDIA_QUEUE_MAX = 32;
/** An upload no message names is removed this long after it came: the GUI sends what it uploads
 * at once and a script moments later; a day also covers a draft left overnight. 0 keeps them. */
export const DEFAULT_UNSENT_UPLOAD_TTL_HOURS = 24;

export interface EngineConfig<E extends string> {
  engine: E;
  /** Base URL of an HTTP engine (LibreTranslate-compatible or OpenAI-compatible). */
  url: string | null;
  apiKey: string | null;
  model: string | null;
}

export interface Config {
  host: string;
  port: number;
  /** Proxies whose X-Forwarded-For names the client (per-IP limits then count clients, not the proxy); null: none. */
  trustProxy: string | null;
  dataDir: string;
  uploadDir: string;
  freeMode: boolean;
  devExposeCodes: boolean;
  relayName: string;
  relayMode: 'public' | 'private';
  logLevel: string;
  smtp: null | {
    host: string;
    port: number;
    secure: boolean;
    username?: string;
    password?: string;
    from: string;
  };
  bodyLimitBytes: number;
  textMaxChars: number;
  snapshotEvery: number;
  actorIdleMs: number;
  presenceWindowMs: number;
  longPollMaxMs: number;
  autoBlockThreshold: number;
  codeRequestsPerIpPerHour: number;
  codeVerifiesPerIpPerHour: number;
  requestsPerIpPerMinute: number;
  uploadMaxBytes: number;
  loopMaxHops: number;
  loopReplyBudget: number;
  loopWindowMs: number;
  liveBufferBytes: number;
  livePerUserMax: number;
  /** Callback URLs may be private / loopback / link-local addresses (a LAN install calling its own machines). */
  callbacksAllowPrivate: boolean;
  callbacksPerUserMax: number;
  callbackAttempts: number;
  callbackRetryBaseMs: number;
  callbackTimeoutMs: number;
  /** PCHAT_* / SMTP_* settings given but not the relay's (probably misspelt): start-up warns of them. */
  unknownSettings: string[];
  heartbeatMs: number;
  groupMaxMembers: number;
  sessionsPerUserMax: number;
  /** A session unused this long ends (0: never). */
  sessionIdleMs: number;
  uploadMaxFiles: number;
  uploadDailyBytes: number;
  transcribeMaxSeconds: number;
  speakMaxChars: number;
  /** Where engine programs (ffmpeg, apertium, pocketsphinx, espeak-ng, flite) are looked up. */
  enginePath: string;
  engineTimeoutMs: number;
  /** Engine programs run at once, and runs that may wait for one (past it: 503 engines_busy). */
  mediaJobsMax: number;
  mediaQueueMax: number;
  /** An upload no message (nor profile picture) names is removed this long after it came (0: never). */
  unsentUploadTtlMs: number;
  translate: EngineConfig<'apertium' | 'libretranslate' | 'openai' | 'off'>;
  transcribe: EngineConfig<'pocketsphinx' | 'openai' | 'off'>;
  speak: EngineConfig<'espeak' | 'openai' | 'off'> & { voice: string | null };
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

/** A setting line's start: `NAME=` (optionally `export NAME=`). */
const SETTING_LINE = /^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_]*\s*=\s*(.*)$/;

/** The first line of a dotenv text that is neither blank, a comment, a setting nor inside a quoted value. */
function notSettingLine(text: string): string | undefined {
  let quote: string | undefined; // the quote a multi-line value is still open in
  for (const line of text.split(/\r?\n/)) {
    if (quote) {
      if (line.includes(quote)) quote = undefined;
      continue;
    }
    if (!line.trim() || line.trim().startsWith('#')) continue;
    const m = SETTING_LINE.exec(line);
    if (!m) return line.trim();
    const value = m[1];
    if (/^["'`]/.test(value) && !value.slice(1).includes(value[0])) quote = value[0];
  }
  return undefined;
}

/** `.env.local` in `dir` (if present) under the real environment, which wins. */
export function readEnv(dir = process.cwd(), env: Env = process.env): Env {
  const file = resolve(dir, '.env.local');
  let fromFile: Env = {};
  if (existsSync(file)) {
    // A byte-order mark (Windows editors) would otherwise become part of the first name.
    const text = readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
    // A line without `=` loses settings silently: Node 20's parser joins it to the next line's
    // name, Node 22+ drops it. Either way the operator meant something: say which line.
    const bad = notSettingLine(text);
    if (bad !== undefined) throw new ConfigError(`.env.local: ${JSON.stringify(bad)} is not a NAME=value line`);
    try {
      fromFile = parseEnv(text) as Env;
    } catch (err) {
      throw new ConfigError(`.env.local: cannot be parsed (${(err as Error).message})`);
    }
  }
  return { ...fromFile, ...env };
}

/** A name proxy-addr knows, or an IPv4/IPv6 address with an optional prefix length. */
const PROXY_RE = /^(loopback|linklocal|uniquelocal|[0-9.]+(\/\d{1,2})?|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*(\/\d{1,3})?)$/;

/**
 * PCHAT_TRUST_PROXY: the reverse proxies in front of the relay, comma-separated (`loopback`,
 * addresses, CIDRs). Empty (the default): X-Forwarded-For is ignored. Never "trust anyone": a
 * client could then name any address and walk around the per-IP limits.
 */
function trustedProxies(raw: string): string | null {
  if (!raw || raw === 'false') return null;
  const items = raw.split(',').map((x) => x.trim()).filter(Boolean);
  const bad = items.find((x) => !PROXY_RE.test(x));
  if (bad !== undefined || !items.length) {
    throw new ConfigError(`PCHAT_TRUST_PROXY=${JSON.stringify(raw)}: expected the proxies' addresses or CIDRs, comma-separated, or loopback (not ${JSON.stringify(bad ?? raw)})`);
  }
  return items.join(',');
}

/** Settings of the same families read by other tools (the CLI, the phone bridge): not typos of the relay's. */
const OTHER_TOOLS = /^PCHAT_(RELAY_URL|BRIDGE_\w*|CLI_\w*)$/;

export function loadConfig(env: Env = readEnv()): Config {
  /** Every setting name looked at: a PCHAT_* / SMTP_* name never looked at is probably misspelt. */
  const known = new Set<string>();
  const str = (name: string, fallback: string) => {
    known.add(name);
    const v = env[name];
    return v === undefined || v.trim() === '' ? fallback : v.trim();
  };
  const int = (name: string, fallback: number, min: number, max: number) => {
    known.add(name);
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    // Decimal digits only: Number() would also take 0x1F90, 1e3 and -0.
    const n = /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new ConfigError(`${name}=${JSON.stringify(raw)}: expected an integer from ${min} to ${max}`);
    }
    return n;
  };
  const bool = (name: string, fallback: boolean) => {
    known.add(name);
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const v = raw.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    throw new ConfigError(`${name}=${JSON.stringify(raw)}: expected true or false`);
  };
  const oneOf = <T extends string>(name: string, fallback: T, allowed: readonly T[]): T => {
    const v = str(name, fallback) as T;
    if (!allowed.includes(v)) throw new ConfigError(`${name}=${JSON.stringify(v)}: expected one of ${allowed.join(', ')}`);
    return v;
  };

  const host = str('HOST', DEFAULT_HOST);
  if (!/^[A-Za-z0-9.:\-[\]]+$/.test(host)) throw new ConfigError(`HOST=${JSON.stringify(host)}: not a host name or address`);

  const smtpHost = str('SMTP_HOST', '');
  let smtp: Config['smtp'] = null;
  const smtpPort = int('SMTP_PORT', DEFAULT_SMTP_PORT, 1, 65535); // checked even while unused: a typo shows now, not when SMTP_HOST is set
  // Mail half set up (SMTP_HOST missing or misspelt) must not quietly become "codes go to the log".
  const smtpSet = ['SMTP_USERNAME', 'SMTP_PASSWORD', 'SMTP_FROM'].filter((name) => str(name, ''));
  if (!smtpHost && smtpSet.length) throw new ConfigError(`SMTP_HOST: required when ${smtpSet.join(', ')} ${smtpSet.length > 1 ? 'are' : 'is'} set (without it login codes are not mailed but written to the log)`);
  if (smtpHost && str('SMTP_PASSWORD', '') && !str('SMTP_USERNAME', '')) throw new ConfigError('SMTP_USERNAME: required when SMTP_PASSWORD is set (the password is only sent with a user name)');
  if (smtpHost) {
    const port = smtpPort;
    const from = str('SMTP_FROM', str('SMTP_USERNAME', ''));
    if (!from.includes('@')) throw new ConfigError('SMTP_FROM: required when SMTP_HOST is set (an email address)');
    smtp = {
      host: smtpHost,
      port,
      secure: bool('SMTP_SECURE', port === 465),
      username: env.SMTP_USERNAME || undefined,
      password: env.SMTP_PASSWORD || undefined,
      from,
    };
  }

  const engine = <E extends string>(prefix: string, fallback: E, allowed: readonly E[], http: readonly E[]): EngineConfig<E> => {
    const name = oneOf(`${prefix}_ENGINE`, fallback, allowed);
    const url = str(`${prefix}_URL`, '') || null;
    if (http.includes(name)) {
      if (!url) throw new ConfigError(`${prefix}_URL: required when ${prefix}_ENGINE=${name}`);
      if (!/^https?:\/\/[^\s]+$/.test(url)) throw new ConfigError(`${prefix}_URL=${JSON.stringify(url)}: expected an http(s) URL`);
    }
    return { engine: name, url: url?.replace(/\/+$/, '') ?? null, apiKey: str(`${prefix}_API_KEY`, '') || null, model: str(`${prefix}_MODEL`, '') || null };
  };

  const config: Omit<Config, 'unknownSettings'> = {
    host,
    port: int('PORT', DEFAULT_PORT, 0, 65535),
    trustProxy: trustedProxies(str('PCHAT_TRUST_PROXY', '')),
    dataDir: resolve(str('PCHAT_DATA_DIR', DEFAULT_DATA_DIR)),
    uploadDir: resolve(str('PCHAT_UPLOAD_DIR', DEFAULT_UPLOAD_DIR)),
    freeMode: bool('PCHAT_FREE_MODE_ENABLED', DEFAULT_FREE_MODE),
    devExposeCodes: bool('PCHAT_DEV_EXPOSE_CODES', DEFAULT_DEV_EXPOSE_CODES),
    relayName: str('PCHAT_RELAY_NAME', 'pChat relay'),
    relayMode: oneOf('PCHAT_RELAY_MODE', 'private', ['public', 'private'] as const),
    logLevel: oneOf('LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
    smtp,
    bodyLimitBytes: int('PCHAT_BODY_LIMIT_BYTES', DEFAULT_BODY_LIMIT_BYTES, 1024, 64 * 1024 * 1024),
    textMaxChars: int('PCHAT_TEXT_MAX_CHARS', DEFAULT_TEXT_MAX_CHARS, 1, 1_000_000),
    snapshotEvery: int('PCHAT_SNAPSHOT_EVERY', DEFAULT_SNAPSHOT_EVERY, 2, 1_000_000),
    actorIdleMs: int('PCHAT_ACTOR_IDLE_MS', DEFAULT_ACTOR_IDLE_MS, 1000, 86_400_000),
    presenceWindowMs: int('PCHAT_PRESENCE_WINDOW_MS', DEFAULT_PRESENCE_WINDOW_MS, 1000, 3_600_000),
    longPollMaxMs: int('PCHAT_LONGPOLL_MAX_MS', DEFAULT_LONGPOLL_MAX_MS, 0, LONGPOLL_MAX_MS_LIMIT),
    autoBlockThreshold: int('PCHAT_AUTO_BLOCK_THRESHOLD', DEFAULT_AUTO_BLOCK_THRESHOLD, 1, 1_000_000),
    codeRequestsPerIpPerHour: int('PCHAT_CODE_REQUESTS_PER_IP_PER_HOUR', DEFAULT_CODE_REQUESTS_PER_IP_PER_HOUR, 1, 1_000_000),
    codeVerifiesPerIpPerHour: int('PCHAT_CODE_VERIFIES_PER_IP_PER_HOUR', DEFAULT_CODE_VERIFIES_PER_IP_PER_HOUR, 1, 1_000_000),
    requestsPerIpPerMinute: int('PCHAT_REQUESTS_PER_IP_PER_MINUTE', DEFAULT_REQUESTS_PER_IP_PER_MINUTE, 1, 100_000_000),
    uploadMaxBytes: int('PCHAT_UPLOAD_MAX_BYTES', DEFAULT_UPLOAD_MAX_BYTES, 1, 1024 ** 4),
    loopMaxHops: int('PCHAT_LOOP_MAX_HOPS', DEFAULT_LOOP_MAX_HOPS, 1, 1_000_000),
    loopReplyBudget: int('PCHAT_LOOP_REPLY_BUDGET', DEFAULT_LOOP_REPLY_BUDGET, 1, 1_000_000),
    loopWindowMs: int('PCHAT_LOOP_WINDOW_MS', DEFAULT_LOOP_WINDOW_MS, 100, 3_600_000),
    liveBufferBytes: int('PCHAT_LIVE_BUFFER_BYTES', DEFAULT_LIVE_BUFFER_BYTES, 4096, 1024 ** 3),
    livePerUserMax: int('PCHAT_LIVE_PER_USER_MAX', DEFAULT_LIVE_PER_USER_MAX, 1, 1_000_000),
    callbacksAllowPrivate: bool('PCHAT_CALLBACKS_ALLOW_PRIVATE', false),
    callbacksPerUserMax: int('PCHAT_CALLBACKS_PER_USER_MAX', DEFAULT_CALLBACKS_PER_USER_MAX, 0, 10_000),
    callbackAttempts: int('PCHAT_CALLBACK_ATTEMPTS', DEFAULT_CALLBACK_ATTEMPTS, 1, 100),
    callbackRetryBaseMs: int('PCHAT_CALLBACK_RETRY_BASE_MS', DEFAULT_CALLBACK_RETRY_BASE_MS, 10, 3_600_000),
    callbackTimeoutMs: int('PCHAT_CALLBACK_TIMEOUT_MS', DEFAULT_CALLBACK_TIMEOUT_MS, 100, 300_000),
    heartbeatMs: int('PCHAT_HEARTBEAT_MS', DEFAULT_HEARTBEAT_MS, 100, 45_000),
    groupMaxMembers: int('PCHAT_GROUP_MAX_MEMBERS', DEFAULT_GROUP_MAX_MEMBERS, 2, 10_000_000),
    sessionsPerUserMax: int('PCHAT_SESSIONS_PER_USER_MAX', DEFAULT_SESSIONS_PER_USER_MAX, 1, 100_000),
    sessionIdleMs: int('PCHAT_SESSION_IDLE_DAYS', DEFAULT_SESSION_IDLE_DAYS, 0, 36_500) * 86_400_000,
    uploadMaxFiles: int('PCHAT_UPLOAD_MAX_FILES', DEFAULT_UPLOAD_MAX_FILES, 1, 1000),
    uploadDailyBytes: int('PCHAT_UPLOAD_DAILY_BYTES', DEFAULT_UPLOAD_DAILY_BYTES, 1, 1024 ** 5),
    transcribeMaxSeconds: int('PCHAT_TRANSCRIBE_MAX_SECONDS', DEFAULT_TRANSCRIBE_MAX_SECONDS, 1, 86_400),
    speakMaxChars: int('PCHAT_SPEAK_MAX_CHARS', DEFAULT_SPEAK_MAX_CHARS, 1, 1_000_000),
    enginePath: str('PCHAT_ENGINE_PATH', env.PATH ?? '/usr/local/bin:/usr/bin:/bin'),
    engineTimeoutMs: int('PCHAT_ENGINE_TIMEOUT_MS', DEFAULT_ENGINE_TIMEOUT_MS, 100, 3_600_000),
    mediaJobsMax: int('PCHAT_MEDIA_JOBS_MAX', DEFAULT_MEDIA_JOBS_MAX, 1, 256),
    mediaQueueMax: int('PCHAT_MEDIA_QUEUE_MAX', DEFAULT_MEDIA_QUEUE_MAX, 0, 100_000),
    unsentUploadTtlMs: int('PCHAT_UNSENT_UPLOAD_TTL_HOURS', DEFAULT_UNSENT_UPLOAD_TTL_HOURS, 0, 87_600) * 3_600_000,
    translate: engine('PCHAT_TRANSLATE', DEFAULT_TRANSLATE_ENGINE, ['apertium', 'libretranslate', 'openai', 'off'] as const, ['libretranslate', 'openai']),
    transcribe: engine('PCHAT_TRANSCRIBE', DEFAULT_TRANSCRIBE_ENGINE, ['pocketsphinx', 'openai', 'off'] as const, ['openai']),
    speak: {
      ...engine('PCHAT_SPEAK', DEFAULT_SPEAK_ENGINE, ['espeak', 'openai', 'off'] as const, ['openai']),
      voice: str('PCHAT_SPEAK_VOICE', '') || null,
    },
  };
  const unknownSettings = Object.keys(env)
    .filter((name) => /^(PCHAT|SMTP)_/.test(name) && !known.has(name) && !OTHER_TOOLS.test(name))
    .sort();
  return { ...config, unknownSettings };
}
