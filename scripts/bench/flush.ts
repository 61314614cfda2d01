// The journal's own commit latency (stage → flushed to disk) at fixed commit rates, with no
// relay around it: the floor under every durable answer's latency on this disk. Alone:
// `npm run bench:flush` (BENCH_FLUSH_RATES="1000,4000,8000", BENCH_FLUSH_PUTS=4, BENCH_FLUSH_SECONDS=5).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal, type StoredEvent } from '../../journal/journal.ts';
import { percentile } from './stats.ts';

const rates = (process.env.BENCH_FLUSH_RATES ?? '1000,4000,8000').split(',').map(Number);
const PUTS = Number(process.env.BENCH_FLUSH_PUTS ?? 4);
const SECONDS = Number(process.env.BENCH_FLUSH_SECONDS ?? 5);
const TEXT = 'x'.repeat(100);

/** Commits at `rate`/s for SECONDS (each `PUTS` events in 100 streams), returns each commit's latency in ms. */
async function atRate(rate: number): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'pchat-flush-'));
  const journal = Journal.open(dir);
  const heads = new Map<string, number>();
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  let n = 0;
  const t0 = performance.now();
  try {
    await new Promise<void>((done) => {
      const tick = () => {
        const elapsed = performance.now() - t0;
        if (elapsed > SECONDS * 1000) return done();
        for (const due = Math.floor((elapsed / 1000) * rate); n < due; n++) {
          const asked = performance.now();
          for (let k = 0; k < PUTS; k++) {
            const stream = `inbox:u${(n * 7 + k) % 100}`;
            heads.set(stream, journal.stage(stream, { type: 'probe', text: TEXT, at: Date.now() } as StoredEvent, heads.get(stream) ?? 0));
          }
          pending.push(journal.commit().then(() => void latencies.push(performance.now() - asked)));
        }
        setTimeout(tick, 1);
      };
      tick();
    });
    await Promise.all(pending);
  } finally {
    await journal.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return latencies;
}

console.log(`journal commit latency (stage → flushed), ${PUTS} events per commit, ${SECONDS} s per rate`);
for (const rate of rates) {
  const l = await atRate(rate);
  const f = (p: number) => percentile(l, p).toFixed(2);
  console.log(`  ${String(rate).padStart(6)} commits/s: n=${l.length}  p50 ${f(50)} ms  p90 ${f(90)} ms  p99 ${f(99)} ms  max ${f(100)} ms`);
}
