// Uploads and downloads against a real relay: byte-exact round trips, ranges, ETags, dedup,
// every cap, safe serving of active content, a traversal filename, an interrupted upload, and
// attachments (structured and pasted as text) reaching a receiver.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { eventually, startInProcessRelay, startTestRelay, type TestRelay } from '../helpers.ts';
import { Readable } from 'node:stream';
import { blobsIn, download, PNG, upload } from './helpers.ts';

describe('uploads and downloads', () => {
  let t: TestRelay;
  let alice: { token: string };
  let bob: { token: string };

  before(async () => {
    t = await startTestRelay({ PCHAT_UPLOAD_MAX_BYTES: String(3 * 1024 * 1024), PCHAT_UPLOAD_MAX_FILES: '3' });
    alice = await t.login('alice@example.com', { chat_address: 'alice' });
    bob = await t.login('bob@example.com', { chat_address: 'bob' });
  });
  after(() => t.stop());

  test('bytes come back exactly, one or many files per request', async () => {
    const one = randomBytes(1024 * 1024 + 17);
    const two = randomBytes(300);
    const up = await upload(t, alice.token, [{ name: 'one.bin', data: one }, { name: 'two.bin', data: two }]);
    assert.equal(up.status, 200, JSON.stringify(up.body));
    assert.equal(up.body.files.length, 2);
    assert.equal(up.body.url, up.body.files[0].url, 'the seed reads url and size at the top level');
    assert.equal(up.body.size, one.length);
    for (const [f, data] of [[up.body.files[0], one], [up.body.files[1], two]] as const) {
      assert.match(f.file_id, /^file_[0-9a-f]{32}$/);
      assert.equal(f.url, `/api/v1/webchat/files/${f.file_id}`);
      assert.equal(f.kind, 'file');
      assert.equal(f.mime, 'application/octet-stream');
      assert.match(f.attachment, new RegExp(`^\\[attachment:file\\] ${f.name} .*${f.url}$`));
      const d = await download(t, f.url);
      assert.equal(d.status, 200);
      assert.ok(d.bytes.equals(data), 'byte-exact');
      assert.equal(d.headers.get('etag'), `"${createHash('sha256').update(data).digest('hex')}"`);
      assert.equal(d.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(d.headers.get('content-length'), String(data.length));
    }
  });

  test('ranges: 206 with Content-Range, suffix and open ranges, 416 past the end, If-None-Match 304', async () => {
    const data = randomBytes(10_000);
    const { body } = await upload(t, alice.token, [{ name: 'r.bin', data }]);
    let d = await download(t, body.url, { range: 'bytes=100-199' });
    assert.equal(d.status, 206);
    assert.equal(d.headers.get('content-range'), 'bytes 100-199/10000');
    assert.ok(d.bytes.equals(data.subarray(100, 200)));
    d = await download(t, body.url, { range: 'bytes=-500' });
    assert.equal(d.status, 206);
    assert.ok(d.bytes.equals(data.subarray(9500)));
    d = await download(t, body.url, { range: 'bytes=9990-' });
    assert.ok(d.bytes.equals(data.subarray(9990)));
    d = await download(t, body.url, { range: 'bytes=20000-' });
    assert.equal(d.status, 416);
    assert.equal(d.headers.get('content-range'), 'bytes */10000');
    const etag = (await download(t, body.url)).headers.get('etag')!;
    d = await download(t, body.url, { 'if-none-match': etag });
    assert.equal(d.status, 304);
    d = await download(t, body.url, { 'if-none-match': `"other", W/${etag}` });
    assert.equal(d.status, 304, 'a weak form of the tag (as a proxy may send it) matches too');
    d = await download(t, body.url, { range: 'bytes=0-9', 'if-range': '"stale"' });
    assert.equal(d.status, 200, 'a stale If-Range gets the whole file');
    assert.equal(d.bytes.length, 10_000);
  });

  test('identical bytes are stored once; each upload keeps its own id and name', async () => {
    const data = randomBytes(4096);
    const before = blobsIn(t.dir).length;
    const a = await upload(t, alice.token, [{ name: 'first.bin', data }]);
    const b = await upload(t, bob.token, [{ name: 'second.bin', data }]);
    assert.notEqual(a.body.file_id, b.body.file_id);
    assert.equal(a.body.sha256, b.body.sha256);
    assert.equal(blobsIn(t.dir).length, before + 1, 'one blob on disk');
    const d = await download(t, b.body.url);
    assert.match(d.headers.get('content-disposition')!, /filename="second\.bin"/);
  });

  test('a file over PCHAT_UPLOAD_MAX_BYTES is refused with 413 and leaves nothing', async () => {
    const before = blobsIn(t.dir).length;
    const up = await upload(t, alice.token, [{ name: 'big.bin', data: randomBytes(3 * 1024 * 1024 + 1) }]);
    assert.equal(up.status, 413);
    assert.equal(up.body.error, 'payload_too_large');
    assert.equal(blobsIn(t.dir).length, before);
    assert.deepEqual(readdirSync(join(t.dir, 'uploads', 'tmp')), []);
  });

  test('more files than PCHAT_UPLOAD_MAX_FILES in one request is a 413', async () => {
    const parts = Array.from({ length: 4 }, (_, i) => ({ name: `f${i}.txt`, data: `file ${i} ${Math.random()}` }));
    const up = await upload(t, alice.token, parts);
    assert.equal(up.status, 413);
    assert.equal(up.body.error, 'too_many_files');
  });

  test('uploads need a session; an empty form is a 400; unknown file ids are 404', async () => {
    assert.equal((await upload(t, undefined, [{ data: 'x' }])).status, 401);
    const empty = await fetch(t.url + '/api/v1/webchat/upload', { method: 'POST', body: new FormData(), headers: { 'x-pchat-session': alice.token } });
    assert.equal(empty.status, 400);
    const json = await t.api('POST', '/api/v1/webchat/upload', { file: 'x' }, alice.token);
    assert.equal(json.status, 415);
    assert.equal((await download(t, '/api/v1/webchat/files/file_00000000000000000000000000000000')).status, 404);
    assert.equal((await download(t, '/api/v1/webchat/files/..%2F..%2Fetc%2Fpasswd')).status, 404);
  });

  test('a malformed multipart body is a 400, not a relay error, and stores nothing', async () => {
    const before = blobsIn(t.dir).length;
    const part = (b: string) => `--${b}\r\nContent-Disposition: form-data; name="file"; filename="t.txt"\r\nContent-Type: text/plain\r\n\r\nbytes ${Math.random()}`;
    const long = 'b'.repeat(300);
    const cases: [string, string, string][] = [
      ['no closing delimiter', 'multipart/form-data; boundary=XX', part('XX')],
      ['no boundary', 'multipart/form-data', `${part('XX')}\r\n--XX--\r\n`],
      ['a boundary over 256 characters', `multipart/form-data; boundary=${long}`, `${part(long)}\r\n--${long}--\r\n`],
      ['a field named __proto__', 'multipart/form-data; boundary=XX', `--XX\r\nContent-Disposition: form-data; name="__proto__"\r\n\r\nx\r\n${part('XX')}\r\n--XX--\r\n`],
    ];
    for (const [what, type, body] of cases) {
      const res = await fetch(t.url + '/api/v1/webchat/upload', { method: 'POST', body, headers: { 'content-type': type, 'x-pchat-session': alice.token } });
      const out = await res.json();
      assert.equal(res.status, 400, `${what}: ${JSON.stringify(out)}`);
      assert.equal(out.success, false);
    }
    assert.equal(blobsIn(t.dir).length, before);
    assert.deepEqual(readdirSync(join(t.dir, 'uploads', 'tmp')), []);
    assert.ok(!t.logs.some((l) => l.msg === 'request failed'), 'nothing logged as a relay error');
  });

  test('a body that ends inside its second file is a 400, not a hang nor a 500, and keeps nothing', async () => {
    const before = blobsIn(t.dir).length;
    const part = (name: string, data: string) => `--XX\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n${data}`;
    for (const size of [10, 50_000]) {
      const first = randomBytes(size).toString('latin1');
      const second = randomBytes(size).toString('latin1');
      // The first file is whole; the second has no closing boundary after it, and nothing ends the body.
      const res = await fetch(t.url + '/api/v1/webchat/upload', {
        method: 'POST',
        body: Buffer.from(`${part('one.bin', first)}\r\n${part('two.bin', second)}\r\n`, 'latin1'),
        headers: { 'content-type': 'multipart/form-data; boundary=XX', 'x-pchat-session': alice.token },
        signal: AbortSignal.timeout(5_000),
      });
      const out = await res.json();
      assert.equal(res.status, 400, `${size} bytes: ${JSON.stringify(out)}`);
      assert.equal(out.error, 'bad_request');
    }
    assert.equal(blobsIn(t.dir).length, before);
    assert.deepEqual(readdirSync(join(t.dir, 'uploads', 'tmp')), []);
    assert.ok(!t.logs.some((l) => l.msg === 'request failed'), 'nothing logged as a relay error');
  });

  test('a failed request that carried the same bytes twice leaves no blob behind', async () => {
    const before = blobsIn(t.dir).length;
    const data = randomBytes(50_000);
    // Both files arrive whole; a bad field after them fails the request.
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(data)]), 'a.bin');
    form.append('file', new Blob([new Uint8Array(data)]), 'b.bin');
    form.append('kind', 'bogus');
    const res = await fetch(t.url + '/api/v1/webchat/upload', { method: 'POST', body: form, headers: { 'x-pchat-session': alice.token } });
    assert.equal(res.status, 400, JSON.stringify(await res.json()));
    assert.equal(blobsIn(t.dir).length, before, 'nothing kept that no file names (nor counted against a budget)');
  });

  test('HTML and SVG are served as attachments under a sandbox CSP; images inline', async () => {
    const up = await upload(t, alice.token, [
      { name: 'page.png', data: '<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>' },
      { name: 'pic.svg', data: '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>' },
      { name: 'dot.png', data: PNG },
    ]);
    assert.equal(up.status, 200);
    const [html, svg, png] = up.body.files;
    assert.equal(html.mime, 'text/html', 'sniffed from the bytes, not the .png name');
    assert.equal(svg.mime, 'image/svg+xml');
    assert.equal(svg.kind, 'file');
    assert.equal(png.mime, 'image/png');
    assert.equal(png.kind, 'image');
    for (const f of [html, svg]) {
      const d = await download(t, f.url);
      assert.match(d.headers.get('content-disposition')!, /^attachment;/);
      assert.equal(d.headers.get('content-security-policy'), 'sandbox');
      assert.equal(d.headers.get('x-content-type-options'), 'nosniff');
    }
    const d = await download(t, png.url);
    assert.match(d.headers.get('content-disposition')!, /^inline;/);
    assert.equal(d.headers.get('content-type'), 'image/png');
  });

  test('a traversal filename is only a display name; the bytes stay in the blob store', async () => {
    const up = await upload(t, alice.token, [{ name: '../../../../tmp/..\\.evil.sh', data: 'echo pwned' }]);
    assert.equal(up.status, 200);
    assert.equal(up.body.name, 'evil.sh', 'folders and leading dots are dropped');
    assert.ok(!existsSync('/tmp/.evil.sh') && !existsSync(join(t.dir, '.evil.sh')) && !existsSync(join(t.dir, 'uploads', '.evil.sh')));
    assert.ok(blobsIn(t.dir).includes(up.body.sha256));
    const d = await download(t, up.body.url);
    assert.match(d.headers.get('content-disposition')!, /^attachment; filename="evil\.sh"/);
  });

  test('a filename cannot hide its real extension behind bidirectional controls', async () => {
    const up = await upload(t, alice.token, [{ name: 'holiday\u202egpj.exe', data: 'MZ not a picture' }, { name: 'café \u2067x\u2069.txt', data: 'text' }]);
    assert.equal(up.status, 200, JSON.stringify(up.body));
    assert.deepEqual(up.body.files.map((f: any) => f.name), ['holidaygpj.exe', 'café x.txt'], 'other non-ASCII stays');
    assert.ok(!/[\u202a-\u202e\u2066-\u2069]/.test(up.body.attachment));
    const d = await download(t, up.body.files[0].url);
    assert.ok(!decodeURIComponent(d.headers.get('content-disposition')!).includes('\u202e'));
  });

  test("a filename with an apostrophe or parentheses is sent as a valid RFC 8187 filename*", async () => {
    const name = "Ann's notes (v2)*.txt";
    const up = await upload(t, alice.token, [{ name, data: 'notes' }]);
    assert.equal(up.body.name, name);
    const cd = (await download(t, up.body.url)).headers.get('content-disposition')!;
    const ext = /filename\*=UTF-8''(.*)$/.exec(cd)?.[1] ?? '';
    assert.match(ext, /^(%[0-9A-F]{2}|[A-Za-z0-9!#$&+.^_`|~-])+$/, `only attr-chars and %XX: ${cd}`);
    assert.equal(decodeURIComponent(ext), name);
  });

  test('an upload cut off mid-body leaves no partial blob and no temp file', async () => {
    const before = blobsIn(t.dir).length;
    const boundary = 'XYZBOUNDARY';
    const u = new URL(t.url);
    await new Promise<void>((resolve) => {
      const req = httpRequest({
        host: u.hostname,
        port: u.port,
        method: 'POST',
        path: '/api/v1/webchat/upload',
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'x-pchat-session': alice.token, 'content-length': String(2_000_000) },
      });
      req.on('error', () => resolve());
      req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`);
      req.write(randomBytes(300_000), () => setTimeout(() => (req.destroy(), resolve()), 100));
    });
    await eventually(() => readdirSync(join(t.dir, 'uploads', 'tmp')).length === 0);
    assert.equal(blobsIn(t.dir).length, before);
  });

  test('attachments reach the receiver with name, size, mime, kind and url — structured or pasted as text', async () => {
    const up = await upload(t, alice.token, [{ name: 'photo.png', data: PNG }, { name: 'notes.txt', data: 'meeting notes' }]);
    const [photo, notes] = up.body.files;
    await t.api('POST', '/api/v1/webchat/poll', {}, bob.token);
    const s1 = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'bob', text: 'look', attachments: [{ file_id: photo.file_id, kind: 'image', caption: 'sunset' }] }, alice.token);
    assert.equal(s1.status, 200, JSON.stringify(s1.body));
    const s2 = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'bob', text: notes.attachment }, alice.token);
    assert.equal(s2.status, 200);
    const s3 = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'bob', attachments: [{ file_id: notes.file_id, kind: 'file' }] }, alice.token);
    assert.equal(s3.status, 200, 'an attachment alone is a message');
    const p = await t.api('POST', '/api/v1/webchat/poll', { limit: 50 }, bob.token);
    const byId = new Map(p.body.messages.map((m: any) => [m.id, m]));
    const m1: any = byId.get(s1.body.message_id);
    assert.deepEqual(m1.attachments, [{ file_id: photo.file_id, kind: 'image', caption: 'sunset', name: 'photo.png', size: PNG.length, mime: 'image/png', url: photo.url }]);
    const m2: any = byId.get(s2.body.message_id);
    assert.equal(m2.text, notes.attachment, 'the original text is kept');
    assert.deepEqual(m2.attachments, [{ file_id: notes.file_id, kind: 'file', name: 'notes.txt', size: 13, mime: 'text/plain', url: notes.url }]);
    const d = await download(t, m2.attachments[0].url);
    assert.equal(d.bytes.toString(), 'meeting notes');

    // The words of a message with attachments can be edited away (the attachments stay); a text-only one cannot.
    const cleared = await t.api('POST', '/api/v1/webchat/edit', { message_id: s1.body.message_id, text: '' }, alice.token);
    assert.equal(cleared.status, 200, JSON.stringify(cleared.body));
    const after = (await t.api('POST', '/api/v1/webchat/poll', { after: 0, limit: 500, peek: true }, bob.token)).body.messages.find((m: any) => m.id === s1.body.message_id);
    assert.equal(after.text, '');
    assert.equal(after.attachments.length, 1);
    const plain = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'bob', text: 'words only' }, alice.token);
    assert.equal((await t.api('POST', '/api/v1/webchat/edit', { message_id: plain.body.message_id, text: ' ' }, alice.token)).status, 400);
  });

  test('an unknown attachment file id refuses the send and stores nothing', async () => {
    const r = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'bob', text: 'x', attachments: [{ file_id: 'file_0123456789abcdef0123456789abcdef', kind: 'file' }] }, alice.token);
    assert.equal(r.status, 404);
    assert.equal(r.body.error, 'unknown_file');
  });

  test('file records survive a restart and a projection rebuild', async () => {
    const up = await upload(t, alice.token, [{ name: 'keep.txt', data: 'kept across restarts' }]);
    await t.restart({ PCHAT_UPLOAD_MAX_BYTES: String(3 * 1024 * 1024), PCHAT_UPLOAD_MAX_FILES: '3' });
    await t.relay.services.core.projections.rebuild();
    const d = await download(t, up.body.url);
    assert.equal(d.status, 200);
    assert.equal(d.bytes.toString(), 'kept across restarts');
    assert.match(d.headers.get('content-disposition')!, /keep\.txt/);
  });
});

test('the per-user daily byte budget is a 429 that counts every upload of the day', async () => {
  const t = await startTestRelay({ PCHAT_UPLOAD_DAILY_BYTES: '100000' });
  try {
    const a = await t.login('q@example.com', { chat_address: 'quota' });
    const b = await t.login('r@example.com', { chat_address: 'other' });
    assert.equal((await upload(t, a.token, [{ data: randomBytes(60_000) }])).status, 200);
    const over = await upload(t, a.token, [{ data: randomBytes(60_000) }]);
    assert.equal(over.status, 429);
    assert.equal(over.body.error, 'upload_quota_exceeded');
    assert.deepEqual(readdirSync(join(t.dir, 'uploads', 'tmp')), []);
    assert.equal((await upload(t, b.token, [{ data: randomBytes(60_000) }])).status, 200, 'the budget is per user');
    await t.restart({ PCHAT_UPLOAD_DAILY_BYTES: '100000' });
    assert.equal((await upload(t, a.token, [{ data: randomBytes(50_000) }])).status, 429, 'usage is journaled');
  } finally {
    await t.stop();
  }
});

test('several files in one request cannot go past the daily budget together', async () => {
  const t = await startTestRelay({ PCHAT_UPLOAD_DAILY_BYTES: '100000' });
  try {
    const a = await t.login('q@example.com', { chat_address: 'quota' });
    // Each file fits the budget alone; the three together do not.
    const many = await upload(t, a.token, [{ data: randomBytes(60_000) }, { data: randomBytes(60_000) }, { data: randomBytes(60_000) }]);
    assert.equal(many.status, 429, JSON.stringify(many.body));
    assert.equal(many.body.error, 'upload_quota_exceeded');
    assert.deepEqual(readdirSync(join(t.dir, 'uploads', 'tmp')), []);
    assert.equal((await upload(t, a.token, [{ data: randomBytes(60_000) }])).status, 200, 'a refused request spent none of the budget');
    assert.equal((await upload(t, a.token, [{ data: randomBytes(60_000) }])).status, 429);
  } finally {
    await t.stop();
  }
});

test('a failed upload does not remove the blob from under another upload of the same bytes still in progress', async () => {
  const { relay, user, stop } = await startInProcessRelay('pchat-blob-race-');
  try {
    const { files } = relay.services.media;
    const alice = await user('alice');
    const bob = await user('bob');
    const bytes = randomBytes(5_000);
    const sha = createHash('sha256').update(bytes).digest('hex');
    // Alice's upload stores the blob; Bob's, of the same bytes, finds it there.
    const a = await files.receive(alice, Readable.from([bytes]), 'a.bin', 'file');
    const b = await files.receive(bob, Readable.from([bytes]), 'b.bin', 'file');
    assert.deepEqual([a.created, b.created], [true, false]);
    await files.discard([a]); // Alice's request fails
    assert.ok(existsSync(files.blobPath(sha)), 'Bob still holds it');
    const [rec] = await files.register(bob, [b]);
    assert.equal(rec.size, 5_000);
    assert.ok(existsSync(files.blobPath(sha)));

    // Two uploads of the same bytes that both fail: the blob goes with the last to let go.
    const same = randomBytes(4_000);
    const d = await files.receive(alice, Readable.from([same]), 'd.bin', 'file');
    const e = await files.receive(bob, Readable.from([same]), 'e.bin', 'file');
    await files.discard([d]);
    assert.ok(existsSync(files.blobPath(d.sha256)), 'Bob still holds it');
    await files.discard([e]);
    assert.equal(existsSync(files.blobPath(d.sha256)), false, 'nobody holds or names it');

    // Unheld and unnamed, a failed upload's blob goes; the next upload of the bytes stores it again.
    const c = await files.receive(alice, Readable.from([randomBytes(3_000)]), 'c.bin', 'file');
    await files.discard([c]);
    assert.equal(existsSync(files.blobPath(c.sha256)), false);
  } finally {
    await stop();
  }
});
