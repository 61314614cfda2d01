// Private-relay setup from a signed launch link (docs/launch-links.md), or the same link in
// a QR code: `<site>?relay=…&relay_mode=private&pchat_launch=<b64url JSON>&pchat_sig=<b64url>`.
// The signature covers exactly the payload bytes and must verify against the public key the
// relay publishes at /.well-known/pchat-relay.

export interface LaunchLink {
  relay: string;
  mode: 'public' | 'private';
  name?: string;
  expires_at?: string;
  /** The decoded payload bytes and the signature, when the link is signed. */
  payload?: Uint8Array;
  signature?: Uint8Array;
  /** Why the link is malformed, if it is. */
  problem?: string;
}

export function b64urlDecode(s: string): Uint8Array {
  const t = s.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(t + '='.repeat((4 - (t.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Reads a launch link; a bare relay URL (no payload) is accepted as unsigned. */
export function parseLaunchLink(input: string): LaunchLink | null {
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    return null;
  }
  const q = url.searchParams;
  const plainRelay = q.get('relay')?.replace(/\/+$/, '');
  const mode = q.get('relay_mode') === 'public' ? 'public' : 'private';
  const launch = q.get('pchat_launch');
  const sig = q.get('pchat_sig');
  if (!launch) {
    const relay = plainRelay ?? url.origin;
    return /^https?:\/\//.test(relay) ? { relay, mode } : null;
  }
  let payload: Uint8Array;
  let doc: any;
  try {
    payload = b64urlDecode(launch);
    doc = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return { relay: plainRelay ?? '', mode, problem: 'the link payload is not valid' };
  }
  const relay = typeof doc.relay === 'string' ? doc.relay.replace(/\/+$/, '') : '';
  const out: LaunchLink = {
    relay,
    mode: doc.relay_mode === 'public' ? 'public' : 'private',
    name: typeof doc.name === 'string' ? doc.name : undefined,
    expires_at: typeof doc.expires_at === 'string' ? doc.expires_at : undefined,
    payload,
    signature: sig ? b64urlDecode(sig) : undefined,
  };
  if (doc.v !== 1 || doc.type !== 'pchat-launch') out.problem = 'the link is not a pChat launch link (v1)';
  else if (!/^https?:\/\//.test(relay)) out.problem = 'the link names no relay URL';
  else if (plainRelay && plainRelay !== relay) out.problem = 'the relay in the address does not match the signed one';
  else if (!sig) out.problem = 'the link is not signed';
  return out;
}

export type LinkCheck =
  | { state: 'valid'; relayKey: string }
  | { state: 'invalid' | 'expired' | 'unsigned' | 'unreachable' | 'malformed' | 'unsupported'; reason: string; relayKey?: string };

/** Verifies the link against the relay's published Ed25519 key (WebCrypto). */
export async function verifyLaunchLink(link: LaunchLink, now = Date.now(), fetcher: typeof fetch = fetch): Promise<LinkCheck> {
  if (link.problem) return { state: link.payload ? 'malformed' : 'unsigned', reason: link.problem };
  if (!link.payload || !link.signature) return { state: 'unsigned', reason: 'the link is not signed, so the relay cannot be checked' };
  let relayKey: string;
  try {
    const res = await fetcher(`${link.relay}/.well-known/pchat-relay`);
    relayKey = (await res.json()).public_key;
    if (typeof relayKey !== 'string') throw new Error('no key');
  } catch {
    return { state: 'unreachable', reason: 'the relay cannot be reached to read its identity key' };
  }
  let ok: boolean;
  try {
    const key = await crypto.subtle.importKey('raw', b64urlDecode(relayKey) as BufferSource, { name: 'Ed25519' }, false, ['verify']);
    ok = await crypto.subtle.verify({ name: 'Ed25519' }, key, link.signature as BufferSource, link.payload as BufferSource);
  } catch {
    return { state: 'unsupported', reason: 'this browser cannot verify Ed25519 signatures', relayKey };
  }
  if (!ok) return { state: 'invalid', reason: "the relay's identity key does not match the link's signature", relayKey };
  if (link.expires_at && Date.parse(link.expires_at) < now) return { state: 'expired', reason: `the link expired on ${link.expires_at}`, relayKey };
  return { state: 'valid', relayKey };
}
