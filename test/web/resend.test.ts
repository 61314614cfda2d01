// Sends that failed for want of the relay go again by themselves once the realtime connection
// is back: in the order they were written, each with its own idempotency key, so one the relay
// did take (its answer lost on the way) is not sent twice. Real relay, Debian's chromium.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Request, Route } from 'playwright-core';
import { startTestRelay, type TestRelay } from '../helpers.ts';
import { bubble, launch, openAs, screenshot, sendText, startChat, type UserPage } from './browser.ts';

describe('WebChat sends again what failed while the relay was away', () => {
  let relay: TestRelay;
  let browser: Browser;
  let dan: UserPage;
  let eve: { token: string };

  before(async () => {
    [relay, browser] = await Promise.all([startTestRelay(), launch()]);
    eve = await relay.login('eve@example.com', { display_name: 'Eve', chat_address: 'eve', public_visible: true });
    dan = await openAs(browser, relay, 'dan@example.com', 'Dan', 'dan');
  });
  after(async () => {
    await browser?.close();
    await relay?.stop();
  });

  /** The next send fails in the browser as a network error; `request()` is what it sent, to replay. */
  const loseOneAnswer = async (p: UserPage['page']) => {
    let lost: Request | undefined;
    await p.route('**/api/v1/messages', async (route) => {
      lost = route.request();
      await route.abort('connectionreset');
    }, { times: 1 });
    return { request: () => lost! };
  };

  test('messages that failed while the relay was down are sent once it is back, in order, none twice', async () => {
    const p = dan.page;
    await startChat(p, 'eve');
    await sendText(p, 'one');
    await bubble(p, 'one').getByLabel('Sent', { exact: true }).waitFor();

    // "two" reaches the relay but its answer is lost: the browser sees a network error, and the
    // relay gets the very same request only after that (as through a slow proxy).
    const lost = await loseOneAnswer(p);
    await sendText(p, 'two');
    await bubble(p, 'two').getByLabel('Not sent').waitFor();
    const landed = await relay.api('POST', '/api/v1/messages', lost.request().postDataJSON(), dan.token);
    assert.equal(landed.status, 200, JSON.stringify(landed.body));
    assert.ok(lost.request().postDataJSON().idempotency_key, 'the send carries an idempotency key');

    // The relay goes away: "three" and "four" fail, and only a Retry by hand is on offer.
    await relay.relay.close();
    await p.getByRole('status').filter({ hasText: 'Connection lost — reconnecting…' }).waitFor({ timeout: 15_000 });
    await sendText(p, 'three');
    await bubble(p, 'three').getByLabel('Not sent').waitFor();
    await sendText(p, 'four');
    await bubble(p, 'four').getByLabel('Not sent').waitFor();
    await bubble(p, 'three').getByRole('button', { name: 'Message actions' }).click();
    await p.getByRole('menuitem', { name: 'Retry' }).waitFor();
    await p.keyboard.press('Escape');
    await screenshot(p, 'resend-offline');
    await p.setViewportSize({ width: 375, height: 740 });
    await screenshot(p, 'resend-offline-phone');
    await p.setViewportSize({ width: 1280, height: 800 });

    // Back: the app sends them again without being asked.
    await relay.restart();
    await bubble(p, 'four').getByLabel('Sent', { exact: true }).waitFor({ timeout: 15_000 });
    for (const text of ["one", "two", "three", "four"]) assert.equal(await bubble(p, text).count(), 1, `"${text}" shows once`);
    assert.equal(await p.getByRole('log').getByLabel('Not sent').count(), 0);
    const history = await relay.api('GET', '/api/v1/webchat/history?peer=dan', undefined, eve.token);
    assert.deepEqual(
      history.body.messages.map((m: any) => m.text),
      ['one', 'two', 'three', 'four'],
    );
  });

  test('a send the relay refused is left to a Retry by hand: it would be refused again', async () => {
    const p = dan.page;
    assert.equal((await relay.api('POST', '/api/v1/webchat/block', { address: 'dan' }, eve.token)).status, 200);
    await sendText(p, 'five, refused');
    await bubble(p, 'five, refused').getByLabel('Not sent').waitFor();
    // Eve changes her mind, then the connection drops and comes back.
    assert.equal((await relay.api('POST', '/api/v1/webchat/unblock', { address: 'dan' }, eve.token)).status, 200);
    await relay.restart();
    await p.getByRole('status').filter({ hasText: 'Connection lost — reconnecting…' }).waitFor({ state: 'detached', timeout: 15_000 });
    await p.getByText('Online · live').waitFor({ timeout: 15_000 });
    await sendText(p, 'six');
    await bubble(p, 'six').getByLabel('Sent', { exact: true }).waitFor();
    const history = await relay.api('GET', '/api/v1/webchat/history?peer=dan', undefined, eve.token);
    assert.deepEqual(history.body.messages.map((m: any) => m.text).slice(-2), ['four', 'six']);
    await bubble(p, 'five, refused').getByLabel('Not sent').waitFor();
  });

  test('a send whose answer is lost while the connection stays up is settled by its echo: never shown twice, Sent once', async () => {
    const p = dan.page;
    const keys: string[] = [];
    // The first request's answer is lost; any resend after it is held unanswered, so only the
    // relay's echo (with the send's idempotency key) can settle the message.
    let lost: Request | undefined;
    let lostAt = 0;
    let releaseResends!: () => void;
    const resendsHeld = new Promise<void>((resolve) => (releaseResends = resolve));
    const handler = async (route: Route) => {
      keys.push(route.request().postDataJSON().idempotency_key);
      if (!lost) {
        lost = route.request();
        lostAt = Date.now();
        return route.abort('connectionreset');
      }
      await resendsHeld;
      await route.continue();
    };
    await p.route('**/api/v1/messages', handler);
    try {
      await sendText(p, 'seven');
      await bubble(p, 'seven').getByLabel('Not sent').waitFor();
      const failedAt = Date.now();
      // It did reach the relay; only its answer was lost. The WebSocket never dropped.
      assert.equal((await relay.api('POST', '/api/v1/messages', lost!.postDataJSON(), dan.token)).status, 200);
      // The echo turns the failed copy into the sent message in place: one bubble, right away,
      // before the resend timer (1 s) could have done anything.
      await bubble(p, 'seven').getByLabel('Sent', { exact: true }).waitFor({ timeout: 5000 });
      const echoedIn = Date.now() - failedAt;
      // From before the page could learn of the failure (its resend timer starts then, or later):
      // "Not sent" is only seen here some time after the page shows it.
      const sinceLost = Date.now() - lostAt;
      assert.equal(await bubble(p, 'seven').count(), 1, `"seven" shows once as soon as its echo is in (${echoedIn} ms after it failed)`);
      assert.equal(await bubble(p, 'seven').getByLabel('Not sent').count(), 0);
      assert.equal(await bubble(p, 'seven').getByLabel('Sending', { exact: true }).count(), 0);
      // Past the resend timer: still once, still Sent, and nothing sent again (it has landed).
      await p.waitForTimeout(Math.max(0, 1500 - (Date.now() - failedAt)));
      assert.equal(await bubble(p, 'seven').count(), 1, '"seven" still shows once');
      await bubble(p, 'seven').getByLabel('Sent', { exact: true }).waitFor({ timeout: 1000 });
      // Every try carries the one key; and when the echo beat the resend timer (as it does but on
      // a machine too loaded to apply it within a second), there was no second try at all.
      assert.deepEqual(new Set(keys), new Set([lost!.postDataJSON().idempotency_key]), 'one idempotency key');
      if (sinceLost < 950) assert.equal(keys.length, 1, `not sent again: the echo settled it (${sinceLost} ms after the answer was lost)`);
    } finally {
      // Whatever happened, later tests get an unhindered network.
      releaseResends();
      await p.unroute('**/api/v1/messages', handler);
    }
    await p.getByText('Online · live').waitFor({ timeout: 1000 });
    const history = await relay.api('GET', '/api/v1/webchat/history?peer=dan', undefined, eve.token);
    assert.deepEqual(history.body.messages.map((m: any) => m.text).slice(-2), ['six', 'seven']);
  });

  test('a send whose answer is lost and that never landed goes again by itself, soon, with the same key', async () => {
    const p = dan.page;
    const keys: string[] = [];
    const onRequest = (r: Request) => {
      if (r.method() === 'POST' && r.url().endsWith('/api/v1/messages') && r.postDataJSON().text === 'septet') keys.push(r.postDataJSON().idempotency_key);
    };
    p.on('request', onRequest);
    const lost = await loseOneAnswer(p);
    await sendText(p, 'septet');
    await bubble(p, 'septet').getByLabel('Not sent').waitFor();
    // No echo comes (the relay never had it): the resend timer sends it again, with the same key.
    await bubble(p, 'septet').getByLabel('Sent', { exact: true }).waitFor({ timeout: 10_000 });
    p.off('request', onRequest);
    assert.equal(await bubble(p, 'septet').count(), 1, '"septet" shows once');
    assert.ok(keys.length >= 2, `sent again (${keys.length} requests)`);
    assert.equal(new Set(keys).size, 1, 'with the same idempotency key');
    // The lost request reaching the relay late after all (a slow proxy) makes nothing new.
    assert.equal((await relay.api('POST', '/api/v1/messages', lost.request().postDataJSON(), dan.token)).status, 200);
    const history = await relay.api('GET', '/api/v1/webchat/history?peer=dan', undefined, eve.token);
    assert.deepEqual(history.body.messages.map((m: any) => m.text).slice(-3), ['six', 'seven', 'septet']);
    assert.equal(await bubble(p, 'septet').count(), 1);
  });

  test('sends that keep getting no answer go again less and less often, and go once an answer comes', async () => {
    const p = dan.page;
    const times: number[] = [];
    let thirdTry!: () => void;
    const tried = new Promise<void>((resolve) => (thirdTry = resolve));
    const refuse = async (route: Route) => {
      times.push(Date.now());
      if (times.length === 3) thirdTry();
      await route.abort('connectionreset');
    };
    await p.route('**/api/v1/messages', refuse);
    await sendText(p, 'eight');
    await bubble(p, 'eight').getByLabel('Not sent').waitFor();
    await Promise.race([tried, new Promise((_, reject) => setTimeout(() => reject(new Error(`only ${times.length} tries in 15 s`)), 15_000))]);
    await p.unroute('**/api/v1/messages', refuse);
    const [first, second] = [times[1] - times[0], times[2] - times[1]];
    assert.ok(first >= 500, `no tight loop: ${first} ms before the first resend`);
    assert.ok(second >= first * 1.5, `backing off: ${first} ms, then ${second} ms`);
    await bubble(p, 'eight').getByLabel('Sent', { exact: true }).waitFor({ timeout: 15_000 });
    const history = await relay.api('GET', '/api/v1/webchat/history?peer=dan', undefined, eve.token);
    assert.deepEqual(history.body.messages.map((m: any) => m.text).slice(-2), ['septet', 'eight']);
  });

  test('discarding one queued message while a resend round is under way leaves the others to go', async () => {
    const p = dan.page;
    let mode: 'fail' | 'hold' | 'pass' = 'fail';
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let held!: (text: string) => void;
    const holding = new Promise<string>((resolve) => (held = resolve));
    const handler = async (route: Route) => {
      if (mode === 'fail') return route.abort('connectionreset');
      if (mode === 'hold') {
        mode = 'pass';
        held(route.request().postDataJSON().text);
        await gate;
      }
      await route.continue();
    };
    await p.route('**/api/v1/messages', handler);
    for (const text of ['nine', 'ten', 'eleven']) {
      await sendText(p, text);
      await bubble(p, text).getByLabel('Not sent').waitFor();
    }
    // The next round's first send (the oldest, "nine") hangs while "ten" is discarded.
    mode = 'hold';
    assert.equal(await Promise.race([holding, new Promise<string>((_, reject) => setTimeout(() => reject(new Error('no resend round in 15 s')), 15_000))]), 'nine');
    await bubble(p, 'ten').getByRole('button', { name: 'Message actions' }).click();
    let asked = '';
    p.once('dialog', (d) => ((asked = d.message()), void d.accept()));
    await p.getByRole('menuitem', { name: 'Delete' }).click();
    await bubble(p, 'ten').waitFor({ state: 'detached' });
    assert.equal(asked, 'Discard this unsent message?', 'an unsent copy is discarded, not deleted "for everyone"');
    release();
    await bubble(p, 'nine').getByLabel('Sent', { exact: true }).waitFor({ timeout: 10_000 });
    await bubble(p, 'eleven').getByLabel('Sent', { exact: true }).waitFor({ timeout: 10_000 });
    await p.unroute('**/api/v1/messages', handler);
    const history = await relay.api('GET', '/api/v1/webchat/history?peer=dan', undefined, eve.token);
    assert.deepEqual(history.body.messages.map((m: any) => m.text).slice(-3), ['eight', 'nine', 'eleven']);
  });

  test('a resend of one login still unanswered when you switch to another does not hold up the new login’s resends', async () => {
    // One page, two logins: Fay, then Gus (the active one).
    const fay = await openAs(browser, relay, 'fay@example.com', 'Fay', 'fay');
    const p = fay.page;
    const gus = await relay.login('gus@example.com', { display_name: 'Gus', chat_address: 'gus', public_visible: true });
    await p.goto(`${relay.url}/app/webchat/chat.html?pchat_session=${gus.token}`);
    await p.getByRole('button', { name: 'Log out gus', exact: true }).waitFor();

    // Each login's first send gets no answer; Gus's resend then hangs, Fay's goes through.
    const tries = new Map<string, number>();
    let releaseGus!: () => void;
    const gusHeld = new Promise<void>((resolve) => (releaseGus = resolve));
    let gusResending!: () => void;
    const gusResent = new Promise<void>((resolve) => (gusResending = resolve));
    const handler = async (route: Route) => {
      const text = route.request().postDataJSON().text as string;
      const n = (tries.get(text) ?? 0) + 1;
      tries.set(text, n);
      if (n === 1) return route.abort('connectionreset');
      if (text === 'from gus') {
        gusResending();
        await gusHeld;
        return route.abort('connectionreset').catch(() => undefined); // unrouted meanwhile: already let go
      }
      await route.continue();
    };
    await p.route('**/api/v1/messages', handler);
    try {
      await startChat(p, 'eve');
      await sendText(p, 'from gus');
      await bubble(p, 'from gus').getByLabel('Not sent').waitFor();
      await Promise.race([gusResent, new Promise((_, reject) => setTimeout(() => reject(new Error('no resend of Gus’s message in 10 s')), 10_000))]);

      // Gus's resend is still unanswered: switch to Fay, whose own send fails once.
      await p.getByRole('combobox', { name: 'Switch login' }).selectOption({ label: 'Fay (fay)' });
      await p.getByRole('button', { name: 'Log out fay', exact: true }).waitFor();
      await startChat(p, 'eve');
      await sendText(p, 'from fay');
      await bubble(p, 'from fay').getByLabel('Not sent').waitFor();
      // Her resend timer sends it again (1 s), whatever Gus's request is still doing.
      await bubble(p, 'from fay').getByLabel('Sent', { exact: true }).waitFor({ timeout: 8000 });
    } finally {
      releaseGus();
      await p.unroute('**/api/v1/messages', handler);
    }
    assert.equal(tries.get('from fay'), 2, 'sent again once');
    const history = await relay.api('GET', '/api/v1/webchat/history?peer=fay', undefined, eve.token);
    assert.deepEqual(history.body.messages.map((m: any) => m.text), ['from fay']);
    await fay.context.close();
  });

  test('no console errors beyond the failed requests', () => {
    assert.deepEqual(dan.problems, []);
  });
});
