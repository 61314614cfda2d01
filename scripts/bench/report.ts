// The printout: one table of load phases, the memory and restart figures, and each target
// with its verdict. The machine-readable JSON line is written by run.ts.
import type { ActorMemoryResult } from './actor-memory.ts';
import type { BenchConfig } from './config.ts';
import { TARGETS } from './config.ts';
import type { PhaseResult } from './protocol.ts';
import type { RestartResult } from './restart.ts';

export interface PhaseFigures {
  name: string;
  /** Offered rate (open loop) or null for closed loop. */
  offeredPerSec: number | null;
  /** Echo req/s, or relay durable (acked) sends/s. */
  okPerSec: number;
  deliveredPerSec: number | null;
  requestP50Ms: number;
  requestP99Ms: number;
  e2eP50Ms: number | null;
  e2eP99Ms: number | null;
  /** Server process CPU (user+sys, all threads) per request or per acked message. */
  serverCpuMicrosPerMsg: number;
  serverCpuPct: number;
  clientCpuPct: number;
  errors: number;
  lost: number;
  duplicates: number;
  shed: number;
  raw: PhaseResult;
}

export interface Report {
  /** busyBeforePct: CPU already in use by other processes in the second before the run. */
  machine: { cpus: number; cpuModel: string; node: string; platform: string; busyBeforePct: number };
  config: BenchConfig;
  echo: PhaseFigures;
  /** The design floor (floor-server.ts): closed loop, then open at the p99 target's rate. */
  floor: PhaseFigures[];
  relay: PhaseFigures[];
  relayPeakRssBytes: number;
  echoPeakRssBytes: number;
  /** Relay closed-loop durable sends/s ÷ bare echo req/s. */
  relayToEchoRatio: number;
  /**
   * Echo server CPU per request ÷ relay CPU per message (closed loop): the same comparison by
   * server cost, which holds even when the echo phase is limited by the client, not the server.
   */
  relayToEchoCpuRatio: number;
  /** The design floor's closed-loop durable sends/s ÷ bare echo req/s: the ratio the design itself reaches here. */
  floorToEchoRatio: number;
  actorMemory: ActorMemoryResult;
  restart: RestartResult;
  /** `floor`: the design floor's figure for the same target, where it has one. */
  targets: Record<string, { value: number | null; target: string; met: boolean | null; floor?: number | null }>;
  totalSeconds: number;
}

const fmt = (n: number | null | undefined, digits = 0) =>
  n === null || n === undefined || Number.isNaN(n) ? '–' : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ms = (n: number | null | undefined) => fmt(n, n !== null && n !== undefined && n < 10 ? 2 : 1);
const mib = (b: number) => `${fmt(b / 2 ** 20, 0)} MiB`;
const verdict = (met: boolean | null) => (met === null ? 'n/a' : met ? 'MET' : 'MISSED');

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r, ri) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ') + (ri === 0 ? '\n' + widths.map((w) => '-'.repeat(w)).join('  ') : '')).join('\n');
}

/** Evaluates every target; `null` when the phase that measures it was not run. */
export function evaluateTargets(r: Omit<Report, 'targets' | 'totalSeconds'>): Report['targets'] {
  const atRate = r.relay.find((p) => p.offeredPerSec === TARGETS.p99AtRate);
  const p99 = atRate?.e2eP99Ms ?? null;
  const bytes = r.actorMemory.bytesPerActor;
  const [floorClosed, floorAtRate] = r.floor;
  return {
    relay_to_echo_ratio: { value: r.relayToEchoRatio, target: `>= ${TARGETS.echoRatio} at 50 pairs`, met: r.relayToEchoRatio >= TARGETS.echoRatio, floor: r.floorToEchoRatio },
    relay_to_echo_cpu_ratio: {
      value: r.relayToEchoCpuRatio,
      target: `>= ${TARGETS.echoRatio} (same, by server CPU)`,
      met: r.relayToEchoCpuRatio >= TARGETS.echoRatio,
      floor: floorClosed ? r.echo.serverCpuMicrosPerMsg / floorClosed.serverCpuMicrosPerMsg : null,
    },
    e2e_p99_ms_at_2000: {
      value: p99,
      target: `<= ${TARGETS.p99Ms} ms at ${TARGETS.p99AtRate} msg/s offered`,
      met: p99 === null ? null : p99 <= TARGETS.p99Ms,
      floor: floorAtRate?.e2eP99Ms ?? null,
    },
    bytes_per_idle_inbox_actor: { value: bytes, target: `<= ${TARGETS.bytesPerActor} B`, met: bytes <= TARGETS.bytesPerActor },
    listen_to_first_poll_ms: {
      value: r.restart.healthToFirstPollMs,
      target: `<= ${TARGETS.firstPollMs} ms with 1M messages`,
      met: r.restart.messages >= 1_000_000 ? r.restart.healthToFirstPollMs <= TARGETS.firstPollMs : null,
    },
    spawn_to_first_poll_ms: {
      value: r.restart.spawnToFirstPollMs,
      target: `<= ${TARGETS.firstPollMs} ms with 1M messages`,
      met: r.restart.messages >= 1_000_000 ? r.restart.spawnToFirstPollMs <= TARGETS.firstPollMs : null,
    },
  };
}

/** The restart probe's lines (also printed alone by `npm run bench:restart`). */
export function renderRestart(s: RestartResult): string[] {
  const runs = (list: { spawnToFirstPollMs: number }[]) => list.map((x) => ms(x.spawnToFirstPollMs)).join(', ');
  return [
    `restart on ${fmt(s.messages)} journaled messages / ${fmt(s.users)} users (${mib(s.journalBytes)}, built in-process in ${fmt(s.buildMs / 1000, 1)} s = ${fmt(s.messages / (s.buildMs / 1000))} msg/s), median of ${s.runs.length}:`,
    `  spawn → /health ${ms(s.spawnToHealthMs)} ms, /health → first poll ${ms(s.healthToFirstPollMs)} ms, spawn → first poll ${ms(s.spawnToFirstPollMs)} ms` +
      `  (runs: ${runs(s.runs)} ms; relay CPU to the first poll ${ms(s.cpuToFirstPollMs)} ms)`,
    `  tiny journal, median of ${s.baselineRuns.length}: spawn → /health ${ms(s.baseline.spawnToHealthMs)} ms, /health → first poll ${ms(s.baseline.healthToFirstPollMs)} ms, spawn → first poll ${ms(s.baseline.spawnToFirstPollMs)} ms` +
      `  (runs: ${runs(s.baselineRuns)} ms; relay CPU ${ms(s.baseline.cpuToFirstPollMs)} ms)`,
    `  relay peak RSS after the first poll: ${s.runs.map((x) => mib(x.peakRssBytes)).join(', ')} (tiny journal: ${mib(s.baseline.peakRssBytes)})`,
    `  (page cache warm: the journal was just written; spawn includes node start-up; the relay ran as: ${s.command})`,
  ];
}

export function renderReport(r: Report): string {
  const out: string[] = [];
  const c = r.config;
  out.push('');
  out.push(`pChat relay benchmark — ${r.machine.cpus} CPU(s) ${r.machine.cpuModel}, node ${r.machine.node}${c.quick ? ', QUICK smoke run' : ''}`);
  out.push(`${c.pairs} sender→receiver pairs, ${c.seconds} s per phase, ${c.textBytes}-byte texts; all traffic on 127.0.0.1, load from its own process`);
  const busy = r.machine.busyBeforePct;
  out.push(`machine busy before the run: ${fmt(busy)}% of all CPUs${busy > 10 ? '  ** other work was running: figures are skewed **' : ''}`);
  out.push('');
  const head = ['phase', 'offered/s', 'ok/s', 'delivered/s', 'req p50 ms', 'req p99 ms', 'e2e p50 ms', 'e2e p99 ms', 'srv CPU µs/msg', 'srv CPU', 'client CPU', 'err', 'lost', 'dup', 'shed'];
  const row = (p: PhaseFigures) => [
    p.name,
    p.offeredPerSec === null ? 'closed' : fmt(p.offeredPerSec),
    fmt(p.okPerSec),
    fmt(p.deliveredPerSec),
    ms(p.requestP50Ms),
    ms(p.requestP99Ms),
    ms(p.e2eP50Ms),
    ms(p.e2eP99Ms),
    fmt(p.serverCpuMicrosPerMsg),
    `${fmt(p.serverCpuPct)}%`,
    `${fmt(p.clientCpuPct)}%`,
    fmt(p.errors),
    fmt(p.lost),
    fmt(p.duplicates),
    fmt(p.shed),
  ];
  out.push(table([head, row(r.echo), ...r.floor.map(row), ...r.relay.map(row)]));
  out.push('  ok/s: echo answers, or sends acked after the LMDB flush (durable). e2e: send (scheduled time in open loop) → message in a poll answer.');
  out.push('  design floor: the issue\'s prototype at its smallest (scripts/bench/floor-server.ts: Fastify, an XState inbox, one LMDB put per message acked after');
  out.push('  the flush, pushed to a parked poll; no auth, validation, idempotency, receipts, conversations, history or sender\'s copy): what the design costs here.');
  out.push('  srv CPU: /proc utime+stime of the server process (all threads) over the phase, per ok request/message and as % of one core.');
  for (const p of [r.echo, ...r.floor, ...r.relay]) {
    if (p.raw.errorSamples.length) out.push(`  ${p.name} errors, e.g.: ${p.raw.errorSamples.slice(0, 2).join(' | ')}`);
  }
  out.push('');
  out.push(`relay peak RSS (VmHWM) over the load phases: ${mib(r.relayPeakRssBytes)}    echo server peak RSS: ${mib(r.echoPeakRssBytes)}`);
  out.push(
    `relay closed-loop durable sends/s ÷ bare echo req/s: ${fmt(r.relayToEchoRatio, 3)}` +
      `    by server CPU (echo µs/req ÷ relay µs/msg): ${fmt(r.relayToEchoCpuRatio, 3)}`,
  );
  const floor = r.floor[0];
  if (floor) {
    out.push(
      `design floor closed-loop sends/s ÷ bare echo req/s: ${fmt(r.floorToEchoRatio, 3)}    relay ÷ design floor: ${fmt(r.relay[0].okPerSec / floor.okPerSec, 3)} by sends/s, ` +
        `${fmt(floor.serverCpuMicrosPerMsg / r.relay[0].serverCpuMicrosPerMsg, 3)} by server CPU`,
    );
  }
  if (r.echo.clientCpuPct > 90) {
    out.push(`  note: the load generator used ${fmt(r.echo.clientCpuPct)}% of a core in the echo phase, so the echo req/s is partly client-bound; the CPU ratio is not.`);
  }
  const a = r.actorMemory;
  out.push(
    `idle inbox actors: ${fmt(a.actors)} hydrated in-process → ${fmt(a.bytesPerActor)} B heap each (${fmt(a.residualBytesPerActor)} B each still held after passivating them all; ≈0 = freed), ${fmt(a.hydrateMicrosPerActor)} µs to hydrate one`,
  );
  out.push(...renderRestart(r.restart));
  out.push('');
  out.push('targets:');
  out.push(
    table([
      ['figure', 'value', 'target', 'verdict', 'design floor'],
      ...Object.entries(r.targets).map(([k, t]) => {
        const value = (v: number | null | undefined) => (v === null || v === undefined ? '–' : fmt(v, k.includes('ratio') ? 3 : 1));
        return [k, value(t.value), t.target, verdict(t.met), value(t.floor)];
      }),
    ]),
  );
  out.push('  design floor: the same figure for the floor server, measured in this run (– where it has none).');
  out.push(`total ${fmt(r.totalSeconds, 0)} s`);
  return out.join('\n');
}
