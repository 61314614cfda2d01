// Uploads that no message ever named are removed PCHAT_UNSENT_UPLOAD_TTL_HOURS after they came
// (Files.sweepUnsent, run here directly with a clock moved ahead instead of waiting for its
// timer): journaled as removed (their id answers 410 file_gone, also to a send), their blob
// deleted unless another file shares it; nothing a message or a profile picture names goes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { FileStream } from '../../daemon/files.ts';
import { startInProcessRelay, startTestRelay } from '../helpers.ts';
import { download, PNG, upload } from './helpers.ts';

const HOUR = 3_600_000;

test('an upload never sent is removed after the grace period, as journaled state; nothing a message or profile names is', async () => {
  const env = { PCHAT_UNSENT_UPLOAD_TTL_HOURS: '24' };
  const t = await startTestRelay(env);
  try {
    const alice = await t.login('alice@example.com', { chat_address: 'alice' });
    await t.login('bob@example.com', { chat_address: 'bob' });
    const up = async (name: string, data: Buffer | string) => {
      const r = await upload(t, alice.token, [{ name, data }]);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body as { file_id: string; url: string; sha256: string; attachment: string };
    };
    const send = (body: Record<string, unknown>) => t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'bob', ...body }, alice.token);
    const shared = randomBytes(2000);
    const lone = await up('lone.bin', randomBytes(3000)); // never sent
    const twin = await up('twin.bin', shared); // never sent, but its bytes are another file's too
    const sent = await up('sent.bin', shared);
    const direct = await up('direct.bin', randomBytes(1000));
    const pasted = await up('pasted.txt', 'pasted as a link');
    const grouped = await up('grouped.bin', randomBytes(1000));
    const edited = await up('edited.bin', randomBytes(1000));
    const avatar = await up('me.png', PNG);

    assert.equal((await send({ attachments: [{ file_id: direct.file_id, kind: 'file' }] })).status, 200);
    assert.equal((await send({ attachments: [{ file_id: sent.file_id, kind: 'file' }] })).status, 200);
    assert.equal((await send({ text: `see ${pasted.attachment}` })).status, 200);
    const g = await t.api('POST', '/api/v1/webchat/groups', { name: 'Files', visibility: 'private', mode: 'chat', members: ['bob'] }, alice.token);
    assert.equal(g.status, 200, JSON.stringify(g.body));
    assert.equal((await send({ to: `group:${g.body.group.id}`, attachments: [{ file_id: grouped.file_id, kind: 'file' }] })).status, 200);
    const words = await send({ text: 'a link follows' });
    assert.equal((await t.api('POST', '/api/v1/webchat/edit', { message_id: words.body.message_id, text: `here: ${edited.url}` }, alice.token)).status, 200);
    assert.equal((await t.api('PUT', '/api/v1/pchat/auth/me', { avatar_file_id: avatar.file_id }, alice.token)).status, 200);

    const { files } = t.relay.services.media;
    assert.deepEqual(await files.sweepUnsent(Date.now() + 23 * HOUR), { removed: 0, blobs: 0, more: false }, 'within the grace period nothing goes');
    assert.deepEqual(await files.sweepUnsent(Date.now() + 25 * HOUR), { removed: 2, blobs: 1, more: false }, 'lone and twin; only lone\'s bytes were its own');

    const gone = async (f: { url: string; file_id: string }) => {
      const d = await download(t, f.url);
      assert.equal(d.status, 410, f.url);
      assert.equal(JSON.parse(d.bytes.toString()).error, 'file_gone');
    };
    await gone(lone);
    await gone(twin);
    assert.equal(existsSync(files.blobPath(lone.sha256)), false, 'its blob is deleted');
    for (const f of [sent, direct, pasted, grouped, edited, avatar]) assert.equal((await download(t, f.url)).status, 200, f.url);
    assert.ok(existsSync(files.blobPath(twin.sha256)), 'bytes another file names stay');

    // A send naming a removed upload gets a clear 4xx, structured or pasted.
    const late = await send({ attachments: [{ file_id: lone.file_id, kind: 'file' }] });
    assert.equal(late.status, 410);
    assert.equal(late.body.error, 'file_gone');
    assert.match(late.body.message, /upload the file again/);
    assert.equal((await send({ text: lone.attachment })).status, 410);
    assert.equal((await t.api('PUT', '/api/v1/pchat/auth/me', { avatar_file_id: twin.file_id }, alice.token)).body.error, 'file_gone');

    // State from the journal: a restart and a rebuild agree; nothing comes back, nothing more goes.
    await t.restart(env);
    await gone(lone);
    assert.deepEqual(await t.relay.services.media.files.sweepUnsent(Date.now() + 48 * HOUR), { removed: 0, blobs: 0, more: false });
    await t.relay.services.core.projections.rebuild();
    await gone(twin);
    for (const f of [sent, direct, pasted, grouped, edited, avatar]) assert.equal((await download(t, f.url)).status, 200, f.url);
    assert.deepEqual(await t.relay.services.media.files.sweepUnsent(Date.now() + 48 * HOUR), { removed: 0, blobs: 0, more: false });
  } finally {
    await t.stop();
  }
});

test('a crash between journaling a removal and deleting the blob: a later pass deletes it', async () => {
  const env = { PCHAT_UNSENT_UPLOAD_TTL_HOURS: '1' };
  const t = await startTestRelay(env);
  try {
    const { token } = await t.login('c@example.com', { chat_address: 'carol' });
    const r = await upload(t, token, [{ name: 'x.bin', data: randomBytes(4000) }]);
    const again = randomBytes(4000);
    const s = await upload(t, token, [{ name: 'y.bin', data: again }]);
    const { core, media } = t.relay.services;
    // The sweeper's first half only: the `removed` events, committed; the process "dies" here.
    for (const f of [r.body, s.body]) core.registry.apply(FileStream, f.file_id, [{ type: 'removed', reason: 'unsent', sha256: f.sha256, at: Date.now() }]);
    await core.commit();
    assert.ok(existsSync(media.files.blobPath(r.body.sha256)));
    await t.restart(env);
    // y's bytes are uploaded again before the next pass: they are a file's again, and stay.
    const s2 = await upload(t, token, [{ name: 'y2.bin', data: again }]);
    assert.deepEqual(await t.relay.services.media.files.sweepUnsent(), { removed: 0, blobs: 1, more: false });
    assert.equal(existsSync(t.relay.services.media.files.blobPath(r.body.sha256)), false);
    assert.equal((await download(t, s2.body.url)).bytes.equals(again), true);
    assert.deepEqual(await t.relay.services.media.files.sweepUnsent(), { removed: 0, blobs: 0, more: false }, 'and it is recorded as done');
  } finally {
    await t.stop();
  }
});

test('bytes a crash left in blobs/ with no record are deleted soon after the next start; named, listed and in-progress ones stay', async () => {
  const env = { PCHAT_UNSENT_UPLOAD_TTL_HOURS: '1' };
  const t = await startTestRelay(env);
  try {
    const { token } = await t.login('s@example.com', { chat_address: 'sam' });
    const kept = await upload(t, token, [{ name: 'kept.bin', data: randomBytes(3000) }]);
    const listed = await upload(t, token, [{ name: 'listed.bin', data: randomBytes(3000) }]);
    let files = t.relay.services.media.files;
    // Listed as an orphan (removed, the process died before the deletion): the sweeper's to delete and journal.
    t.relay.services.core.registry.apply(FileStream, listed.body.file_id, [{ type: 'removed', reason: 'unsent', sha256: listed.body.sha256, at: Date.now() }]);
    await t.relay.services.core.commit();
    // Moved into place, then the crash: no record was committed.
    const strayBytes = randomBytes(5000);
    const stray = files.blobPath(createHash('sha256').update(strayBytes).digest('hex'));
    mkdirSync(dirname(stray), { recursive: true });
    writeFileSync(stray, strayBytes);

    await t.restart(env); // looks for strays 5 s after start
    const deadline = Date.now() + 10_000;
    while (existsSync(stray) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(existsSync(stray), false, 'the stray bytes are gone');
    assert.ok(t.logs.some((l) => l.blobs_deleted === 1 && /stray/.test(String(l.msg))), 'and the relay said so');
    files = t.relay.services.media.files;
    assert.ok(existsSync(files.blobPath(kept.body.sha256)), 'a file record names these');
    assert.ok(existsSync(files.blobPath(listed.body.sha256)), 'left to the sweeper, which journals it');
    assert.equal((await download(t, kept.body.url)).status, 200);

    // An upload in progress holds its bytes before they are moved into place: not a stray.
    const auth = t.relay.services.accounts.authenticate(token)!;
    const busy = await files.receive(auth, Readable.from([randomBytes(2000)]), 'busy.bin', 'file');
    assert.equal(await files.sweepStrays(), 0);
    assert.ok(existsSync(files.blobPath(busy.sha256)));
    await files.discard([busy]);
    assert.equal(existsSync(files.blobPath(busy.sha256)), false);
  } finally {
    await t.stop();
  }
});

test('an upload named by a send staged in the same moment is not removed (whichever stages first is seen by the other)', async () => {
  const { relay, user, stop } = await startInProcessRelay('pchat-unsent-race-');
  try {
    const { media, messaging } = relay.services;
    const alice = await user('alice');
    await user('bob');
    const [rec] = await media.files.register(alice, [await media.files.receive(alice, Readable.from([randomBytes(500)]), 'r.bin', 'file')]);
    const sending = messaging.send(alice, { to: 'bob', attachments: [{ file_id: rec.file_id, kind: 'file' }] }); // staged now, committed later
    const swept = await media.files.sweepUnsent(Date.now() + 25 * HOUR);
    assert.equal((await sending).status, 'sent');
    assert.equal(swept.removed, 0);
    assert.ok(existsSync(media.files.blobPath(rec.sha256)));

    // The other order: once removed, the send is refused.
    const [later] = await media.files.register(alice, [await media.files.receive(alice, Readable.from([randomBytes(500)]), 'l.bin', 'file')]);
    const sweeping = media.files.sweepUnsent(Date.now() + 25 * HOUR);
    await assert.rejects(messaging.send(alice, { to: 'bob', attachments: [{ file_id: later.file_id, kind: 'file' }] }), { code: 'file_gone' });
    assert.equal((await sweeping).removed, 1);
  } finally {
    await stop();
  }
});

test('PCHAT_UNSENT_UPLOAD_TTL_HOURS=0 keeps unsent uploads', async () => {
  const t = await startTestRelay({ PCHAT_UNSENT_UPLOAD_TTL_HOURS: '0' });
  try {
    const { token } = await t.login('k@example.com', { chat_address: 'keeper' });
    const r = await upload(t, token, [{ name: 'k.bin', data: randomBytes(100) }]);
    assert.equal((await t.relay.services.media.files.sweepUnsent(Date.now() + 10_000 * HOUR)).removed, 0);
    assert.equal((await download(t, r.body.url)).status, 200);
  } finally {
    await t.stop();
  }
});
