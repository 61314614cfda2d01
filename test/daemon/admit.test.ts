// Write pipelining (Core.admit): past TURN_BUDGET sends in one event-loop turn, the rest wait
// for a later turn, in order, after whatever was queued before them (lmdb's batch close), and
// every send still lands once and in order — also when the relay closes while they wait.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TURN_BUDGET } from '../../daemon/core.ts';
import type { Refusal } from '../../actors/decision.ts';
import { startInProcessRelay, withTempDir } from '../helpers.ts';

test('admit lets TURN_BUDGET through per turn; the rest resume in order, a turn later, after what was queued before them', async () => {
  const { relay: r, stop } = await startInProcessRelay('pchat-admit-');
  try {
    const { core } = r.services;
    await new Promise((done) => setImmediate(done)); // start on a fresh turn
    const events: string[] = [];
    const waits: Promise<void>[] = [];
    let immediateBefore = false;
    for (let i = 0; i < TURN_BUDGET * 2 + 3; i++) {
      if (i === TURN_BUDGET) setImmediate(() => (immediateBefore = true)); // stands for lmdb's batch close
      const turn = core.admit();
      if (i < TURN_BUDGET) assert.equal(turn, undefined, `call ${i} is within the budget`);
      else {
        assert.ok(turn, `call ${i} waits`);
        waits.push(turn.then(() => void events.push(`${i}:${immediateBefore}`)));
      }
    }
    await Promise.all(waits);
    assert.deepEqual(
      events,
      Array.from({ length: TURN_BUDGET + 3 }, (_, k) => `${TURN_BUDGET + k}:true`),
      'FIFO, and never before the immediate queued ahead of them',
    );
    // A fresh turn starts with a fresh budget.
    await new Promise((done) => setImmediate(done));
    await new Promise((done) => setImmediate(done));
    assert.equal(core.admit(), undefined);
  } finally {
    await stop();
  }
});

test('many sends at once all land, once each and in the order they were made', async () => {
  const { relay: r, user, stop } = await startInProcessRelay('pchat-admit-');
  try {
    const { messaging, feed } = r.services;
    const alice = await user('alice');
    const bob = await user('bob');
    const n = TURN_BUDGET * 3 + 5;
    const replies = await Promise.all(Array.from({ length: n }, (_, i) => messaging.send(alice, { to: 'bob', text: `m${i}` })));
    assert.equal(new Set(replies.map((x) => x.message_id)).size, n);
    const got = await feed.poll(bob, { limit: 500 });
    assert.deepEqual(
      got.messages.map((m) => (m as unknown as { text: string }).text),
      Array.from({ length: n }, (_, i) => `m${i}`),
    );
  } finally {
    await stop();
  }
});

test('sends still waiting for their turn when the relay closes land durably; sends after that are refused as draining', () =>
  withTempDir(async (dir) => {
    const first = await startInProcessRelay('', dir);
    const alice = await first.user('alice');
    const bob = await first.user('bob');
    const n = TURN_BUDGET * 20;
    const sends = Array.from({ length: n }, (_, i) => first.relay.services.messaging.send(alice, { to: 'bob', text: `m${i}` }));
    const closing = first.stop();
    const outcomes = await Promise.allSettled(sends);
    await closing;
    const failed = outcomes.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason));
    assert.deepEqual(failed, [], 'every send accepted before the close is acknowledged');
    await assert.rejects(first.relay.services.messaging.send(alice, { to: 'bob', text: 'late' }), (err: Refusal) => err.code === 'draining');

    const second = await startInProcessRelay('', dir);
    try {
      const got = await second.relay.services.feed.poll(bob, { limit: 500 });
      assert.deepEqual(
        got.messages.map((m) => (m as unknown as { text: string }).text),
        Array.from({ length: n }, (_, i) => `m${i}`),
        'all of them, once each, in order, after the restart',
      );
    } finally {
      await second.stop();
    }
  }));

test('a send waiting for its turn when its session logs out is refused, not sent', async () => {
  const { relay: r, user, stop } = await startInProcessRelay('pchat-admit-');
  try {
    const { messaging, accounts, feed } = r.services;
    const alice = await user('alice');
    const bob = await user('bob');
    await new Promise((done) => setImmediate(done)); // start on a fresh turn
    const n = TURN_BUDGET + 4;
    const sends = Array.from({ length: n }, (_, i) => messaging.send(alice, { to: 'bob', text: `m${i}` }));
    const loggedOut = accounts.logout(alice, false); // staged in this turn, before the waiting sends resume
    const outcomes = await Promise.allSettled(sends);
    await loggedOut;
    const codes = outcomes.map((o) => (o.status === 'fulfilled' ? 'sent' : (o.reason as Refusal).code));
    assert.deepEqual(codes, [...Array(TURN_BUDGET).fill('sent'), ...Array(n - TURN_BUDGET).fill('unauthorized')]);
    const got = await feed.poll(bob, { limit: 500 });
    assert.equal(got.messages.length, TURN_BUDGET, 'only the sends let through before the logout landed');
  } finally {
    await stop();
  }
});
