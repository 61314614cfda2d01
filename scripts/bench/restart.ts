// Restart probe: a journal with N messages is built in-process (build-journal.ts), then the
// relay is spawned on it (as `npm start` runs it, see relay-proc.ts) and timed spawn → /health
// ok → first poll answered. The same is done on a tiny journal, so what the journal's size adds
// is visible apart from node start-up. Alone: `npm run bench:restart` (knobs BENCH_QUICK,
// BENCH_RESTART_MESSAGES, BENCH_RESTART_USERS, BENCH_RESTART_RUNS, as in config.ts).
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuiltJournal } from './build-journal.ts';
import { JsonClient } from './http-client.ts';
import { cpuMicros, memory, runForJson } from './proc.ts';
import { loadBenchConfig } from './config.ts';
import { relayCommand, startRelayProcess } from './relay-proc.ts';
import { renderRestart } from './report.ts';
import { median } from './stats.ts';

export interface RestartRun {
  spawnToHealthMs: number;
  healthToFirstPollMs: number;
  spawnToFirstPollMs: number;
  /** The relay's CPU (user+sys, all threads) from spawn to the first poll's answer: less swayed by a busy box than wall time. */
  cpuToFirstPollMs: number;
  /** Events the first poll returned (it must be non-empty to count). */
  events: number;
  peakRssBytes: number;
}

export interface RestartResult {
  messages: number;
  users: number;
  buildMs: number;
  journalBytes: number;
  runs: RestartRun[];
  spawnToFirstPollMs: number;
  healthToFirstPollMs: number;
  spawnToHealthMs: number;
  cpuToFirstPollMs: number;
  /** The tiny journal's runs, and the one with their median spawn → first poll. */
  baselineRuns: RestartRun[];
  baseline: RestartRun;
  /** How the relay was run (relay-proc.ts). */
  command: string;
}

export async function buildJournal(dir: string, messages: number, users: number, textBytes: number): Promise<BuiltJournal> {
  return runForJson<BuiltJournal>(join('scripts', 'bench', 'build-journal.ts'), {
    env: { BUILD_DIR: dir, BUILD_MESSAGES: String(messages), BUILD_USERS: String(users), BUILD_TEXT_BYTES: String(textBytes) },
    // Generous: ~130 s per million messages on 2 cores, plus slack for slow disks.
    timeoutMs: 120_000 + messages * 0.6,
  });
}

/** One restart: spawn, wait for /health, then the first poll of a session that has never polled. */
export async function restartOnce(dir: string, session: { token: string }): Promise<RestartRun> {
  const relay = await startRelayProcess(dir);
  try {
    const client = new JsonClient(relay.base, 4);
    try {
      const res = await client.call('POST', '/api/v1/webchat/poll', { wait_ms: 0, limit: 100 }, session.token, undefined, 30_000);
      const answeredAt = performance.now();
      const cpuMs = cpuMicros(relay.pid) / 1000;
      if (res.status !== 200) throw new Error(`first poll after restart: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
      // Checked after the timing, so the check itself is not timed.
      await relay.assertOwnsPort();
      relay.assertAlive();
      return {
        spawnToHealthMs: relay.healthyAt - relay.spawnedAt,
        healthToFirstPollMs: answeredAt - relay.healthyAt,
        spawnToFirstPollMs: answeredAt - relay.spawnedAt,
        cpuToFirstPollMs: cpuMs,
        events: res.body.events?.length ?? 0,
        peakRssBytes: memory(relay.pid).peakRss,
      };
    } finally {
      client.close();
    }
  } finally {
    await relay.stop();
  }
}

export async function runRestartProbe(
  tmp: string,
  opts: { messages: number; users: number; runs: number; textBytes: number },
  log: (line: string) => void,
): Promise<RestartResult> {
  log(`restart: baseline on a tiny journal, ${opts.runs}× (${relayCommand()})`);
  const tiny = await buildJournal(join(tmp, 'restart-tiny'), 10, 2, opts.textBytes);
  const baselineRuns: RestartRun[] = [];
  for (let i = 0; i < opts.runs; i++) baselineRuns.push(await restartOnce(join(tmp, 'restart-tiny'), tiny.sessions[i % tiny.sessions.length]));
  const sorted = [...baselineRuns].sort((a, b) => a.spawnToFirstPollMs - b.spawnToFirstPollMs);
  const baseline = sorted[(sorted.length - 1) >> 1];

  log(`restart: building a journal of ${opts.messages.toLocaleString('en')} messages over ${opts.users} users (in-process)`);
  const dir = join(tmp, 'restart-big');
  const big = await buildJournal(dir, opts.messages, opts.users, opts.textBytes);
  const journalBytes = statSync(join(big.dataDir, 'journal', 'data.mdb')).size;
  log(`restart: journal built in ${(big.buildMs / 1000).toFixed(1)} s (${(journalBytes / 2 ** 20).toFixed(0)} MiB); restarting ${opts.runs}×`);

  const runs: RestartRun[] = [];
  for (let i = 0; i < opts.runs; i++) {
    // A different user each time, so every run is that session's first poll.
    const run = await restartOnce(dir, big.sessions[i % big.sessions.length]);
    if (opts.messages > 0 && run.events === 0) throw new Error('first poll after restart returned no events; the journal was not read');
    runs.push(run);
  }
  return {
    messages: big.messages,
    users: big.users,
    buildMs: big.buildMs,
    journalBytes,
    runs,
    spawnToFirstPollMs: median(runs.map((r) => r.spawnToFirstPollMs)),
    healthToFirstPollMs: median(runs.map((r) => r.healthToFirstPollMs)),
    spawnToHealthMs: median(runs.map((r) => r.spawnToHealthMs)),
    cpuToFirstPollMs: median(runs.map((r) => r.cpuToFirstPollMs)),
    baselineRuns,
    baseline,
    command: relayCommand(),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const cfg = loadBenchConfig();
  const tmp = mkdtempSync(join(tmpdir(), 'pchat-bench-restart-'));
  const log = (line: string) => process.stderr.write(`[bench:restart] ${line}\n`);
  const cleanup = () => rmSync(tmp, { recursive: true, force: true });
  process.once('SIGINT', () => (cleanup(), process.exit(130)));
  try {
    const r = await runRestartProbe(tmp, { messages: cfg.restartMessages, users: cfg.restartUsers, runs: cfg.restartRuns, textBytes: cfg.textBytes }, log);
    process.stdout.write(renderRestart(r).join('\n') + '\n' + JSON.stringify(r) + '\n');
  } finally {
    cleanup();
  }
}
