// History on the in-process relay: pages never shrink while a send is being committed, a
// deleted conversation stays deleted whatever `before` a client still holds, and a `before`
// that is not a message of the conversation still pages from below it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startInProcessRelay, tempDir } from '../helpers.ts';

async function relayWithUsers() {
  const { relay, user, stop } = await startInProcessRelay('pchat-history-');
  const alice = await user('alice');
  const bob = await user('bob');
  return { relay, alice, bob, stop };
}

test('history read while a send in that conversation is staged (not yet committed)', async () => {
  const { relay, alice, bob, stop } = await relayWithUsers();
  const { messaging } = relay.services;
  try {
    for (let i = 0; i < 3; i++) await messaging.send(alice, { to: 'bob', text: `m${i}` });
    const before = messaging.history(bob, 'alice', undefined, 50);
    assert.equal(before.messages.length, 3);
    const pending = messaging.send(alice, { to: 'bob', text: 'm3' }); // staged, commit in flight
    const during = messaging.history(bob, 'alice', undefined, 50);
    const duringAlice = messaging.history(alice, 'bob', undefined, 50);
    await pending;
    assert.deepEqual(during.messages.map((m: any) => m.text), ['m0', 'm1', 'm2'], 'the staged message is not shown before it is durable, and nothing else goes missing');
    assert.deepEqual(duringAlice.messages.map((m: any) => m.text), ['m0', 'm1', 'm2']);
    assert.deepEqual(messaging.history(bob, 'alice', undefined, 50).messages.map((m: any) => m.text), ['m0', 'm1', 'm2', 'm3']);
  } finally {
    await stop();
  }
});

test('history with before = seq of a message of a deleted conversation', async () => {
  const { relay, alice, bob, stop } = await relayWithUsers();
  const { messaging } = relay.services;
  try {
    for (let i = 0; i < 4; i++) await messaging.send(alice, { to: 'bob', text: `old${i}` });
    const page = messaging.history(bob, 'alice', undefined, 2);
    const nextBefore = page.next_before!;
    await messaging.deleteConversation(bob, 'alice');
    assert.equal(messaging.history(bob, 'alice', undefined, 50).messages.length, 0);
    await messaging.send(alice, { to: 'bob', text: 'new' });
    const fresh = messaging.history(bob, 'alice', undefined, 50);
    const paged = messaging.history(bob, 'alice', nextBefore, 50);
    assert.deepEqual(fresh.messages.map((m: any) => m.text), ['new']);
    assert.equal(paged.messages.length, 0, 'deleted messages do not come back through `before`');
  } finally {
    await stop();
  }
});

test('a `before` that is not a message of the conversation pages from the newest message below it', async () => {
  const { relay, alice, bob, stop } = await relayWithUsers();
  const { messaging, accounts } = relay.services;
  try {
    const { dev_code } = await accounts.requestCode('carl@t.invalid');
    const carl = accounts.authenticate((await accounts.verifyCode({ email: 'carl@t.invalid', code: dev_code!, chat_address: 'carl' })).token)!;
    const seqs: number[] = [];
    for (let i = 0; i < 6; i++) {
      await messaging.send(alice, { to: 'bob', text: `a${i}` });
      // Between each: a run of bob's messages with someone else.
      for (let k = 0; k < 60; k++) seqs.push((await messaging.send(carl, { to: 'bob', text: `c${i}.${k}` })).seq);
    }
    const all = messaging.history(bob, 'alice', undefined, 50).messages.map((m: any) => m.text);
    assert.deepEqual(all, ['a0', 'a1', 'a2', 'a3', 'a4', 'a5']);
    // A seq from the other conversation (as a client holding a receipt's seq might send).
    const other = seqs[3 * 60 + 30];
    const bobSeqOfOther: number = messaging.history(bob, 'carl', undefined, 500).messages.find((m: any) => m.text === 'c3.30')!.seq!;
    for (const before of [bobSeqOfOther, bobSeqOfOther + 1, 1, 2]) {
      const page = messaging.history(bob, 'alice', before, 50).messages.map((m: any) => m.text);
      const expected = before <= 2 ? [] : ['a0', 'a1', 'a2', 'a3'];
      assert.deepEqual(page, expected, `before=${before} (other seq ${other})`);
    }
  } finally {
    await stop();
  }
});

test('a deleted conversation stays out of re-reads (`after`) after a restart', async () => {
  const dir = tempDir('pchat-cleared-');
  try {
    let { relay, user, stop } = await startInProcessRelay('', dir);
    const alice = await user('alice');
    const bob = await user('bob');
    await relay.services.messaging.send(alice, { to: 'bob', text: 'gone' });
    await relay.services.messaging.deleteConversation(bob, 'alice');
    await stop();
    ({ relay, stop } = await startInProcessRelay('', dir));
    try {
      await relay.services.messaging.send(alice, { to: 'bob', text: 'new' });
      const got = await relay.services.feed.poll(bob, { after: 0, limit: 500 }); // the same session, on the restarted relay
      assert.deepEqual(got.messages.map((m: any) => m.text), ['new']);
    } finally {
      await stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
