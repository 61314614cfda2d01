// Voice clips with the real engines: a clip spoken by flite (voice "rms"), encoded the way
// browsers and phones record it, uploaded as a voice clip (duration + waveform), transcribed
// by the persistent pocketsphinx worker, and captioned in the receiver's language.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestRelay, tempDir, type TestRelay } from '../helpers.ts';
import { spokenClip, upload } from './helpers.ts';

const SAID = 'please call me tomorrow morning';

describe('voice clips and transcription', () => {
  let t: TestRelay;
  let alice: { token: string };
  let bob: { token: string };
  let clip: ReturnType<typeof spokenClip>;

  before(async () => {
    clip = spokenClip(tempDir('pchat-clip-'), SAID);
    t = await startTestRelay({ PCHAT_TRANSCRIBE_MAX_SECONDS: '20' });
    alice = await t.login('alice@example.com', { chat_address: 'alice' });
    bob = await t.login('bob@example.com', { chat_address: 'bob' });
  });
  after(() => t.stop());

  test('a recorded clip uploads as a voice clip with its duration and waveform', async () => {
    const up = await upload(t, alice.token, [{ name: 'voice.webm', data: clip.webm }]);
    assert.equal(up.status, 200, JSON.stringify(up.body));
    assert.equal(up.body.kind, 'voice');
    assert.equal(up.body.mime, 'audio/webm', 'an audio-only webm is audio, whatever the container says');
    assert.ok(up.body.duration > 1.2 && up.body.duration < 4, `duration ${up.body.duration}`);
    assert.equal(up.body.peaks.length, 64);
    assert.ok(Math.max(...up.body.peaks) > 10, 'speech shows in the waveform');
    assert.equal(up.body.peaks[0], 0, 'the clip starts in silence');
    const asFile = await upload(t, alice.token, [{ name: 'voice.ogg', data: clip.ogg }], undefined, { kind: 'file' });
    assert.equal(asFile.body.kind, 'file', 'the client may send audio as a plain file');
  });

  for (const format of ['webm', 'ogg', 'mp3', 'wav'] as const) {
    test(`a ${format} clip is transcribed to the words that were said`, async () => {
      const up = await upload(t, alice.token, [{ name: `said.${format}`, data: clip[format] }]);
      const r = await t.api('POST', '/api/v1/webchat/transcribe', { file_id: up.body.file_id }, alice.token);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.text, SAID);
      assert.equal(r.body.language, 'en');
      assert.equal(r.body.engine, 'pocketsphinx');
      assert.ok(r.body.duration > 1);
    });
  }

  test('transcripts are cached per file; the worker stays up between clips', async () => {
    const up = await upload(t, alice.token, [{ name: 'again.ogg', data: clip.ogg }]);
    const r1 = await t.api('POST', '/api/v1/webchat/transcribe', { file_id: up.body.file_id }, bob.token);
    assert.equal(r1.body.cached, true, 'the same bytes were transcribed by an earlier test');
    const { transcriber } = t.relay.services.media.files;
    assert.equal((transcriber as any).starts, 1, 'one pocketsphinx process for every clip');
  });

  test('multipart transcription stores the clip and answers its words', async () => {
    const other = spokenClip(tempDir('pchat-clip-'), 'open the door', 'door');
    const r = await upload(t, alice.token, [{ name: 'door.webm', data: other.webm }], '/api/v1/webchat/transcribe');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.text, 'open the door');
    assert.match(r.body.file_id, /^file_/);
  });

  test('multipart transcription in a language the engine does not hear is refused before the clip is stored', async () => {
    const other = spokenClip(tempDir('pchat-clip-'), 'good night', 'night');
    const r = await upload(t, alice.token, [{ name: 'night.webm', data: other.webm }], '/api/v1/webchat/transcribe?language=zh');
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error, 'unsupported_language');
    const sha = createHash('sha256').update(other.webm).digest('hex');
    assert.equal(t.relay.services.core.projections.media.blobFiles(sha), 0, 'no file record');
    assert.equal(existsSync(t.relay.services.media.files.blobPath(sha)), false, 'no blob');
  });

  test('a video clip sent to transcribe as multipart is heard, as it is by file_id', async () => {
    const dir = tempDir('pchat-clip-');
    spokenClip(dir, 'open the door', 'vid'); // writes vid.wav there
    const video = join(dir, 'clip.webm');
    execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'color=c=blue:s=64x64:d=3', '-i', join(dir, 'vid.wav'), '-shortest', '-c:v', 'libvpx', '-c:a', 'libopus', video]);
    const r = await upload(t, alice.token, [{ name: 'clip.webm', data: readFileSync(video) }], '/api/v1/webchat/transcribe');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.text, 'open the door');
    const up = await upload(t, alice.token, [{ name: 'clip.webm', data: readFileSync(video) }]);
    assert.equal(up.body.kind, 'video');
  });

  test('clips over the length cap are refused with clip_too_long; non-audio with not_audio', async () => {
    const long = spokenClip(tempDir('pchat-clip-'), Array(14).fill('this sentence is repeated to make a long clip').join(', '), 'long');
    const up = await upload(t, alice.token, [{ name: 'long.ogg', data: long.ogg }]);
    assert.ok(up.body.duration > 20);
    const r = await t.api('POST', '/api/v1/webchat/transcribe', { file_id: up.body.file_id }, alice.token);
    assert.equal(r.status, 413);
    assert.equal(r.body.error, 'clip_too_long');
    const txt = await upload(t, alice.token, [{ name: 'a.txt', data: 'hello' }]);
    const r2 = await t.api('POST', '/api/v1/webchat/transcribe', { file_id: txt.body.file_id }, alice.token);
    assert.equal(r2.body.error, 'not_audio');
    const r3 = await t.api('POST', '/api/v1/webchat/transcribe', { file_id: up.body.file_id, language: 'zh' }, alice.token);
    assert.equal(r3.body.error, 'unsupported_language');
    // A JSON body that is not {file_id}: refused in words that name both ways to call it.
    for (const bad of [{}, { file_id: 7 }]) {
      const r4 = await t.api('POST', '/api/v1/webchat/transcribe', bad, alice.token);
      assert.equal(r4.status, 400, JSON.stringify(r4.body));
      assert.equal(r4.body.error, 'validation_failed');
      assert.match(r4.body.message, /file_id.*multipart "file" part/);
    }
  });

  test('a voice clip reaches a Spanish reader with its transcript translated as a caption', async () => {
    await t.api('PUT', '/api/v1/webchat/language-prefs', { receive_language: 'es' }, bob.token);
    await t.api('POST', '/api/v1/webchat/poll', {}, bob.token);
    const fresh = spokenClip(tempDir('pchat-clip-'), 'good morning', 'gm');
    const up = await upload(t, alice.token, [{ name: 'gm.webm', data: fresh.webm }]);
    const s = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'bob', text: up.body.attachment }, alice.token);
    assert.equal(s.status, 200);
    const seen: any[] = [];
    const deadline = Date.now() + 20_000;
    while (!seen.some((e) => e.type === 'translation') && Date.now() < deadline) {
      const p = await t.api('POST', '/api/v1/webchat/poll', { wait_ms: 5000 }, bob.token);
      seen.push(...p.body.events);
    }
    const msg = seen.find((e) => e.type === 'message');
    assert.equal(msg.message.attachments[0].kind, 'voice');
    assert.ok(msg.message.attachments[0].peaks.length > 0);
    assert.ok(msg.message.attachments[0].duration > 0.5);
    const caption = seen.find((e) => e.type === 'translation');
    assert.ok(caption, 'a translation event arrived');
    assert.equal(caption.message_id, s.body.message_id);
    assert.equal(caption.file_id, up.body.file_id);
    assert.equal(caption.transcript, 'good morning');
    assert.equal(caption.language, 'es');
    assert.equal(caption.source_language, 'en');
    assert.equal(caption.text.toLowerCase(), 'buenos días');
  });
});
