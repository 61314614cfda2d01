// The real relay as a child process, started the way `npm start` starts it (package.json's
// `start`: node on the esbuild bundle dist/relay.mjs, rebuilt first if a source is newer), on
// 127.0.0.1 with its data in a temp dir, dev codes on, and per-IP limits raised (all load
// comes from one IP). BENCH_RELAY_TSX=1 runs `node --import tsx daemon/main.ts` instead (how
// `npm start` ran before the bundle); BENCH_RELAY_NODE_ARGS adds node options to either
// (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the relay).
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IDENTITY_FILE } from '../../daemon/identity.ts';
import { buildDaemon, npmStartArgs } from '../build-daemon.ts';
import { freePort, spawnNode, stopChild } from './proc.ts';
import { JsonClient, waitHealthy } from './http-client.ts';

export interface RelayProcess {
  child: ChildProcess;
  pid: number;
  base: string;
  /** performance.now() at spawn and when /health first answered. */
  spawnedAt: number;
  healthyAt: number;
  /** Throws, with the relay's last log lines, if it is no longer running. */
  assertAlive(): void;
  /**
   * Throws unless the relay answering on the port is ours: the port is picked free and then
   * handed over, so another process (a test run, say) could have taken it in between.
   */
  assertOwnsPort(): Promise<void>;
  stop(): Promise<void>;
}

/** Log lines kept for a crash report. */
const LOG_TAIL = 20;
/** pino's `error`: lines at or above this are shown as they come; the rest only on a crash. */
const SHOW_LEVEL = 50;

/**
 * Reads the relay's pino lines from its stdout: errors are echoed to our stderr at once
 * (a relay failing under load must be visible), everything else only kept for a crash report.
 */
function watchLog(child: ChildProcess): () => string[] {
  const tail: string[] = [];
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > LOG_TAIL) tail.shift();
      let level = 0;
      try {
        level = JSON.parse(line).level ?? 0;
      } catch {
        level = SHOW_LEVEL; // not pino: show it
      }
      if (level >= SHOW_LEVEL) process.stderr.write(`[relay] ${line}\n`);
    }
  });
  return () => [...tail];
}

export function relayEnv(dir: string, port: number): Record<string, string> {
  return {
    HOST: '127.0.0.1',
    PORT: String(port),
    PCHAT_DATA_DIR: join(dir, 'data'),
    PCHAT_UPLOAD_DIR: join(dir, 'uploads'),
    PCHAT_DEV_EXPOSE_CODES: 'true',
    PCHAT_FREE_MODE_ENABLED: 'true',
    LOG_LEVEL: 'warn',
    // The maxima config.ts accepts: the benchmark is one IP doing the work of many users.
    PCHAT_REQUESTS_PER_IP_PER_MINUTE: '100000000',
    PCHAT_CODE_REQUESTS_PER_IP_PER_HOUR: '1000000',
    PCHAT_CODE_VERIFIES_PER_IP_PER_HOUR: '1000000',
  };
}

const truthy = (v: string | undefined) => ['1', 'true', 'yes'].includes((v ?? '').trim().toLowerCase());

/** The node arguments startRelayProcess runs the relay with. */
function relayArgv(more: string[] = []): { viaTsx: boolean; argv: string[] } {
  const viaTsx = truthy(process.env.BENCH_RELAY_TSX);
  const extra = (process.env.BENCH_RELAY_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  return { viaTsx, argv: [...extra, ...more, ...(viaTsx ? ['--import', 'tsx', 'daemon/main.ts'] : npmStartArgs())] };
}

/** How startRelayProcess runs the relay, as a command line (for the printout). */
export const relayCommand = () => ['node', ...relayArgv().argv].join(' ');

/** Built once per process (and only if stale), before any spawn is timed. */
let bundleReady: Promise<unknown> | null = null;

export interface RelayOptions {
  healthTimeoutMs?: number;
  /** Extra node options before the script (after BENCH_RELAY_NODE_ARGS), e.g. a bench-only preload. */
  nodeArgs?: string[];
  /** Extra environment on top of relayEnv(). */
  env?: Record<string, string>;
}

/** Spawns the relay on `dir` and resolves once /health answers. */
export async function startRelayProcess(dir: string, opts: RelayOptions = {}): Promise<RelayProcess> {
  const { healthTimeoutMs = 120_000 } = opts;
  const { viaTsx, argv } = relayArgv(opts.nodeArgs);
  if (!viaTsx) await (bundleReady ??= buildDaemon());
  const port = await freePort();
  const spawnedAt = performance.now();
  const child = spawnNode(argv, { env: { ...relayEnv(dir, port), ...opts.env }, stdout: 'pipe' });
  const logTail = watchLog(child);
  const base = `http://127.0.0.1:${port}`;
  const stop = () => stopChild(child, 20_000);
  const running = () => child.exitCode === null && child.signalCode === null;
  const assertAlive = () => {
    if (running()) return;
    const how = child.signalCode ? `signal ${child.signalCode}` : `code ${child.exitCode}`;
    throw new Error(`the relay (pid ${child.pid}) exited with ${how}; its last log lines:\n${logTail().join('\n')}`);
  };
  const assertOwnsPort = async () => {
    const client = new JsonClient(base, 1);
    try {
      const res = await client.call('GET', '/.well-known/pchat-relay', undefined, undefined, undefined, 10_000);
      const ours = JSON.parse(readFileSync(join(dir, 'data', IDENTITY_FILE), 'utf8')).public_key;
      if (res.body?.public_key !== ours) throw new Error(`${base} is answered by another relay, not the one on ${dir}; rerun`);
    } finally {
      client.close();
    }
  };
  try {
    const healthyAt = await waitHealthy(base, healthTimeoutMs, running);
    return { child, pid: child.pid!, base, spawnedAt, healthyAt, assertAlive, assertOwnsPort, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
