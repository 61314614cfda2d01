// Decisions that fold a caller's fields into an event take only the fields they own: a body
// key named `type` (or `suspended`, `owner`, `members`) never becomes part of the event.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { accountMachine, decideProfile, type AccountContext } from '../../actors/account.ts';
import { decideSettings, type GroupContext } from '../../actors/group.ts';

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
