// Running engine programs: finding them on the engine path, one-shot runs with a timeout and
// bounded output, and the one long-lived worker shape the persistent engines share.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Refusal } from '../../actors/decision.ts';

/** Output a one-shot run may collect; past it the run fails instead of filling memory. */
const MAX_OUTPUT_BYTES = 256 * 1024 * 1024;

/** Absolute path of `name` on `searchPath`, or null when it is not installed. */
export function which(name: string, searchPath: string): string | null {
  for (const dir of searchPath.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

export class EngineError extends Error {}

/** Kills a child and, when it leads its own process group (a shell pipeline), the whole group. */
export function killTree(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM') {
  try {
    if (child.pid) process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

/** Runs a program to completion; resolves its stdout, rejects with its stderr's last lines. */
export function run(
  cmd: string,
  args: string[],
  opts: { input?: Buffer | string; timeoutMs: number; env?: NodeJS.ProcessEnv } = { timeoutMs: 60_000 },
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env });
    const out: Buffer[] = [];
    let size = 0;
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new EngineError(`${cmd} took longer than ${opts.timeoutMs} ms`));
    }, opts.timeoutMs);
    child.stdout.on('data', (b: Buffer) => {
      size += b.length;
      if (size > MAX_OUTPUT_BYTES) child.kill('SIGKILL');
      else out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      err = (err + b.toString()).slice(-2000);
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new EngineError(`${cmd}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new EngineError(`${cmd} failed (${signal ?? `exit ${code}`}): ${err.trim().split('\n').slice(-3).join(' | ')}`));
    });
    child.stdin.on('error', () => {}); // a program that exits early closes its stdin
    child.stdin.end(opts.input ?? '');
  });
}

/** Retry-After (seconds) when every engine slot is taken and the queue is full: a queue of
 * probes and voice-clip decodes clears in a few seconds. */
export const ENGINES_BUSY_RETRY_SEC = 5;

/**
 * Bounds the engine programs started per request (ffmpeg, ffprobe, espeak-ng, flite): at most
 * `max` run at once, up to `queueMax` more wait in order, and past that a run is refused with
 * 503 engines_busy (Retry-After) instead of forking one more process. (The persistent workers
 * are one process each already: pocketsphinx, apertium.)
 */
export class EngineJobs {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly max: number,
    readonly queueMax: number,
  ) {}

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running < this.max) this.running++;
    else if (this.waiting.length < this.queueMax) await new Promise<void>((start) => this.waiting.push(start));
    else {
      throw new Refusal('engines_busy', `the relay's media engines are busy (${this.max} running, ${this.waiting.length} waiting); retry in ${ENGINES_BUSY_RETRY_SEC} s`, ENGINES_BUSY_RETRY_SEC);
    }
    try {
      return await job();
    } finally {
      // The slot passes straight to the next in line, so `running` never drops under the queue.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  /** Runs going now and waiting (in /health). */
  get load() {
    return { running: this.running, waiting: this.waiting.length };
  }
}

/** What a route answers when a capability's engine is not installed or not configured. */
export function unavailable(capability: string, hint: string): Refusal {
  return new Refusal('engine_unavailable', `${capability} is off on this relay: ${hint}`);
}

/**
 * A long-lived engine process that answers requests one at a time, in order: requests are
 * written as they come (the program pipelines them) and answers are matched first-in
 * first-out. `frame` splits the output into answers. A process that dies fails what was in
 * flight and is started again on the next request.
 */
export class Worker {
  private child: ChildProcess | null = null;
  private buf = '';
  private readonly pending: { resolve: (s: string) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  private stderr = '';
  private closed = false;
  starts = 0;

  constructor(
    private readonly name: string,
    private readonly spawnIt: () => ChildProcess,
    /** Takes complete answers off the front of the buffer: [answers, rest]. */
    private readonly frame: (buf: string) => [string[], string],
    private readonly timeoutMs: number,
  ) {}

  private start(): ChildProcess {
    const child = this.spawnIt();
    this.starts++;
    this.buf = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (s: string) => {
      const [answers, rest] = this.frame(this.buf + s);
      this.buf = rest;
      for (const a of answers) {
        const p = this.pending.shift();
        if (!p) continue;
        clearTimeout(p.timer);
        p.resolve(a);
      }
    });
    child.stderr!.on('data', (b: Buffer) => {
      this.stderr = (this.stderr + b.toString()).slice(-2000);
    });
    child.stdin!.on('error', () => {});
    const fail = (why: string) => {
      if (this.child !== child) return;
      this.child = null;
      for (const p of this.pending.splice(0)) {
        clearTimeout(p.timer);
        p.reject(new EngineError(`${this.name} ${why}: ${this.stderr.trim().split('\n').slice(-2).join(' | ')}`));
      }
    };
    child.on('error', (e) => fail(`could not run (${e.message})`));
    child.on('exit', (code, signal) => fail(`exited (${signal ?? code})`));
    return child;
  }

  /** Writes one request; resolves with its answer. */
  request(input: string): Promise<string> {
    if (this.closed) return Promise.reject(new EngineError(`${this.name} is stopped`));
    this.child ??= this.start();
    const child = this.child;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        // Answers are matched in order, so one lost answer poisons the rest: start over.
        reject(new EngineError(`${this.name} did not answer within ${this.timeoutMs} ms`));
        const i = this.pending.findIndex((p) => p.timer === timer);
        if (i >= 0) this.pending.splice(i, 1);
        killTree(child, 'SIGKILL');
      }, this.timeoutMs);
      this.pending.push({ resolve, reject, timer });
      child.stdin!.write(input);
    });
  }

  get busy() {
    return this.pending.length;
  }

  stop() {
    this.closed = true;
    const child = this.child;
    this.child = null;
    for (const p of this.pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(new EngineError(`${this.name} stopped`));
    }
    if (child) {
      child.stdin?.end();
      killTree(child);
    }
  }
}

/** POSTs JSON or a form to an HTTP engine; a non-2xx answer is an EngineError. */
export async function httpEngine(url: string, init: { body: string | FormData; apiKey: string | null; timeoutMs: number; json?: boolean }): Promise<Response> {
  const headers: Record<string, string> = {};
  if (init.json !== false && typeof init.body === 'string') headers['content-type'] = 'application/json';
  if (init.apiKey) headers.authorization = `Bearer ${init.apiKey}`;
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers, body: init.body, signal: AbortSignal.timeout(init.timeoutMs) });
  } catch (err) {
    throw new EngineError(`${url}: ${(err as Error).message}`);
  }
  if (!res.ok) throw new EngineError(`${url} answered ${res.status}: ${(await res.text().catch(() => '')).slice(0, 200)}`);
  return res;
}

/**
 * An HTTP engine's 2xx body as a JSON object. The timeout still runs while the body comes, so
 * a body cut off, too slow, not JSON (a proxy's HTML page) or not an object is an EngineError
 * (502 engine_failed), not a relay error.
 */
export async function engineJson(url: string, res: Response): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await res.json();
  } catch (err) {
    throw new EngineError(`${url} answered no JSON: ${(err as Error).message}`);
  }
  if (!body || typeof body !== 'object') throw new EngineError(`${url} answered ${String(body).slice(0, 100)}, not a JSON object`);
  return body as Record<string, unknown>;
}

/** An HTTP engine's 2xx body as bytes; cut off or too slow is an EngineError (as engineJson). */
export async function engineBytes(url: string, res: Response): Promise<Buffer> {
  try {
    return Buffer.from(await res.arrayBuffer());
  } catch (err) {
    throw new EngineError(`${url} broke off its answer: ${(err as Error).message}`);
  }
}
