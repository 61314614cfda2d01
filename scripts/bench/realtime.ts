// The real-time step of `npm run bench` (also `npm run bench:realtime` alone): the relay as a
// child process, and a WebSocket load generator as another (scripts/bench/ws-load.ts).
//   1. 50 pairs over WebSocket, closed loop (each send acked after the journal flush);
//   2. open loop at 5,000 msg/s offered: send → push p99;
//   3. fan-out to a 1,000-member stream group, every observer on a socket: deliveries/s;
//   4. relay RSS per idle connection with 10,000 WebSockets, then 10,000 parked long-polls.
// Knobs: BENCH_QUICK=1 (smaller), BENCH_PAIRS, BENCH_SECONDS, BENCH_WS_RATE,
// BENCH_FANOUT_OBSERVERS, BENCH_IDLE_CONNECTIONS. Prints a table and one JSON line.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonClient, login } from './http-client.ts';
import { cpuMicros, memory, runForJson, sleep, spawnTs, stopChild } from './proc.ts';
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
  idle: num('BENCH_IDLE_CONNECTIONS', quick ? 1000 : 10_000),
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

async function main() {
  const tmp = mkdtempSync(join(tmpdir(), 'pchat-bench-rt-'));
  const relay = await startRelayProcess(join(tmp, 'relay'));
  try {
    await relay.assertOwnsPort();
    const senders = await users(relay, 'ws-s', cfg.pairs);
    const receivers = await users(relay, 'ws-r', cfg.pairs);
    const pairs = senders.map((s, i) => ({ sender: s.token, receiver: receivers[i].token, to: receivers[i].address }));
    const phase = async (name: string, job: Record<string, unknown>) => {
      log(`${name}: ${cfg.pairs} pairs, ${cfg.seconds} s`);
      const cpu0 = cpuMicros(relay.pid);
      const r = await load<any>({ kind: 'pairs', base: relay.base, pairs, ms: cfg.seconds * 1000, warmupMs: 1000, textBytes: 100, ...job }, 120_000);
      relay.assertAlive();
      const cpu = cpuMicros(relay.pid) - cpu0;
      return { name, ...r, serverCpuMicrosPerMsg: cpu / Math.max(1, r.acked * ((cfg.seconds + 1.5) / cfg.seconds)) };
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
    for (const via of ['ws', 'poll'] as const) {
      log(`idle: ${cfg.idle} ${via === 'ws' ? 'WebSockets' : 'parked long-polls'}`);
      await sleep(1000);
      const before = memory(relay.pid).rss;
      const child = spawnTs(join('scripts', 'bench', 'ws-load.ts'), [], { env: { WS_JOB: JSON.stringify({ kind: 'idle', base: relay.base, tokens: observers.map((o) => o.token), connections: cfg.idle, via }) }, stdout: 'pipe' });
      await new Promise<void>((resolve, reject) => {
        child.stdout!.setEncoding('utf8').once('data', () => resolve());
        child.once('exit', (c) => reject(new Error(`idle load exited ${c}`)));
      });
      await sleep(2000);
      const after = memory(relay.pid).rss;
      idle[via] = (after - before) / cfg.idle;
      child.stdin?.end();
      await stopChild(child, 5_000);
      await sleep(via === 'poll' ? 1000 : 500);
    }
    const result = { config: cfg, closed, open, fanout, idleBytesPerConnection: idle, targets: REALTIME_TARGETS };
    const row = (k: string, v: string, target: string) => `  ${k.padEnd(44)} ${v.padStart(14)}   ${target}`;
    const f = (n: number, d = 0) => n.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d });
    process.stdout.write(
      [
        'Real-time (WebSocket) figures',
        row(`durable msg/s, ${cfg.pairs} pairs, closed loop`, f(closed.okPerSec), `target ≥ ${f(REALTIME_TARGETS.msgsPerSec)}`),
        row('  ack p50 / p99 ms', `${f(closed.ackP50Ms, 1)} / ${f(closed.ackP99Ms, 1)}`, ''),
        row('  server CPU µs per message', f(closed.serverCpuMicrosPerMsg), ''),
        row(`send→push p99 ms at ${cfg.rate}/s offered`, f(open.e2eP99Ms, 1), `target ≤ ${REALTIME_TARGETS.p99Ms}`),
        row('  delivered/s at that rate', f(open.deliveredPerSec), ''),
        row(`fan-out deliveries/s (${cfg.observers} observers)`, f(fanout.deliveriesPerSec), `target ≥ ${f(REALTIME_TARGETS.deliveriesPerSec)}`),
        row('  server CPU µs per delivery', f(fanout.serverCpuMicrosPerDelivery, 1), ''),
        row(`RSS per idle WebSocket (${f(cfg.idle)})`, `${f(idle.ws / 1024, 1)} KB`, `target ≤ ${REALTIME_TARGETS.bytesPerConnection / 1024} KB`),
        row(`RSS per parked long-poll (${f(cfg.idle)})`, `${f(idle.poll / 1024, 1)} KB`, `target ≤ ${REALTIME_TARGETS.bytesPerConnection / 1024} KB`),
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
