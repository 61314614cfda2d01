// Load generator, run as a child process with an IPC channel (see protocol.ts). It runs one
// phase at a time: echo closed loop, relay closed loop, or relay open loop at a fixed rate.
// Every phase is bounded in time (its duration plus a bounded drain) and in count (sample
// caps, in-flight cap); every request has a timeout; parked polls are aborted at the end.
import { setMaxListeners } from 'node:events';
import { JsonClient } from './http-client.ts';
import type { FromLoad, LatencySummary, Pair, PhaseResult, PhaseSpec, ToLoad } from './protocol.ts';
import { Samples } from './stats.ts';

/** A send that takes longer than this counts as an error (the phase must end on its own). */
const SEND_TIMEOUT_MS = 15_000;
/** Receivers park this long, as the clients do. */
const POLL_WAIT_MS = 25_000;
const POLL_LIMIT = 100;
/** After the window: how long in-flight sends and not-yet-polled messages may take to land. */
const DRAIN_MS = 10_000;
/** Open loop: beyond this many sends in flight the relay is hopelessly behind; further sends are shed. */
const MAX_IN_FLIGHT = 4_000;
/** Open loop: sockets for sends; beyond them sends queue in the client, still timed from their due time. */
const OPEN_LOOP_SOCKETS = 512;
/**
 * Open loop: sockets opened before the clock starts. Node's libuv (≥ 1.45) accepts one
 * connection per event-loop turn, and under load a turn takes milliseconds, so hundreds of
 * sockets opened at once wait in the relay's accept queue for seconds. Clients of a running
 * relay hold their connections; what is measured is sends over them, not a connection storm.
 */
const OPEN_LOOP_WARM_SOCKETS = OPEN_LOOP_SOCKETS;
/** Back-off after an error answer, so a failing relay is not hammered in a hot loop. */
const ERROR_BACKOFF_MS = 5;

const now = () => performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
let phaseCounter = 0;

/** Message text: a phase tag and the send time (ms, this process's clock), padded to size. */
function makeText(tag: string, sentAt: number, bytes: number): string {
  const head = `${tag} ${sentAt.toFixed(3)} `;
  return head + 'x'.repeat(Math.max(1, bytes - head.length));
}

function parseText(text: string): { tag: string; sentAt: number } | null {
  const [tag, t] = text.split(' ', 2);
  const sentAt = Number(t);
  return tag && Number.isFinite(sentAt) ? { tag, sentAt } : null;
}

class Errors {
  count = 0;
  samples: string[] = [];
  add(what: string) {
    this.count++;
    if (this.samples.length < 5) this.samples.push(what.slice(0, 200));
  }
}

const summary = (s: Samples): LatencySummary => s.summary();

function cpuMeter() {
  const start = process.cpuUsage();
  const t0 = now();
  return () => {
    const d = process.cpuUsage(start);
    return ((d.user + d.system) / 1000 / (now() - t0)) * 100;
  };
}

// ---------- echo ----------

async function runEcho(spec: Extract<PhaseSpec, { kind: 'echo' }>): Promise<PhaseResult> {
  const client = new JsonClient(spec.base, spec.concurrency + 4);
  const cpu = cpuMeter();
  const errors = new Errors();
  const latency = new Samples();
  let okInWindow = 0;
  let okTotal = 0;
  const start = now();
  const end = start + spec.durationMs;
  const worker = async () => {
    while (now() < end) {
      const t = now();
      try {
        const res = await client.call('POST', '/echo', { channel: 'pchat', to: 'echo', text: makeText('echo', t, spec.textBytes) }, undefined, undefined, SEND_TIMEOUT_MS);
        const done = now();
        if (res.status !== 200) throw new Error(`echo ${res.status}`);
        okTotal++;
        if (done <= end) okInWindow++;
        latency.push(done - t);
      } catch (err) {
        errors.add((err as Error).message);
        await sleep(ERROR_BACKOFF_MS);
      }
    }
  };
  await Promise.all(Array.from({ length: spec.concurrency }, worker));
  client.close();
  return {
    kind: 'echo',
    durationMs: spec.durationMs,
    okInWindow,
    okTotal,
    errors: errors.count,
    errorSamples: errors.samples,
    shed: 0,
    offered: okTotal,
    deliveredInWindow: 0,
    deliveredTotal: 0,
    lost: 0,
    duplicates: 0,
    requestLatencyMs: summary(latency),
    e2eLatencyMs: summary(new Samples(1)),
    clientCpuPct: cpu(),
  };
}

// ---------- relay ----------

/** Long-polling receivers for one phase: count and time every message carrying the phase tag. */
class Receivers {
  private readonly abort = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private readonly seen = new Set<string>();
  readonly e2e = new Samples();
  delivered = 0;
  deliveredInWindow = 0;
  duplicates = 0;
  windowEnd = Infinity;

  constructor(
    private readonly client: JsonClient,
    private readonly tag: string,
    private readonly errors: Errors,
  ) {
    // One signal is shared by every parked poll of the phase (one listener each).
    setMaxListeners(0, this.abort.signal);
  }

  start(pairs: Pair[]) {
    for (const p of pairs) this.loops.push(this.loop(p.receiverToken));
  }

  private async loop(token: string) {
    const body = { wait_ms: POLL_WAIT_MS, limit: POLL_LIMIT };
    while (!this.abort.signal.aborted) {
      try {
        const res = await this.client.call('POST', '/api/v1/webchat/poll', body, token, this.abort.signal, POLL_WAIT_MS + 10_000);
        const at = now();
        if (res.status !== 200) {
          this.errors.add(`poll ${res.status} ${JSON.stringify(res.body).slice(0, 120)}`);
          await sleep(ERROR_BACKOFF_MS);
          continue;
        }
        for (const m of res.body.messages as { id: string; text: string }[]) {
          const parsed = parseText(m.text);
          // Leftovers of an earlier phase carry another tag: not this phase's latency.
          if (!parsed || parsed.tag !== this.tag) continue;
          if (this.seen.has(m.id)) {
            this.duplicates++;
            continue;
          }
          this.seen.add(m.id);
          this.delivered++;
          if (at <= this.windowEnd) this.deliveredInWindow++;
          this.e2e.push(at - parsed.sentAt);
        }
      } catch (err) {
        if (this.abort.signal.aborted) break;
        this.errors.add(`poll: ${(err as Error).message}`);
        await sleep(ERROR_BACKOFF_MS);
      }
    }
  }

  /** Waits (bounded) until `expected` messages arrived, then aborts every parked poll. */
  async stop(expected: number, drainUntil: number) {
    while (this.delivered < expected && now() < drainUntil) await sleep(10);
    this.abort.abort();
    await Promise.all(this.loops);
  }
}

async function runRelay(spec: Extract<PhaseSpec, { kind: 'closed' | 'open' }>): Promise<PhaseResult> {
  const tag = `p${process.pid}.${++phaseCounter}`;
  // Separate agents: queued sends must never hold up a receiver's next poll (or the reverse).
  const client = new JsonClient(spec.base, spec.kind === 'open' ? OPEN_LOOP_SOCKETS : spec.pairs.length + 4);
  const pollClient = new JsonClient(spec.base, spec.pairs.length + 4);
  const errors = new Errors();
  const sendLatency = new Samples();
  const receivers = new Receivers(pollClient, tag, errors);
  receivers.start(spec.pairs);
  if (spec.kind === 'open') {
    // All at once, so each takes its own socket; the agent keeps them for the sends.
    const warm = await Promise.all(Array.from({ length: OPEN_LOOP_WARM_SOCKETS }, () => client.call('GET', '/health').catch((err: Error) => err)));
    const failed = warm.find((r) => r instanceof Error);
    if (failed) errors.add(`warm-up: ${(failed as Error).message}`);
  }
  // Let the receivers park (and swallow any leftovers) before the clock starts.
  await sleep(200);

  const cpu = cpuMeter();
  let okInWindow = 0;
  let okTotal = 0;
  let offered = 0;
  let shed = 0;
  let inFlight = 0;
  const start = now();
  const end = start + spec.durationMs;
  receivers.windowEnd = end;

  const send = async (pair: Pair, sentAt: number) => {
    offered++;
    inFlight++;
    try {
      const body = { channel: 'pchat', to: pair.receiverAddress, text: makeText(tag, sentAt, spec.textBytes) };
      const res = await client.call('POST', '/api/v1/messages', body, pair.senderToken, undefined, SEND_TIMEOUT_MS);
      const done = now();
      if (res.status !== 200) {
        errors.add(`send ${res.status} ${JSON.stringify(res.body).slice(0, 120)}`);
        return false;
      }
      okTotal++;
      if (done <= end) okInWindow++;
      sendLatency.push(done - sentAt);
      return true;
    } catch (err) {
      errors.add(`send: ${(err as Error).message}`);
      return false;
    } finally {
      inFlight--;
    }
  };

  const pending = new Set<Promise<boolean>>();
  if (spec.kind === 'closed') {
    await Promise.all(
      spec.pairs.map(async (pair) => {
        while (now() < end) if (!(await send(pair, now()))) await sleep(ERROR_BACKOFF_MS);
      }),
    );
  } else {
    // Open loop: message i is due at start + i/rate whatever happened to earlier ones; its
    // latency is measured from that due time, so a stalled relay cannot hide its queueing.
    const total = Math.floor((spec.rate * spec.durationMs) / 1000);
    const interval = 1000 / spec.rate;
    let i = 0;
    while (i < total) {
      const due = Math.min(total, Math.floor((now() - start) / interval) + 1);
      for (; i < due; i++) {
        if (inFlight >= MAX_IN_FLIGHT) {
          shed++;
          continue;
        }
        const p = send(spec.pairs[i % spec.pairs.length], start + i * interval);
        pending.add(p);
        void p.then(() => pending.delete(p));
      }
      await sleep(1);
    }
  }
  // Bounded drain: in-flight sends (each has its own timeout), then messages still to be polled.
  await Promise.all(pending);
  await receivers.stop(okTotal, now() + DRAIN_MS);
  const clientCpuPct = cpu();
  client.close();
  pollClient.close();
  return {
    kind: spec.kind,
    durationMs: spec.durationMs,
    okInWindow,
    okTotal,
    errors: errors.count,
    errorSamples: errors.samples,
    shed,
    offered,
    deliveredInWindow: receivers.deliveredInWindow,
    deliveredTotal: receivers.delivered,
    lost: Math.max(0, okTotal - receivers.delivered),
    duplicates: receivers.duplicates,
    requestLatencyMs: summary(sendLatency),
    e2eLatencyMs: summary(receivers.e2e),
    clientCpuPct,
  };
}

// ---------- IPC ----------

function reply(msg: FromLoad) {
  process.send!(msg);
}

process.on('message', (msg: ToLoad) => {
  if (msg.type === 'exit') process.exit(0);
  const run = msg.phase.kind === 'echo' ? runEcho(msg.phase) : runRelay(msg.phase);
  run.then(
    (result) => reply({ type: 'result', id: msg.id, result }),
    (err) => reply({ type: 'error', id: msg.id, message: (err as Error).stack ?? String(err) }),
  );
});
// The orchestrator going away must not leave a load generator behind.
process.on('disconnect', () => process.exit(0));
reply({ type: 'ready' });
