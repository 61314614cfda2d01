// Inbound callbacks (webhooks): the relay POSTs a user's new events to URLs they subscribed,
// filtered, signed, retried, and dead-lettered (docs/callbacks.md).
//
// Each subscription reads the user's feed through its own consumer, named as itself (`cb_…`) — the same
// events, in the same order, as poll and the WebSocket — and moves that consumer's journaled
// cursor past an event once its URL answered 2xx (or the event did not pass the filters, or was
// given up on). So delivery is at-least-once across restarts: what was in flight when the relay
// stopped is sent again, and receivers dedupe by `X-PChat-Delivery-Id`. One subscription sends
// one event at a time, in order; a failing URL holds back only its own subscription.
//
// The targets are the relay's outbound requests on a user's say-so: by default, an address in a
// private, loopback, link-local or otherwise non-public range is refused, both when the URL is
// given and at every connection (the name is resolved again then, so it cannot be pointed
// elsewhere later). PCHAT_CALLBACKS_ALLOW_PRIVATE=true lets a LAN install call its own machines.
import { createHmac } from 'node:crypto';
import { lookup, promises as dns } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { own, Refusal } from '../actors/decision.ts';
import { callbacksMachine, CALLBACKS_VERSION, decideAdd, decideDead, decideRemove, type CallbacksContext, type Subscription } from '../actors/callbacks.ts';
import { cursorOf } from '../actors/inbox.ts';
import type { Auth } from './accounts.ts';
import { bareHost, isPrivateAddress } from './addresses.ts';
import { iso, randomHex, type Core } from './core.ts';
import { relaySigner } from './identity.ts';
import { Feed, foldText, type ClientEvent } from './feed.ts';
import type { MessageRecord } from './projections.ts';
import type { ActorKind } from './registry.ts';

export const Callbacks: ActorKind = { prefix: 'callbacks', machine: callbacksMachine, version: CALLBACKS_VERSION, input: (user) => ({ user }) };

/** Events read from the feed per step. */
const READ_BATCH = 50;
/** Longest wait between two tries of one event, whatever the backoff says. */
const RETRY_CAP_MS = 10 * 60_000;
/** Bytes of a failed answer's body kept for its error (a hint, not a copy). */
const ERROR_BODY_BYTES = 200;

const is2xx = (status: number) => status >= 200 && status < 300;

export interface SubscribeBody {
  url: string;
  secret?: string;
  channels?: string[];
  event_types?: string[];
  sources?: string[];
  keywords?: string[];
  min_call_duration_sec?: number;
  include_outgoing?: boolean;
}

/** What a delivery worker knows of its subscription beyond the journal: memory only, reset by a restart. */
interface Hook {
  user: string;
  id: string;
  busy: boolean;
  /** Woken while busy: look again once done. */
  again: boolean;
  stopped: boolean;
  retry?: NodeJS.Timeout;
  /** The request in flight: cut when the hook stops (removed, shutdown). */
  abort?: AbortController;
  /** Tries of the event at the head of the queue so far. */
  attempts: number;
  /** The seq of that event: one that went out of sight while waiting (its conversation deleted) leaves the next its own tries. */
  head: number | null;
  next_attempt_at: number | null;
  delivered: number;
  last_attempt_at: number | null;
  last_success_at: number | null;
  last_status: number | null;
  last_error: string | null;
  unsubscribe: () => void;
}

export class CallbackService {
  private readonly hooks = new Map<string, Hook>();
  /** X-PChat-Relay-Signature: the relay's key, verifiable at /.well-known/pchat-relay. */
  private readonly relaySign: (message: string) => string;
  private closed = false;

  constructor(
    private readonly core: Core,
    private readonly feed: Feed,
  ) {
    this.relaySign = relaySigner(core.identity);
  }

  private ctx(user: string): CallbacksContext {
    return this.core.registry.context<CallbacksContext>(Callbacks, user);
  }

  /** Starts the workers of every subscription in the journal (at boot). */
  start() {
    for (const [user, id] of this.core.projections.callbackKeys()) this.run(user, id);
  }

  // ---------- the API ----------

  async add(auth: Auth, body: SubscribeBody) {
    const url = await this.checkTarget(body.url);
    // Blank words never get here: the schema refuses them (http/callbacks.ts, Words).
    const lower = (list: string[] | undefined) => (list?.length ? [...new Set(list.map((s) => s.trim().toLowerCase()))] : null);
    const sub: Subscription = {
      id: `cb_${randomHex(8)}`,
      url,
      secret: body.secret ?? `cbs_${randomHex(24)}`,
      channels: lower(body.channels),
      event_types: lower(body.event_types),
      sources: lower(body.sources),
      keywords: body.keywords?.length ? body.keywords : null,
      min_call_duration_sec: body.min_call_duration_sec ?? null,
      include_outgoing: body.include_outgoing ?? false,
      created_at: Date.now(),
    };
    const decision = decideAdd(this.ctx(auth.user), sub, this.core.config.callbacksPerUserMax, sub.created_at);
    if (decision.refusal) throw decision.refusal;
    this.core.registry.apply(Callbacks, auth.user, decision.events);
    this.feed.openConsumerAt(auth.user, sub.id, sub.created_at);
    await this.core.commit();
    this.run(auth.user, sub.id);
    return { ...this.view(auth.user, sub), secret: sub.secret };
  }

  list(auth: Auth) {
    return Object.values(this.ctx(auth.user).subs)
      .sort((a, b) => a.created_at - b.created_at)
      .map((sub) => this.view(auth.user, sub));
  }

  get(auth: Auth, id: string) {
    const sub = own(this.ctx(auth.user).subs, id);
    if (!sub) throw new Refusal('unknown_callback', `no callback "${id}" of yours`);
    return this.view(auth.user, sub);
  }

  async remove(auth: Auth, id: string) {
    const decision = decideRemove(this.ctx(auth.user), id, Date.now());
    if (decision.refusal) throw decision.refusal;
    this.core.registry.apply(Callbacks, auth.user, decision.events);
    this.feed.closeConsumer(auth.user, id);
    // Stopped as it is staged, not after the commit: a delivery landing meanwhile would go on to
    // the next event and claim, journaling a cursor for the consumer just closed.
    this.stop(id);
    await this.core.commit();
    return { removed: id };
  }

  private view(user: string, sub: Subscription) {
    const h = this.hooks.get(sub.id);
    const { secret: _secret, created_at, ...rest } = sub;
    return {
      ...rest,
      cb_id: sub.id, // the seed's name for it (DELETE …/callbacks/inbound/<cb_id>)
      created_at: iso(created_at),
      cursor: cursorOf(this.feed.inbox(user), sub.id),
      state: !h ? 'stopped' : h.retry ? 'retrying' : h.busy ? 'delivering' : 'idle', // a stopped hook has left the map
      attempts: h?.attempts ?? 0,
      next_attempt_at: iso(h?.next_attempt_at),
      delivered: h?.delivered ?? 0,
      last_attempt_at: iso(h?.last_attempt_at),
      last_success_at: iso(h?.last_success_at),
      last_status: h?.last_status ?? null,
      last_error: h?.last_error ?? null,
      dead_letters: (own(this.ctx(user).dead, sub.id) ?? []).map((d) => ({ ...d, at: iso(d.at) })),
    };
  }

  /** The URL as it will be called, or a refusal: http(s), no credentials in it, a public address (unless allowed). */
  private async checkTarget(raw: string): Promise<string> {
    let url: URL;
    try {
      url = new URL(raw.trim());
    } catch {
      throw new Refusal('validation_failed', 'url is not a valid absolute URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Refusal('validation_failed', 'url must be http:// or https://');
    if (url.username || url.password) throw new Refusal('validation_failed', 'url must not carry credentials; check the X-PChat-Signature header with your secret instead');
    url.hash = '';
    if (this.core.config.callbacksAllowPrivate) return url.href;
    const host = bareHost(url);
    let addresses: string[];
    try {
      addresses = isIP(host) ? [host] : (await dns.lookup(host, { all: true })).map((a) => a.address);
    } catch (err) {
      throw new Refusal('callback_target_refused', `${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? 'lookup failed'})`);
    }
    const inside = addresses.find(isPrivateAddress);
    if (inside) throw new Refusal('callback_target_refused', `${host} is ${inside}, a private or reserved address; this relay only calls public addresses (PCHAT_CALLBACKS_ALLOW_PRIVATE)`);
    return url.href;
  }

  // ---------- delivery ----------

  private run(user: string, id: string) {
    if (this.closed || this.hooks.has(id)) return;
    const hook: Hook = {
      user,
      id,
      busy: false,
      again: false,
      stopped: false,
      attempts: 0,
      head: null,
      next_attempt_at: null,
      delivered: 0,
      last_attempt_at: null,
      last_success_at: null,
      last_status: null,
      last_error: null,
      unsubscribe: () => {},
    };
    this.hooks.set(id, hook);
    hook.unsubscribe = this.core.waiters.subscribe(user, () => this.kick(hook));
    this.kick(hook);
  }

  private stop(id: string) {
    const hook = this.hooks.get(id);
    if (!hook) return;
    hook.stopped = true;
    clearTimeout(hook.retry);
    hook.abort?.abort();
    hook.unsubscribe();
    this.hooks.delete(id);
  }

  private kick(hook: Hook) {
    if (hook.stopped || hook.retry) return;
    if (hook.busy) {
      hook.again = true;
      return;
    }
    hook.busy = true;
    void this.pump(hook)
      .catch((err) => {
        // A failure of the relay's own (reading the feed, a commit): logged, tried again later.
        this.core.log.error({ err: (err as Error).message, callback: hook.id }, 'a callback delivery step failed');
        this.retryLater(hook, this.core.config.callbackRetryBaseMs);
      })
      .finally(() => {
        hook.busy = false;
        if (hook.again && !hook.retry) this.kick(hook);
      });
  }

  /** Sends what is new, in order, until the feed has nothing more or an event must wait for a retry. */
  private async pump(hook: Hook) {
    const { config } = this.core;
    for (;;) {
      hook.again = false;
      const sub = own(this.ctx(hook.user).subs, hook.id);
      if (!sub || hook.stopped || this.closed) return;
      const consumer = hook.id; // a callback reads as the consumer named as itself (cb_…, reserved)
      const from = cursorOf(this.feed.inbox(hook.user), consumer);
      const batch = this.feed.readBatch(hook.user, consumer, from, READ_BATCH);
      const firstDelivery = new Map(batch.delivered.map((rec) => [rec.id, rec]));
      const delivered: MessageRecord[] = [];
      let upto = from;
      let waiting = false;
      for (const event of batch.events) {
        if (this.matches(sub, hook.user, event)) {
          const outcome = await this.post(hook, sub, event);
          if (hook.stopped || this.closed) return; // sent again after a restart: at-least-once
          if (outcome === 'ok') {
            const rec = firstDelivery.get(((event.message as { id?: string } | undefined)?.id) ?? '');
            if (rec) delivered.push(rec);
          } else if (hook.attempts < config.callbackAttempts) {
            waiting = true;
            break;
          } else {
            // Given up on: kept as a dead letter, and the queue moves on.
            this.core.registry.apply(
              Callbacks,
              hook.user,
              decideDead(this.ctx(hook.user), hook.id, { event_seq: event.seq as number, event_type: String(event.type), error: hook.last_error ?? 'failed', attempts: hook.attempts, at: Date.now() }).events,
            );
            hook.attempts = 0;
          }
        }
        upto = event.seq as number;
      }
      // Past the rows no event of this batch showed (other consumers' cursors, this one's own
      // last move) only as poll claims: with something shown, or past a long skip. Moving past
      // every such row would journal a cursor row each time, itself the next row to pass: a loop.
      if (!waiting && !batch.more) upto = Math.max(upto, Feed.claimPoint(from, batch));
      const moved = upto > from;
      // Durable with the cursor: a dead letter staged above (it moved the cursor past its event).
      if (moved || delivered.length) await this.feed.advance(this.asAuth(hook.user), consumer, upto, delivered);
      if (waiting) {
        const backoff = Math.min(RETRY_CAP_MS, config.callbackRetryBaseMs * 2 ** (hook.attempts - 1));
        this.retryLater(hook, backoff * (0.5 + Math.random() / 2)); // jitter: failing hooks do not all come back at once
        return;
      }
      if (!moved && !hook.again) return;
    }
  }

  private retryLater(hook: Hook, ms: number) {
    if (hook.stopped || this.closed) return;
    clearTimeout(hook.retry);
    hook.next_attempt_at = Date.now() + ms;
    hook.retry = setTimeout(() => {
      hook.retry = undefined;
      hook.next_attempt_at = null;
      this.kick(hook);
    }, ms);
    hook.retry.unref();
  }

  /** The worker reads and claims as its consumer; receipts it records are by the user, as now called. */
  private asAuth(user: string): Auth {
    const record = this.core.projections.user(user);
    if (!record) throw new Error(`callback of unknown user ${user}`);
    return { user, sid: '', record };
  }

  private matches(sub: Subscription, user: string, ev: ClientEvent): boolean {
    const type = String(ev.type);
    if (sub.event_types && !sub.event_types.includes(type)) return false;
    if (sub.channels && !sub.channels.includes('pchat')) return false; // every event here is WebChat's
    const source = this.sourceOf(ev);
    const mine = this.core.projections.user(user)?.chat_address;
    const authored = type === 'message' || type === 'edit' || type === 'delete' || type === 'delta';
    if (!sub.include_outgoing && authored && (ev.outgoing === true || (source !== undefined && source === mine))) return false;
    if (sub.sources && (source === undefined || !sub.sources.includes(source))) return false;
    if (sub.keywords) {
      const text = type === 'message' ? (ev.message as { text?: string }).text : type === 'edit' ? (ev.text as string) : type === 'delta' ? (ev.delta as string) : undefined;
      if (!text) return false;
      const folded = foldText(text);
      if (!sub.keywords.some((k) => folded.includes(foldText(k)))) return false;
    }
    return true;
  }

  /** Who an event comes from, as a chat address (lower case), when it says. */
  private sourceOf(ev: ClientEvent): string | undefined {
    const { projections } = this.core;
    switch (ev.type) {
      case 'message':
        return ((ev.message as { from?: string }).from ?? '').toLowerCase() || undefined;
      case 'edit':
      case 'delete':
      case 'delta':
      case 'translation': {
        const rec = projections.message(String(ev.message_id));
        return rec ? (projections.user(rec.from_user)?.chat_address ?? rec.from).toLowerCase() : undefined;
      }
      case 'receipt':
      case 'group': // who acted; a join answer journaled before notes kept it has no `by`: from nobody listed
        return typeof ev.by === 'string' ? ev.by.toLowerCase() : undefined;
    }
    return undefined;
  }

  /** One try of one event: 'ok' on a 2xx answer; otherwise the try is counted and why is kept. */
  private async post(hook: Hook, sub: Subscription, event: ClientEvent): Promise<'ok' | 'failed'> {
    const { config } = this.core;
    const at = Date.now();
    const deliveryId = `${sub.id}:${event.seq}`;
    const body = JSON.stringify({
      type: 'pchat.event',
      callback_id: sub.id,
      delivery_id: deliveryId,
      chat_address: this.core.projections.user(hook.user)?.chat_address,
      event,
      sent_at: iso(at),
    });
    const timestamp = String(Math.floor(at / 1000));
    const signed = `${timestamp}.${body}`;
    if (hook.head !== event.seq) {
      hook.head = event.seq as number;
      hook.attempts = 0;
    }
    hook.attempts++;
    hook.last_attempt_at = at;
    const headers = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'user-agent': 'pchat-relay-callbacks',
      'x-pchat-callback-id': sub.id,
      'x-pchat-delivery-id': deliveryId,
      'x-pchat-attempt': String(hook.attempts),
      'x-pchat-timestamp': timestamp,
      'x-pchat-signature': `sha256=${createHmac('sha256', sub.secret).update(signed).digest('hex')}`,
      'x-pchat-relay-signature': `ed25519=${this.relaySign(signed)}`,
    };
    const abort = new AbortController();
    hook.abort = abort;
    try {
      const status = await this.send(sub.url, headers, body, abort.signal, config.callbackTimeoutMs);
      hook.last_status = status.code;
      if (is2xx(status.code)) {
        hook.attempts = 0;
        hook.delivered++;
        hook.last_success_at = Date.now();
        hook.last_error = null;
        return 'ok';
      }
      hook.last_error = `HTTP ${status.code}${status.text ? `: ${status.text}` : ''}`;
    } catch (err) {
      hook.last_status = null;
      hook.last_error = (err as Error).message;
    } finally {
      hook.abort = undefined;
    }
    return 'failed';
  }

  /** POSTs `body`; resolves with the status (and the start of a failed answer's body). Redirects are not followed. */
  private send(target: string, headers: Record<string, string>, body: string, signal: AbortSignal, timeoutMs: number): Promise<{ code: number; text: string }> {
    const url = new URL(target);
    // A literal address is never looked up, so the guard below would not see it: checked here
    // (a callback made while PCHAT_CALLBACKS_ALLOW_PRIVATE was on is not called once it is off).
    const literal = bareHost(url);
    if (!this.core.config.callbacksAllowPrivate && isIP(literal) && isPrivateAddress(literal)) {
      return Promise.reject(Object.assign(new Error(`${literal} is a private address`), { code: 'EPRIVATE' }));
    }
    const guard: LookupFunction | undefined = this.core.config.callbacksAllowPrivate
      ? undefined
      : (hostname, options, done) =>
          lookup(hostname, { ...options, all: true }, (err, addresses) => {
            if (err) return done(err, '', 0);
            const list = addresses as unknown as { address: string; family: number }[];
            const inside = list.find((a) => isPrivateAddress(a.address));
            if (inside) return done(Object.assign(new Error(`${hostname} now resolves to ${inside.address}, a private address`), { code: 'EPRIVATE' }), '', 0);
            if ((options as { all?: boolean }).all) return (done as unknown as (e: null, a: typeof list) => void)(null, list);
            done(null, list[0].address, list[0].family);
          });
    return new Promise((resolve, reject) => {
      const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { method: 'POST', headers, signal, lookup: guard }, (res: IncomingMessage) => {
        const ok = is2xx(res.statusCode ?? 0);
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (!ok && text.length < ERROR_BODY_BYTES) text += chunk;
        });
        res.on('end', () => resolve({ code: res.statusCode ?? 0, text: text.slice(0, ERROR_BODY_BYTES).replace(/\s+/g, ' ').trim() }));
        res.on('error', reject);
      });
      // One deadline for the whole exchange: a socket timeout counts only silence, so an answer
      // that trickles in a byte at a time would hold its callback (and a socket) for ever.
      const deadline = setTimeout(() => {
        reject(new Error(`no answer within ${timeoutMs} ms`));
        req.destroy();
      }, timeoutMs);
      req.on('close', () => clearTimeout(deadline));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Shutdown: no more tries; what is in flight is cut (and sent again after the restart). */
  close() {
    this.closed = true;
    for (const id of [...this.hooks.keys()]) this.stop(id);
  }
}
