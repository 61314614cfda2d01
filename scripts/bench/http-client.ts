// A small JSON-over-HTTP client on node:http with a keep-alive agent. node:http is used
// rather than fetch because it is cheaper per request (fetch allocates WHATWG streams and
// Headers), which matters on a 2-core box where the client shares the CPU with the server;
// the same client drives the echo ceiling and the relay, so the ratio stays fair. (An undici
// Pool got ~13% more echo req/s here; the report's CPU-based ratio does not depend on the client.)
import { Agent, request } from 'node:http';

export interface JsonResponse<T = any> {
  status: number;
  body: T;
}

export class JsonClient {
  readonly agent: Agent;
  private readonly host: string;
  private readonly port: number;

  constructor(base: string, maxSockets = 256) {
    const url = new URL(base);
    if (url.hostname !== '127.0.0.1') throw new Error(`benchmark clients talk to 127.0.0.1 only, not ${url.hostname}`);
    this.host = url.hostname;
    this.port = Number(url.port);
    // Nagle off and sockets kept: a closed loop must not pay a handshake or a 40 ms delayed ACK per request.
    this.agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, noDelay: true, scheduling: 'lifo' });
  }

  /**
   * One request. `signal` aborts it (a parked long-poll when a phase ends). Rejects on network
   * errors and on `timeoutMs` without an answer, so no loop can hang on a lost request.
   */
  call<T = any>(method: 'GET' | 'POST', path: string, body?: unknown, token?: string, signal?: AbortSignal, timeoutMs = 60_000): Promise<JsonResponse<T>> {
    return new Promise((done, fail) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const headers: Record<string, string | number> = {};
      if (payload !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = Buffer.byteLength(payload);
      }
      if (token) headers['x-pchat-session'] = token;
      const req = request({ agent: this.agent, host: this.host, port: this.port, method, path, headers, signal, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', fail);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON (should not happen): keep the text for the error message
          }
          done({ status: res.statusCode ?? 0, body: parsed as T });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)));
      req.on('error', fail);
      req.end(payload);
    });
  }

  close() {
    this.agent.destroy();
  }
}

/** Logs a user in the way test/helpers.ts does (needs PCHAT_DEV_EXPOSE_CODES=true). */
export async function login(client: JsonClient, email: string, chatAddress: string): Promise<{ token: string; address: string }> {
  const req = await client.call('POST', '/api/v1/pchat/auth/request-code', { email, purpose: 'login' });
  if (req.status !== 200 || !req.body?.dev_code) throw new Error(`request-code ${req.status} ${JSON.stringify(req.body)}`);
  const ver = await client.call('POST', '/api/v1/pchat/auth/verify-code', { email, code: req.body.dev_code, chat_address: chatAddress });
  if (ver.status !== 200) throw new Error(`verify-code ${ver.status} ${JSON.stringify(ver.body)}`);
  return { token: ver.body.session_token, address: ver.body.user.chat_address };
}

/** Polls GET /health until it answers 200 (or `ms` passes). Returns when it did. */
export async function waitHealthy(base: string, ms: number, isAlive: () => boolean = () => true): Promise<number> {
  const client = new JsonClient(base, 1);
  const deadline = performance.now() + ms;
  try {
    for (;;) {
      try {
        const res = await client.call('GET', '/health', undefined, undefined, undefined, 1_000);
        if (res.status === 200) return performance.now();
      } catch {
        // not listening yet
      }
      if (!isAlive()) throw new Error(`${base}: the process exited before /health answered`);
      if (performance.now() > deadline) throw new Error(`${base}: /health not ok within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    client.close();
  }
}
