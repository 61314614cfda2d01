// Read-aloud producing real ogg/opus audio; a relay with no engines installed still starting
// and saying what is off; HTTP engines (LibreTranslate-compatible, OpenAI-compatible speech to
// text) spoken to over their wire APIs by local servers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { freePort, startTestRelay, tempDir, type TestRelay } from '../helpers.ts';
import { probeAudio, spokenClip, upload } from './helpers.ts';

/** Starts a local engine server on a free port; its base URL. */
async function listening(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

async function speak(t: TestRelay, token: string, body: Record<string, unknown>) {
  const res = await fetch(t.url + '/api/v1/webchat/speak', { method: 'POST', headers: { 'content-type': 'application/json', 'x-pchat-session': token }, body: JSON.stringify(body) });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

describe('read-aloud', () => {
  let t: TestRelay;
  let alice: { token: string };
  let bob: { token: string };
  const dir = tempDir('pchat-speak-');

  before(async () => {
    t = await startTestRelay({ PCHAT_SPEAK_MAX_CHARS: '200' });
    alice = await t.login('alice@example.com', { chat_address: 'alice' });
    bob = await t.login('bob@example.com', { chat_address: 'bob' });
  });
  after(() => t.stop());

  for (const [lang, text, engine] of [['en', 'Please call me tomorrow morning.', 'flite'], ['es', '¿Dónde está la estación de tren?', 'espeak-ng']] as const) {
    test(`${lang} text becomes valid ogg/opus audio (${engine})`, async () => {
      const r = await speak(t, alice.token, { text, language: lang });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-type'), 'audio/ogg');
      assert.equal(r.headers.get('x-pchat-engine'), engine);
      assert.equal(r.bytes.subarray(0, 4).toString('latin1'), 'OggS');
      const file = join(dir, `${lang}.ogg`);
      writeFileSync(file, r.bytes);
      const p = probeAudio(file);
      assert.equal(p.codec, 'opus');
      assert.ok(p.duration > 1 && p.duration < 10, `duration ${p.duration}`);
    });
  }

  test('English read aloud is heard back as the same words (speak → transcribe round trip)', async () => {
    // pocketsphinx's en-us model hears flite's male voices well (its default "slt" less so).
    const t2 = await startTestRelay({ PCHAT_SPEAK_VOICE: 'rms' });
    try {
      const a = await t2.login('a@example.com', { chat_address: 'amy' });
      const r = await speak(t2, a.token, { text: 'open the door', language: 'en' });
      const up = await upload(t2, a.token, [{ name: 'spoken.ogg', data: r.bytes }]);
      const heard = await t2.api('POST', '/api/v1/webchat/transcribe', { file_id: up.body.file_id }, a.token);
      assert.equal(heard.body.text, 'open the door');
    } finally {
      await t2.stop();
    }
  });

  test('a message is read in the reader language: translated first', async () => {
    const s = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'bob', text: 'The house is big.' }, alice.token);
    const r = await speak(t, bob.token, { message_id: s.body.message_id, language: 'es' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-pchat-language'), 'es');
    const stranger = await t.login('carol@example.com', { chat_address: 'carol' });
    assert.equal((await speak(t, stranger.token, { message_id: s.body.message_id })).status, 404);
  });

  test('a group member has a group message read aloud; an outsider may not', async () => {
    const g = await t.api('POST', '/api/v1/webchat/groups', { name: 'Aloud', visibility: 'private', mode: 'chat', members: ['bob'] }, alice.token);
    assert.equal(g.status, 200, JSON.stringify(g.body));
    const s = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: `group:${g.body.group.id}`, text: 'The house is big.' }, alice.token);
    assert.equal(s.status, 200, JSON.stringify(s.body));
    const r = await speak(t, bob.token, { message_id: s.body.message_id, language: 'en' });
    assert.equal(r.status, 200, r.bytes.toString().slice(0, 200));
    assert.equal(r.bytes.subarray(0, 4).toString('latin1'), 'OggS');
    const outsider = await t.login('dan@example.com', { chat_address: 'dan' });
    assert.equal((await speak(t, outsider.token, { message_id: s.body.message_id })).status, 404);
  });

  test('too long, blank, both or neither text and message_id, and unknown voices are refused', async () => {
    assert.equal((await speak(t, alice.token, { text: 'x'.repeat(201) })).status, 413);
    assert.equal((await speak(t, alice.token, {})).status, 400);
    const blank = await speak(t, alice.token, { text: ' \n\t ' });
    assert.equal(blank.status, 400, 'not a second of silence');
    assert.equal(JSON.parse(blank.bytes.toString()).error, 'validation_failed');
    const r = await speak(t, alice.token, { text: 'hi', language: 'xx' });
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.bytes.toString()).error, 'unsupported_language');
  });
});

test('with no engines installed the relay starts, /health says what is off, routes answer 503 with the hint', async () => {
  const empty = tempDir('pchat-noengines-');
  mkdirSync(join(empty, 'bin'));
  const t = await startTestRelay({ PCHAT_ENGINE_PATH: join(empty, 'bin') });
  try {
    const a = await t.login('a@example.com', { chat_address: 'amy' });
    const h = await t.api('GET', '/health');
    for (const cap of ['transcribe', 'translate', 'speak', 'waveform']) {
      assert.equal(h.body.capabilities[cap].on, false, cap);
      assert.match(h.body.capabilities[cap].hint, /install/);
    }
    assert.equal(h.body.capabilities.upload.on, true);
    const up = await upload(t, a.token, [{ name: 'x.txt', data: 'still works' }]);
    assert.equal(up.status, 200, 'uploads need no engine');
    for (const [path, body] of [
      ['/api/v1/webchat/translate-text', { text: 'hello', target: 'es' }],
      ['/api/v1/webchat/transcribe', { file_id: up.body.file_id }],
      ['/api/v1/webchat/speak', { text: 'hello' }],
    ] as const) {
      const r = await t.api('POST', path, body, a.token);
      assert.equal(r.status, 503, path);
      assert.equal(r.body.error, 'engine_unavailable');
      assert.match(r.body.message, /apt|install/i);
    }
  } finally {
    await t.stop();
  }
});

test('HTTP engines: a LibreTranslate-compatible server and an OpenAI-compatible transcription endpoint', async () => {
  const seen: { path: string; body: string; auth?: string }[] = [];
  // Local servers speaking the real wire APIs (what an operator's LibreTranslate or whisper
  // server answers); the relay is only configured by URL.
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ path: req.url!, body, auth: req.headers.authorization });
      res.setHeader('content-type', 'application/json');
      if (req.url === '/languages') return res.end(JSON.stringify([{ code: 'en', name: 'English', targets: ['de'] }, { code: 'de', name: 'German', targets: ['en'] }]));
      if (req.url === '/translate') {
        const q = JSON.parse(body);
        return res.end(JSON.stringify({ translatedText: q.q === 'Good morning' && q.target === 'de' ? 'Guten Morgen' : `?${q.q}` }));
      }
      if (req.url === '/v1/audio/transcriptions') return res.end(JSON.stringify({ text: body.includes('name="model"') ? 'heard by the http engine' : 'no model', language: 'en' }));
      res.statusCode = 404;
      res.end('{}');
    });
  });
  const base = await listening(server);
  const t = await startTestRelay({
    PCHAT_TRANSLATE_ENGINE: 'libretranslate',
    PCHAT_TRANSLATE_URL: base,
    PCHAT_TRANSCRIBE_ENGINE: 'openai',
    PCHAT_TRANSCRIBE_URL: `${base}/v1`,
    PCHAT_TRANSCRIBE_API_KEY: 'sk-test',
  });
  try {
    const a = await t.login('a@example.com', { chat_address: 'amy' });
    const r = await t.api('POST', '/api/v1/webchat/translate-text', { text: 'Good morning', source: 'en', target: 'de' }, a.token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.translated_text, 'Guten Morgen');
    assert.equal(r.body.engine, 'libretranslate');
    assert.deepEqual(JSON.parse(seen.find((s) => s.path === '/translate')!.body), { q: 'Good morning', source: 'en', target: 'de', format: 'text' });
    assert.equal((await t.api('POST', '/api/v1/webchat/translate-text', { text: 'Hola', source: 'es', target: 'de' }, a.token)).body.error, 'unsupported_language_pair');
    const clip = spokenClip(tempDir('pchat-clip-'), 'hello');
    const up = await upload(t, a.token, [{ name: 'h.ogg', data: clip.ogg }]);
    const tr = await t.api('POST', '/api/v1/webchat/transcribe', { file_id: up.body.file_id }, a.token);
    assert.equal(tr.body.text, 'heard by the http engine');
    assert.equal(tr.body.engine, 'openai');
    assert.equal(seen.find((s) => s.path === '/v1/audio/transcriptions')!.auth, 'Bearer sk-test');
  } finally {
    await t.stop();
    server.close();
  }
});

test('a LibreTranslate server down when the relay starts: 502 engine_failed, not "unsupported languages"; up later, it is used without a restart', async () => {
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/languages') return res.end(JSON.stringify([{ code: 'en', targets: ['de'] }, { code: 'de', targets: ['en'] }]));
      res.end(JSON.stringify({ translatedText: 'Guten Morgen' }));
    });
  });
  const port = await freePort(); // nothing listens there yet: the server comes up there later
  const t = await startTestRelay({ PCHAT_TRANSLATE_ENGINE: 'libretranslate', PCHAT_TRANSLATE_URL: `http://127.0.0.1:${port}`, PCHAT_ENGINE_TIMEOUT_MS: '1000' });
  try {
    const a = await t.login('a@example.com', { chat_address: 'amy' });
    const asked = { text: 'Good morning', source: 'en', target: 'de' };
    const down = await t.api('POST', '/api/v1/webchat/translate-text', asked, a.token);
    assert.equal(down.status, 502, JSON.stringify(down.body));
    assert.equal(down.body.error, 'engine_failed');
    assert.ok(t.logs.some((l) => /did not list its languages/.test(String(l.err))), 'the log says which server did not answer');
    const prefs = await t.api('PUT', '/api/v1/webchat/language-prefs', { receive_language: 'de' }, a.token);
    assert.equal(prefs.status, 502, 'a language cannot be checked against a server that is down');
    assert.equal((await t.api('PUT', '/api/v1/webchat/language-prefs', { receive_language: null }, a.token)).status, 200, 'clearing one needs no server');

    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    const up = await t.api('POST', '/api/v1/webchat/translate-text', asked, a.token);
    assert.equal(up.status, 200, JSON.stringify(up.body));
    assert.equal(up.body.translated_text, 'Guten Morgen');
    assert.equal((await t.api('PUT', '/api/v1/webchat/language-prefs', { receive_language: 'de' }, a.token)).status, 200);
  } finally {
    await t.stop();
    server.close();
  }
});

test('an HTTP engine answering 200 with no JSON, null, or a body that stalls is a 502 engine_failed, not a relay error', async () => {
  let mode = 'html';
  // What a misconfigured proxy in front of an engine, or an engine that hangs mid-answer, sends.
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/languages') {
        res.setHeader('content-type', 'application/json');
        return res.end(JSON.stringify([{ code: 'en', targets: ['de'] }, { code: 'de', targets: ['en'] }]));
      }
      if (mode === 'html') return res.end('<html><body>502 Bad Gateway</body></html>');
      res.setHeader('content-type', mode === 'stall' && req.url === '/v1/audio/speech' ? 'audio/ogg' : 'application/json');
      if (mode === 'null') return res.end('null');
      res.write(req.url === '/v1/audio/speech' ? 'OggS' : '{"translatedText":'); // and nothing more
    });
  });
  const base = await listening(server);
  const t = await startTestRelay({
    PCHAT_TRANSLATE_ENGINE: 'libretranslate',
    PCHAT_TRANSLATE_URL: base,
    PCHAT_TRANSCRIBE_ENGINE: 'openai',
    PCHAT_TRANSCRIBE_URL: `${base}/v1`,
    PCHAT_SPEAK_ENGINE: 'openai',
    PCHAT_SPEAK_URL: `${base}/v1`,
    PCHAT_ENGINE_TIMEOUT_MS: '500',
  });
  try {
    const a = await t.login('a@example.com', { chat_address: 'amy' });
    const up = await upload(t, a.token, [{ name: 'h.ogg', data: spokenClip(tempDir('pchat-clip-'), 'hello').ogg }]);
    for (const m of ['html', 'null', 'stall']) {
      mode = m;
      const calls = [
        ['/api/v1/webchat/translate-text', { text: `Good morning ${m}`, source: 'en', target: 'de' }],
        ['/api/v1/webchat/transcribe', { file_id: up.body.file_id }],
        ['/api/v1/webchat/speak', { text: `hello ${m}`, language: 'en' }],
      ] as const;
      for (const [path, body] of calls) {
        const r = await t.api('POST', path, body, a.token);
        assert.equal(r.status, 502, `${m} ${path}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error, 'engine_failed');
      }
    }
    assert.ok(!t.logs.some((l) => l.msg === 'request failed'), 'nothing logged as a relay error');
  } finally {
    await t.stop();
    server.closeAllConnections();
    server.close();
  }
});

test('the same clip transcribed in two languages at once: each request gets the language it asked for', async () => {
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const language = /name="language"\r\n\r\n(\w+)/.exec(body)?.[1] ?? 'en';
      res.setHeader('content-type', 'application/json');
      setTimeout(() => res.end(JSON.stringify({ text: `heard in ${language}`, language })), 300); // a slow engine: the second request comes while the first runs
    });
  });
  const t = await startTestRelay({ PCHAT_TRANSCRIBE_ENGINE: 'openai', PCHAT_TRANSCRIBE_URL: `${await listening(server)}/v1` });
  try {
    const a = await t.login('a@example.com', { chat_address: 'amy' });
    const up = await upload(t, a.token, [{ name: 'h.ogg', data: spokenClip(tempDir('pchat-clip-'), 'hola').ogg }]);
    const [es, fr] = await Promise.all(['es', 'fr'].map((language) => t.api('POST', '/api/v1/webchat/transcribe', { file_id: up.body.file_id, language }, a.token)));
    assert.deepEqual([es.body.language, es.body.text], ['es', 'heard in es']);
    assert.deepEqual([fr.body.language, fr.body.text], ['fr', 'heard in fr']);
  } finally {
    await t.stop();
    server.close();
  }
});

test('an HTTP engine without its URL stops start-up with one clear line', async () => {
  const { loadConfig, ConfigError } = await import('../../daemon/config.ts');
  assert.throws(() => loadConfig({ PCHAT_TRANSLATE_ENGINE: 'libretranslate' }), (e: Error) => e instanceof ConfigError && /PCHAT_TRANSLATE_URL/.test(e.message));
  assert.throws(() => loadConfig({ PCHAT_SPEAK_ENGINE: 'nope' }), ConfigError);
  assert.throws(() => loadConfig({ PCHAT_UPLOAD_MAX_FILES: '0' }), ConfigError);
});
