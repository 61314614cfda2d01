// Reads answer from durable state: Core.settled() resolves once what is staged is flushed, and
// a GET waits for it (a conversation list must not show a message a crash could take back).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { catchExits, failNextCommit, startInProcessRelay, startTestRelay } from '../helpers.ts';

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

test('under a stream of sends, every GET answer shows only what is durable by the time it arrives', async () => {
  const t = await startTestRelay();
  try {
    const alice = await t.login('alice@example.com', { chat_address: 'alice' });
    await t.login('bob@example.com', { chat_address: 'bob' });
    const { messaging, accounts, core } = t.relay.services;
    const auth = accounts.authenticate(alice.token)!;
    let sending = true;
    const pump = (async () => {
      for (let i = 0; i < 2_000 && sending; i++) {
        await Promise.all(Array.from({ length: 200 }, (_, k) => messaging.send(auth, { to: "bob", text: `m${i}-${k}` }))); // past the turn budget: batches pipeline
      }
    })();
    // What is durable at the moment each answer leaves the relay (its bytes are written).
    let durableAtAnswer = 0;
    t.relay.app.server.on('request', (_req, res) => {
      const end = res.end.bind(res);
      res.end = ((...args: Parameters<typeof res.end>) => {
        durableAtAnswer = core.durableSeq;
        return end(...args);
      }) as typeof res.end;
    });
    let ahead = 0;
    let checked = 0;
    for (let i = 0; i < 60; i++) {
      const r = await t.api('GET', '/api/v1/webchat/conversations', undefined, alice.token);
      const seq = r.body.conversations.find((c: any) => c.peer === 'bob')?.last_message?.seq ?? 0;
      if (seq > durableAtAnswer) ahead++;
      if (seq) checked++;
    }
    sending = false;
    await pump;
    assert.ok(checked > 30, `the answers showed messages (${checked})`);
    assert.equal(ahead, 0, `${ahead} of ${checked} answers showed a message not yet durable`);
  } finally {
    await t.stop();
  }
});

test('a peek answers with the stored cursor only once it is durable (another request\'s claim may be staged)', async () => {
  const { relay: r, user, stop } = await startInProcessRelay('pchat-settled-peek-');
  try {
    const { core, feed, messaging } = r.services;
    const alice = await user('alice');
    const bob = await user('bob');
    await messaging.send(alice, { to: 'bob', text: 'to claim' });
    const upto = core.durableSeq;
    // A claim staged by some other request, its commit not made yet.
    const [claimSeq] = core.applyInbox(bob.user, [{ type: 'cursor', consumer: bob.sid, upto, at: Date.now() }]);
    assert.ok(claimSeq > core.durableSeq);
    const peek = await feed.poll(bob, { peek: true });
    assert.equal(peek.cursor, upto);
    assert.ok(core.durableSeq >= claimSeq, 'the cursor shown is on disk');
  } finally {
    await stop();
  }
});

test('a write that finds its effect already staged by another (a retried join, a second archive) answers only once that is durable', async () => {
  const { relay: r, user, stop } = await startInProcessRelay('pchat-settled-noop-');
  try {
    const { core, groups, messaging, presence } = r.services;
    const owner = await user('owner');
    const joiner = await user('joiner');
    const g = await groups.create(owner, { name: 'open one', visibility: 'public', join_policy: 'open' } as never);
    await messaging.send(owner, { to: 'joiner', text: 'hi' });
    const checks: [string, () => Promise<unknown>][] = [
      ['join', () => groups.join(joiner, g.id)],
      ['archive', () => messaging.archive(owner, 'joiner', true)],
      ['archive a group', () => messaging.archive(owner, `group:${g.id}`, true)],
      ['presence', () => presence.heartbeat(owner, { visible: false })],
    ];
    for (const [what, write] of checks) {
      const first = write();
      await Promise.resolve(); // the first stages its write (some stage after a microtask)
      const staged = core.journal.lastSeq;
      assert.ok(staged > core.durableSeq, `${what}: the first is staged ahead of the disk`);
      let durableAtAnswer = -1;
      const retry = write().then(() => (durableAtAnswer = core.durableSeq));
      await Promise.all([first, retry]);
      assert.ok(durableAtAnswer >= staged, `${what}: the retry answered at durable ${durableAtAnswer}, before ${staged} was on disk`);
    }
  } finally {
    await stop();
  }
});

test('once a journal commit failed, a later commit that succeeds is not acknowledged either (the relay is restarting)', async () => {
  const { relay: r, user, stop } = await startInProcessRelay('pchat-fatal-');
  const { core, messaging } = r.services;
  const { exits, restore } = catchExits(core);
  try {
    const alice = await user('alice');
    await user('bob');
    failNextCommit(core.journal, 'ENOSPC: simulated');
    await assert.rejects(messaging.send(alice, { to: 'bob', text: 'in the failed batch' }), /ENOSPC/);
    await assert.rejects(messaging.send(alice, { to: 'bob', text: 'in a later batch' }), /earlier journal commit failed/);
    await new Promise((resume) => setImmediate(resume));
    assert.deepEqual(exits, [70], 'the relay exits to restart from the journal');
  } finally {
    restore();
    await stop();
  }
});
