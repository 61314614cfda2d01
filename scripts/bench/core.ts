// `npm run bench:core`: the send path without HTTP. A relay is started in this process on a
// temp dir (real LMDB, flushed commits), PAIRS senders each send to their own receiver in a
// closed loop, calling the messaging service directly. What it shows is what a direct message
// costs the relay itself — actors, journal, projections, commit and fsync — apart from the
// HTTP or WebSocket front, so the front's share of `npm run bench` can be told from the core's.
// Knobs: PAIRS (50), SECONDS (5), WARMUP_MESSAGES (20,000: grows the indexes first). Prints a
// table, then one JSON line.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../../daemon/config.ts';
import { createLogger } from '../../daemon/logger.ts';
import { startRelay } from '../../daemon/relay.ts';
import type { Auth } from '../../daemon/accounts.ts';
import { percentile } from './stats.ts';

const num = (name: string, fallback: number) => {
  const n = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
  return n;
};
const PAIRS = num('PAIRS', 50);
const SECONDS = num('SECONDS', 5);
const WARMUP_MESSAGES = Number(process.env.WARMUP_MESSAGES ?? 20_000);
const TEXT = 'x'.repeat(100);

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'pchat-bench-core-'));
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    PCHAT_DATA_DIR: join(dir, 'data'),
    PCHAT_UPLOAD_DIR: join(dir, 'uploads'),
    PCHAT_DEV_EXPOSE_CODES: 'true',
    PCHAT_FREE_MODE_ENABLED: 'true',
    LOG_LEVEL: 'error',
  });
  const relay = await startRelay(config, createLogger('error'));
  try {
    const { accounts, messaging, core } = relay.services;
    const user = async (address: string) => {
      const email = `${address}@bench.invalid`;
      const { dev_code } = await accounts.requestCode(email);
      const { token } = await accounts.verifyCode({ email, code: dev_code!, chat_address: address });
      return accounts.authenticate(token)!;
    };
    const senders: Auth[] = [];
    for (let i = 0; i < PAIRS; i++) {
      senders.push(await user(`core-s${i}`));
      await user(`core-r${i}`);
    }
    const sendAll = () => Promise.all(senders.map((s, i) => messaging.send(s, { to: `core-r${i}`, text: TEXT })));
    for (let k = 0; k < WARMUP_MESSAGES; k += PAIRS) await sendAll();

    // Commit latency as the senders see it: from asking to the flush of the batch holding it.
    const commitMs: number[] = [];
    const commit = core.journal.commit.bind(core.journal);
    core.journal.commit = async () => {
      const t = performance.now();
      await commit();
      commitMs.push(performance.now() - t);
    };
    const sendMs: number[] = [];
    let sent = 0;
    const elu0 = performance.eventLoopUtilization();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const end = t0 + SECONDS * 1000;
    await Promise.all(
      senders.map(async (s, i) => {
        while (performance.now() < end) {
          const t = performance.now();
          await messaging.send(s, { to: `core-r${i}`, text: TEXT });
          sendMs.push(performance.now() - t);
          sent++;
        }
      }),
    );
    const secs = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const elu = performance.eventLoopUtilization(elu0);
    core.journal.commit = commit;
    const result = {
      pairs: PAIRS,
      seconds: SECONDS,
      warmupMessages: WARMUP_MESSAGES,
      sendsPerSec: sent / secs,
      sendP50Ms: percentile(sendMs, 50),
      sendP99Ms: percentile(sendMs, 99),
      commitP50Ms: percentile(commitMs, 50),
      mainThreadMicrosPerMsg: (elu.active * 1000) / sent,
      processCpuMicrosPerMsg: (cpu.user + cpu.system) / sent,
    };
    const f = (n: number, d = 0) => n.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d });
    process.stdout.write(
      [
        `core send path, in-process (no HTTP), ${PAIRS} pairs closed loop, ${SECONDS} s after ${f(WARMUP_MESSAGES)} warm-up messages:`,
        `  durable sends/s ${f(result.sendsPerSec)}   send p50 / p99 ${f(result.sendP50Ms, 2)} / ${f(result.sendP99Ms, 2)} ms   commit (ask → flushed) p50 ${f(result.commitP50Ms, 2)} ms`,
        `  CPU per message: ${f(result.processCpuMicrosPerMsg)} µs (all threads), main thread busy ${f(result.mainThreadMicrosPerMsg)} µs`,
      ].join('\n') + '\n',
    );
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    await relay.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench:core: ${(err as Error).stack}\n`);
  process.exit(1);
});
