// Restart probe: a journal with N messages is built in-process (build-journal.ts), then the
// relay is spawned on it and timed spawn → /health ok → first poll answered. The same is done
// on a tiny journal, so what the journal's size adds is visible apart from node/tsx start-up.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { BuiltJournal } from './build-journal.ts';
import { JsonClient } from './http-client.ts';
import { memory, runForJson } from './proc.ts';
import { startRelayProcess } from './relay-proc.ts';
import { median } from './stats.ts';

export interface RestartRun {
  spawnToHealthMs: number;
  healthToFirstPollMs: number;
  spawnToFirstPollMs: number;
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
  baseline: RestartRun;
}

async function build(dir: string, messages: number, users: number, textBytes: number): Promise<BuiltJournal> {
  return runForJson<BuiltJournal>(join('scripts', 'bench', 'build-journal.ts'), {
    env: { BUILD_DIR: dir, BUILD_MESSAGES: String(messages), BUILD_USERS: String(users), BUILD_TEXT_BYTES: String(textBytes) },
    // Generous: ~130 s per million messages on 2 cores, plus slack for slow disks.
    timeoutMs: 120_000 + messages * 0.6,
  });
}

/** One restart: spawn, wait for /health, then the first poll of a session that has never polled. */
async function restartOnce(dir: string, session: { token: string }): Promise<RestartRun> {
  const relay = await startRelayProcess(dir);
  try {
    const client = new JsonClient(relay.base, 4);
    try {
      const res = await client.call('POST', '/api/v1/webchat/poll', { wait_ms: 0, limit: 100 }, session.token, undefined, 30_000);
      const answeredAt = performance.now();
      if (res.status !== 200) throw new Error(`first poll after restart: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
      // Checked after the timing, so the check itself is not timed.
      await relay.assertOwnsPort();
      relay.assertAlive();
      return {
        spawnToHealthMs: relay.healthyAt - relay.spawnedAt,
        healthToFirstPollMs: answeredAt - relay.healthyAt,
        spawnToFirstPollMs: answeredAt - relay.spawnedAt,
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
  log('restart: baseline on a tiny journal');
  const tiny = await build(join(tmp, 'restart-tiny'), 10, 2, opts.textBytes);
  const baseline = await restartOnce(join(tmp, 'restart-tiny'), tiny.sessions[0]);

  log(`restart: building a journal of ${opts.messages.toLocaleString('en')} messages over ${opts.users} users (in-process)`);
  const dir = join(tmp, 'restart-big');
  const big = await build(dir, opts.messages, opts.users, opts.textBytes);
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
    baseline,
  };
}
