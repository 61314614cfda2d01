// The real relay as a child process: `node --import tsx daemon/main.ts` on 127.0.0.1 with its
// data in a temp dir, dev codes on, and per-IP limits raised (all load comes from one IP).
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort, spawnTs, stopChild } from './proc.ts';
import { waitHealthy } from './http-client.ts';

export interface RelayProcess {
  child: ChildProcess;
  pid: number;
  base: string;
  /** performance.now() at spawn and when /health first answered. */
  spawnedAt: number;
  healthyAt: number;
  stop(): Promise<void>;
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

/** Spawns the relay on `dir` and resolves once /health answers. */
export async function startRelayProcess(dir: string, healthTimeoutMs = 120_000): Promise<RelayProcess> {
  const port = await freePort();
  const spawnedAt = performance.now();
  const child = spawnTs('daemon/main.ts', [], { env: relayEnv(dir, port) });
  const base = `http://127.0.0.1:${port}`;
  const stop = () => stopChild(child, 20_000);
  try {
    const healthyAt = await waitHealthy(base, healthTimeoutMs, () => child.exitCode === null && child.signalCode === null);
    return { child, pid: child.pid!, base, spawnedAt, healthyAt, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
