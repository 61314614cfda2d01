// The orchestrator's handle on the load generator process (load.ts): start it, run one phase
// at a time over IPC with a hard timeout, stop it.
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { spawnTs, stopChild } from './proc.ts';
import type { FromLoad, PhaseResult, PhaseSpec, ToLoad } from './protocol.ts';

/** Slack over a phase's own duration: its bounded drain (10 s) plus request timeouts (15 s). */
const PHASE_SLACK_MS = 45_000;

export class LoadGenerator {
  private nextId = 0;
  private readonly waiting = new Map<number, { done: (r: PhaseResult) => void; fail: (e: Error) => void }>();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (msg: FromLoad) => {
      if (msg.type === 'ready') return;
      const w = this.waiting.get(msg.id);
      if (!w) return;
      this.waiting.delete(msg.id);
      if (msg.type === 'result') w.done(msg.result);
      else w.fail(new Error(`load generator: ${msg.message}`));
    });
    child.on('exit', (code) => {
      for (const w of this.waiting.values()) w.fail(new Error(`load generator exited (${code})`));
      this.waiting.clear();
    });
  }

  static start(): Promise<LoadGenerator> {
    const child = spawnTs(join('scripts', 'bench', 'load.ts'), [], { ipc: true });
    return new Promise((done, fail) => {
      const timer = setTimeout(() => fail(new Error('load generator did not start in 30 s')), 30_000);
      child.once('error', fail);
      child.once('message', (msg: FromLoad) => {
        clearTimeout(timer);
        if (msg.type === 'ready') done(new LoadGenerator(child));
        else fail(new Error(`load generator: unexpected first message ${JSON.stringify(msg)}`));
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  run(phase: PhaseSpec): Promise<PhaseResult> {
    const id = ++this.nextId;
    return new Promise((done, fail) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        fail(new Error(`load phase ${phase.kind} did not finish in time`));
      }, phase.durationMs + PHASE_SLACK_MS);
      this.waiting.set(id, {
        done: (r) => (clearTimeout(timer), done(r)),
        fail: (e) => (clearTimeout(timer), fail(e)),
      });
      this.child.send({ type: 'run', id, phase } satisfies ToLoad);
    });
  }

  async stop() {
    if (this.child.connected) this.child.send({ type: 'exit' } satisfies ToLoad);
    await stopChild(this.child, 5_000);
  }
}
