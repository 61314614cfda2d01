// Delivered receipts staged for several senders at once: a failure for one of them does not
// strand the others (their receipts are made durable and they are woken), nor fail the read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startInProcessRelay } from '../helpers.ts';

test('a delivered receipt that fails to stage does not keep the other senders from theirs', async () => {
  const { relay: r, user, stop } = await startInProcessRelay('pchat-receipts-');
  try {
    const { messaging, feed, core } = r.services;
    const alice = await user('alice');
    const carol = await user('carol');
    const bob = await user('bob');
    const { message_id } = await messaging.send(alice, { to: 'bob', text: 'from alice' });
    await messaging.send(carol, { to: 'bob', text: 'from carol' });
    await feed.poll(bob, { peek: true }); // bob is online (a poll counts): that is not what alice waits for below
    await feed.poll(alice, {}); // alice's cursor is now past her own copy, and she has seen bob come online

    const applyInbox = core.applyInbox.bind(core);
    core.applyInbox = (u, events) => {
      if (u === carol.user && events.some((e) => e.type === 'receipt')) throw new Error('simulated failure');
      return applyInbox(u, events);
    };
    const started = Date.now();
    const parked = feed.poll(alice, { wait_ms: 5_000 });
    await new Promise((resume) => setTimeout(resume, 50)); // alice's poll is parked
    const bobs = await feed.poll(bob, {});
    assert.deepEqual(bobs.messages.map((m) => (m as { text: string }).text), ['from alice', 'from carol'], 'the read itself goes through');
    assert.deepEqual((await feed.poll(bob, {})).messages, [], 'and was claimed (not lost, not repeated)');
    const got = await parked;
    assert.ok(Date.now() - started < 2_000, 'alice was woken, not left to her wait_ms');
    assert.deepEqual(
      got.events.map((e) => [e.type, e.message_id, e.status]),
      [['receipt', message_id, 'delivered']],
    );
  } finally {
    await stop();
  }
});
