// The inbox machine driven directly: folds, decisions, snapshot round trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { cursorOf, decideBlock, decideClaim, decideCloseConsumers, decideOpenConsumer, decideReceive, INBOX_PASSIVE, inboxMachine, type InboxContext, type InboxEvent } from '../../actors/inbox.ts';

function inbox() {
  const actor = createActor(inboxMachine, { input: { user: 'usr_b' } }).start();
  let seq = 0;
  const apply = (events: InboxEvent[]) => events.forEach((e) => actor.send({ ...e, seq: ++seq }));
  return { actor, apply, ctx: () => actor.getSnapshot().context as InboxContext };
}

const msg = (id: string, from_user = 'usr_a'): Extract<InboxEvent, { type: 'msg_in' }> => ({
  type: 'msg_in', id, from_user, to_user: 'usr_b', from: 'a', to: 'b', text: id, sender_session: 's', at: 1,
});

test('every event advances the sequence; cursors only move forward', () => {
  const { apply, ctx } = inbox();
  apply([msg('m1'), msg('m2')]);
  assert.equal(ctx().seq, 2);
  apply(decideClaim(ctx(), 'ses_1', 2, ctx().seq, 5).events);
  assert.equal(cursorOf(ctx(), 'ses_1'), 2);
  assert.deepEqual(decideClaim(ctx(), 'ses_1', 1, ctx().seq, 6).events, [], 'a claim behind the cursor is a no-op');
  assert.deepEqual(decideClaim(ctx(), 'ses_1', 99, ctx().seq, 6).events, [], 'a claim past the head is a no-op');
});

test('passive events (not sent to the actor by the registry) have no transition and change nothing but the seq', () => {
  const named = Object.keys((inboxMachine.states.open as unknown as { on: Record<string, unknown> }).on);
  for (const type of INBOX_PASSIVE) assert.ok(!named.includes(type), `${type} has a transition of its own, so it must not be passive`);
  const { apply, ctx } = inbox();
  apply([...decideOpenConsumer(ctx(), 'ses_1', 1).events, ...decideBlock(ctx(), 'usr_x', true, 1).events]);
  apply([{ type: 'joined', group: 'grp_1', from: 2, at: 1 }]);
  const { seq: _seq, ...before } = ctx();
  let n = 0;
  for (const type of INBOX_PASSIVE) {
    // Each passive type with a plausible body: whatever it carries, the context keeps still.
    apply([{ ...msg(`m${n++}`), type, ids: ['m1'], peer: 'usr_a', upto: 1, status: 'read', by: 'a', delta: 'x', group: 'grp_1', action: 'x', name: 'g' } as unknown as InboxEvent]);
    const { seq, ...after } = ctx();
    assert.deepEqual(after, before, `${type} changed the inbox context`);
    assert.equal(seq, 3 + n);
  }
});

test('a new consumer starts where the most advanced one is', () => {
  const { apply, ctx } = inbox();
  apply(decideOpenConsumer(ctx(), 'ses_old', 1).events);
  apply([msg('m1'), msg('m2')]);
  apply(decideClaim(ctx(), 'ses_old', 2, ctx().seq, 1).events);
  apply(decideOpenConsumer(ctx(), 'ses_new', 2).events);
  assert.equal(cursorOf(ctx(), 'ses_new'), 2);
  apply([msg('m3')]);
  assert.equal(cursorOf(ctx(), 'ses_new'), 2, 'the new consumer still gets m3');
  assert.deepEqual(decideOpenConsumer(ctx(), 'ses_new', 3).events, [], 'opening twice changes nothing');
});

test('the cursor of a closed session is dropped; named consumers and unknown ones are left alone', () => {
  const { apply, ctx } = inbox();
  apply(decideOpenConsumer(ctx(), 'ses_1', 1).events);
  apply(decideOpenConsumer(ctx(), 'worker', 1).events);
  apply([msg('m1')]);
  apply(decideClaim(ctx(), 'ses_1', 3, ctx().seq, 2).events);
  assert.deepEqual(decideCloseConsumers(ctx(), ['ses_gone'], 3).events, [], 'a session without a cursor needs no event');
  apply(decideCloseConsumers(ctx(), ['ses_1', 'ses_gone'], 3).events);
  assert.deepEqual(Object.keys(ctx().cursors), ['worker']);
  assert.equal(ctx().top, 3, 'where new consumers start is kept');
});

test('a blocked sender is refused; unblocking lets it through; self-block is refused', () => {
  const { apply, ctx } = inbox();
  apply(decideBlock(ctx(), 'usr_a', true, 1).events);
  assert.equal(decideReceive(ctx(), msg('m1')).refusal?.code, 'blocked');
  assert.deepEqual(decideBlock(ctx(), 'usr_a', true, 1).events, [], 'blocking twice is idempotent');
  apply(decideBlock(ctx(), 'usr_a', false, 2).events);
  assert.equal(decideReceive(ctx(), msg('m1')).refusal, undefined);
  assert.equal(decideBlock(ctx(), 'usr_b', true, 3).refusal?.code, 'bad_request');
});

test('a persisted snapshot restores the same context', () => {
  const { actor, apply, ctx } = inbox();
  apply([msg('m1'), { type: 'cursor', consumer: 'ses_1', upto: 1, at: 1 }, { type: 'blocked', user: 'usr_x', at: 1 }]);
  const restored = createActor(inboxMachine, { snapshot: actor.getPersistedSnapshot() as never, input: { user: 'usr_b' } }).start();
  assert.deepEqual(restored.getSnapshot().context, ctx());
});
