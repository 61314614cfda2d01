// `npm run bench`: the relay against a bare Fastify echo ceiling and the design floor (the issue's
// prototype at its smallest, floor-server.ts), closed and open loop, plus
// idle-actor memory and first poll after a restart on a big journal. Every process is a child
// of this one (echo server, relay, load generator, probes), talks only on 127.0.0.1, and is
// stopped by pid at the end; temp dirs (under TMPDIR: ~2.5 GB for the 1M-message journal) are
// removed. Knobs: BENCH_PAIRS, BENCH_SECONDS, BENCH_RATES, BENCH_RESTART_MESSAGES, BENCH_QUICK=1
// (~30 s smoke run) and more in config.ts. Prints a table, then one JSON line with every figure.
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ActorMemoryResult } from './actor-memory.ts';
import { loadBenchConfig, TARGETS, type BenchConfig } from './config.ts';
import { JsonClient, login } from './http-client.ts';
import { LoadGenerator } from './load-proc.ts';
import { cpuMicros, machineBusyPct, memory, runForJson, spawnTs, startPortServer, stopChild } from './proc.ts';
import type { Pair, PhaseResult, PhaseSpec } from './protocol.ts';
import { relayCommand, startRelayProcess, type RelayProcess } from './relay-proc.ts';
import { evaluateTargets, renderReport, type PhaseFigures, type Report } from './report.ts';
import { runRestartProbe } from './restart.ts';
import { renderMedia, runMediaBench } from './media.ts';

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
/** statfs type of tmpfs: there fsync is free and the journal lives in RAM. */
const TMPFS_MAGIC = 0x01021994;
/** Disk per journaled message (events, indexes, B-tree slack), measured: ~2.4 KiB. */
const JOURNAL_BYTES_PER_MESSAGE = 3_000;
/** Things to stop if the run fails or is interrupted, newest first. */
const cleanups: (() => Promise<void> | void)[] = [];

/** Runs one load phase and reads the server's CPU around it. */
async function measure(load: LoadGenerator, serverPid: number, name: string, phase: PhaseSpec, assertAlive = () => {}): Promise<PhaseFigures> {
  const cpu0 = cpuMicros(serverPid);
  const t0 = performance.now();
  const r: PhaseResult = await load.run(phase);
  const wallMs = performance.now() - t0;
  // A server that died mid-phase would otherwise show up as a wall of connection errors.
  assertAlive();
  const cpu = cpuMicros(serverPid) - cpu0;
  const secs = r.durationMs / 1000;
  const relay = r.kind !== 'echo';
  return {
    name,
    offeredPerSec: phase.kind === 'open' ? phase.rate : null,
    okPerSec: r.okInWindow / secs,
    deliveredPerSec: relay ? r.deliveredInWindow / secs : null,
    requestP50Ms: r.requestLatencyMs.p50,
    requestP99Ms: r.requestLatencyMs.p99,
    e2eP50Ms: relay ? r.e2eLatencyMs.p50 : null,
    e2eP99Ms: relay ? r.e2eLatencyMs.p99 : null,
    serverCpuMicrosPerMsg: r.okTotal ? cpu / r.okTotal : NaN,
    serverCpuPct: (cpu / 1000 / wallMs) * 100,
    clientCpuPct: r.clientCpuPct,
    errors: r.errors,
    lost: r.lost,
    duplicates: r.duplicates,
    shed: r.shed,
    raw: r,
  };
}

async function echoPhase(cfg: BenchConfig, load: LoadGenerator): Promise<{ figures: PhaseFigures; peakRss: number }> {
  const { child, base } = await startPortServer(join('scripts', 'bench', 'echo-server.ts'), 'echo server');
  cleanups.push(() => stopChild(child));
  const spec = { kind: 'echo', base, concurrency: cfg.pairs, textBytes: cfg.textBytes } as const;
  log(`echo: ${cfg.pairs} concurrent closed-loop clients, ${cfg.warmupSeconds} s warm-up + ${cfg.seconds} s`);
  if (cfg.warmupSeconds) await load.run({ ...spec, durationMs: cfg.warmupSeconds * 1000 });
  const figures = await measure(load, child.pid!, 'echo (bare Fastify)', { ...spec, durationMs: cfg.seconds * 1000 });
  const peakRss = memory(child.pid!).peakRss;
  await stopChild(child);
  return { figures, peakRss };
}

/**
 * The design floor (floor-server.ts: the prototype at its smallest) under the same
 * load: closed loop, and open at the rate the p99 target names. It shows, on this machine in
 * this run, what the design itself delivers, so the relay's figures can be read against it.
 */
async function floorPhases(cfg: BenchConfig, load: LoadGenerator): Promise<PhaseFigures[]> {
  const { child, base } = await startPortServer(join('scripts', 'bench', 'floor-server.ts'), 'floor server');
  cleanups.push(() => stopChild(child));
  // The floor takes the session header as the user's name: no logins.
  const pairs: Pair[] = Array.from({ length: cfg.pairs }, (_, i) => ({ senderToken: `floor-s${i}`, receiverToken: `floor-r${i}`, receiverAddress: `floor-r${i}` }));
  const spec = { base, pairs, textBytes: cfg.textBytes };
  log(`design floor: closed loop ${cfg.warmupSeconds} s warm-up + ${cfg.seconds} s, then open at ${TARGETS.p99AtRate}/s`);
  if (cfg.warmupSeconds) await load.run({ kind: 'closed', ...spec, durationMs: cfg.warmupSeconds * 1000 });
  const phases = [await measure(load, child.pid!, 'design floor closed', { kind: 'closed', ...spec, durationMs: cfg.seconds * 1000 })];
  phases.push(await measure(load, child.pid!, `design floor ${TARGETS.p99AtRate}/s`, { kind: 'open', ...spec, rate: TARGETS.p99AtRate, durationMs: cfg.seconds * 1000 }));
  await stopChild(child);
  return phases;
}

/** Logs in 2×pairs users over HTTP (a few at a time, as login commits are fsyncs). */
async function makePairs(relay: RelayProcess, n: number): Promise<Pair[]> {
  const client = new JsonClient(relay.base, 8);
  try {
    const pairs: Pair[] = new Array(n);
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < n) {
          const i = next++;
          const sender = await login(client, `bench-s${i}@bench.invalid`, `bench-s${i}`);
          const receiver = await login(client, `bench-r${i}@bench.invalid`, `bench-r${i}`);
          pairs[i] = { senderToken: sender.token, receiverToken: receiver.token, receiverAddress: receiver.address };
        }
      }),
    );
    return pairs;
  } finally {
    client.close();
  }
}

async function relayPhases(cfg: BenchConfig, load: LoadGenerator, tmp: string): Promise<{ phases: PhaseFigures[]; peakRss: number }> {
  log(`relay: starting ${relayCommand()}`);
  const relay = await startRelayProcess(join(tmp, 'relay'));
  cleanups.push(() => relay.stop());
  await relay.assertOwnsPort();
  const pairs = await makePairs(relay, cfg.pairs);
  log(`relay: ${pairs.length} pairs logged in; closed loop ${cfg.warmupSeconds} s warm-up + ${cfg.seconds} s`);
  const base = { base: relay.base, pairs, textBytes: cfg.textBytes };
  if (cfg.warmupSeconds) await load.run({ kind: 'closed', ...base, durationMs: cfg.warmupSeconds * 1000 });
  relay.assertAlive();
  const phases = [await measure(load, relay.pid, `relay closed loop`, { kind: 'closed', ...base, durationMs: cfg.seconds * 1000 }, relay.assertAlive)];
  for (const rate of cfg.rates) {
    log(`relay: open loop at ${rate} msg/s for ${cfg.seconds} s`);
    phases.push(await measure(load, relay.pid, `relay open ${rate}/s`, { kind: 'open', ...base, rate, durationMs: cfg.seconds * 1000 }, relay.assertAlive));
  }
  const peakRss = memory(relay.pid).peakRss;
  await relay.stop();
  return { phases, peakRss };
}

async function main() {
  const started = performance.now();
  const cfg = loadBenchConfig();
  const tmp = mkdtempSync(join(tmpdir(), 'pchat-bench-'));
  cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));
  log(`temp dir ${tmp}${cfg.quick ? ' (quick)' : ''}`);
  // Journals go under TMPDIR: it must be a real disk with room for the restart journal.
  const fs = statfsSync(tmp);
  const needed = cfg.restartMessages * JOURNAL_BYTES_PER_MESSAGE + 2 ** 30;
  if (fs.bavail * fs.bsize < needed) {
    throw new Error(`${tmp} has ${((fs.bavail * fs.bsize) / 2 ** 30).toFixed(1)} GiB free; the run needs ~${(needed / 2 ** 30).toFixed(1)} GiB (set TMPDIR or BENCH_RESTART_MESSAGES)`);
  }
  if (fs.type === TMPFS_MAGIC) log('warning: TMPDIR is a tmpfs, so fsync costs nothing and durable-send figures are optimistic');
  const busyBefore = await machineBusyPct();
  if (busyBefore > 10) log(`warning: the machine is already ${busyBefore.toFixed(0)}% busy; figures will be skewed`);

  const load = await LoadGenerator.start();
  cleanups.push(() => load.stop());
  const echo = await echoPhase(cfg, load);
  const floor = await floorPhases(cfg, load);
  const relay = await relayPhases(cfg, load, tmp);
  await load.stop();

  log(`actor memory: hydrating ${cfg.actors.toLocaleString('en')} inbox actors in-process`);
  const actorMemory = await runForJson<ActorMemoryResult>(join('scripts', 'bench', 'actor-memory.ts'), {
    nodeArgs: ['--expose-gc'],
    env: { ACTORS: String(cfg.actors) },
    timeoutMs: 120_000 + cfg.actors * 2,
  });

  const restart = await runRestartProbe(
    tmp,
    { messages: cfg.restartMessages, users: cfg.restartUsers, runs: cfg.restartRuns, textBytes: cfg.textBytes },
    log,
  );

  // Files, voice and translation: a separate step with its own relay process.
  const media = await runMediaBench(cfg.quick, log);

  const closed = relay.phases[0];
  const partial = {
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model?.trim() ?? '?', node: process.version, platform: process.platform, busyBeforePct: busyBefore },
    config: cfg,
    echo: echo.figures,
    floor,
    relay: relay.phases,
    relayPeakRssBytes: relay.peakRss,
    echoPeakRssBytes: echo.peakRss,
    relayToEchoRatio: closed.okPerSec / echo.figures.okPerSec,
    relayToEchoCpuRatio: echo.figures.serverCpuMicrosPerMsg / closed.serverCpuMicrosPerMsg,
    floorToEchoRatio: floor[0].okPerSec / echo.figures.okPerSec,
    actorMemory,
    restart,
  };
  const report: Report = { ...partial, targets: evaluateTargets(partial), totalSeconds: (performance.now() - started) / 1000 };
  process.stdout.write(renderReport(report) + '\n\n' + renderMedia(media) + '\n');
  // The raw per-phase results stay out of the JSON line; every figure above is in it.
  const json = { ...report, echo: { ...report.echo, raw: undefined }, floor: report.floor.map((p) => ({ ...p, raw: undefined })), relay: report.relay.map((p) => ({ ...p, raw: undefined })), media };
  process.stdout.write(JSON.stringify(json) + '\n');

  // Real-time figures (WebSocket pairs, fan-out, idle connections): their own relay and load
  // processes; they print their own table and JSON line.
  log('real-time: scripts/bench/realtime.ts');
  const rt = spawnTs(join('scripts', 'bench', 'realtime.ts'));
  cleanups.push(() => stopChild(rt));
  const code = await new Promise<number | null>((r) => rt.once('exit', r));
  if (code !== 0) throw new Error(`scripts/bench/realtime.ts exited with ${code}`);
}

async function cleanup() {
  // Taken out of the list first, so a second caller (SIGINT during cleanup) does not redo them.
  for (const fn of cleanups.splice(0).reverse()) {
    try {
      await fn();
    } catch {
      // best effort: keep stopping the rest
    }
  }
}

let interrupted = false;
process.once('SIGINT', () => {
  interrupted = true;
  log('interrupted; stopping children');
  void cleanup().then(() => process.exit(130));
});

main().then(
  () => cleanup(),
  async (err) => {
    if (interrupted) return; // the SIGINT handler cleans up and exits
    log(`failed: ${(err as Error)?.stack ?? err}`);
    await cleanup();
    process.exit(1);
  },
);
