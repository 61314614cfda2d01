// Runs webchat-cli as a real child process (node --import tsx scripts/webchat-cli.ts) with its
// own XDG_CONFIG_HOME, and waits on its output lines (never fixed sleeps).
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tempDir, type TestRelay } from '../helpers.ts';

export const ROOT = resolve(import.meta.dirname, '../..');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function cliEnv(config: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: config, ...extra };
  delete env.PCHAT_RELAY_URL;
  return env;
}

export function spawnCli(config: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/webchat-cli.ts'), ...args], {
    cwd: ROOT,
    env: cliEnv(config, env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export function runCli(config: string, args: string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawnCli(config, args, env);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c) => (stdout += c));
    child.stderr!.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`webchat-cli ${args.join(' ')} did not finish in ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

export const jsonLines = (s: string) =>
  s
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));

/** A long-running CLI (--watch) whose stdout JSON lines can be awaited. */
export class LiveCli {
  readonly child: ChildProcess;
  readonly lines: any[] = [];
  stderr = '';
  private waiters: (() => void)[] = [];
  readonly exited: Promise<number | null>;

  constructor(config: string, args: string[], env: Record<string, string> = {}) {
    this.child = spawnCli(config, args, env);
    let buf = '';
    this.child.stdout!.on('data', (c) => {
      buf += c;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.trim()) this.lines.push(JSON.parse(line));
      }
      this.wake();
    });
    this.child.stderr!.on('data', (c) => {
      this.stderr += c;
      this.wake();
    });
    this.exited = new Promise((r) => this.child.on('close', (code) => (this.wake(), r(code))));
  }

  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves with the first line matching `pred` (looking at lines from index `from`). */
  async line(pred: (l: any) => boolean, timeoutMs = 10_000, from = 0): Promise<any> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.slice(from).find(pred);
      if (hit) return hit;
      if (this.child.exitCode !== null) throw new Error(`webchat-cli exited (${this.child.exitCode}) before the line came\nlines: ${JSON.stringify(this.lines)}\nstderr: ${this.stderr}`);
      const left = end - Date.now();
      if (left <= 0) throw new Error(`no matching line in ${timeoutMs} ms\nlines: ${JSON.stringify(this.lines)}\nstderr: ${this.stderr}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => (clearTimeout(t), r()));
      });
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill(signal);
    return this.exited;
  }
}

export function personaFiles(config: string): { file: string; data: any }[] {
  const dir = join(config, 'pchat', 'personas');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => ({ file: join(dir, f), data: JSON.parse(readFileSync(join(dir, f), 'utf8')) }));
}

export function persona(config: string, email: string) {
  const p = personaFiles(config).find((x) => x.data.email === email);
  if (!p) throw new Error(`no persona for ${email}`);
  return p.data;
}

export const newConfigDir = () => tempDir('pchat-cli-');

/** One line on stderr, prefixed, no stack trace. */
export function assertOneErrorLine(r: CliResult): string {
  const lines = r.stderr.split('\n').filter((l) => l.trim());
  if (lines.length !== 1 || !lines[0].startsWith('webchat-cli: ') || /\n\s+at /.test(r.stderr)) {
    throw new Error(`expected one "webchat-cli: …" line on stderr, got:\n${r.stderr}`);
  }
  return lines[0];
}
