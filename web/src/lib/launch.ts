// Private-relay setup from a signed launch link (or the same link inside a QR code):
// read the relay URL and the identity key the link names, then compare that key with the
// one the relay publishes at /.well-known/pchat-relay.

export interface LaunchLink {
  relay: string;
  mode: 'public' | 'private';
  /** base64 Ed25519 public key named by the link, if any. */
  key?: string;
  signature?: string;
  /** What the signature covers: the link with its signature parameter removed. */
  signed?: string;
  name?: string;
}

const KEY_PARAMS = ['relay_key', 'relay_pubkey', 'public_key', 'pubkey', 'key'];
const SIG_PARAMS = ['sig', 'signature', 'relay_sig'];

function b64urlToStd(s: string): string {
  const t = s.replace(/-/g, '+').replace(/_/g, '/');
  return t + '='.repeat((4 - (t.length % 4)) % 4);
}

/** Accepts a launch URL (query or fragment), a `pchat-relay:` JSON payload, or a bare relay URL. */
export function parseLaunchLink(input: string): LaunchLink | null {
  const text = input.trim();
  if (!text) return null;
  if (text.startsWith('{')) {
    try {
      const j = JSON.parse(text);
      const relay = j.relay ?? j.relay_url ?? j.url;
      if (typeof relay !== 'string' || !/^https?:\/\//.test(relay)) return null;
      return { relay: relay.replace(/\/+$/, ''), mode: j.relay_mode === 'public' ? 'public' : 'private', key: j.relay_key ?? j.public_key, signature: j.sig ?? j.signature, name: j.name };
    } catch {
      return null;
    }
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  const params = new URLSearchParams(url.search);
  for (const [k, v] of new URLSearchParams(url.hash.replace(/^#/, ''))) if (!params.has(k)) params.set(k, v);
  // A payload parameter holding base64url JSON, as some link generators emit.
  const payload = params.get('pchat_setup') ?? params.get('setup') ?? params.get('payload');
  if (payload) {
    try {
      const inner = parseLaunchLink(atob(b64urlToStd(payload)));
      if (inner) return { ...inner, signature: inner.signature ?? params.get('sig') ?? undefined, signed: payload };
    } catch {
      /* not base64 JSON */
    }
  }
  const relay = params.get('relay') ?? params.get('relay_url') ?? params.get('server');
  const key = KEY_PARAMS.map((k) => params.get(k)).find(Boolean) ?? undefined;
  const signature = SIG_PARAMS.map((k) => params.get(k)).find(Boolean) ?? undefined;
  let signed: string | undefined;
  if (signature) {
    const copy = new URL(url.toString());
    for (const k of SIG_PARAMS) copy.searchParams.delete(k);
    signed = copy.toString();
  }
  const target = relay ?? (url.pathname.includes('/app/webchat') ? url.origin : url.origin);
  if (!/^https?:\/\//.test(target)) return null;
  return {
    relay: target.replace(/\/+$/, ''),
    mode: params.get('relay_mode') === 'public' ? 'public' : 'private',
    key: key ? b64urlToStd(key) : undefined,
    signature: signature ? b64urlToStd(signature) : undefined,
    signed,
    name: params.get('name') ?? params.get('relay_name') ?? undefined,
  };
}

export type KeyCheck = { state: 'match' | 'mismatch' | 'no-key-in-link' | 'unreachable'; relayKey?: string; signature?: 'valid' | 'invalid' | 'absent' | 'unsupported' };

function b64bytes(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Fetches the relay's identity document and compares keys (and the signature, when WebCrypto has Ed25519). */
export async function checkRelayKey(link: LaunchLink, fetcher: typeof fetch = fetch): Promise<KeyCheck> {
  let relayKey: string | undefined;
  try {
    const res = await fetcher(`${link.relay}/.well-known/pchat-relay`);
    relayKey = (await res.json()).public_key;
  } catch {
    return { state: 'unreachable' };
  }
  if (!link.key) return { state: 'no-key-in-link', relayKey };
  const state = relayKey === link.key ? 'match' : 'mismatch';
  let signature: KeyCheck['signature'] = 'absent';
  if (link.signature && link.signed && relayKey) {
    try {
      const key = await crypto.subtle.importKey('raw', b64bytes(relayKey) as BufferSource, { name: 'Ed25519' }, false, ['verify']);
      const ok = await crypto.subtle.verify({ name: 'Ed25519' }, key, b64bytes(link.signature) as BufferSource, new TextEncoder().encode(link.signed) as BufferSource);
      signature = ok ? 'valid' : 'invalid';
    } catch {
      signature = 'unsupported';
    }
  }
  return { state, relayKey, signature };
}
