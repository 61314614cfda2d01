// Persona login: reuse the stored token while the relay accepts it; otherwise request a code
// and verify it. The code comes from --code, from a dev-mode relay's `dev_code`, or from the
// terminal. A later run with changed --name / --chat-address updates the account.
import { createInterface } from 'node:readline/promises';
import type { Options } from './args.ts';
import { CliError, EXIT } from './errors.ts';
import { normalizeRelay, RelayClient } from './http.ts';
import { findPersona, savePersona, type Persona } from './personas.ts';

/** Where a persona goes when neither --relay nor a stored persona names one. */
export const DEFAULT_RELAY = 'http://127.0.0.1:5110';

export interface Session {
  persona: Persona;
  client: RelayClient;
  /** Saves the persona with its latest cursor / fields. */
  save(): void;
}

export function resolveRelay(o: Options, env: NodeJS.ProcessEnv = process.env): { relay: string; stored?: Persona } {
  const explicit = o.relay ? normalizeRelay(o.relay) : undefined;
  const stored = findPersona(o.email!, o.persona, explicit);
  const relay = explicit ?? stored?.relay ?? normalizeRelay(env.PCHAT_RELAY_URL?.trim() || DEFAULT_RELAY);
  return { relay, stored: stored && stored.relay === relay ? stored : undefined };
}

async function askCode(email: string): Promise<string | undefined> {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return undefined;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`Login code sent to ${email}: `);
    return answer.trim();
  } finally {
    rl.close();
  }
}

async function login(client: RelayClient, p: Persona, o: Options, expired: boolean): Promise<void> {
  let code = o.code;
  if (!code) {
    const req = await client.call<{ dev_code?: string }>('POST', '/api/v1/pchat/auth/request-code', {
      email: p.email,
      display_name: o.name ?? p.display_name,
      purpose: 'login',
    }, { auth: false });
    code = req.dev_code ?? (await askCode(p.email));
    if (!code) {
      const why = expired ? `the stored session for ${p.email} has expired; ` : '';
      throw new CliError(`${why}a login code was sent to ${p.email} — run again with --code NNNNNN`, EXIT.auth);
    }
  }
  let v: { session_token: string; user: { chat_address: string; display_name: string }; session: { id: string } };
  try {
    v = await client.call('POST', '/api/v1/pchat/auth/verify-code', {
      email: p.email,
      code,
      display_name: o.name ?? p.display_name,
      chat_address: o.chatAddress ?? p.chat_address,
      public_visible: true,
      device_name: o.computer ?? p.device_name,
      session_name: o.sessionName ?? p.session_name,
    }, { auth: false });
  } catch (err) {
    if (err instanceof CliError && (err.code === 'invalid_code' || err.code === 'too_many_attempts' || err.code === 'validation_failed')) {
      throw new CliError(err.code === 'validation_failed' ? `login failed: ${err.message}` : `login failed: ${err.message}`, EXIT.auth, err.code, err.status);
    }
    throw err;
  }
  client.token = v.session_token;
  p.token = v.session_token;
  p.session_id = v.session.id;
  p.chat_address = v.user.chat_address;
  p.display_name = v.user.display_name;
}

/** Logs in or reuses the persona's session; the persona file is saved before returning. */
export async function openSession(o: Options, env: NodeJS.ProcessEnv = process.env): Promise<Session> {
  const { relay, stored } = resolveRelay(o, env);
  const now = new Date().toISOString();
  const p: Persona = stored ?? {
    version: 1,
    email: o.email!,
    persona: o.persona,
    relay,
    relay_mode: 'private',
    listen_channel: 'pchat',
    created_at: now,
    last_used_at: now,
  };
  if (o.relayMode) p.relay_mode = o.relayMode;
  if (o.computer) p.device_name = o.computer;
  if (o.sessionName) p.session_name = o.sessionName;
  if (o.listenChannel) p.listen_channel = o.listenChannel;
  p.last_used_at = now;
  const client = new RelayClient(relay, p.token);
  const save = () => savePersona(p, env);

  let fresh = false;
  if (p.token) {
    try {
      const me = await client.call<{ user: { chat_address: string; display_name: string }; session: { id: string } }>('GET', '/api/v1/pchat/auth/me');
      p.chat_address = me.user.chat_address;
      p.display_name = me.user.display_name;
      p.session_id = me.session.id;
    } catch (err) {
      if (!(err instanceof CliError && err.status === 401)) throw err;
      p.token = undefined;
      client.token = undefined;
      await login(client, p, o, true);
      fresh = true;
    }
  } else {
    await login(client, p, o, false);
    fresh = true;
  }
  save();

  // A reused session with new --name / --chat-address: change the account to match.
  if (!fresh) {
    const changes: Record<string, string> = {};
    if (o.name && o.name !== p.display_name) changes.display_name = o.name;
    if (o.chatAddress && o.chatAddress !== p.chat_address) changes.chat_address = o.chatAddress;
    if (Object.keys(changes).length) {
      const r = await client.call<{ user: { chat_address: string; display_name: string } }>('PUT', '/api/v1/pchat/auth/me', changes);
      p.chat_address = r.user.chat_address;
      p.display_name = r.user.display_name;
      save();
    }
  }
  return { persona: p, client, save };
}

/** The GUI auto-login URL (the seed's chat.html?…&pchat_session=…). */
export function guiUrl(p: Persona): string {
  const q = new URLSearchParams();
  q.set('relay', p.relay);
  q.set('relay_mode', p.relay_mode);
  q.set('email', p.email);
  if (p.persona) q.set('persona', p.persona);
  if (p.chat_address) q.set('chat_address', p.chat_address);
  if (p.display_name) q.set('display_name', p.display_name);
  if (p.device_name) q.set('device_name', p.device_name);
  if (p.session_name) q.set('session_name', p.session_name);
  q.set('pchat_session', p.token ?? '');
  return `${p.relay}/app/webchat/chat.html?${q.toString()}`;
}

/** The presence body this persona heartbeats with. */
export function presenceBody(p: Persona, visible: boolean) {
  return {
    chat_address: p.chat_address,
    display_name: p.display_name,
    visible,
    device_name: p.device_name,
    session_name: p.session_name,
    listen_channel: p.listen_channel,
  };
}

/** The relay refused the stored token mid-run (expired or revoked): log in again and save. */
export async function relogin(s: Session, o: Options): Promise<void> {
  s.persona.token = undefined;
  s.client.token = undefined;
  await login(s.client, s.persona, o, true);
  s.save();
}
