// The journal on a real LMDB in a temp dir: append, conflicts, reopen, damaged files, rebuild.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, writeFileSync, readFileSync, statSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { open } from 'lmdb';
import { Journal, JournalConflict, JournalError, JOURNAL_FORMAT } from '../../journal/journal.ts';
import { startTestRelay, withTempDir } from '../helpers.ts';

test('events are read back in order after a reopen; a stale head is a conflict; seqs are global', async () => {
  await withTempDir(async (dir) => {
    let j = Journal.open(dir);
    assert.equal(j.stage('inbox:a', { type: 'x', at: 1 }, 0), 1);
    assert.equal(j.stage('inbox:b', { type: 'w', at: 1 }, 0), 2);
    assert.equal(j.stage('inbox:a', { type: 'y', at: 2 }, 1), 3);
    assert.throws(() => j.stage('inbox:a', { type: 'z', at: 3 }, 1), JournalConflict);
    assert.throws(() => j.stage('inbox:a', { type: 'z', at: 3 }, 4), JournalConflict);
    assert.equal(j.durableSeq, 0, 'nothing is durable before a commit');
    await j.commit();
    assert.equal(j.durableSeq, 3);
    await j.close();
    j = Journal.open(dir);
    assert.equal(j.durableSeq, 3);
    assert.deepEqual(j.read('inbox:a', 0).map((e) => [e.seq, e.prev, e.event.type]), [[1, 0, 'x'], [3, 1, 'y']]);
    assert.deepEqual(j.readBack('inbox:a', 3).map((e) => e.seq), [1]);
    assert.equal(j.head('inbox:a'), 3);
    assert.equal(j.stage('inbox:a', { type: 'z', at: 4 }, 3), 4, 'numbering continues after a reopen');
    await j.close();
  });
});

/** Stages events over a few streams, interleaved; returns [stream, seq] in global order. */
async function interleaved(dir: string, n: number): Promise<[string, number][]> {
  const j = Journal.open(dir);
  const out: [string, number][] = [];
  for (let i = 0; i < n; i++) {
    const stream = `inbox:${'cab'[i % 3]}${i % 5}`;
    out.push([stream, j.stage(stream, { type: 'x', at: i } as never, j.head(stream))]);
    if (i % 7 === 0) await j.commit(); // several write batches, each with its own head record
  }
  await j.close();
  return out;
}

test('the head record names the newest event after every batch; all() yields every event in seq order', async () => {
  await withTempDir(async (dir) => {
    const written = await interleaved(dir, 60);
    const j = Journal.open(dir);
    assert.equal(j.lastSeq, 60);
    assert.deepEqual([...j.all()].map((e) => [e.stream, e.seq]), written);
    assert.equal(j.stage('inbox:new', { type: 'x', at: 1 }, 0), 61);
    await j.close();
  });
});

for (const layout of ['2: msgpack events, an order row per event', '3: msgpack events, a head record', '3: JSON events', '4: JSON events'] as const) {
  test(`an older journal (format ${layout}) is upgraded in place when opened`, async () => {
    await withTempDir(async (dir) => {
      const from = Number(layout[0]);
      // Written as that format had it: events keyed (stream, seq), interleaved over streams.
      const written: [string, number][] = [];
      const raw = open({ path: join(dir, 'journal'), maxDbs: 64 });
      const meta = raw.openDB({ name: 'meta' });
      const events = layout.includes('JSON') ? raw.openDB({ name: 'events_v3', encoding: 'json' }) : raw.openDB({ name: 'events' });
      const order = raw.openDB<string, number>({ name: 'order' });
      raw.transactionSync(() => {
        const heads = new Map<string, number>();
        for (let seq = 1; seq <= 40; seq++) {
          const stream = `inbox:${'cab'[seq % 3]}${seq % 5}`;
          events.putSync([stream, seq], [heads.get(stream) ?? 0, { type: 'x', at: seq }]);
          heads.set(stream, seq);
          written.push([stream, seq]);
          if (from === 2) order.putSync(seq, stream);
        }
        if (from !== 2) meta.putSync('head', { seq: 40, stream: written[39][0] });
        meta.putSync('format', from);
        // ...and the leftovers of an upgrade that was interrupted: they must not survive it.
        raw.openDB({ name: 'events_v5', encoding: 'json' }).putSync(999, ['inbox:zz', 0, { type: 'half-copied', at: 1 }]);
        raw.openDB({ name: 'segments_v5' }).putSync(['inbox:zz', 999], [999]);
      });
      await raw.close();

      const notices: string[] = [];
      const j = Journal.open(dir, (m) => notices.push(m));
      assert.match(notices.join('\n'), /upgraded 40 events/);
      assert.equal(j.lastSeq, 40, 'the newest seq comes from the last order row or the head record');
      assert.deepEqual([...j.all()].map((e) => [e.stream, e.seq]), written);
      const c0 = written.filter(([s]) => s === 'inbox:c0').map(([, q]) => q);
      assert.deepEqual(j.read('inbox:c0', 0).map((e) => e.seq), c0);
      assert.deepEqual(j.read('inbox:c0', 0).map((e) => e.prev), [0, ...c0.slice(0, -1)], 'each event still names the one before it');
      assert.deepEqual(j.readBack('inbox:c0', 41).map((e) => e.seq), [...c0].reverse());
      assert.deepEqual(j.read('inbox:zz', 0), [], 'nothing of the interrupted copy is left');
      assert.equal(j.stage('inbox:c0', { type: 'x', at: 1 }, j.head('inbox:c0')), 41);
      await j.close();

      const check = open({ path: join(dir, 'journal'), maxDbs: 64, readOnly: true });
      assert.equal(check.openDB({ name: 'meta' }).get('format'), JOURNAL_FORMAT);
      assert.deepEqual(check.openDB({ name: 'meta' }).get('head'), { seq: 41, stream: 'inbox:c0' });
      for (const name of ['order', 'events', 'events_v3']) {
        const dropped = check.openDB({ name }); // read-only: undefined once dropped
        assert.ok(!dropped || Array.from(dropped.getKeys({})).length === 0, `${name} is gone`);
      }
      await check.close();
    });
  });
}

/** A small deterministic PRNG, so a failing run can be repeated. */
function prng(seed: number) {
  return () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
}

/** Expected [seq, prev] of a stream's events, from a model of what was staged. */
type Model = Map<string, number[]>;
function expectRead(model: Model, stream: string, after: number, limit: number): [number, number][] {
  const seqs = model.get(stream) ?? [];
  const out: [number, number][] = [];
  seqs.forEach((seq, i) => seq > after && out.length < limit && out.push([seq, i ? seqs[i - 1] : 0]));
  return out;
}

test('stream reads equal a model across checkpoints of the stream index, with commits and reads interleaved, and after a reopen', async () => {
  await withTempDir(async (dir) => {
    const rand = prng(7);
    const streams = Array.from({ length: 60 }, (_, i) => `inbox:s${i}`);
    const model: Model = new Map();
    let j = Journal.open(dir);
    const probe = (stream: string) => {
      const seqs = model.get(stream) ?? [];
      const after = seqs.length ? seqs[Math.floor(rand() * seqs.length)] - 1 : 0;
      const limit = 1 + Math.floor(rand() * 700);
      assert.deepEqual(j.read(stream, after, limit).map((e) => [e.seq, e.prev]), expectRead(model, stream, after, limit), `read ${stream} after ${after}`);
      const before = after + 1;
      const back = seqs.filter((q) => q < before).reverse().slice(0, limit);
      assert.deepEqual(j.readBack(stream, before, limit).map((e) => e.seq), back, `readBack ${stream} before ${before}`);
      assert.equal(j.head(stream), seqs.at(-1) ?? 0);
      if (seqs.length) assert.equal(j.readOne(stream, seqs[0])?.seq, seqs[0]);
    };
    // 12,000 events (about three checkpoints), a few streams hot enough to outgrow the tail cache.
    for (let i = 0; i < 12_000; i++) {
      const stream = rand() < 0.5 ? streams[Math.floor(rand() * 3)] : streams[Math.floor(rand() * streams.length)];
      const seqs = model.get(stream) ?? [];
      const seq = j.stage(stream, { type: 'x', at: i }, seqs.at(-1) ?? 0);
      model.set(stream, [...seqs, seq]);
      if (rand() < 0.02) {
        await j.commit();
        for (let k = 0; k < 3; k++) probe(streams[Math.floor(rand() * (k ? streams.length : 3))]);
      }
    }
    await j.commit();
    for (const stream of streams) probe(stream);
    await j.close();
    j = Journal.open(dir);
    for (const stream of streams) {
      assert.deepEqual(j.read(stream, 0, 100_000).map((e) => [e.seq, e.prev]), expectRead(model, stream, 0, 100_000));
      probe(stream);
    }
    await j.close();
  });
});

test('a rebuild over all() does not grow the file by a second copy of the indexes (all() holds no read snapshot across commits)', async () => {
  await withTempDir(async (dir) => {
    const j = Journal.open(dir);
    for (let i = 0; i < 100_000; i++) {
      const s = `s${i % 50}`;
      j.stage(s, { type: 'x', at: i }, j.head(s));
      if (i % 5000 === 0) await j.commit();
    }
    for (let i = 0; i < 100_000; i++) {
      j.indexPut('ix', ['u', i], 'v'.repeat(200));
      if (i % 10_000 === 0) await j.commit();
    }
    await j.commit();
    const file = join(dir, 'journal', 'data.mdb');
    const before = statSync(file).size;
    await j.clearIndexes(['ix']);
    let n = 0;
    for (const { seq } of j.all()) {
      j.indexPut('ix', ['u', seq], 'v'.repeat(200));
      if (++n % 10_000 === 0) await j.commit();
    }
    await j.close();
    assert.equal(n, 100_000);
    assert.ok(statSync(file).size < before * 1.2, `${before} → ${statSync(file).size} bytes`);
  });
});

test('readBack and read with limit 0 return nothing', async () => {
  await withTempDir(async (dir) => {
    const j = Journal.open(dir);
    j.stage('inbox:a', { type: 'x', at: 1 }, 0);
    await j.commit();
    assert.deepEqual(j.readBack('inbox:a', 10, 0), []);
    assert.deepEqual(j.read('inbox:a', 0, 0), []);
    await j.close();
  });
});

test('after a crash the events staged since the last checkpoint are indexed again at open', async () => {
  await withTempDir(async (dir) => {
    // A child stages 5,000 events (one checkpoint at 4,096) over 7 streams, commits, and exits without closing.
    const script = `
      import { Journal } from './journal/journal.ts';
      const j = Journal.open(${JSON.stringify(dir)});
      for (let i = 0; i < 5000; i++) { const s = 'inbox:c' + (i % 7); j.stage(s, { type: 'x', at: i }, j.head(s)); if (i % 250 === 0) await j.commit(); }
      await j.commit();
      process.exit(0);`;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: join(import.meta.dirname, '..', '..'), encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 0, run.stderr);
    const raw = open({ path: join(dir, 'journal'), maxDbs: 64, readOnly: true });
    const indexed = raw.openDB({ name: 'meta' }).get('indexed');
    await raw.close();
    assert.equal(indexed, 4096, 'the index on disk stops at the checkpoint');
    const j = Journal.open(dir);
    for (let c = 0; c < 7; c++) {
      const seqs = Array.from({ length: 5000 }, (_, i) => i + 1).filter((q) => (q - 1) % 7 === c);
      assert.deepEqual(j.read(`inbox:c${c}`, 0, 10_000).map((e) => e.seq), seqs);
      assert.deepEqual(j.readBack(`inbox:c${c}`, 5001, 3).map((e) => e.seq), seqs.slice(-3).reverse());
      assert.equal(j.head(`inbox:c${c}`), seqs.at(-1));
    }
    assert.equal(j.stage('inbox:c0', { type: 'x', at: 1 }, j.head('inbox:c0')), 5001);
    await j.close();
  });
});

test('one writer per journal: a second relay on the same data dir stops with one line; a file left by a dead process is taken over', async () => {
  const t = await startTestRelay();
  try {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'daemon/main.ts'], {
      cwd: join(import.meta.dirname, '..', '..'),
      env: { ...process.env, PCHAT_DATA_DIR: t.config.dataDir, PCHAT_UPLOAD_DIR: t.config.uploadDir, PORT: '0' },
      encoding: 'utf8',
      timeout: 15_000, // a relay that did start (no claim) would run until killed
      killSignal: 'SIGKILL',
    });
    assert.equal(run.status, 74, `exit ${run.status} stderr ${run.stderr}`);
    assert.match(run.stderr, new RegExp(`in use by process ${process.pid}`));
    assert.equal(run.stderr.trim().split('\n').length, 1);
  } finally {
    await t.relay.close(); // the data dir stays, for what follows
  }
  const file = join(t.config.dataDir, 'journal', 'writer.pid');
  assert.ok(!existsSync(file), 'a clean stop gives the claim up');
  // A relay killed with -9 leaves its file: the next one takes over.
  const gone = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  writeFileSync(file, gone.stdout);
  const j = Journal.open(t.config.dataDir);
  assert.equal(readFileSync(file, 'utf8').split('\n')[0], String(process.pid));
  await j.close();
  await t.stop();
});

test('a claim left before a reboot is taken over even if its pid now belongs to another node process', async () => {
  await withTempDir(async (dir) => {
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], { stdio: 'ignore' });
    try {
      const stat = readFileSync(`/proc/${other.pid}/stat`, 'utf8');
      const started = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
      const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      const file = join(dir, 'journal', 'writer.pid');
      mkdirSync(join(dir, 'journal'), { recursive: true });
      const claimedBy = (claim: string) => {
        writeFileSync(file, claim);
        try {
          const j = Journal.open(dir);
          void j.close();
          return 'taken over';
        } catch (err) {
          assert.match((err as Error).message, new RegExp(`in use by process ${other.pid} `));
          return 'refused';
        }
      };
      assert.equal(claimedBy(`${other.pid}\n${boot}\n${started}\n`), 'refused', 'that very process, alive: in use');
      assert.equal(claimedBy(`${other.pid}\nanother-boot\n${started}\n`), 'taken over', 'written in another boot');
      assert.equal(claimedBy(`${other.pid}\n${boot}\n1\n`), 'taken over', 'the pid is another process now (started later)');
      assert.equal(claimedBy(`${other.pid}\n`), 'refused', 'an older claim (pid only) of a live node process: in use');
    } finally {
      other.kill();
    }
  });
});

test('two relays starting at the same moment on one data dir: exactly one claims it, with or without a dead one\'s claim left', async () => {
  await withTempDir(async (root) => {
    const ROUNDS = 12;
    const gone = Number(spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).stdout);
    const start = Date.now() + 3_000; // both children loaded by then
    const rounds = Array.from({ length: ROUNDS }, (_, i) => {
      const dir = join(root, `r${i}`);
      mkdirSync(join(dir, 'journal'), { recursive: true });
      // Odd rounds: the claim of a relay killed with -9 is left for both to take over.
      if (i % 2) writeFileSync(join(dir, 'journal', 'writer.pid'), `${gone}\n`);
      return { dir, at: start + i * 150 };
    });
    const child = () =>
      new Promise<string[]>((resolve, reject) => {
        const c = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'claim-child.ts'), JSON.stringify(rounds)], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        c.stdout.on('data', (d) => (out += d));
        c.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`claim child exited ${code}`))));
      });
    const [a, b] = await Promise.all([child(), child()]);
    const claimedBy = rounds.map((_, i) => [a[i], b[i]].filter((x) => x === 'claimed').length);
    assert.deepEqual(claimedBy, Array(ROUNDS).fill(1), `claims per round: a ${JSON.stringify(a)} b ${JSON.stringify(b)}`);
  });
});

test('a journal with the databases of an older layout but no format record is refused, not emptied', async () => {
  await withTempDir(async (dir) => {
    const raw = open({ path: join(dir, 'journal'), maxDbs: 64 });
    raw.openDB({ name: 'events' }).putSync(['inbox:a', 1], [0, { type: 'x', at: 1 }]);
    await raw.close();
    assert.throws(() => Journal.open(dir), /has events but no format record/);
  });
});

test('an event JSON cannot hold takes no seq, and the head record stays on the last real event', async () => {
  await withTempDir(async (dir) => {
    let j = Journal.open(dir);
    j.stage('inbox:a', { type: 'x', at: 1 }, 0);
    assert.throws(() => j.stage('inbox:b', { type: 'y', at: 1, n: 10n } as never, 0));
    assert.equal(j.lastSeq, 1);
    await j.commit();
    await j.close();
    j = Journal.open(dir);
    assert.equal(j.lastSeq, 1);
    assert.equal(j.stage('inbox:b', { type: 'y', at: 2 }, 0), 2);
    await j.close();
  });
});

test('a journal with events but no head record, or a head naming a missing event, is refused', async () => {
  for (const damage of ['no head', 'head past the events'] as const) {
    await withTempDir(async (dir) => {
      await interleaved(dir, 10);
      const raw = open({ path: join(dir, 'journal'), maxDbs: 64 });
      const meta = raw.openDB({ name: 'meta' });
      if (damage === 'no head') meta.removeSync('head');
      else meta.putSync('head', { seq: 99, stream: 'inbox:c0' });
      await raw.close();
      assert.throws(() => Journal.open(dir), (err: Error) => err instanceof JournalError && /head record|newest event inbox:c0#99 is missing/.test(err.message), damage);
    });
  }
});

test('reads served from the in-memory tail of recent events equal reads from disk', async () => {
  await withTempDir(async (dir) => {
    let j = Journal.open(dir);
    // 20,000 events over a busy stream and 40 quiet ones: more than the tail keeps, so the
    // busy stream is trimmed, quiet streams are evicted, and reads fall back to LMDB.
    const heads = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      const stream = i % 2 ? 'group:busy' : `inbox:u${i % 80}`;
      heads.set(stream, j.stage(stream, { type: 'm', at: i }, heads.get(stream) ?? 0));
      if (i % 500 === 499) await j.commit();
    }
    await j.commit();
    const probes: [string, number, number, number][] = [];
    for (const stream of ['group:busy', 'inbox:u0', 'inbox:u78', 'inbox:u40']) {
      const head = heads.get(stream)!;
      for (const after of [0, head - 2_000, head - 600, head - 100, head - 1, head]) probes.push([stream, Math.max(0, after), 50, head]);
      probes.push([stream, head - 300, 1000, head - 50]);
    }
    const live = probes.map(([s, a, l, t]) => j.read(s, a, l, t).map((e) => [e.seq, e.prev, e.event.at]));
    await j.close();
    j = Journal.open(dir);
    const disk = probes.map(([s, a, l, t]) => j.read(s, a, l, t).map((e) => [e.seq, e.prev, e.event.at]));
    assert.deepEqual(live, disk);
    assert.ok(live.some((r) => r.length === 50) && live.some((r) => r.length === 0), 'the probes cover full pages and empty reads');
    await j.close();
  });
});

test('the tail evicts the streams written longest ago, not the ones cached first', async () => {
  await withTempDir(async (dir) => {
    const j = Journal.open(dir);
    const heads = new Map<string, number>();
    const put = (stream: string, i: number) => heads.set(stream, j.stage(stream, { type: 'm', at: i }, heads.get(stream) ?? 0));
    put('inbox:hot', 0); // cached first...
    for (let i = 1; i < 30_000; i++) {
      put(`inbox:cold${i % 400}`, i);
      if (i % 100 === 0) put('inbox:hot', i); // ...and written all along
      if (i % 1000 === 0) await j.commit();
    }
    await j.commit();
    const tail = (j as unknown as { tail: Map<string, unknown[]> }).tail;
    // Evictions happened all along (30,000 events, the tail keeps 8,192); the hot stream's
    // ~300 events were never among the dropped (first in, it was the first out before).
    assert.ok((tail.get('inbox:hot')?.length ?? 0) >= 290, `a stream still being written stays cached (${tail.get('inbox:hot')?.length})`);
    await j.close();
  });
});

test('long texts evict the tail by bytes, and reads stay equal to disk', async () => {
  await withTempDir(async (dir) => {
    let j = Journal.open(dir);
    const heads = new Map<string, number>();
    // 400 events of 100,000 characters (~80 MB as strings): far past the tail's byte budget.
    for (let i = 0; i < 400; i++) {
      const stream = `inbox:big${i % 3}`;
      heads.set(stream, j.stage(stream, { type: 'msg_in', at: i, text: `${i} ${'ž'.repeat(100_000)}` } as never, heads.get(stream) ?? 0));
      if (i % 20 === 19) await j.commit();
    }
    await j.commit();
    const probe = () => ['inbox:big0', 'inbox:big1', 'inbox:big2'].map((s) => j.read(s, heads.get(s)! - 40, 10).map((e) => [e.seq, e.prev, e.event.at]));
    const live = probe();
    await j.close();
    j = Journal.open(dir);
    assert.deepEqual(probe(), live);
    await j.close();
  });
});

for (const [damage, mutate] of [
  ['overwritten', (b: Buffer) => Buffer.alloc(b.length, 0x5a)],
  ['truncated', (b: Buffer) => b.subarray(0, Math.floor(b.length / 2) + 100)],
  // Whole pages, so the length test passes: LMDB would read past the end and die of SIGBUS.
  ['cut at a page boundary', (b: Buffer) => b.subarray(0, Math.floor(b.length / 4096 / 2) * 4096)],
  ['cut by its last page', (b: Buffer) => b.subarray(0, b.length - 4096)],
  ['emptied', () => Buffer.alloc(0)],
] as const) {
  test(`a ${damage} journal stops the daemon with one clear line and is left as it was`, async () => {
    await withTempDir(async (dir) => {
      const j = Journal.open(join(dir, 'data'));
      for (let i = 1; i <= 200; i++) j.stage('inbox:a', { type: 'x', at: i, pad: 'y'.repeat(200) } as never, i - 1);
      await j.close();
      const file = join(dir, 'data', 'journal', 'data.mdb');
      const damaged = mutate(readFileSync(file));
      writeFileSync(file, damaged);
      // In a child process: LMDB crashes on some damage, and this must not be one of those.
      const run = spawnSync(process.execPath, ['--import', 'tsx', 'daemon/main.ts'], {
        cwd: join(import.meta.dirname, '..', '..'),
        env: { ...process.env, PCHAT_DATA_DIR: join(dir, 'data'), PCHAT_UPLOAD_DIR: join(dir, 'up'), PORT: '0' },
        encoding: 'utf8',
        timeout: 30_000,
      });
      assert.equal(run.status, 74, `exit ${run.status} signal ${run.signal} stderr ${run.stderr}`);
      assert.match(run.stderr, /journal file .*data\.mdb is damaged/);
      assert.equal(run.stderr.trim().split('\n').length, 1);
      assert.ok(readFileSync(file).equals(damaged), 'the file was not emptied or rewritten');
    });
  });
}

test('a journal whose data file is gone (deleted, left out of a restore) stops the daemon with one line; it does not start empty', async () => {
  await withTempDir(async (dir) => {
    const j = Journal.open(join(dir, 'data'));
    j.stage('inbox:a', { type: 'x', at: 1 } as never, 0);
    await j.close();
    rmSync(join(dir, 'data', 'journal', 'data.mdb'));
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'daemon/main.ts'], {
      cwd: join(import.meta.dirname, '..', '..'),
      env: { ...process.env, PCHAT_DATA_DIR: join(dir, 'data'), PCHAT_UPLOAD_DIR: join(dir, 'up'), PORT: '0' },
      encoding: 'utf8',
      timeout: 15_000,
      killSignal: 'SIGKILL',
    });
    assert.equal(run.status, 74, `exit ${run.status} signal ${run.signal} stderr ${run.stderr}`);
    assert.match(run.stderr, /data\.mdb is missing but .*lock\.mdb is there/);
    assert.equal(run.stderr.trim().split('\n').length, 1);
    assert.equal(existsSync(join(dir, 'data', 'journal', 'data.mdb')), false, 'no empty journal was made in its place');
  });
});

test('projections rebuilt from the journal equal the live ones', async () => {
  const t = await startTestRelay();
  try {
    const a = await t.login('a@example.com', { chat_address: 'amy' });
    const b = await t.login('b@example.com', { chat_address: 'ben' });
    for (let i = 0; i < 5; i++) await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'ben', text: `m${i}` }, a.token);
    const ids = (await t.api('POST', '/api/v1/webchat/poll', {}, b.token)).body.messages.map((m: any) => m.id);
    await t.api('POST', '/api/v1/webchat/read', { message_ids: ids.slice(0, 2) }, b.token);
    await t.api('POST', '/api/v1/webchat/edit', { message_id: ids[4], text: 'edited' }, a.token);
    const before = (await t.api('GET', '/api/v1/webchat/conversations', undefined, b.token)).body;
    const history = (await t.api('GET', '/api/v1/webchat/history?peer=amy', undefined, b.token)).body;
    await t.relay.services.core.projections.rebuild();
    assert.deepEqual((await t.api('GET', '/api/v1/webchat/conversations', undefined, b.token)).body, before);
    assert.deepEqual((await t.api('GET', '/api/v1/webchat/history?peer=amy', undefined, b.token)).body, history);
    assert.equal((await t.api('GET', '/api/v1/pchat/auth/me', undefined, a.token)).status, 200, 'tokens survive the rebuild');
  } finally {
    await t.stop();
  }
});

test('an actor hydrates from its snapshot plus the tail after a restart', async () => {
  const t = await startTestRelay({ PCHAT_SNAPSHOT_EVERY: '4' });
  try {
    const a = await t.login('a@example.com', { chat_address: 'amy' });
    const b = await t.login('b@example.com', { chat_address: 'ben' });
    for (let i = 0; i < 9; i++) await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'ben', text: `m${i}` }, a.token);
    await t.api('POST', '/api/v1/webchat/block', { address: 'amy' }, b.token);
    await t.restart({ PCHAT_SNAPSHOT_EVERY: '4' });
    const refused = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'ben', text: 'x' }, a.token);
    assert.equal(refused.body.error, 'blocked', 'the block list came back from snapshot + tail');
    const p = await t.api('POST', '/api/v1/webchat/poll', { limit: 50 }, b.token);
    assert.equal(p.body.messages.length, 9);
  } finally {
    await t.stop();
  }
});

test('passivated actors reload from the journal on next use', async () => {
  const t = await startTestRelay();
  try {
    const a = await t.login('a@example.com', { chat_address: 'amy' });
    const b = await t.login('b@example.com', { chat_address: 'ben' });
    await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'ben', text: 'one' }, a.token);
    const { core } = t.relay.services;
    await core.journal.commit();
    const loaded = core.registry.size;
    assert.ok(loaded > 0);
    assert.equal(core.registry.passivate(0), loaded);
    assert.equal(core.registry.size, 0);
    const p = await t.api('POST', '/api/v1/webchat/poll', {}, b.token);
    assert.deepEqual(p.body.messages.map((m: any) => m.text), ['one']);
    assert.equal((await t.api('POST', '/api/v1/webchat/poll', {}, b.token)).body.messages.length, 0, 'the cursor came back too');
  } finally {
    await t.stop();
  }
});
