// Login codes as pure decisions over the login machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { CODE_TTL_MS, MAX_CODES_PER_HOUR, MAX_FAILURES_PER_HOUR, MAX_TRIES_PER_CODE, decideIssue, decideVerify, loginMachine, type LoginContext, type LoginEvent } from '../../actors/login.ts';

function login() {
  const actor = createActor(loginMachine).start();
  let seq = 0;
  const apply = (events: LoginEvent[]) => events.forEach((e) => actor.send({ ...e, seq: ++seq }));
  return { apply, ctx: () => actor.getSnapshot().context as LoginContext, state: () => actor.getSnapshot().value };
}
const is = (h: string) => (hash: string) => hash === h;

test('a code works once and expires after its deadline', () => {
  const { apply, ctx } = login();
  apply(decideIssue(ctx(), 'h1', 0).events);
  assert.equal(decideVerify(ctx(), is('h1'), CODE_TTL_MS).refusal?.code, 'invalid_code', 'expired at the deadline');
  const ok = decideVerify(ctx(), is('h1'), 1000);
  assert.equal(ok.refusal, undefined);
  apply(ok.events);
  assert.equal(decideVerify(ctx(), is('h1'), 2000).refusal?.code, 'invalid_code', 'single use');
});

test(`${MAX_TRIES_PER_CODE} wrong guesses burn the code`, () => {
  const { apply, ctx, state } = login();
  apply(decideIssue(ctx(), 'h1', 0).events);
  for (let i = 0; i < MAX_TRIES_PER_CODE; i++) {
    const d = decideVerify(ctx(), is('nope'), 10 + i);
    assert.equal(d.refusal?.code, 'invalid_code');
    apply(d.events);
  }
  assert.equal(state(), 'idle');
  assert.equal(decideVerify(ctx(), is('h1'), 100).refusal?.code, 'invalid_code');
});

test('the failure budget holds across resends', () => {
  const { apply, ctx } = login();
  let now = 0;
  for (let n = 0; n < MAX_FAILURES_PER_HOUR; n++) {
    if (n % (MAX_TRIES_PER_CODE - 1) === 0) apply(decideIssue(ctx(), `h${n}`, ++now).events);
    apply(decideVerify(ctx(), is('nope'), ++now).events);
  }
  const fresh = decideIssue(ctx(), 'hx', ++now);
  assert.equal(fresh.refusal?.code, 'too_many_attempts');
  assert.ok(fresh.refusal!.retryAfterSec! > 0);
  assert.equal(decideIssue(ctx(), 'hy', now + 3_600_000).refusal, undefined, 'the budget refills after an hour');
});

test(`at most ${MAX_CODES_PER_HOUR} codes per hour per email`, () => {
  const { apply, ctx } = login();
  for (let i = 0; i < MAX_CODES_PER_HOUR; i++) apply(decideIssue(ctx(), `h${i}`, i).events);
  assert.equal(decideIssue(ctx(), 'h9', 10).refusal?.code, 'too_many_codes');
});
