// Realtime delivery: a WebSocket (docs/realtime.md) resuming from the stored cursor, falling
// back to long-poll when the relay has no WebSocket or it keeps failing. Events may arrive
// twice across a reconnect (at-least-once); the chat store dedupes by id and seq.
import { ApiError, type Api } from './api.ts';

export type RtState = 'connecting' | 'online' | 'reconnecting' | 'offline';
export type Transport = 'ws' | 'poll';

export interface RealtimeOptions {
  api: Api;
  /** Last seq processed, 0 = let the relay use this session's stored cursor. */
  cursor: () => number;
  onEvents: (events: any[]) => void;
  onState: (state: RtState, transport: Transport | null) => void;
  /** The session was revoked (401): stop and sign out. */
  onUnauthorized: () => void;
  /** Tests force a transport with ?transport=poll; the default tries the WebSocket first. */
  prefer?: Transport | 'auto';
}

/** Long-poll parks this long on the relay (its limit is 30 s). */
const POLL_WAIT_MS = 25_000;
const POLL_LIMIT = 200;
/** Reconnect backoff: short first so a restarted relay is found quickly. */
const BACKOFF_MS = [250, 500, 1000, 2000, 3000];
/** In long-poll mode, look for a (new) WebSocket this often. */
const WS_RETRY_MS = 60_000;
const WS_READY_TIMEOUT_MS = 5000;

export class Realtime {
  private stopped = false;
  private ws: WebSocket | null = null;
  private abort: AbortController | null = null;
  private failures = 0;
  private wsFailures = 0;
  private lastWsTry = 0;
  private mode: Transport | null = null;
  private wsEverReady = false;
  private wakeTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private o: RealtimeOptions) {}

  start(): void {
    this.stopped = false;
    this.o.onState('connecting', null);
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    this.ws?.close(1000);
    this.ws = null;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.o.onState('offline', null);
  }

  get transport(): Transport | null {
    return this.mode;
  }

  /** Sends a frame on the WebSocket if one is open; false = use HTTP instead. */
  sendFrame(frame: object): boolean {
    if (this.ws?.readyState === WebSocket.OPEN && this.mode === 'ws') {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  /** Reconnect now (the browser came back online, or the tab became visible). */
  nudge(): void {
    if (this.wakeTimer) {
      clearTimeout(this.wakeTimer);
      this.wakeTimer = null;
      this.wake?.();
    }
  }
  private wake: (() => void) | null = null;

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.wakeTimer = setTimeout(() => {
        this.wakeTimer = null;
        resolve();
      }, ms);
    });
  }

  private wsUrl(): string {
    const base = this.o.api.relay || location.origin;
    const u = new URL('/api/v1/webchat/ws', base);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    return u.toString();
  }

  private async loop(): Promise<void> {
    const prefer = this.o.prefer ?? 'auto';
    while (!this.stopped) {
      // Once the relay has served a WebSocket, keep coming back to it; else long-poll and look
      // for one again now and then.
      const tryWs = prefer !== 'poll' && typeof WebSocket !== 'undefined' && (this.wsEverReady || this.wsFailures === 0 || Date.now() - this.lastWsTry > WS_RETRY_MS);
      let ok: boolean;
      if (tryWs) {
        this.lastWsTry = Date.now();
        ok = await this.runWs();
        // No WebSocket on this relay (or a proxy refuses it): long-poll at once, no banner.
        if (!ok && !this.wsEverReady) continue;
      } else {
        ok = await this.runPoll();
      }
      if (this.stopped) return;
      if (!ok) {
        this.failures++;
        this.o.onState('reconnecting', this.mode);
        await this.sleep(BACKOFF_MS[Math.min(this.failures - 1, BACKOFF_MS.length - 1)]);
      }
    }
  }

  /** One WebSocket session. Resolves false when it could not connect or dropped. */
  private runWs(): Promise<boolean> {
    return new Promise((resolve) => {
      let ready = false;
      let settled = false;
      const ws = new WebSocket(this.wsUrl());
      this.ws = ws;
      const done = (ok: boolean) => {
        if (settled) return;
        settled = true;
        if (!ready) this.wsFailures++;
        clearTimeout(timer);
        if (this.ws === ws) this.ws = null;
        try {
          ws.close();
        } catch {
          /* already closed */
        }
        resolve(ok);
      };
      const timer = setTimeout(() => !ready && done(false), WS_READY_TIMEOUT_MS);
      ws.onopen = () => {
        const after = this.o.cursor();
        ws.send(JSON.stringify({ type: 'auth', session: this.o.api.token, ...(after > 0 ? { after } : {}) }));
      };
      ws.onmessage = (e) => {
        let f: any;
        try {
          f = JSON.parse(String(e.data));
        } catch {
          return;
        }
        if (f.type === 'ready') {
          ready = true;
          this.failures = 0;
          this.wsFailures = 0;
          this.wsEverReady = true;
          this.mode = 'ws';
          this.o.onState('online', 'ws');
          return;
        }
        if (f.type === 'error' && !ready) {
          if (f.error === 'unauthorized') {
            this.stopped = true;
            this.o.onUnauthorized();
          }
          return done(false);
        }
        if (f.type === 'resume') return done(true); // reconnect at once from our cursor
        if (f.type === 'ping' || f.type === 'ack' || f.type === 'error') return;
        this.o.onEvents([f]);
      };
      ws.onclose = (e) => {
        // Ours to end (logout, switch): a 4001 the relay sent meanwhile is not news.
        if (!this.stopped && (e.code === 4001 || e.code === 4401)) {
          this.stopped = true;
          this.o.onUnauthorized();
        }
        done(ready && e.code === 1000 ? true : false);
      };
    });
  }

  /** Long-poll rounds until an error (false) or, once a minute, a new look for the WebSocket (true). */
  private async runPoll(): Promise<boolean> {
    const since = Date.now();
    while (!this.stopped) {
      this.abort = new AbortController();
      try {
        const after = this.o.cursor();
        const out = await this.o.api.post('/api/v1/webchat/poll', { limit: POLL_LIMIT, wait_ms: this.mode === 'poll' ? POLL_WAIT_MS : 0, ...(after > 0 ? { after } : {}) }, { signal: this.abort.signal });
        if (this.mode !== 'poll' || this.failures > 0) {
          this.mode = 'poll';
          this.failures = 0;
          this.o.onState('online', 'poll');
        }
        if (out.events?.length) this.o.onEvents(out.events);
      } catch (err) {
        if (this.stopped) return true;
        if (err instanceof ApiError && err.status === 401) {
          this.stopped = true;
          this.o.onUnauthorized();
          return true;
        }
        return false;
      }
      if (this.o.prefer !== 'poll' && Date.now() - since > WS_RETRY_MS) return true;
    }
    return true;
  }
}
