// A small JSON client for one relay. Maps every way a request can fail to one CliError line:
// connection refused / DNS / timeout → EXIT.unreachable, `{success:false,…}` → the relay's own
// message with its code, anything that is not pChat JSON → a sentence naming the status.
import { isIP } from 'node:net';
import { bareHost, isPrivateAddress } from '../../daemon/addresses.ts';
import { CliError, EXIT } from './errors.ts';

/** Plain requests; a relay that takes longer than this is treated as unreachable. */
export const DEFAULT_TIMEOUT_MS = 15_000;

export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Send the session token (default: when the client has one). */
  auth?: boolean;
}

/**
 * Whether a relay named without a scheme is on this machine or the LAN, where it runs plain
 * http: a loopback, private or link-local address, `localhost`, a name without a dot (a LAN
 * host) or one under a local-only domain. Anywhere else it is https, so a session token does
 * not cross the internet in clear because a scheme was left out.
 */
function isLocalHost(url: URL): boolean {
  const host = bareHost(url).toLowerCase().replace(/\.$/, '');
  if (isIP(host)) return isPrivateAddress(host);
  return !host.includes('.') || /\.(localhost|local|lan|home|internal|home\.arpa)$/.test(host);
}

export function normalizeRelay(raw: string): string {
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw);
  let url: URL;
  try {
    url = new URL(hasScheme ? raw : `http://${raw}`);
    if (!hasScheme && !isLocalHost(url)) url = new URL(`https://${raw}`);
  } catch {
    throw new CliError(`--relay ${JSON.stringify(raw)} is not a URL`, EXIT.usage);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(`--relay ${JSON.stringify(raw)}: only http:// and https:// relays are supported`, EXIT.usage);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** Why a fetch failed, in words (undici hides the errno in `cause`). */
export function networkReason(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return 'no answer in time';
  const code = e?.cause?.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection reset';
  if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return 'connection timed out';
  if (code) return code;
  return e?.cause?.message ?? e?.message ?? 'network error';
}

export class RelayClient {
  constructor(
    readonly base: string,
    public token?: string,
  ) {}

  headers(json: boolean, auth = true): Record<string, string> {
    const h: Record<string, string> = { accept: 'application/json', 'user-agent': 'webchat-cli' };
    if (json) h['content-type'] = 'application/json';
    if (auth && this.token) h['x-pchat-session'] = this.token;
    return h;
  }

  async call<T = any>(method: string, path: string, body?: unknown, opts: CallOptions = {}): Promise<T> {
    const timeout = AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers: this.headers(body !== undefined, opts.auth ?? true),
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      throw new CliError(`cannot reach the relay at ${this.base} (${networkReason(err)})`, EXIT.unreachable);
    }
    return readAnswer<T>(res, this.base, method, path);
  }
}

export async function readAnswer<T>(res: Response, base: string, method: string, path: string): Promise<T> {
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    throw new CliError(`the relay at ${base} broke off its answer (${networkReason(err)})`, EXIT.unreachable);
  }
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    throw new CliError(`the relay at ${base} answered ${method} ${path} with HTTP ${res.status} and no pChat JSON — is this a pChat relay?`, res.status >= 500 ? EXIT.unreachable : EXIT.refused);
  }
  if (!res.ok || body?.success === false) {
    const message = typeof body?.message === 'string' ? body.message : `HTTP ${res.status}`;
    throw new CliError(message, EXIT.refused, typeof body?.error === 'string' ? body.error : undefined, res.status);
  }
  return body as T;
}
