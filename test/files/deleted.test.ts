// A file goes with the last message naming it: when its sender deletes a message, each file it
// carried that no other live message names (direct or group, attached, pasted as a link, edited
// or streamed in) and that was never a profile picture is journaled as removed in the same
// commit (its id answers 410 file_gone from the delete's answer on), then its blob is deleted
// unless another file shares the bytes. Deleting a conversation only hides it: files stay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { type TestRelay, startTestRelay } from '../helpers.ts';
import { download, PNG, upload } from './helpers.ts';

type Up = { file_id: string; url: string; sha256: string; attachment: string };

async function setup(env: Record<string, string> = {}) {
  const t = await startTestRelay(env);
  const alice = await t.login('alice@example.com', { chat_address: 'alice' });
  const bob = await t.login('bob@example.com', { chat_address: 'bob' });
  const up = async (name: string, data: Buffer | string): Promise<Up> => {
    const r = await upload(t, alice.token, [{ name, data }]);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };
  const send = async (body: Record<string, unknown>) => {
    const r = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'bob', ...body }, alice.token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.message_id as string;
  };
  const attach = (f: Up, to = 'bob') => send({ to, attachments: [{ file_id: f.file_id, kind: 'file' }] });
  const del = async (id: string) => {
    const r = await t.api('POST', '/api/v1/webchat/delete', { message_id: id }, alice.token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  };
  return { t, alice, bob, up, send, attach, del };
}

const files = (t: TestRelay) => t.relay.services.media.files;

async function gone(t: TestRelay, f: Up, why = /last message carrying it was deleted/) {
  const d = await download(t, f.url);
  assert.equal(d.status, 410, `${f.url} should be gone`);
  const body = JSON.parse(d.bytes.toString());
  assert.equal(body.error, 'file_gone');
  assert.match(body.message, why);
}

async function served(t: TestRelay, f: Up) {
  assert.equal((await download(t, f.url)).status, 200, `${f.url} should be served`);
}

test('deleting a message takes its attachment: 410 file_gone, blob deleted, still so after a restart', async () => {
  const { t, bob, up, attach, send, del } = await setup();
  try {
    const photo = await up('oops.jpg', randomBytes(5000));
    const id = await attach(photo);
    assert.equal((await download(t, photo.url)).status, 200, 'bob can fetch it while the message lives');
    await del(id);
    // The delete's answer means the removal is on disk, and the bytes are gone.
    await gone(t, photo);
    assert.equal(existsSync(files(t).blobPath(photo.sha256)), false, 'its blob is deleted');
    // Named again: a send (structured or pasted) is refused the same way.
    const again = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'bob', attachments: [{ file_id: photo.file_id, kind: 'file' }] }, bob.token);
    assert.equal(again.status, 410);
    assert.equal(again.body.error, 'file_gone');

    // Deleting a conversation (either side) only hides it: its files stay.
    const kept = await up('kept.bin', randomBytes(3000));
    await send({ text: `see ${kept.attachment}` });
    assert.equal((await t.api('POST', '/api/v1/webchat/conversation/delete', { peer: 'alice' }, bob.token)).status, 200);
    assert.equal((await t.api('POST', '/api/v1/webchat/conversation/delete', { peer: 'bob' }, (await t.login('alice@example.com')).token)).status, 200);
    await served(t, kept);

    await t.restart();
    await gone(t, photo);
    assert.equal(existsSync(files(t).blobPath(photo.sha256)), false, 'and does not come back');
    await served(t, kept);
    assert.deepEqual(await files(t).sweepUnsent(Date.now() + 48 * 3_600_000), { removed: 0, blobs: 0, more: false }, 'nothing left for the sweeper');
  } finally {
    await t.stop();
  }
});

test('a file several messages name stays while any of them lives: attached twice, pasted, edited or streamed in', async () => {
  const { t, alice, up, attach, send, del } = await setup();
  try {
    await t.login('carol@example.com', { chat_address: 'carol' });
    const f = await up('twice.bin', randomBytes(4000));
    const toBob = await attach(f);
    const toCarol = await attach(f, 'carol'); // the same file sent to someone else
    const pasted = await send({ text: `again: ${f.url}` });
    const words = await send({ text: 'a link follows' });
    assert.equal((await t.api('POST', '/api/v1/webchat/edit', { message_id: words, text: `here: ${f.url}` }, alice.token)).status, 200);
    // A streamed reply whose link is cut across two deltas.
    const open = await t.api('POST', '/api/v1/webchat/stream/open', { to: 'bob', text: 'link: ' }, alice.token);
    assert.equal(open.status, 200, JSON.stringify(open.body));
    const stream = open.body.message_id;
    for (const delta of [f.url.slice(0, 30), f.url.slice(30), ' done']) {
      assert.equal((await t.api('POST', '/api/v1/webchat/stream/append', { message_id: stream, delta }, alice.token)).status, 200);
    }

    for (const id of [toBob, toCarol, pasted, words]) {
      await del(id);
      await served(t, f);
    }
    assert.ok(existsSync(files(t).blobPath(f.sha256)));
    await del(stream); // the last one (still open)
    await gone(t, f);
    assert.equal(existsSync(files(t).blobPath(f.sha256)), false);

    // Two files with the same bytes: removing one keeps the bytes the other names.
    const bytes = randomBytes(2500);
    const one = await up('one.bin', bytes);
    const two = await up('two.bin', bytes);
    const m1 = await attach(one);
    const m2 = await attach(two);
    await del(m1);
    await gone(t, one);
    await served(t, two);
    assert.ok(existsSync(files(t).blobPath(two.sha256)), 'bytes another file names stay');
    await del(m2);
    await gone(t, two);
    assert.equal(existsSync(files(t).blobPath(two.sha256)), false, 'and go with the last one');
  } finally {
    await t.stop();
  }
});

test('a profile picture is never removed when a message carrying it is deleted (nor one that was a profile picture before)', async () => {
  const { t, alice, up, attach, del } = await setup();
  try {
    const me = await up('me.png', PNG);
    const older = await up('older.png', Buffer.concat([PNG, Buffer.from([0])])); // other bytes
    assert.equal((await t.api('PUT', '/api/v1/pchat/auth/me', { avatar_file_id: older.file_id }, alice.token)).status, 200);
    assert.equal((await t.api('PUT', '/api/v1/pchat/auth/me', { avatar_file_id: me.file_id }, alice.token)).status, 200);
    const plain = await up('plain.png', Buffer.concat([PNG, Buffer.from([1])])); // a picture, never a profile's
    await del(await attach(me));
    await del(await attach(older));
    await del(await attach(plain));
    await served(t, me);
    await served(t, older);
    await gone(t, plain);
    await t.restart();
    await t.relay.services.core.projections.rebuild();
    await del(await attach(me));
    await served(t, me);
  } finally {
    await t.stop();
  }
});

test('deleting a group message takes its attachment; a file also sent directly stays until that goes too', async () => {
  const { t, alice, bob, up, attach, del } = await setup();
  try {
    const g = await t.api('POST', '/api/v1/webchat/groups', { name: 'Photos', visibility: 'private', mode: 'chat', members: ['bob'] }, alice.token);
    assert.equal(g.status, 200, JSON.stringify(g.body));
    const group = `group:${g.body.group.id}`;
    const pic = await up('group.jpg', randomBytes(3000));
    const both = await up('both.jpg', randomBytes(3000));
    const gm = await attach(pic, group);
    const gm2 = await attach(both, group);
    const dm = await attach(both);
    assert.equal((await download(t, pic.url)).status, 200);
    // Only the sender deletes; a member's try changes nothing.
    assert.equal((await t.api('POST', '/api/v1/webchat/delete', { message_id: gm }, bob.token)).status, 403);
    await served(t, pic);
    await del(gm);
    await gone(t, pic);
    assert.equal(existsSync(files(t).blobPath(pic.sha256)), false);
    await del(gm2);
    await served(t, both);
    await del(dm);
    await gone(t, both);
  } finally {
    await t.stop();
  }
});

test('which messages name a file is journaled state: a restart and a rebuild (a projection version bump) agree, before and after deletes', async () => {
  const { t, up, attach, send, del } = await setup();
  try {
    const f = await up('kept-over-restart.bin', randomBytes(3000));
    const g = await up('other.bin', randomBytes(3000));
    const first = await attach(f);
    const second = await send({ text: `${f.attachment}\n${g.attachment}` });
    const plain = await send({ text: 'no files here' });
    const state = () => {
      const { projections } = t.relay.services.core;
      return {
        f: projections.media.file(f.file_id),
        g: projections.media.file(g.file_id),
        refs: [projections.media.refs(f.file_id), projections.media.refs(g.file_id)],
        msgs: [first, second, plain].map((id) => projections.message(id)?.files),
      };
    };
    const before = state();
    assert.deepEqual(before.refs, [2, 1]);
    assert.deepEqual(before.msgs, [[f.file_id], [f.file_id, g.file_id], undefined], 'a message with no file keeps no list');

    // A journal whose projections were made by the version before: rebuilt at start.
    const { core } = t.relay.services;
    core.journal.setMeta('projection_version', 7);
    await core.commit();
    await t.restart();
    assert.ok(t.logs.some((l) => l.msg === 'projections rebuilt from the journal'), 'the start rebuilt them');
    assert.deepEqual(state(), before, 'rebuilt at start from the journal: the same');

    await del(first);
    await served(t, f);
    await t.restart();
    await t.relay.services.core.projections.rebuild();
    assert.deepEqual(state().refs, [1, 1]);
    await del(second);
    await gone(t, f);
    await gone(t, g);
    const after = state();
    await t.relay.services.core.projections.rebuild();
    assert.deepEqual(state(), after, 'a rebuild agrees after the removal too');
    assert.equal(after.f?.gone_reason, 'deleted');
  } finally {
    await t.stop();
  }
});

test('a send naming the file and the delete of the last message naming it cannot both miss each other', async () => {
  const { t, alice, up, attach } = await setup();
  try {
    const { messaging, accounts } = t.relay.services;
    const auth = accounts.authenticate(alice.token)!;
    // The delete stages first: the send that comes after it in the same turn is refused.
    const a = await up('a.bin', randomBytes(1000));
    const ma = await attach(a);
    const [delA, sendA] = await Promise.allSettled([messaging.remove(auth, ma), messaging.send(auth, { to: 'bob', attachments: [{ file_id: a.file_id, kind: 'file' }] })]);
    assert.equal(delA.status, 'fulfilled');
    assert.equal(sendA.status, 'rejected');
    assert.equal((sendA as PromiseRejectedResult).reason.code, 'file_gone');
    await gone(t, a);
    // The send stages first: the file is named again and stays.
    const b = await up('b.bin', randomBytes(1000));
    const mb = await attach(b);
    const [sendB, delB] = await Promise.allSettled([messaging.send(auth, { to: 'bob', text: b.attachment }), messaging.remove(auth, mb)]);
    assert.equal(sendB.status, 'fulfilled');
    assert.equal(delB.status, 'fulfilled');
    await served(t, b);
  } finally {
    await t.stop();
  }
});
