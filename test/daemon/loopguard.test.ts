// The loop guard on its own, with a clock of its own: turns between the same two senders
// climb, follow-ups keep the count, a pause resets it, a third speaker or a person at the
// browser app starts over, one-way streams never climb — and people talking are not stopped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LONG_BUDGET, LONG_WINDOW_MS, LoopGuard } from '../../daemon/loopguard.ts';
import type { Refusal } from '../../actors/decision.ts';

const WINDOW = 30_000;
/** Sends `pattern` (a sender per message) 500 ms apart; returns how many went out before a refusal. */
function run(guard: LoopGuard, pattern: string[], start = 0): { sent: number; refusal?: Refusal } {
  const lane = LoopGuard.lane('a', 'b');
  for (let i = 0; i < pattern.length; i++) {
    const now = start + i * 500;
    try {
      const hops = guard.check(lane, pattern[i], 0, now);
      guard.record(lane, pattern[i], hops, now);
    } catch (err) {
      return { sent: i, refusal: err as Refusal };
    }
  }
  return { sent: pattern.length };
}

test('strict ping-pong is stopped past maxHops', () => {
  const r = run(new LoopGuard(10, 1000, WINDOW), Array.from({ length: 40 }, (_, i) => (i % 2 ? 'b' : 'a')));
  assert.equal(r.sent, 11, 'hops 0..10 went out');
  assert.equal(r.refusal?.code, 'loop_guard');
});

test('bots answering in pairs (ack, then the answer) climb as fast per turn and are stopped too', () => {
  const r = run(new LoopGuard(10, 1000, WINDOW), Array.from({ length: 100 }, (_, i) => (Math.floor(i / 2) % 2 ? 'b' : 'a')));
  assert.equal(r.sent, 22, 'eleven turns of two messages');
  assert.match(r.refusal!.message, /back and forth 11 times/);
});

test('follow-ups do not count against the reply budget; turns do', () => {
  // Budget 3 turns per window: a,b,b,b,a,a,b → b's turns: 1 (msg 2), 2 (msg 7); never over.
  const guard = new LoopGuard(100, 3, WINDOW);
  assert.equal(run(guard, ['a', 'b', 'b', 'b', 'a', 'a', 'b']).sent, 7);
  // Strict alternation: b's fourth turn within the window is refused by the budget.
  const r = run(new LoopGuard(100, 3, WINDOW), ['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b']);
  assert.equal(r.sent, 7);
  assert.match(r.refusal!.message, /answered this conversation 3 times/);
});

test('a one-way stream never climbs, and a pause longer than the window resets', () => {
  const guard = new LoopGuard(5, 1000, WINDOW);
  assert.equal(run(guard, Array.from({ length: 200 }, () => 'a')).sent, 200);
  assert.equal(run(guard, ['b', 'a', 'b', 'a', 'b'], 100_000).sent, 5, 'hops 1..5');
  assert.equal(run(guard, ['a'], 100_000 + 5 * 500).refusal?.code, 'loop_guard', 'hop 6 is over');
  assert.equal(run(guard, ['a', 'b', 'a'], 100_000 + 5 * 500 + WINDOW).sent, 3, 'after a pause it starts over');
});

test('a person at the browser app starts the count over: chatting briskly with an AI session for an hour is fine', () => {
  const guard = new LoopGuard(5, 1000, WINDOW);
  const lane = LoopGuard.lane('human', 'bot');
  let now = 0;
  for (let i = 0; i < 1000; i++) {
    for (const [from, person] of [['human', true], ['bot', false], ['bot', false]] as const) {
      now += 1200;
      guard.record(lane, from, guard.check(lane, from, 0, now, person), now, person); // throws if stopped
    }
  }
  assert.ok(now >= 3_600_000);
  // The same pattern with nobody at a browser is a loop.
  assert.throws(() => {
    for (let i = 0; i < 100; i++) {
      for (const from of ['human', 'bot']) {
        now += 1200;
        guard.record(lane, from, guard.check(lane, from, 0, now), now);
      }
    }
  }, /back and forth 6 times/);
});

test('in a group, a third speaker starts the count over; two bots in a group are still stopped', () => {
  const guard = new LoopGuard(5, 1000, WINDOW);
  const lane = LoopGuard.lane('a', '', 'grp_1');
  let now = 0;
  const say = (from: string) => {
    now += 500;
    const hops = guard.check(lane, from, 0, now);
    guard.record(lane, from, hops, now);
    return hops;
  };
  assert.deepEqual(['a', 'b', 'a', 'c', 'a', 'b'].map(say), [0, 1, 2, 1, 2, 1]);
  assert.throws(() => Array.from({ length: 20 }, (_, i) => say(i % 2 ? 'x' : 'y')), /back and forth 6 times/);
});

test('five people talking in a group for 1,000 messages, 2–10 s apart, are never stopped', () => {
  const guard = new LoopGuard(50, 30, WINDOW); // the defaults
  const lane = LoopGuard.lane('p0', '', 'grp_people');
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  let now = 0;
  let last = '';
  for (let i = 0; i < 1000; i++) {
    now += 2000 + Math.floor(rand() * 8000);
    const from = `p${Math.floor(rand() * 5)}`;
    const hops = guard.check(lane, from, 0, now); // throws if stopped
    guard.record(lane, from, hops, now);
    last = from;
  }
  assert.ok(last);
});

test('a hop count claimed in a group stamps that message only: it does not silence the others', () => {
  const guard = new LoopGuard(50, 30, WINDOW);
  const lane = LoopGuard.lane('a', '', 'grp_2');
  assert.equal(guard.check(lane, 'a', 50, 0), 50, 'the claim stamps its own message');
  guard.record(lane, 'a', 50, 0);
  assert.equal(guard.check(lane, 'b', 0, 500), 1, 'the next speaker is not over the limit');
  // In a direct conversation a claim carries on: it is how a loop across relays is caught.
  const dm = LoopGuard.lane('a', 'b');
  guard.record(dm, 'a', guard.check(dm, 'a', 50, 0), 0);
  assert.throws(() => guard.check(dm, 'b', 0, 500), /back and forth 51 times/);
});

test('bots that acknowledge, then answer seconds later, climb and are stopped', () => {
  const guard = new LoopGuard(50, 30, WINDOW);
  const lane = LoopGuard.lane('a', 'b');
  let now = 0;
  const refusal = (() => {
    for (let i = 0; i < 200; i++) {
      for (const [from, gap] of [['a', 1000], ['a', 3500], ['b', 1000], ['b', 3500]] as const) {
        now += gap;
        try {
          guard.record(lane, from, guard.check(lane, from, 0, now), now);
        } catch (err) {
          return err as Error;
        }
      }
    }
  })();
  assert.match(refusal?.message ?? '', /back and forth 51 times/);
});

test('the long budget stops a steady loop that never passes the hop limit (a claimed count resets it each time)', () => {
  const guard = new LoopGuard(1_000_000, 1_000, WINDOW);
  const lane = LoopGuard.lane('a', 'b');
  let now = 0;
  const refusal = (() => {
    for (let i = 0; i < 10 * LONG_BUDGET; i++) {
      for (const from of ['a', 'b']) {
        now += 2000;
        try {
          guard.record(lane, from, guard.check(lane, from, 0, now), now);
        } catch (err) {
          return err as Error;
        }
      }
    }
  })();
  assert.match(refusal?.message ?? '', new RegExp(`${LONG_BUDGET} times in ${LONG_WINDOW_MS / 60_000} minutes`));
});

test('two people at the browser app chatting briskly for half an hour are not stopped', () => {
  const guard = new LoopGuard(50, 30, WINDOW);
  const lane = LoopGuard.lane('p', 'q');
  let now = 0;
  for (let i = 0; i < 600; i++) {
    for (const from of ['p', 'q']) {
      now += 2000;
      guard.record(lane, from, guard.check(lane, from, 0, now, true), now, true);
    }
  }
  assert.ok(now > 30 * 60_000);
});

test('a pause longer than the window clears the long budget too, without a sweep in between', () => {
  const guard = new LoopGuard(1_000_000, 1_000, WINDOW);
  const lane = LoopGuard.lane('a', 'b');
  let now = 0;
  // Bursts of 24 turns, a pause longer than the window after each: 10 bursts = 240 turns each
  // within LONG_WINDOW_MS, but never LONG_BUDGET without a pause.
  for (let burst = 0; burst < 10; burst++) {
    for (let i = 0; i < 24; i++) {
      for (const from of ['a', 'b']) {
        now += 100;
        assert.doesNotThrow(() => guard.record(lane, from, guard.check(lane, from, 0, now), now), `burst ${burst}, turn ${i}`);
      }
    }
    now += WINDOW + 1;
  }
  assert.ok(now < LONG_WINDOW_MS, 'all within the long window');
});
