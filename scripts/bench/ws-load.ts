// WebSocket load generator, run as its own process so its CPU is not the relay's. Reads one
// JSON job from the WS_JOB environment variable, prints one JSON result line.
//   pairs  — each sender sends over its socket (closed loop: next send after the ack, which
//            comes after the journal flush, or open loop at a fixed total rate); receivers get
//            pushes; latency is send → push at the receiver.
//   fanout — observers of a stream group on sockets; the owner sends; deliveries/s until every
//            observer has every message.
//   idle   — opens N sockets (or N parked long-polls), reports when all are ready, and holds
//            them until stdin closes.
import WebSocket from 'ws';
import { Agent, request } from 'node:http';
import { percentile, Samples } from './stats.ts';
import { cpuMicros } from './proc.ts';

type Job =
  | { kind: 'pairs'; base: string; pairs: { sender: string; receiver: string; to: string }[]; mode: 'closed' | 'open'; rate?: number; ms: number; warmupMs: number; textBytes: number }
  | { kind: 'fanout'; base: string; owner: string; group: string; observers: string[]; messages: number; relayPid: number }
  | { kind: 'idle'; base: string; tokens: string[]; connections: number; via: 'ws' | 'poll' };

const job = JSON.parse(process.env.WS_JOB ?? '{}') as Job;
const wsUrl = (base: string, query = '') => `${base.replace(/^http/, 'ws')}/api/v1/webchat/ws${query}`;

function connect(base: string, token: string, onFrame: (f: any) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(base), { headers: { 'x-pchat-session': token }, perMessageDeflate: false });
    ws.on('message', (data) => {
      const f = JSON.parse(String(data));
      if (f.type === 'ready') resolve(ws);
      onFrame(f);
    });
    ws.once('error', reject);
  });
}

async function pairs(j: Extract<Job, { kind: 'pairs' }>) {
  const e2e = new Samples();
  const ackLat = new Samples();
  let measuring = false;
  let acked = 0;
  let delivered = 0;
  let errors = 0;
  const pad = 'x'.repeat(Math.max(0, j.textBytes - 20));
  const senders: WebSocket[] = [];
  const pending = new Map<string, number>();
  let ref = 0;
  for (const p of j.pairs) {
    await connect(j.base, p.receiver, (f) => {
      if (f.type !== 'message' || f.outgoing) return;
      const sentAt = Number(f.message.text.slice(0, f.message.text.indexOf(' ')));
      if (measuring) {
        delivered++;
        e2e.push(performance.timeOrigin + performance.now() - sentAt);
      }
    });
    const s = await connect(j.base, p.sender, (f) => {
      if (f.type !== 'ack' && f.type !== 'error') return;
      const t0 = pending.get(f.ref);
      pending.delete(f.ref);
      if (f.type === 'error') errors++;
      else if (measuring) {
        acked++;
        if (t0 !== undefined) ackLat.push(performance.now() - t0);
      }
      if (j.mode === 'closed' && running) sendOne(s, p.to);
    });
    senders.push(s);
  }
  let running = true;
  /** `at`: when the send was due (open loop), so latency includes any wait to send it. */
  const sendOne = (ws: WebSocket, to: string, at = performance.now()) => {
    const r = String(++ref);
    pending.set(r, at);
    ws.send(JSON.stringify({ type: 'send', ref: r, to, text: `${performance.timeOrigin + at} ${pad}` }));
  };
  let timer: NodeJS.Timeout | undefined;
  let sent = 0;
  if (j.mode === 'closed') j.pairs.forEach((p, i) => sendOne(senders[i], p.to));
  else {
    // Open loop: message k is due at start + k/rate whatever happened to earlier ones (a
    // count of timer ticks would drift low: timers fire late), and its latency is measured
    // from that due time, so a stalled relay cannot hide its queueing.
    const interval = 1000 / j.rate!;
    const start = performance.now();
    timer = setInterval(() => {
      const due = Math.floor((performance.now() - start) / interval) + 1;
      for (; sent < due; sent++) sendOne(senders[sent % senders.length], j.pairs[sent % senders.length].to, start + sent * interval);
    }, 1);
  }
  await new Promise((r) => setTimeout(r, j.warmupMs));
  measuring = true;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const sent0 = sent;
  await new Promise((r) => setTimeout(r, j.ms));
  const secs = (performance.now() - t0) / 1000;
  const offered = sent - sent0;
  measuring = false;
  running = false;
  clearInterval(timer);
  const cpu = process.cpuUsage(cpu0);
  await new Promise((r) => setTimeout(r, 500));
  return {
    ...(j.mode === 'open' ? { offeredPerSec: offered / secs } : {}),
    okPerSec: acked / secs,
    deliveredPerSec: delivered / secs,
    ackP50Ms: percentile(ackLat.values(), 50),
    ackP99Ms: percentile(ackLat.values(), 99),
    e2eP50Ms: percentile(e2e.values(), 50),
    e2eP99Ms: percentile(e2e.values(), 99),
    errors,
    acked,
    clientCpuPct: ((cpu.user + cpu.system) / 1000 / (secs * 1000)) * 100,
  };
}

async function fanout(j: Extract<Job, { kind: 'fanout' }>) {
  let got = 0;
  const total = j.messages * j.observers.length;
  let done: () => void;
  const all = new Promise<void>((r) => (done = r));
  for (let i = 0; i < j.observers.length; i += 100) {
    await Promise.all(
      j.observers.slice(i, i + 100).map((token) =>
        connect(j.base, token, (f) => {
          if (f.type === 'message' && ++got === total) done();
        }),
      ),
    );
  }
  const owner = await connect(j.base, j.owner, () => {});
  const t0 = performance.now();
  const cpu0 = cpuMicros(j.relayPid);
  for (let i = 0; i < j.messages; i++) owner.send(JSON.stringify({ type: 'send', ref: String(i), to: `group:${j.group}`, text: `status ${i}` }));
  await Promise.race([all, new Promise((r) => setTimeout(r, 120_000))]);
  const secs = (performance.now() - t0) / 1000;
  // The relay's CPU from the first send to the last delivery (connecting is not counted).
  const serverCpuMicrosPerDelivery = (cpuMicros(j.relayPid) - cpu0) / Math.max(1, got);
  return { observers: j.observers.length, messages: j.messages, deliveries: got, seconds: secs, deliveriesPerSec: got / secs, serverCpuMicrosPerDelivery };
}

/** One JSON POST; resolves the parsed body (status ≠ 200 rejects). */
function postJson(base: string, path: string, token: string, body: unknown, agent: Agent): Promise<any> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'x-pchat-session': token } });
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text)) : reject(new Error(`${path}: ${res.statusCode} ${text.slice(0, 200)}`))));
    });
    req.end(JSON.stringify(body));
  });
}

/** Where each user's stream ends now: a long-poll from there parks (one from 0 would return the earlier phases' events at once). */
async function streamEnds(base: string, tokens: string[], agent: Agent): Promise<Map<string, number>> {
  const ends = new Map<string, number>();
  for (const token of new Set(tokens)) {
    let after: number | undefined;
    for (;;) {
      const r = await postJson(base, '/api/v1/webchat/poll', token, { wait_ms: 0, peek: true, limit: 500, ...(after === undefined ? {} : { after }) }, agent);
      after = r.next_after;
      if (!r.has_more) break;
    }
    ends.set(token, after ?? 0);
  }
  return ends;
}

async function idle(j: Extract<Job, { kind: 'idle' }>) {
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  let open = 0;
  const held: unknown[] = [];
  const ends = j.via === 'poll' ? await streamEnds(j.base, j.tokens, new Agent({ keepAlive: true, maxSockets: 8 })) : null;
  for (let i = 0; i < j.connections; i += 200) {
    await Promise.all(
      Array.from({ length: Math.min(200, j.connections - i) }, async (_, k) => {
        const token = j.tokens[(i + k) % j.tokens.length];
        if (j.via === 'ws') {
          held.push(await connect(j.base, token, () => {}));
        } else {
          // A parked long-poll: from the end of the user's stream, so the relay holds it for wait_ms.
          const req = request(`${j.base}/api/v1/webchat/poll`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'x-pchat-session': token } });
          req.on('error', () => {});
          req.on('response', (res) => res.resume());
          req.end(JSON.stringify({ wait_ms: 30_000, consumer: `idle${(i + k) % 16}`, peek: true, after: ends!.get(token) }));
          held.push(req);
        }
        open++;
      }),
    );
  }
  process.stdout.write(JSON.stringify({ open }) + '\n');
  await new Promise((r) => process.stdin.once('end', r).resume());
  return { open };
}

const run = job.kind === 'pairs' ? pairs(job) : job.kind === 'fanout' ? fanout(job) : idle(job);
run.then(
  (r) => {
    process.stdout.write(JSON.stringify(r) + '\n');
    process.exit(0);
  },
  (err) => {
    process.stderr.write(`ws-load: ${(err as Error).stack}\n`);
    process.exit(1);
  },
);
