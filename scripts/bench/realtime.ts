// The real-time step of `npm run bench` (also `npm run bench:realtime` alone): the relay as a
// child process, and a WebSocket load generator as another (scripts/bench/ws-load.ts).
//   0. the design floor (floor-server.ts: the prototype at its smallest) under steps
//      1 and 2, for reading the relay's figures against what the design gets on this machine;
//   1. 50 pairs over WebSocket, closed loop (each send acked after the journal flush);
//   2. open loop at 5,000 msg/s offered: send → push p99;
//   3. fan-out to a 1,000-member stream group, every observer on a socket: deliveries/s;
//   4. relay memory per idle connection with 10,000 WebSockets, then 10,000 parked long-polls
//      (2,000 each with BENCH_QUICK). For each, the relay is restarted on the same data dir
//      with a bench-only preload (relay-memory.mjs: --expose-gc, SIGUSR2 → full GC, then
//      process.memoryUsage() to a file), the users' inboxes are loaded, and before and while
//      the connections are held it is collected and its RSS sampled 7 times (median): neither
//      garbage nor freed-but-kept pages of earlier phases blur the difference.
// Knobs: BENCH_QUICK=1 (smaller), BENCH_PAIRS, BENCH_SECONDS, BENCH_WS_RATE,
// BENCH_FANOUT_OBSERVERS, BENCH_IDLE_CONNECTIONS. Prints a table and one JSON line.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { JsonClient, login } from './http-client.ts';
import { BENCH_DIR, cpuMicros, memory, runForJson, sleep, spawnTs, startPortServer, stopChild } from './proc.ts';
import { median } from './stats.ts';
import { startRelayProcess, type RelayProcess } from './relay-proc.ts';

const log = (line: string) => process.stderr.write(`[bench:realtime] ${line}\n`);
const quick = ['1', 'true', 'yes'].includes((process.env.BENCH_QUICK ?? '').toLowerCase());
const num = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const cfg = {
  pairs: num('BENCH_PAIRS', quick ? 10 : 50),
  seconds: num('BENCH_SECONDS', quick ? 3 : 10),
  rate: num('BENCH_WS_RATE', quick ? 1000 : 5000),
  observers: num('BENCH_FANOUT_OBSERVERS', quick ? 200 : 1000),
  fanoutMessages: quick ? 50 : 100,
  // Even quick: the more connections, the less of the per-connection figure is RSS noise
  // (2,000 needs ~4,100 descriptors across the relay and the load).
  idle: num('BENCH_IDLE_CONNECTIONS', quick ? 2000 : 10_000),
};
export const REALTIME_TARGETS = { msgsPerSec: 20_000, p99Ms: 15, bytesPerConnection: 30 * 1024, deliveriesPerSec: 100_000 };

async function users(relay: RelayProcess, prefix: string, n: number): Promise<{ token: string; address: string }[]> {
  const client = new JsonClient(relay.base, 8);
  const out: { token: string; address: string }[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await login(client, `${prefix}${i}@bench.invalid`, `${prefix}${i}`);
      }
    }),
  );
  client.close();
  return out;
}

const load = <T>(job: unknown, timeoutMs: number) => runForJson<T>(join('scripts', 'bench', 'ws-load.ts'), { env: { WS_JOB: JSON.stringify(job) }, timeoutMs });

interface Settled {
  /** Median of RSS samples taken after a full GC, bytes. */
  rss: number;
  /** V8 heap in use plus memory held outside it (Buffers, ArrayBuffers), after that GC. */
  heap: number;
}

/** Collects the relay's garbage (SIGUSR2 → relay-memory.mjs) and samples its RSS. */
async function settledMemory(relay: RelayProcess, file: string): Promise<Settled> {
  const seqOf = () => (existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : { seq: 0 });
  const before = seqOf().seq;
  process.kill(relay.pid, 'SIGUSR2');
  const deadline = performance.now() + 10_000;
  let m = seqOf();
  while (m.seq === before) {
    relay.assertAlive();
    if (performance.now() > deadline) throw new Error('the relay did not answer SIGUSR2 with its memory figures in 10 s');
    await sleep(20);
    m = seqOf();
  }
  const rss: number[] = [];
  for (let i = 0; i < 7; i++) {
    rss.push(memory(relay.pid).rss);
    await sleep(150);
  }
  return { rss: median(rss), heap: m.heapUsed + m.external };
}

/** Polls /health until `parked_polls` reaches n (the load reports sent requests, not parked ones). */
async function untilParked(relay: RelayProcess, n: number, ms = 20_000): Promise<void> {
  const client = new JsonClient(relay.base, 1);
  try {
    const deadline = performance.now() + ms;
    for (;;) {
      const h = await client.call('GET', '/health');
      if (h.body?.parked_polls >= n) return;
      if (performance.now() > deadline) throw new Error(`only ${h.body?.parked_polls} of ${n} long-polls parked after ${ms} ms`);
      await sleep(100);
    }
  } finally {
    client.close();
  }
}

type PairsJob = { mode: 'closed' } | { mode: 'open'; rate: number };

/** One pairs phase against a server (the relay or the floor), with the server's CPU per acked message. */
async function pairsPhase(name: string, base: string, pid: number, pairs: { sender: string; receiver: string; to: string }[], job: PairsJob) {
  log(`${name}: ${pairs.length} pairs, ${cfg.seconds} s`);
  const cpu0 = cpuMicros(pid);
  const r = await load<any>({ kind: 'pairs', base, pairs, ms: cfg.seconds * 1000, warmupMs: 1000, textBytes: 100, ...job }, 120_000);
  const cpu = cpuMicros(pid) - cpu0;
  // The load's 1 s warm-up and its 0.5 s drain are in the CPU, not in `acked`: scaled to match.
  return { name, ...r, serverCpuMicrosPerMsg: cpu / Math.max(1, r.acked * ((cfg.seconds + 1.5) / cfg.seconds)) };
}

/** The design floor under the same two pairs phases as the relay. */
async function floorPhases() {
  const { child, base } = await startPortServer(join('scripts', 'bench', 'floor-server.ts'), 'floor server');
  try {
    // The floor takes the session header as the user's name: no logins.
    const pairs = Array.from({ length: cfg.pairs }, (_, i) => ({ sender: `floor-s${i}`, receiver: `floor-r${i}`, to: `floor-r${i}` }));
    const closed = await pairsPhase('design floor, closed loop over WebSocket', base, child.pid!, pairs, { mode: 'closed' });
    const open = await pairsPhase(`design floor, open loop ${cfg.rate}/s over WebSocket`, base, child.pid!, pairs, { mode: 'open', rate: cfg.rate });
    return { closed, open };
  } finally {
    await stopChild(child);
  }
}

async function main() {
  const floor = await floorPhases();
  const tmp = mkdtempSync(join(tmpdir(), 'pchat-bench-rt-'));
  const memoryFile = join(tmp, 'relay-memory.json');
  const dataDir = join(tmp, 'relay');
  let relay = await startRelayProcess(dataDir);
  try {
    await relay.assertOwnsPort();
    const senders = await users(relay, 'ws-s', cfg.pairs);
    const receivers = await users(relay, 'ws-r', cfg.pairs);
    const pairs = senders.map((s, i) => ({ sender: s.token, receiver: receivers[i].token, to: receivers[i].address }));
    const phase = async (name: string, job: PairsJob) => {
      const r = await pairsPhase(name, relay.base, relay.pid, pairs, job);
      relay.assertAlive();
      return r;
    };
    const closed = await phase('closed loop over WebSocket', { mode: 'closed' });
    const open = await phase(`open loop ${cfg.rate}/s over WebSocket`, { mode: 'open', rate: cfg.rate });

    log(`fan-out: ${cfg.observers} observers of a stream group`);
    const owner = (await users(relay, 'fan-owner', 1))[0];
    const observers = await users(relay, 'fan-o', cfg.observers);
    const client = new JsonClient(relay.base, 1);
    const group = await client.call('POST', '/api/v1/webchat/groups', { name: 'bench', visibility: 'public', mode: 'stream', members: observers.map((o) => o.address) }, owner.token);
    client.close();
    if (group.status !== 200) throw new Error(`group create ${group.status} ${JSON.stringify(group.body)}`);
    const fanout = await load<any>({ kind: 'fanout', base: relay.base, owner: owner.token, group: group.body.group.group_id, observers: observers.map((o) => o.token), messages: cfg.fanoutMessages, relayPid: relay.pid }, 300_000);

    const idle: Record<string, number> = {};
    const idleHeap: Record<string, number> = {};
    for (const via of ['ws', 'poll'] as const) {
      log(`idle: ${cfg.idle} ${via === 'ws' ? 'WebSockets' : 'parked long-polls'} (fresh relay process with the memory probe)`);
      await relay.stop();
      relay = await startRelayProcess(dataDir, {
        nodeArgs: ['--expose-gc', '--import', pathToFileURL(join(BENCH_DIR, 'relay-memory.mjs')).href],
        env: { BENCH_MEMORY_FILE: memoryFile },
      });
      await relay.assertOwnsPort();
      // Each user's inbox loaded first, so only the connections are in the difference.
      const warm = new JsonClient(relay.base, 8);
      try {
        await Promise.all(observers.map((o) => warm.call('POST', '/api/v1/webchat/poll', { wait_ms: 0, peek: true, limit: 1 }, o.token)));
      } finally {
        warm.close();
      }
      await sleep(1000);
      const before = await settledMemory(relay, memoryFile);
      // stdin piped: the load holds its connections until it is closed.
      const child = spawnTs(join('scripts', 'bench', 'ws-load.ts'), [], {
        env: { WS_JOB: JSON.stringify({ kind: 'idle', base: relay.base, tokens: observers.map((o) => o.token), connections: cfg.idle, via }) },
        stdout: 'pipe',
        stdin: 'pipe',
      });
      try {
        await new Promise<void>((resolve, reject) => {
          child.stdout!.setEncoding('utf8').once('data', () => resolve());
          child.once('exit', (c) => reject(new Error(`idle load exited ${c}`)));
        });
        // WebSockets are counted once each got its `ready` frame; long-polls once the relay holds them.
        if (via === 'poll') await untilParked(relay, cfg.idle);
        await sleep(1000);
        const held = await settledMemory(relay, memoryFile);
        if (child.exitCode !== null) throw new Error('the idle load let go of its connections before they were measured');
        if (via === 'poll') await untilParked(relay, cfg.idle, 1_000); // still all parked (wait_ms is 30 s)
        idle[via] = (held.rss - before.rss) / cfg.idle;
        idleHeap[via] = (held.heap - before.heap) / cfg.idle;
      } finally {
        child.stdin?.end();
        await stopChild(child, 5_000);
      }
      await sleep(via === 'poll' ? 1000 : 500);
    }
    const result = { config: cfg, floor, closed, open, fanout, idleBytesPerConnection: idle, idleHeapBytesPerConnection: idleHeap, targets: REALTIME_TARGETS };
    const row = (k: string, v: string, target: string, floorFigure = '') => `  ${k.padEnd(44)} ${v.padStart(14)}   ${target.padEnd(18)}${floorFigure.padStart(12)}`;
    const f = (n: number, d = 0) => n.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d });
    process.stdout.write(
      [
        'Real-time (WebSocket) figures',
        row('', 'relay', '', 'design floor'),
        row(`durable msg/s, ${cfg.pairs} pairs, closed loop`, f(closed.okPerSec), `target ≥ ${f(REALTIME_TARGETS.msgsPerSec)}`, f(floor.closed.okPerSec)),
        row('  ack p50 / p99 ms', `${f(closed.ackP50Ms, 1)} / ${f(closed.ackP99Ms, 1)}`, '', `${f(floor.closed.ackP50Ms, 1)} / ${f(floor.closed.ackP99Ms, 1)}`),
        row('  server CPU µs per message', f(closed.serverCpuMicrosPerMsg), '', f(floor.closed.serverCpuMicrosPerMsg)),
        row(`send→push p99 ms at ${cfg.rate}/s offered`, f(open.e2eP99Ms, 1), `target ≤ ${REALTIME_TARGETS.p99Ms}`, f(floor.open.e2eP99Ms, 1)),
        row('  offered/s, as the load sent them', f(open.offeredPerSec), '', f(floor.open.offeredPerSec)),
        row('  delivered/s at that rate', f(open.deliveredPerSec), '', f(floor.open.deliveredPerSec)),
        row(`fan-out deliveries/s (${cfg.observers} observers)`, f(fanout.deliveriesPerSec), `target ≥ ${f(REALTIME_TARGETS.deliveriesPerSec)}`),
        row('  server CPU µs per delivery', f(fanout.serverCpuMicrosPerDelivery, 1), ''),
        row(`RSS per idle WebSocket (${f(cfg.idle)})`, `${f(idle.ws / 1024, 1)} KB`, `target ≤ ${REALTIME_TARGETS.bytesPerConnection / 1024} KB`),
        row('  of which JS heap + buffers', `${f(idleHeap.ws / 1024, 1)} KB`, ''),
        row(`RSS per parked long-poll (${f(cfg.idle)})`, `${f(idle.poll / 1024, 1)} KB`, `target ≤ ${REALTIME_TARGETS.bytesPerConnection / 1024} KB`),
        row('  of which JS heap + buffers', `${f(idleHeap.poll / 1024, 1)} KB`, ''),
        '  design floor: scripts/bench/floor-server.ts, the issue\'s prototype at its smallest (an XState inbox, one LMDB put per message acked after the flush,',
        '   pushed to the receiver\'s socket; no auth, validation, receipts, conversations or sender\'s copy), under the same load first: what the design costs here.',
        '  (each on a fresh relay process with the users\' inboxes loaded; after a full GC, RSS the median of 7 samples, before and while the connections are held.',
        '   RSS also moves with growth that is not the connections\' own (freed pages reused, heap and code growing in steps); the heap figure is what they keep)',
      ].join('\n') + '\n',
    );
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    await relay.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  log(`failed: ${(err as Error).stack}`);
  process.exit(1);
});
