// Message search in the browser goes to the relay (GET /api/v1/webchat/search), so messages the
// app has not loaded are found: in one conversation from its search bar, and in every
// conversation from the sidebar ("Messages", newest first, "More" pages on). A hit opens its
// conversation at the message, loading older history back to it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { startTestRelay, type TestRelay } from '../helpers.ts';
import { bubble, launch, openAs, screenshot, type UserPage } from './browser.ts';

/** Messages after the one searched for: more than one history page (50) and one render window. */
const NEWER = 120;
const CLUES = 25;

describe('WebChat message search in chromium', () => {
  let relay: TestRelay;
  let browser: Browser;
  let kim: UserPage;
  let lou: { token: string };
  let climbers: string;

  before(async () => {
    [relay, browser] = await Promise.all([startTestRelay(), launch()]);
    const earlier = await relay.login('kim@example.com', { display_name: 'Kim', chat_address: 'kim' });
    lou = await relay.login('lou@example.com', { display_name: 'Lou', chat_address: 'lou' });
    const { accounts, messaging, core } = relay.relay.services;
    const auth = accounts.authenticate(lou.token)!;
    const send = (to: string, text: string) => messaging.send(auth, { channel: 'pchat', to, text });
    await send('kim', 'the treasure map is under the oak');
    for (let i = 0; i < NEWER; i++) await send('kim', `news ${i}`);
    for (let i = 1; i <= CLUES; i++) await send('kim', `clue ${i}`);
    const g = await relay.api('POST', '/api/v1/webchat/groups', { name: 'Hikers', visibility: 'private', mode: 'chat', members: ['lou'] }, earlier.token);
    assert.equal(g.status, 200, JSON.stringify(g.body));
    await send(`group:${g.body.group.group_id ?? g.body.group.id}`, 'treasure hunt on Sunday');
    // Lou's group, where Kim is a member until Lou removes her (the last test).
    const c = await relay.api('POST', '/api/v1/webchat/groups', { name: 'Climbers', visibility: 'private', mode: 'chat', members: ['kim'] }, lou.token);
    assert.equal(c.status, 200, JSON.stringify(c.body));
    climbers = c.body.group.group_id ?? c.body.group.id;
    await send(`group:${climbers}`, 'summit plan at dawn');
    // The group's newest message, so the one searched for is not what its row previews (the app
    // has the preview, and shows it once the group is refused; see unavailable.test.ts).
    await send(`group:${climbers}`, 'rope check at noon');
    // Kim has read everything on another device: the browser starts from history, not a replay.
    const acked = await relay.api('POST', '/api/v1/webchat/ack', { upto: core.durableSeq }, earlier.token);
    assert.equal(acked.status, 200, JSON.stringify(acked.body));
    kim = await openAs(browser, relay, 'kim@example.com', 'Kim', 'kim');
  });
  after(async () => {
    await browser?.close();
    await relay?.stop();
  });

  test('search in a conversation finds a message that is not loaded, and a click shows it', async () => {
    const p = kim.page;
    await p.getByRole('option', { name: /^Lou/ }).click();
    await bubble(p, `clue ${CLUES}`).waitFor();
    assert.equal(await bubble(p, 'the treasure map').count(), 0, 'not loaded yet');
    await p.getByRole('button', { name: 'Search in conversation' }).click();
    const bar = p.getByRole('search');
    await bar.getByRole('searchbox', { name: 'Search in this conversation' }).fill('treasure map');
    // One: the group's "treasure hunt" is another conversation.
    await bar.getByRole('status').filter({ hasText: '1 found' }).waitFor();
    await screenshot(p, 'search-in-conversation');
    await p.setViewportSize({ width: 375, height: 740 });
    await screenshot(p, 'search-in-conversation-phone');
    await p.setViewportSize({ width: 1280, height: 800 });
    await bar.getByRole('button', { name: /the treasure map is under the oak/ }).click();
    const found = bubble(p, 'the treasure map is under the oak');
    await found.waitFor();
    await p.waitForFunction(() => document.activeElement?.textContent?.includes('the treasure map is under the oak'));
    assert.ok(await found.isVisible(), 'scrolled to it');
  });

  test('the sidebar offers message hits from every conversation, newest first, with More; a hit opens its conversation', async () => {
    const p = kim.page;
    const search = p.getByRole('searchbox', { name: 'Search conversations' });
    const hits = p.getByRole('region', { name: 'Messages' });
    // One letter is not searched for.
    await search.fill('t');
    assert.equal(await hits.count(), 0);

    await search.fill('clue');
    await hits.getByRole('status').filter({ hasText: '20+ found' }).waitFor();
    const texts = () => hits.locator('.hit-text').allTextContents();
    assert.deepEqual((await texts()).slice(0, 2), [`clue ${CLUES}`, `clue ${CLUES - 1}`]);
    await hits.getByRole('button', { name: 'More' }).click();
    await hits.getByRole('status').filter({ hasText: `${CLUES} found` }).waitFor();
    assert.equal((await texts()).at(-1), 'clue 1');
    assert.equal(await hits.getByRole('button', { name: 'More' }).count(), 0);

    await search.fill('treasure');
    await hits.getByRole('status').filter({ hasText: '2 found' }).waitFor();
    assert.deepEqual(await texts(), ['Lou: treasure hunt on Sunday', 'the treasure map is under the oak']);
    await screenshot(p, 'search-sidebar');
    await p.setViewportSize({ width: 375, height: 740 });
    try {
      await p.getByRole('button', { name: 'Back to conversations' }).click();
      await screenshot(p, 'search-sidebar-phone');
      const { page, view } = await p.evaluate(() => ({ page: document.documentElement.scrollWidth, view: window.innerWidth }));
      assert.ok(page <= view, `the page is ${page} px wide on a ${view} px screen`);
      await hits.getByRole('button', { name: /treasure hunt on Sunday/ }).click();
      await p.getByRole('log', { name: 'Messages with Hikers' }).waitFor();
      await bubble(p, 'treasure hunt on Sunday').waitFor();
    } finally {
      await p.setViewportSize({ width: 1280, height: 800 });
    }
    // The other hit: a conversation whose message is not loaded opens at it.
    await p.reload();
    await search.fill('treasure');
    await hits.getByRole('button', { name: /the treasure map is under the oak/ }).click();
    await p.getByRole('log', { name: 'Messages with Lou' }).waitFor();
    await bubble(p, 'the treasure map is under the oak').waitFor();
    await p.waitForFunction(() => document.activeElement?.textContent?.includes('the treasure map is under the oak'));
  });

  test('a hit in a conversation you can no longer read says so, not to load older messages', async () => {
    const p = kim.page;
    const search = p.getByRole('searchbox', { name: 'Search conversations' });
    const hits = p.getByRole('region', { name: 'Messages' });
    await search.fill('summit');
    await hits.getByRole('status').filter({ hasText: '1 found' }).waitFor();
    // Lou removes Kim from the group while the hit is on screen: its history is no longer hers (403).
    const removed = await relay.api('DELETE', `/api/v1/webchat/groups/${climbers}/members/kim`, undefined, lou.token);
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    const refused = p.waitForResponse((r) => r.url().includes('/api/v1/webchat/history') && r.url().includes(encodeURIComponent(`group:${climbers}`)));
    await hits.getByRole('button', { name: /summit plan at dawn/ }).click();
    assert.ok([403, 404].includes((await refused).status()), 'the relay refuses the history');
    const notice = p.locator('.notice');
    await notice.filter({ hasText: /\S/ }).waitFor();
    const said = (await notice.textContent()) ?? '';
    assert.match(said, /no longer available/);
    assert.doesNotMatch(said, /Load older/);
    assert.equal(await bubble(p, 'summit plan at dawn').count(), 0);
    await bubble(p, 'rope check at noon').waitFor();
    await screenshot(p, 'search-hit-unavailable');
  });

  test('no console errors or CSP violations', () => {
    assert.deepEqual(kim.problems, []);
  });
});
