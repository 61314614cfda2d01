// Reads answer from durable state: Core.settled() resolves once what is staged is flushed, and
// a GET waits for it (a conversation list must not show a message a crash could take back).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startInProcessRelay } from '../helpers.ts';

test('settled() is undefined with nothing in flight, and resolves once a staged write is durable', async () => {
  const { relay: r, user, stop } = await startInProcessRelay('pchat-settled-');
  try {
    const { core, messaging } = r.services;
    const alice = await user('alice');
    await user('bob');
    assert.equal(core.settled(), undefined);
    const sending = messaging.send(alice, { to: 'bob', text: 'in flight' }); // stages synchronously, then awaits the flush
    const staged = core.journal.lastSeq;
    assert.ok(staged > core.durableSeq, 'the send is staged ahead of the disk');
    const settled = core.settled();
    assert.ok(settled);
    await settled;
    assert.ok(core.durableSeq >= staged, 'durable once settled');
    await sending;
  } finally {
    await stop();
  }
});
