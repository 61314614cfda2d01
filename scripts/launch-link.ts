// Signed launch links for a private relay (docs/launch-links.md). The relay's Ed25519 identity
// key signs the exact bytes of a small JSON payload; the GUI checks the signature with the
// public key from GET <relay>/.well-known/pchat-relay, so it can show that the relay is genuine.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import { IDENTITY_FILE, loadOrCreateIdentity, signDetached, type RelayIdentity } from '../daemon/identity.ts';

export const LAUNCH_VERSION = 1;
export const LAUNCH_TYPE = 'pchat-launch';

export interface LaunchPayload {
  v: typeof LAUNCH_VERSION;
  type: typeof LAUNCH_TYPE;
  relay: string;
  relay_mode: 'public' | 'private';
  name: string;
  issued_at: string;
  /** Absent: the link does not expire. */
  expires_at?: string;
}

const b64url = (b: Uint8Array) => Buffer.from(b).toString('base64url');

/** Reads the relay's identity; never creates one (a link must be signed by the key the relay serves). */
export function readIdentity(dataDir: string): RelayIdentity {
  if (!existsSync(join(dataDir, IDENTITY_FILE))) {
    throw new Error(`no relay identity at ${join(dataDir, IDENTITY_FILE)} — start the relay once, or pass --data-dir`);
  }
  return loadOrCreateIdentity(dataDir);
}

export function createLaunchLink(
  identity: RelayIdentity,
  opts: { site: string; relay: string; name: string; mode?: 'public' | 'private'; expiresAt?: Date; now?: Date },
): { url: string; payload: LaunchPayload } {
  const payload: LaunchPayload = {
    v: LAUNCH_VERSION,
    type: LAUNCH_TYPE,
    relay: opts.relay,
    relay_mode: opts.mode ?? 'private',
    name: opts.name,
    issued_at: (opts.now ?? new Date()).toISOString(),
    ...(opts.expiresAt ? { expires_at: opts.expiresAt.toISOString() } : {}),
  };
  const bytes = Buffer.from(JSON.stringify(payload), 'utf8');
  const sig = Buffer.from(signDetached(identity, bytes.toString('utf8')), 'base64');
  const url = new URL(opts.site);
  url.searchParams.set('relay', payload.relay);
  url.searchParams.set('relay_mode', payload.relay_mode);
  url.searchParams.set('pchat_launch', b64url(bytes));
  url.searchParams.set('pchat_sig', b64url(sig));
  return { url: url.toString(), payload };
}

export type Verdict =
  | { ok: true; payload: LaunchPayload; public_key: string }
  | { ok: false; reason: string; payload?: LaunchPayload };

/**
 * The GUI's check, step by step (docs/launch-links.md): decode, check the relay param, fetch the
 * relay's published key, verify the signature over the exact payload bytes, check expiry.
 */
export async function verifyLaunchLink(link: string, fetchKey: (relay: string) => Promise<string> = wellKnownKey, now = new Date()): Promise<Verdict> {
  let url: URL;
  try {
    url = new URL(link);
  } catch {
    return { ok: false, reason: 'not a URL' };
  }
  const rawPayload = url.searchParams.get('pchat_launch');
  const rawSig = url.searchParams.get('pchat_sig');
  if (!rawPayload || !rawSig) return { ok: false, reason: 'not a signed launch link (pchat_launch / pchat_sig missing)' };
  const bytes = Buffer.from(rawPayload, 'base64url');
  let payload: LaunchPayload;
  try {
    payload = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { ok: false, reason: 'the payload is not JSON' };
  }
  if (payload.v !== LAUNCH_VERSION || payload.type !== LAUNCH_TYPE) return { ok: false, reason: 'unknown launch link version', payload };
  if (url.searchParams.get('relay') !== payload.relay) return { ok: false, reason: 'the relay parameter differs from the signed relay', payload };
  let published: string;
  try {
    published = await fetchKey(payload.relay);
  } catch (err) {
    return { ok: false, reason: `cannot fetch the relay's key: ${(err as Error).message}`, payload };
  }
  const sig = Buffer.from(rawSig, 'base64url');
  const key = Buffer.from(published, 'base64');
  if (sig.length !== 64 || key.length !== 32 || !nacl.sign.detached.verify(bytes, sig, key)) {
    return { ok: false, reason: 'bad signature (not signed by the key this relay publishes)', payload };
  }
  if (payload.expires_at && Date.parse(payload.expires_at) < now.getTime()) return { ok: false, reason: 'the link has expired', payload };
  return { ok: true, payload, public_key: published };
}

export async function wellKnownKey(relay: string): Promise<string> {
  const res = await fetch(`${relay}/.well-known/pchat-relay`, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as { public_key?: string };
  if (!res.ok || typeof body.public_key !== 'string') throw new Error(`HTTP ${res.status} from ${relay}/.well-known/pchat-relay`);
  return body.public_key;
}
