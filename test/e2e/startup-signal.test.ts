// SIGTERM while the relay is still starting (here: rebuilding its projections from a journal
// of 20 000 events, which takes a second or two) stops it cleanly: the journal is closed, its
// writer claim removed, exit 0; and the next start works (and does the rebuild it was denied).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from '../../journal/journal.ts';
import { eventually, freePort, request, tempDir } from '../helpers.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const EVENTS = 20_000;

/** A journal of uploads whose projections were never built: the next start rebuilds them all. */
async function journalNeedingRebuild(dataDir: string) {
  const j = Journal.open(dataDir);
  for (let i = 0; i < EVENTS; i++) {
    const id = `file_${i.toString(16).padStart(32, '0')}`;
    const body = { file_id: id, sha256: i.toString(16).padStart(64, '0'), size: 10, mime: 'text/plain', name: 'x.txt', kind: 'file', owner: 'usr_0', duration: null, peaks: null };
    j.stage(`file:${id}`, { type: 'uploaded', ...body, at: Date.now() } as never, 0);
    if (i % 5000 === 4999) await j.commit();
  }
  await j.close();
}

function startRelay(dir: string, port: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'daemon', 'main.ts')], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', PCHAT_DATA_DIR: join(dir, 'data'), PCHAT_UPLOAD_DIR: join(dir, 'up'), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return { child, exited, out: () => out };
}

test('SIGTERM during start-up (a projection rebuild) closes the journal, removes writer.pid, exits 0; the next start works', { timeout: 120_000 }, async () => {
  const dir = tempDir('pchat-startsig-');
  const claim = join(dir, 'data', 'journal', 'writer.pid');
  const relays: ReturnType<typeof startRelay>[] = [];
  try {
    await journalNeedingRebuild(join(dir, 'data'));
    const port = await freePort();

    const first = startRelay(dir, port);
    relays.push(first);
    await eventually(() => /rebuilding the projections/.test(first.out()), 30_000, 10);
    assert.ok(existsSync(claim), 'the journal is claimed while it starts');
    first.child.kill('SIGTERM');
    assert.deepEqual(await first.exited, { code: 0, signal: null }, first.out());
    assert.match(first.out(), /stopped cleanly before listening/);
    assert.doesNotMatch(first.out(), /listening on/);
    assert.equal(existsSync(claim), false, 'no writer claim is left behind');

    const second = startRelay(dir, port);
    relays.push(second);
    const base = `http://127.0.0.1:${port}`;
    await eventually(() => request(base, 'GET', '/health').then((r) => r.status === 200, () => false), 60_000, 100);
    assert.match(second.out(), /projections rebuilt from the journal/, 'the rebuild cut short is done now');
    second.child.kill('SIGTERM');
    assert.deepEqual(await second.exited, { code: 0, signal: null });
    assert.match(second.out(), /stopped cleanly/);
    assert.equal(existsSync(claim), false);
  } finally {
    for (const r of relays) r.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
