// Heap per idle inbox actor, measured in-process: ACTORS inboxes, each with one message and
// one consumer cursor (what one poll leaves), are written to a temp journal; then a fresh
// Registry hydrates all of them and the heap growth (after forced GCs) is divided by their
// number. Passivating them all afterwards shows whether that memory comes back.
//
// Run: node --expose-gc --import tsx scripts/bench/actor-memory.ts  (env ACTORS=20000)
// Prints one JSON line.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal } from '../../journal/journal.ts';
import { DEFAULT_SNAPSHOT_EVERY } from '../../daemon/config.ts';
import { Inbox } from '../../daemon/core.ts';
import { Projections } from '../../daemon/projections.ts';
import { Registry } from '../../daemon/registry.ts';

export interface ActorMemoryResult {
  actors: number;
  bytesPerActor: number;
  /** Heap still held per actor after passivating them all (≈0 unless something leaks). */
  residualBytesPerActor: number;
  hydrateMicrosPerActor: number;
  heapBaselineBytes: number;
}

const gc = (globalThis as { gc?: () => void }).gc;

/** Several full collections: one pass can leave weak-ref and finalizer garbage behind. */
function settledHeap(): number {
  for (let i = 0; i < 4; i++) gc!();
  return process.memoryUsage().heapUsed;
}

async function main() {
  if (!gc) throw new Error('run with node --expose-gc');
  const n = Number(process.env.ACTORS ?? 20_000);
  const dir = mkdtempSync(join(tmpdir(), 'pchat-bench-actors-'));
  try {
    const journal = Journal.open(join(dir, 'data'));
    const projections = new Projections(journal);
    await projections.rebuildIfStale();
    const writer = new Registry(journal, DEFAULT_SNAPSHOT_EVERY, (s, q, e) => projections.apply(s, q, e));
    const ids = Array.from({ length: n }, (_, i) => `usr_mem${String(i).padStart(8, '0')}`);
    const at = Date.now();
    for (let i = 0; i < n; i++) {
      const from = ids[(i + 1) % n];
      // One message, claimed once by the user's session: what one poll leaves in an inbox.
      writer.apply(Inbox, ids[i], [
        { type: 'msg_in', id: `msg_mem${i}`, from_user: from, to_user: ids[i], from: `m${(i + 1) % n}`, to: `m${i}`, text: 'hello', sender_session: `ses_${from}`, at },
        { type: 'cursor', consumer: `ses_${ids[i]}`, upto: 1, at },
      ]);
      if (i % 5_000 === 4_999) await journal.commit();
    }
    await journal.commit();
    writer.passivate(0);

    // A fresh registry, as after a restart. The journal's read caches are warmed first so the
    // delta is the actors themselves, not lmdb's (bounded, shared) caches.
    const registry = new Registry(journal, DEFAULT_SNAPSHOT_EVERY);
    for (const id of ids) {
      journal.head(`inbox:${id}`);
      journal.loadSnapshot(`inbox:${id}`);
    }
    const before = settledHeap();
    const t0 = performance.now();
    for (const id of ids) registry.context(Inbox, id);
    const hydrateMs = performance.now() - t0;
    const after = settledHeap();
    if (registry.size !== n) throw new Error(`expected ${n} actors loaded, registry has ${registry.size}`);
    registry.passivate(0);
    const released = settledHeap();

    const result: ActorMemoryResult = {
      actors: n,
      bytesPerActor: Math.round((after - before) / n),
      residualBytesPerActor: Math.round((released - before) / n),
      hydrateMicrosPerActor: Math.round((hydrateMs * 1000) / n),
      heapBaselineBytes: before,
    };
    await journal.close();
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`actor-memory: ${err?.stack ?? err}\n`);
  process.exit(1);
});
