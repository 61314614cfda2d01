// The browser app against the real relay, in Debian's chromium: serving and CSP, sign-in,
// auto-login, two users chatting both ways, receipts, typing, reply / edit / delete,
// archive, search, keyboard use, layouts, accessibility (axe-core), and a relay restart.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Browser } from 'playwright-core';
import { startTestRelay, type TestRelay } from '../helpers.ts';
import { bubble, launch, openAs, screenshot, sendText, startChat, watchProblems, type UserPage } from './browser.ts';
import { TYPING_TTL_MS } from '../../web/src/stores/chat.ts';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

describe('WebChat in chromium', () => {
  let relay: TestRelay;
  let browser: Browser;
  let alice: UserPage;
  let bob: UserPage;

  before(async () => {
    [relay, browser] = await Promise.all([startTestRelay(), launch()]);
    alice = await openAs(browser, relay, 'alice@example.com', 'Alice', 'alice');
    bob = await openAs(browser, relay, 'bob@example.com', 'Bob', 'bob');
  });
  after(async () => {
    await browser?.close();
    await relay?.stop();
  });

  test('the relay serves the built app with a strict CSP, and / redirects to it', async () => {
    const root = await fetch(`${relay.url}/`, { redirect: 'manual' });
    assert.equal(root.status, 302);
    assert.equal(root.headers.get('location'), '/app/webchat/chat.html');
    const page = await fetch(`${relay.url}/app/webchat/chat.html`);
    assert.equal(page.status, 200);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.match(csp, /frame-ancestors 'none'/);
    const html = await page.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline scripts');
    const asset = html.match(/src="([^"]+\.js)"/)![1];
    const js = await fetch(relay.url + asset);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
  });

  test('signs in with email → code (dev code shown) → chat address', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    const problems: string[] = [];
    watchProblems(page, problems);
    await page.goto(`${relay.url}/`);
    await page.getByLabel('Email').fill('carol@example.com');
    await page.getByLabel('Display name').fill('Carol');
    await screenshot(page, 'signin-phone');
    await page.getByRole('button', { name: 'Send code' }).click();
    const note = page.getByRole('note');
    await note.waitFor();
    const code = (await note.textContent())!.match(/\d{6}/)![0];
    await page.getByLabel('Code', { exact: true }).fill(code);
    await page.getByLabel(/Chat address/).fill('carol');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Log out carol', exact: true }).waitFor();
    // A second login in the same browser, then switching between the two.
    await page.getByTitle('Profile').click();
    await page.getByRole('button', { name: 'Add another login' }).click();
    await page.getByLabel('Email').fill('carol2@example.com');
    await page.getByRole('button', { name: 'Send code' }).click();
    const code2 = (await page.getByRole('note').textContent())!.match(/\d{6}/)![0];
    await page.getByLabel('Code', { exact: true }).fill(code2);
    await page.getByLabel(/Chat address/).fill('carol-two');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const switcher = page.getByRole('combobox', { name: 'Switch login' });
    await switcher.waitFor();
    await switcher.selectOption({ label: 'Carol (carol)' });
    await page.getByRole('button', { name: 'Log out carol', exact: true }).waitFor();
    // Logout forgets the login and falls back to the other one.
    await page.getByRole('button', { name: 'Log out carol', exact: true }).click();
    await page.getByRole('button', { name: 'Log out carol-two', exact: true }).waitFor();
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('the auto-login URL logs straight in and removes the token from the address bar', async () => {
    assert.doesNotMatch(alice.page.url(), /pchat_session|pct_/);
    assert.match(alice.page.url(), /\/app\/webchat\/chat\.html/);
    const stored = await alice.page.evaluate(() => localStorage.getItem('pchat.logins.v1'));
    assert.match(stored!, /"chat_address":"alice"/);
  });

  test('two users chat both ways, with delivery and read receipts and typing', async () => {
    await startChat(alice.page, 'bob');
    await sendText(alice.page, 'Hello Bob, from Alice');
    await bubble(alice.page, 'Hello Bob, from Alice').waitFor();

    // Bob sees a new conversation named after Alice with one unread message.
    const conv = bob.page.getByRole('option', { name: /^Alice\W*1 unread/ });
    await conv.waitFor();
    await conv.click();
    await bubble(bob.page, 'Hello Bob, from Alice').waitFor();

    // Opening it marks it read: Alice's message shows "Read".
    await bubble(alice.page, 'Hello Bob, from Alice').getByLabel('Read').waitFor();

    // Bob types; Alice sees it.
    await bob.page.getByRole('textbox', { name: 'Message' }).pressSequentially('Hi Al');
    await alice.page.getByText('Bob is typing…').waitFor();
    await bob.page.getByRole('textbox', { name: 'Message' }).press('Enter');
    await bubble(alice.page, 'Hi Al').waitFor();
    await alice.page.getByText('Bob is typing…').waitFor({ state: 'detached' });
    await screenshot(alice.page, 'chat-desktop');
    await screenshot(bob.page, 'chat-desktop-bob');
  });

  test('"typing…" in the conversation list runs out when typing:false never comes (closed tab, lost network)', async () => {
    const uma = await relay.login('uma@example.com', { display_name: 'Uma', chat_address: 'uma' });
    const tia = await openAs(browser, relay, 'tia@example.com', 'Tia', 'tia');
    const p = tia.page;
    await relay.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'tia', text: 'Hi Tia' }, uma.token);
    const conv = p.getByRole('option', { name: /^Uma/ });
    await conv.getByText('Hi Tia').waitFor();
    // Time is faked: the indicator's time-to-live passes without waiting for it.
    await p.clock.install();
    const typing = await relay.api('POST', '/api/v1/webchat/typing', { to: 'tia', typing: true }, uma.token);
    assert.equal(typing.status, 200, JSON.stringify(typing.body));
    await conv.getByText('typing…').waitFor();
    await p.setViewportSize({ width: 375, height: 740 });
    await screenshot(p, 'typing-list-phone');
    // Uma's tab closes: no typing:false follows.
    await p.clock.fastForward(TYPING_TTL_MS + 1000);
    await conv.getByText('Hi Tia').waitFor({ timeout: 2000 });
    assert.equal(await conv.getByText('typing…').count(), 0);
    await screenshot(p, 'typing-expired-phone');
    await p.setViewportSize({ width: 1280, height: 800 });
    // The open conversation's header runs on the same clock.
    await conv.click();
    await relay.api('POST', '/api/v1/webchat/typing', { to: 'tia', typing: true }, uma.token);
    await p.getByText('Uma is typing…').waitFor();
    await p.clock.fastForward(TYPING_TTL_MS + 1000);
    await p.getByText('Uma is typing…').waitFor({ state: 'detached', timeout: 2000 });
    await conv.getByText('Hi Tia').waitFor();
    assert.deepEqual(tia.problems, []);
    await tia.context.close();
  });

  test('reply, edit and delete show on the other side', async () => {
    // Alice replies to Bob's message through its action menu.
    const his = bubble(alice.page, 'Hi Al');
    await his.getByRole('button', { name: 'Message actions' }).click();
    await alice.page.getByRole('menuitem', { name: 'Reply' }).click();
    await alice.page.getByText(/Replying to Bob/).waitFor();
    await sendText(alice.page, 'Replying to you');
    const reply = bubble(bob.page, 'Replying to you');
    await reply.waitFor();
    assert.match((await reply.getByLabel(/Reply to/).textContent())!, /Hi Al/);

    // Alice edits her message with the keyboard: focus it, press E.
    const mine = bubble(alice.page, 'Replying to you');
    // A receipt can re-render the bubble under the focus: retry until edit mode is on.
    for (let i = 0; i < 10 && !(await alice.page.getByText(/^Editing message/).isVisible()); i++) {
      await mine.focus();
      await alice.page.keyboard.press('e');
      await alice.page.getByText(/^Editing message/).waitFor({ timeout: 1000 }).catch(() => {});
    }
    await alice.page.getByText(/^Editing message/).waitFor();
    const box = alice.page.getByRole('textbox', { name: 'Message' });
    await box.fill('Replying to you (edited)');
    await box.press('Enter');
    await bubble(bob.page, 'Replying to you (edited)').getByText(/^edited/).waitFor();

    // …and deletes it.
    alice.page.once('dialog', (d) => void d.accept());
    await bubble(alice.page, 'Replying to you (edited)').getByRole('button', { name: 'Message actions' }).click();
    await alice.page.getByRole('menuitem', { name: 'Delete' }).click();
    await bob.page.getByRole('log').getByText('Message deleted').waitFor();
    assert.equal(await bubble(bob.page, 'Replying to you (edited)').count(), 0);
  });

  test('Escape out of an edit empties the message box, so Enter does not send the old text again', async () => {
    const p = alice.page;
    const box = p.getByRole('textbox', { name: 'Message' });
    await box.click();
    await box.press('ArrowUp'); // edits her last message
    await p.getByText(/^Editing message/).waitFor();
    // The text comes in an effect after the bar renders: wait for it, then for it to go.
    await p.waitForFunction(() => (document.getElementById('composer') as HTMLTextAreaElement).value === 'Hello Bob, from Alice', null, { timeout: 2000 });
    await box.press('Escape');
    await p.getByText(/^Editing message/).waitFor({ state: 'detached' });
    await p.waitForFunction(() => (document.getElementById('composer') as HTMLTextAreaElement).value === '', null, { timeout: 2000 });
    await box.press('Enter');
    await sendText(p, 'after the cancelled edit');
    await bubble(bob.page, 'after the cancelled edit').waitFor();
    assert.equal(await bubble(bob.page, 'Hello Bob, from Alice').count(), 1);
  });

  test('saved messages, conversation search, archive and the channel filters', async () => {
    const p = alice.page;
    await p.getByRole('button', { name: 'Saved messages' }).click();
    await sendText(p, 'note to self: buy milk');
    await bubble(p, 'note to self: buy milk').waitFor();
    await p.getByRole('option', { name: /^Saved messages/ }).waitFor();

    // Search inside the conversation.
    await p.getByRole('button', { name: 'Search in conversation' }).click();
    await p.getByRole('searchbox', { name: 'Search in this conversation' }).fill('milk');
    await p.getByRole('search').getByText('1 found').waitFor();

    // Sidebar search narrows the list.
    await p.getByRole('searchbox', { name: 'Search conversations' }).fill('bob');
    await p.getByRole('option', { name: /^Bob/ }).waitFor();
    assert.equal(await p.getByRole('option', { name: /^Saved messages/ }).count(), 0);
    await p.getByRole('searchbox', { name: 'Search conversations' }).fill('');

    // Channel filters: SMS shows nothing (no bridge here), WebChat shows both.
    await p.getByRole('button', { name: 'SMS', exact: true }).click();
    await p.getByText('No conversation matches.').or(p.getByText('No conversations yet. Start one with New chat.')).waitFor();
    await p.getByRole('button', { name: 'WebChat', exact: true }).click();
    await p.getByRole('option', { name: /^Bob/ }).waitFor();
    await p.getByRole('button', { name: 'All', exact: true }).click();

    // Archive Bob's conversation, find it under Archived, restore it.
    await p.getByRole('option', { name: /^Bob/ }).click();
    await p.getByRole('button', { name: 'Archive conversation' }).click();
    await p.getByRole('option', { name: /^Bob/ }).waitFor({ state: 'detached' });
    await p.getByRole('button', { name: 'Archived' }).click();
    await p.getByRole('option', { name: /^Bob/ }).click();
    await p.getByRole('button', { name: 'Unarchive conversation' }).click();
    await p.getByRole('button', { name: '← Back to chats' }).click();
    await p.getByRole('option', { name: /^Bob/ }).waitFor();
    const convs = await relay.api('GET', '/api/v1/webchat/conversations', undefined, alice.token);
    assert.equal(convs.body.conversations.find((c: any) => c.peer === 'bob').archived, false);
  });

  test('everything is reachable by keyboard: key map, roving tab index in the list and the log', async () => {
    const p = alice.page;
    await p.keyboard.press('Alt+L');
    const focused = () => p.evaluate(() => { const el = document.activeElement; return el?.getAttribute('aria-label') || el?.id || el?.textContent || ''; });
    assert.match(await focused(), /Bob|Saved/);
    await p.keyboard.press('End');
    await p.keyboard.press('Home');
    const first = await focused();
    await p.keyboard.press('ArrowDown');
    assert.notEqual(await focused(), first);
    await p.keyboard.press('ArrowUp');
    assert.equal(await focused(), first);
    // Only one option is in the tab order.
    assert.equal(await p.locator('[role=option][tabindex="0"]').count(), 1);
    await p.getByRole('option', { name: /^Bob/ }).focus();
    await p.keyboard.press('Enter');
    await p.getByRole('log', { name: 'Messages with Bob' }).waitFor();
    await p.keyboard.press('Alt+M');
    assert.equal(await focused(), 'Message');
    await p.keyboard.press('Shift+Tab'); // toolbar before it
    await p.keyboard.press('Alt+,');
    await p.getByRole('dialog', { name: 'Settings' }).waitFor();
    await p.keyboard.press('Escape');
    await p.getByRole('dialog', { name: 'Settings' }).waitFor({ state: 'detached' });
    await p.keyboard.press('Shift+?');
    await p.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor();
    await screenshot(p, 'shortcuts');
    await p.keyboard.press('Escape');
  });

  test('no serious or critical axe-core violations on the main screens', async () => {
    const audit = async (label: string) => {
      await alice.page.evaluate(AXE);
      const result = await alice.page.evaluate(async () => {
        const r = await (window as any).axe.run(document, { resultTypes: ['violations'] });
        return r.violations.filter((v: any) => v.impact === 'serious' || v.impact === 'critical').map((v: any) => `${v.id}: ${v.help} (${v.nodes.map((n: any) => n.target.join(' ')).slice(0, 3).join(', ')})`);
      });
      assert.deepEqual(result, [], `${label}: ${result.join('\n')}`);
    };
    await alice.page.getByRole('option', { name: /^Bob/ }).click();
    await audit('conversation');
    await alice.page.getByRole('button', { name: 'Translate this chat' }).click();
    await alice.page.getByRole('menu', { name: 'Translate this chat to' }).waitFor();
    await audit('translation menu');
    await alice.page.keyboard.press('Escape');
    await alice.page.getByRole('button', { name: 'Settings' }).click();
    await alice.page.getByRole('dialog', { name: 'Settings' }).getByText('Advanced: relay, phone bridge').click();
    await audit('settings');
    await screenshot(alice.page, 'settings');
    await alice.page.keyboard.press('Escape');
    await alice.page.getByRole('button', { name: 'New chat' }).click();
    await alice.page.getByRole('dialog', { name: 'New chat' }).getByText('Bob', { exact: true }).waitFor();
    await audit('directory');
    await screenshot(alice.page, 'directory');
    await alice.page.keyboard.press('Escape');
  });

  test('three layouts: phone (390×844), tablet and desktop', async () => {
    const p = bob.page;
    await p.setViewportSize({ width: 390, height: 844 });
    // Phone: one pane at a time.
    await p.getByRole('button', { name: 'Back to conversations' }).click();
    await p.getByRole('listbox', { name: 'Conversation list' }).waitFor();
    assert.equal(await p.getByRole('log').count(), 0);
    await screenshot(p, 'list-phone');
    await p.getByRole('option', { name: /^Alice/ }).click();
    await p.getByRole('log').waitFor();
    assert.equal(await p.getByRole('listbox', { name: 'Conversation list' }).isVisible(), false);
    await sendText(p, 'Sent from a phone');
    await bubble(alice.page, 'Sent from a phone').waitFor();
    await screenshot(p, 'chat-phone');
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    assert.equal(overflow, false, 'no horizontal scrolling at 390 px');
    // Tablet: both panes.
    await p.setViewportSize({ width: 900, height: 800 });
    await p.getByRole('listbox', { name: 'Conversation list' }).waitFor();
    assert.equal(await p.getByRole('log').isVisible(), true);
    // With the list beside the chat there is nothing to go back to.
    assert.equal(await p.getByRole('button', { name: 'Back to conversations' }).isVisible(), false);
    await screenshot(p, 'chat-tablet');
    await p.setViewportSize({ width: 1280, height: 800 });
  });

  test("a long last message on a 375 px phone keeps the list's controls on screen", async () => {
    const p = bob.page;
    await p.setViewportSize({ width: 375, height: 740 });
    try {
      const long = `A long line to preview ${'and more words '.repeat(40)}`;
      await relay.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'bob', text: long }, alice.token);
      await bubble(p, 'A long line to preview').waitFor();
      await p.getByRole('button', { name: 'Back to conversations' }).click();
      await p.getByRole('listbox', { name: 'Conversation list' }).getByText('A long line to preview', { exact: false }).waitFor();
      await screenshot(p, 'list-phone-long-preview');
      const { page, view } = await p.evaluate(() => ({ page: document.documentElement.scrollWidth, view: window.innerWidth }));
      assert.ok(page <= view, `the page is ${page} px wide on a ${view} px screen`);
      for (const name of ['New chat', 'Settings', 'Saved messages']) {
        const box = (await p.getByRole('button', { name, exact: true }).boundingBox())!;
        assert.ok(box.x + box.width <= 375, `${name} at x=${box.x}`);
      }
      await p.getByRole('option', { name: /^Alice/ }).click();
    } finally {
      await p.setViewportSize({ width: 1280, height: 800 });
    }
  });

  test('archiving the open conversation on a phone goes back to the list', async () => {
    const p = bob.page;
    await p.setViewportSize({ width: 375, height: 740 });
    try {
      await p.getByRole('log', { name: 'Messages with Alice' }).waitFor();
      await p.getByRole('button', { name: 'Archive conversation' }).click();
      // Not an empty pane without a way back.
      await p.getByRole('listbox', { name: 'Conversation list' }).waitFor({ timeout: 2000 });
      await p.getByRole('option', { name: /^Alice/ }).waitFor({ state: 'detached' });
      await p.getByRole('button', { name: 'Archived' }).click();
      await p.getByRole('option', { name: /^Alice/ }).click();
      await p.getByRole('button', { name: 'Unarchive conversation' }).click();
      await p.getByRole('button', { name: 'Back to conversations' }).click();
      await p.getByRole('button', { name: '← Back to chats' }).click();
      await p.getByRole('option', { name: /^Alice/ }).click();
    } finally {
      await p.setViewportSize({ width: 1280, height: 800 });
    }
  });

  test('reconnects after a relay restart: an offline banner, then nothing lost or doubled', async () => {
    await alice.page.getByRole('option', { name: /^Bob/ }).click();
    // A third user on long-poll (the WebSocket fallback) rides through the restart too.
    const pol = await openAs(browser, relay, 'pol@example.com', 'Pol', 'pol', { query: '&transport=poll' });
    await pol.page.getByText('Online · long-poll').waitFor();
    const banner = alice.page.getByRole('status').filter({ hasText: 'Connection lost — reconnecting…' }).waitFor({ timeout: 15_000 });
    await relay.restart();
    await banner;
    // Bob sends while Alice's connection is still recovering.
    const sent = await relay.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'alice', text: 'After the restart' }, bob.token);
    assert.equal(sent.status, 200);
    await bubble(alice.page, 'After the restart').waitFor({ timeout: 15_000 });
    await sendText(alice.page, 'Alice is back');
    await bubble(bob.page, 'Alice is back').waitFor({ timeout: 15_000 });
    // A reload resumes from the stored cursor and history: still exactly once each.
    await alice.page.reload();
    await alice.page.getByRole('option', { name: /^Bob/ }).click();
    await bubble(alice.page, 'Alice is back').waitFor();
    assert.equal(await bubble(alice.page, 'After the restart').count(), 1);
    assert.equal(await bubble(alice.page, 'Alice is back').count(), 1);
    assert.equal(await bubble(alice.page, 'Sent from a phone').count(), 1);
    const toPol = await relay.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'pol', text: 'Hello over long-poll' }, bob.token);
    assert.equal(toPol.status, 200);
    await pol.page.getByRole('option', { name: /^Bob/ }).click();
    await bubble(pol.page, 'Hello over long-poll').waitFor({ timeout: 15_000 });
    assert.equal(await bubble(pol.page, 'Hello over long-poll').count(), 1);
    assert.deepEqual(pol.problems, []);
    await pol.context.close();
  });

  test('emoji picker and the floating keyboard (Hebrew, right-to-left) write into the message', async () => {
    const p = alice.page;
    await p.getByRole('option', { name: /^Bob/ }).click();
    await p.getByRole('button', { name: 'Emoji' }).click();
    const picker = p.getByRole('dialog', { name: 'Emoji picker' });
    await picker.getByRole('tab', { name: 'Gestures' }).click();
    await picker.getByRole('button', { name: 'Insert 👍' }).click();
    await p.keyboard.press('Escape');
    await p.getByRole('button', { name: 'Multi-language keyboard' }).click();
    const kb = p.getByRole('dialog', { name: 'Multi-language keyboard' });
    await kb.getByRole('tab', { name: 'עברית' }).click();
    for (const ch of ['ש', 'ל', 'ו', 'ם']) await kb.getByRole('button', { name: `Type ${ch}`, exact: true }).click();
    await screenshot(p, 'keyboard');
    await kb.getByRole('button', { name: 'Close keyboard' }).click();
    const box = p.getByRole('textbox', { name: 'Message' });
    assert.equal(await box.inputValue(), '👍שלום');
    await box.press('Enter');
    const got = bubble(bob.page, 'שלום');
    await got.waitFor();
    assert.equal(await got.locator('.text').getAttribute('dir'), 'rtl');
  });

  test('no console errors or CSP violations on either page', () => {
    assert.deepEqual(alice.problems, []);
    assert.deepEqual(bob.problems, []);
  });
});
