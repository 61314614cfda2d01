// Decisions that fold a caller's fields into an event take only the fields they own: a body
// key named `type` (or `suspended`, `owner`, `members`) never becomes part of the event.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { accountMachine, decideProfile, type AccountContext } from '../../actors/account.ts';
import { decideJoin, decideSettings, groupMachine, JOIN_REQUESTS_PENDING_MAX, JOIN_RETRY_AFTER_REJECT_MS, type GroupContext } from '../../actors/group.ts';

test('decideProfile: only profile fields, and the event type is its own', () => {
  const ctx = createActor(accountMachine, { input: { id: 'usr_1' } }).start().getSnapshot().context as AccountContext;
  const hostile = { type: 'created', email: 'x@y.z', suspended: false, display_name: 'New name', seq: 99 };
  const { events } = decideProfile(ctx, hostile as never, 1);
  assert.deepEqual(events, [{ display_name: 'New name', type: 'profile_updated', at: 1 }]);
});

test('decideSettings: only settings fields, and the event type is its own', () => {
  const ctx = { id: 'grp_1', exists: true, owner: 'u1', members: { u1: 'owner' }, name: 'Old', visibility: 'private', mode: 'chat', join_policy: 'approval' } as unknown as GroupContext;
  const hostile = { type: 'role_set', user: 'u2', role: 'owner', owner: 'u2', members: { u2: 'owner' }, name: 'New' };
  const { events } = decideSettings(ctx, 'u1', hostile as never, 1);
  assert.deepEqual(events, [{ name: 'New', type: 'settings', by: 'u1', at: 1 }]);
});

test('join requests: a pending cap per group, and rejections remembered only for the retry wait', () => {
  const actor = createActor(groupMachine, { input: { id: 'grp_1' } }).start();
  let seq = 0;
  const fold = (e: object) => actor.send({ ...e, seq: ++seq } as never);
  fold({ type: 'created', name: 'Club', visibility: 'public', mode: 'chat', join_policy: 'approval', owner: 'u0', at: 0 });
  const ctx = () => actor.getSnapshot().context as GroupContext;
  for (let i = 1; i <= JOIN_REQUESTS_PENDING_MAX; i++) fold({ type: 'join_requested', request_id: `req_${i}`, user: `u${i}`, at: 1 });
  assert.equal(decideJoin(ctx(), 'late', 'req_x', undefined, 1e6, 2).refusal?.code, 'conflict', 'past the cap of pending requests');
  fold({ type: 'join_decided', request_id: 'req_1', user: 'u1', action: 'reject', by: 'u0', at: 10 });
  assert.equal(decideJoin(ctx(), 'late', 'req_x', undefined, 1e6, 11).events[0]?.type, 'join_requested', 'room again');
  assert.equal(decideJoin(ctx(), 'u1', 'req_y', undefined, 1e6, 11).refusal?.code, 'rate_limited');
  // A later rejection drops the ones whose wait is over: the record does not grow with every stranger.
  fold({ type: 'join_decided', request_id: 'req_2', user: 'u2', action: 'reject', by: 'u0', at: 10 + JOIN_RETRY_AFTER_REJECT_MS });
  assert.deepEqual(Object.keys(ctx().rejected ?? {}), ['u2']);
  assert.equal(decideJoin(ctx(), 'u1', 'req_y', undefined, 1e6, 10 + JOIN_RETRY_AFTER_REJECT_MS).events[0]?.type, 'join_requested');
});
