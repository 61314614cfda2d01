// Benchmark-only preload for the relay process, never part of `npm start`:
//   node --expose-gc --import ./scripts/bench/relay-memory.mjs dist/relay.mjs
// On SIGUSR2 it runs a full garbage collection and then writes process.memoryUsage() as one
// JSON line (with a sequence number) to BENCH_MEMORY_FILE, so the benchmark can read the
// relay's heap at a settled point instead of guessing from RSS alone. The relay's own code
// knows nothing of it. Plain JavaScript: it runs before any TypeScript loader.
import { renameSync, writeFileSync } from 'node:fs';

const file = process.env.BENCH_MEMORY_FILE;
if (file && typeof globalThis.gc === 'function') {
  let seq = 0;
  process.on('SIGUSR2', () => {
    // Twice: the first pass can leave weakly held and finalizer-queued objects for the next.
    globalThis.gc();
    globalThis.gc();
    writeFileSync(`${file}.tmp`, JSON.stringify({ seq: ++seq, ...process.memoryUsage() }) + '\n');
    renameSync(`${file}.tmp`, file);
  });
}
