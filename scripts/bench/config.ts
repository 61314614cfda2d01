// Benchmark knobs (environment) and the targets the printout compares against.
// BENCH_QUICK=1 shrinks every phase to a ~30 s smoke run; explicit knobs still win.

export interface BenchConfig {
  quick: boolean;
  /** Sender→receiver pairs (and echo concurrency, so the ceiling is measured at the same fan-in). */
  pairs: number;
  /** Measured seconds of each load phase (echo, closed-loop, each offered rate). */
  seconds: number;
  /** Unmeasured seconds before the echo and relay phases, so JIT and caches settle. */
  warmupSeconds: number;
  /** Offered open-loop rates in msg/s (total over all pairs). */
  rates: number[];
  /** Inbox actors hydrated by the in-process memory probe. */
  actors: number;
  /** Journaled messages before the restart probe. */
  restartMessages: number;
  /** Users those messages are spread over. */
  restartUsers: number;
  /** Restarts measured on the big journal (median reported). */
  restartRuns: number;
  /** Text length of each message (the send timestamp is embedded at its start). */
  textBytes: number;
}

export const TARGETS = {
  /** Relay closed-loop sends/s as a fraction of bare echo req/s at 50 pairs. */
  echoRatio: 0.4,
  /** Send→receive p99 at 2,000 msg/s offered. */
  p99Ms: 15,
  p99AtRate: 2000,
  /** Heap per idle, hydrated inbox actor. */
  bytesPerActor: 6 * 1024,
  /** First poll answered after a restart on a 1M-message journal. */
  firstPollMs: 500,
} as const;

function int(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const n = Number(raw.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name}=${JSON.stringify(raw)}: expected an integer from ${min} to ${max}`);
  return n;
}

function list(name: string, fallback: number[]): number[] {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const out = raw.split(/[,\s]+/).filter(Boolean).map((s) => Number(s.replace(/_/g, '')));
  if (out.length === 0 || out.some((n) => !Number.isInteger(n) || n < 1 || n > 100_000)) {
    throw new Error(`${name}=${JSON.stringify(raw)}: expected a comma-separated list of rates from 1 to 100000`);
  }
  return out;
}

export function loadBenchConfig(): BenchConfig {
  const quick = ['1', 'true', 'yes'].includes((process.env.BENCH_QUICK ?? '').trim().toLowerCase());
  return {
    quick,
    pairs: int('BENCH_PAIRS', quick ? 10 : 50, 1, 1000),
    seconds: int('BENCH_SECONDS', quick ? 3 : 10, 1, 600),
    warmupSeconds: int('BENCH_WARMUP_SECONDS', quick ? 1 : 3, 0, 60),
    rates: list('BENCH_RATES', quick ? [200, 500] : [500, 1000, 2000]),
    actors: int('BENCH_ACTORS', quick ? 2_000 : 20_000, 100, 1_000_000),
    restartMessages: int('BENCH_RESTART_MESSAGES', quick ? 20_000 : 1_000_000, 0, 20_000_000),
    restartUsers: int('BENCH_RESTART_USERS', quick ? 100 : 1_000, 2, 100_000),
    restartRuns: int('BENCH_RESTART_RUNS', quick ? 1 : 3, 1, 20),
    textBytes: int('BENCH_TEXT_BYTES', 100, 40, 16_000),
  };
}
