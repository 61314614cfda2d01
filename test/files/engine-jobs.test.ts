// Engine programs run per upload are bounded (PCHAT_MEDIA_JOBS_MAX at once, PCHAT_MEDIA_QUEUE_MAX
// waiting; past that 503 engines_busy with Retry-After). The engines here are stand-ins on
// PCHAT_ENGINE_PATH: ffprobe and ffmpeg scripts that note when they start and end, take a
// moment, and answer as the real ones would for a one-second voice clip.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestRelay, tempDir, type TestRelay } from '../helpers.ts';
import { blobsIn, PNG, upload } from './helpers.ts';

const engines = tempDir('pchat-fake-engines-');
const log = join(engines, 'runs.log');

before(() => {
  const script = (answer: string) => `#!/bin/sh\necho "+ $$" >> '${log}'\nsleep 0.25\necho "- $$" >> '${log}'\n${answer}\n`;
  writeFileSync(join(engines, 'ffprobe'), script(`printf '%s' '{"format":{"duration":"1.0"},"streams":[{"codec_type":"audio"}]}'`));
  writeFileSync(join(engines, 'ffmpeg'), script('head -c 16000 /dev/zero'));
  chmodSync(join(engines, 'ffprobe'), 0o755);
  chmodSync(join(engines, 'ffmpeg'), 0o755);
});

/** The most engine runs that were going at one time, from the start/end lines in the log. */
function peakConcurrency(): { peak: number; runs: number } {
  let now = 0;
  let peak = 0;
  let runs = 0;
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    if (line.startsWith('+')) {
      runs++;
      peak = Math.max(peak, ++now);
    } else if (line.startsWith('-')) now--;
  }
  return { peak, runs };
}

/** A distinct little WAV file (sniffed as audio/wav, so the upload is probed and decoded). */
function wav(seed: number): Buffer {
  const samples = Buffer.alloc(1600, seed);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + samples.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(8000, 24);
  h.writeUInt32LE(16000, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(samples.length, 40);
  return Buffer.concat([h, samples]);
}

let t: TestRelay | undefined;
after(async () => {
  await t?.stop();
  rmSync(engines, { recursive: true, force: true });
});

test('many voice uploads at once never run more engine processes than PCHAT_MEDIA_JOBS_MAX', async () => {
  writeFileSync(log, '');
  t = await startTestRelay({ PCHAT_ENGINE_PATH: engines, PCHAT_MEDIA_JOBS_MAX: '2' });
  const { token } = await t.login('v@example.com', { chat_address: 'voices' });
  const ups = await Promise.all(Array.from({ length: 8 }, (_, i) => upload(t!, token, [{ name: `clip${i}.wav`, data: wav(i + 1) }])));
  for (const up of ups) {
    assert.equal(up.status, 200, JSON.stringify(up.body));
    assert.equal(up.body.kind, 'voice');
    assert.equal(up.body.duration, 1);
    assert.equal(up.body.peaks.length, 64, 'probed and decoded: the waveform is there');
  }
  const { peak, runs } = peakConcurrency();
  assert.equal(runs, 16, 'an ffprobe and an ffmpeg per clip');
  assert.equal(peak, 2, `at most 2 engine processes at a time (saw ${peak})`);
  await t.stop();
  t = undefined;
});

test('past the queue, an upload that needs an engine is a 503 engines_busy with Retry-After, and leaves nothing behind', async () => {
  writeFileSync(log, '');
  t = await startTestRelay({ PCHAT_ENGINE_PATH: engines, PCHAT_MEDIA_JOBS_MAX: '1', PCHAT_MEDIA_QUEUE_MAX: '1' });
  const { token } = await t.login('w@example.com', { chat_address: 'waiting' });
  const ups = await Promise.all(Array.from({ length: 6 }, (_, i) => upload(t!, token, [{ name: `clip${i}.wav`, data: wav(100 + i) }])));
  const busy = ups.filter((u) => u.status === 503);
  const ok = ups.filter((u) => u.status === 200);
  assert.equal(busy.length + ok.length, 6, JSON.stringify(ups.map((u) => u.status)));
  assert.ok(busy.length >= 1, 'some were refused');
  assert.ok(ok.length >= 1, 'and the first was not');
  for (const b of busy) {
    assert.equal(b.body.error, 'engines_busy');
    assert.equal(b.headers.get('retry-after'), '5');
  }
  assert.equal(peakConcurrency().peak, 1);
  // A refused upload is not kept: its blob and temp file are gone; only the accepted ones stay.
  assert.equal(blobsIn(t.dir).length, ok.length);
  assert.deepEqual(readdirSync(join(t.dir, 'uploads', 'tmp')), []);
  // Not a refusal of an image, which needs no engine.
  assert.equal((await upload(t, token, [{ name: 'p.png', data: PNG }])).status, 200);
  // Later, the same clip goes through.
  const retry = await upload(t, token, [{ name: 'again.wav', data: wav(100) }]);
  assert.equal(retry.status, 200);
});
