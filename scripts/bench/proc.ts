// Child processes and what /proc says about them: spawn with node or tsx, stop by pid, CPU ticks,
// peak and current RSS. Everything here is Linux-only, like the numbers it reads.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(BENCH_DIR, '..', '..');

/** Clock ticks per second for utime/stime (almost always 100). */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User+system CPU of a process (all its threads, e.g. LMDB's writer), in microseconds. */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces; fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1e6) / CLK_TCK;
}

/** VmHWM (peak RSS) and VmRSS of a process, in bytes. */
export function memory(pid: number): { peakRss: number; rss: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { peakRss: kb('VmHWM'), rss: kb('VmRSS') };
}

/** Busy share of all CPUs over `ms` (from /proc/stat): other work on the box skews every figure. */
export async function machineBusyPct(ms = 1_000): Promise<number> {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] ?? 0); // idle + iowait
    return { idle, total: f.reduce((a, b) => a + b, 0) };
  };
  const a = read();
  await sleep(ms);
  const b = read();
  const total = b.total - a.total;
  return total > 0 ? (1 - (b.idle - a.idle) / total) * 100 : 0;
}

/** A port that was free a moment ago on 127.0.0.1 (the relay does not report its port at LOG_LEVEL=warn). */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => done(port));
    });
  });
}

export interface SpawnOptions {
  env?: Record<string, string>;
  nodeArgs?: string[];
  /** Where the child's stdout goes; 'pipe' lets the caller read it (e.g. a JSON result line). */
  stdout?: 'inherit' | 'pipe' | 'ignore';
  /** 'pipe' keeps the child's stdin open until the caller ends it (default: /dev/null, at EOF at once). */
  stdin?: 'pipe' | 'ignore';
  ipc?: boolean;
}

/** `node [nodeArgs] --import tsx <script>` in the repo root; the child is node itself, so its pid is the one to measure. */
export function spawnTs(script: string, args: string[] = [], opts: SpawnOptions = {}): ChildProcess {
  return spawnNode([...(opts.nodeArgs ?? []), '--import', 'tsx', script, ...args], { ...opts, nodeArgs: [] });
}

/** `node [nodeArgs] <args…>` in the repo root (e.g. a built .mjs, no tsx). */
export function spawnNode(args: string[], opts: SpawnOptions = {}): ChildProcess {
  const stdio: ('inherit' | 'pipe' | 'ignore' | 'ipc')[] = [opts.stdin ?? 'ignore', opts.stdout ?? 'inherit', 'inherit'];
  if (opts.ipc) stdio.push('ipc');
  return spawn(process.execPath, [...(opts.nodeArgs ?? []), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...opts.env },
    stdio,
  });
}

/** Starts a bench server script that prints {"port":N} once listening (echo-server.ts, floor-server.ts). */
export async function startPortServer(script: string, name: string): Promise<{ child: ChildProcess; base: string }> {
  const child = spawnTs(script, [], { stdout: 'pipe' });
  try {
    const port = await new Promise<number>((done, fail) => {
      const timer = setTimeout(() => fail(new Error(`${name} did not start in 30 s`)), 30_000);
      child.stdout!.setEncoding('utf8').once('data', (s: string) => (clearTimeout(timer), done(JSON.parse(s).port)));
      child.once('exit', (code) => fail(new Error(`${name} exited (${code})`)));
    });
    return { child, base: `http://127.0.0.1:${port}` };
  } catch (err) {
    await stopChild(child);
    throw err;
  }
}

/** Resolves with the exit code; rejects if the child is still running after `ms`. */
export function exited(child: ChildProcess, ms: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`pid ${child.pid} still running after ${ms} ms`)), ms);
    child.once('exit', (code) => {
      clearTimeout(timer);
      done(code);
    });
  });
}

/** SIGTERM, then SIGKILL if it does not exit in `graceMs`. Only ever the given child, by pid. */
export async function stopChild(child: ChildProcess | undefined, graceMs = 10_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  try {
    await exited(child, graceMs);
  } catch {
    child.kill('SIGKILL');
    await exited(child, 5_000).catch(() => {});
  }
}

/** Runs a script to completion and returns the last JSON line it printed on stdout. */
export async function runForJson<T>(script: string, opts: SpawnOptions & { timeoutMs: number }): Promise<T> {
  const child = spawnTs(script, [], { ...opts, stdout: 'pipe' });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  let code: number | null;
  try {
    code = await exited(child, opts.timeoutMs);
  } catch (err) {
    await stopChild(child, 2_000);
    throw err;
  }
  const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (code !== 0 || !line) throw new Error(`${script} exited with ${code}; stdout: ${out.slice(-500)}`);
  return JSON.parse(line) as T;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
