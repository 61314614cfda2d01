// Browser notifications for background messages, and dictation (the Web Speech API), in
// Debian's chromium. Notifications are real: the permission is granted to the context and an
// init script records each `new Notification(...)` while still calling the browser's own.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { startTestRelay, type TestRelay } from '../helpers.ts';
import { bubble, launch, openAs, screenshot, type UserPage } from './browser.ts';

interface Recorded {
  title: string;
  body: string;
  tag: string;
}

/** Runs in the page before the app: wraps the real Notification constructor. */
const RECORD_NOTIFICATIONS = `
  const Real = window.Notification;
  window.__notes = [];
  class Recording extends Real {
    constructor(title, opts) {
      super(title, opts);
      window.__notes.push({ title, body: opts?.body ?? '', tag: opts?.tag ?? '', n: this });
    }
  }
  Object.defineProperty(Recording, 'permission', { get: () => Real.permission });
  Object.defineProperty(Recording, 'requestPermission', { value: (...a) => Real.requestPermission(...a) });
  window.Notification = Recording;
`;

/** A recognizer that hears one phrase: checks the app's wiring, not the browser's engine. */
const STAND_IN_RECOGNIZER = `
  window.SpeechRecognition = class {
    start() {
      setTimeout(() => {
        this.onresult?.({ results: [[{ transcript: 'hello from dictation' }]] });
        this.onend?.();
      }, 0);
    }
    stop() { this.onend?.(); }
  };
`;

const NO_SPEECH_API = 'delete window.SpeechRecognition; delete window.webkitSpeechRecognition;';

async function notes(page: Page): Promise<Recorded[]> {
  return page.evaluate(() => (window as any).__notes.map(({ title, body, tag }: Recorded) => ({ title, body, tag })));
}

async function waitForNotes(page: Page, n: number): Promise<Recorded[]> {
  await page.waitForFunction((k) => (window as any).__notes.length >= k, n);
  return notes(page);
}

/**
 * Headless Chromium keeps every page visible (a second tab, minimising, focus emulation: all
 * tried). The page's own visibility is emulated here by shadowing `document.visibilityState`
 * and firing `visibilitychange`, as a real tab switch would.
 */
async function setHidden(page: Page, hidden: boolean): Promise<void> {
  await page.evaluate(
    hidden
      ? `Object.defineProperty(document, 'visibilityState', { configurable: true, get() { return 'hidden'; } });
         Object.defineProperty(document, 'hidden', { configurable: true, get() { return true; } });
         document.dispatchEvent(new Event('visibilitychange'));`
      : `delete document.visibilityState; delete document.hidden; document.dispatchEvent(new Event('visibilitychange'));`,
  );
}

describe('WebChat notifications and dictation in chromium', () => {
  let relay: TestRelay;
  let browser: Browser;
  let ann: UserPage;
  let bob: string;
  let carl: string;
  const say = async (token: string, text: string) => {
    const r = await relay.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'ann', text }, token);
    assert.equal(r.status, 200);
    return r.body.message_id as string;
  };

  before(async () => {
    [relay, browser] = await Promise.all([startTestRelay(), launch()]);
    bob = (await relay.login('bob@example.com', { display_name: 'Bob', chat_address: 'bob' })).token;
    carl = (await relay.login('carl@example.com', { display_name: 'Carl', chat_address: 'carl' })).token;
    ann = await openAs(browser, relay, 'ann@example.com', 'Ann', 'ann', { permissions: ['notifications'], initScript: RECORD_NOTIFICATIONS });
  });
  after(async () => {
    await browser?.close();
    await relay?.stop();
  });

  test('turning notifications on asks the browser; a refusal leaves them off', async () => {
    const dee = await openAs(browser, relay, 'dee@example.com', 'Dee', 'dee');
    await dee.page.getByRole('button', { name: 'Settings' }).click();
    const box = dee.page.getByRole('checkbox', { name: 'Browser notifications for background messages' });
    await box.click();
    await dee.page.getByRole('alert').filter({ hasText: 'Notifications were not allowed by the browser.' }).waitFor();
    assert.equal(await box.isChecked(), false);
    assert.equal(await dee.page.evaluate(() => JSON.parse(localStorage.getItem('pchat.prefs.v1') ?? '{}').notifications ?? false), false);
    await dee.context.close();

    await ann.page.getByRole('button', { name: 'Settings' }).click();
    const on = ann.page.getByRole('checkbox', { name: 'Browser notifications for background messages' });
    await on.check();
    await ann.page.waitForFunction(() => JSON.parse(localStorage.getItem('pchat.prefs.v1') ?? '{}').notifications === true);
    assert.equal(await ann.page.evaluate(() => Notification.permission), 'granted');
    await ann.page.keyboard.press('Escape');
  });

  test('a message in a conversation that is not open notifies with the sender and the text; the open one does not', async () => {
    const p = ann.page;
    await say(bob, 'hello ann');
    await p.getByRole('option', { name: /^Bob/ }).click();
    await bubble(p, 'hello ann').waitFor();
    await p.evaluate(() => ((window as any).__notes.length = 0));

    await say(carl, 'hi from carl');
    assert.deepEqual(await waitForNotes(p, 1), [{ title: 'Carl', body: 'hi from carl', tag: 'pchat:carl' }]);
    await say(bob, 'bob in the open chat');
    await bubble(p, 'bob in the open chat').waitFor();
    await say(carl, 'carl again');
    // Bob's message came first and raised nothing: Bob's conversation is on screen.
    assert.deepEqual(
      (await waitForNotes(p, 2)).map((n) => `${n.title}: ${n.body}`),
      ['Carl: hi from carl', 'Carl: carl again'],
    );
    await p.getByRole('option', { name: /^Carl\W*2 unread/ }).waitFor();
    await screenshot(p, 'notification-unread');
  });

  test('clicking a notification opens its conversation', async () => {
    const p = ann.page;
    await p.evaluate(() => (window as any).__notes.at(-1).n.dispatchEvent(new Event('click')));
    await p.getByRole('log', { name: 'Messages with Carl' }).waitFor();
    await bubble(p, 'carl again').waitFor();
    assert.equal(await p.getByRole('option', { name: /^Carl/ }).getAttribute('aria-selected'), 'true');
    await p.getByRole('option', { name: /^Carl\W*2 unread/ }).waitFor({ state: 'detached' });
  });

  test('while the page is hidden the open conversation notifies too; showing it again marks the message read', async () => {
    const p = ann.page;
    await setHidden(p, true);
    const id = await say(carl, 'while you were away');
    const got = await waitForNotes(p, 3);
    assert.deepEqual(got.at(-1), { title: 'Carl', body: 'while you were away', tag: 'pchat:carl' });
    await p.getByRole('option', { name: /^Carl\W*1 unread/ }).waitFor();
    const read = p.waitForResponse((r) => r.url().endsWith('/api/v1/webchat/read') && r.ok());
    await setHidden(p, false);
    await read;
    await p.getByRole('option', { name: /^Carl\W*1 unread/ }).waitFor({ state: 'detached' });
    const status = await relay.api('POST', '/api/v1/webchat/receipt-status', { message_ids: [id] }, carl);
    assert.equal(JSON.stringify(status.body).includes('"read"'), true, JSON.stringify(status.body));
  });

  test('dictation: this chromium has the Web Speech API but cannot listen here; the user is told and the button resets', async () => {
    const p = ann.page;
    assert.equal(await p.evaluate(() => typeof (window as any).webkitSpeechRecognition), 'function');
    const dictate = p.getByRole('button', { name: 'Dictate' });
    await dictate.click();
    // Headless with the fake microphone the recognizer ends with "audio-capture" (no service).
    await p.getByRole('alert').filter({ hasText: /Dictation|No speech/ }).waitFor();
    await screenshot(p, 'dictation-unavailable');
    await dictate.waitFor();
    assert.equal(await dictate.getAttribute('aria-pressed'), 'false');
  });

  test('dictation: recognised words land in the message box (stand-in recognizer, wiring only)', async () => {
    const eli = await openAs(browser, relay, 'eli@example.com', 'Eli', 'eli', { initScript: STAND_IN_RECOGNIZER });
    await eli.page.getByRole('button', { name: 'Saved messages' }).click();
    await eli.page.getByRole('button', { name: 'Dictate' }).click();
    const box = eli.page.getByRole('textbox', { name: 'Message' });
    await eli.page.waitForFunction((el) => (el as HTMLTextAreaElement).value === 'hello from dictation', await box.elementHandle());
    await eli.context.close();
  });

  test('dictation: no Dictate button where the Web Speech API is absent', async () => {
    const fay = await openAs(browser, relay, 'fay@example.com', 'Fay', 'fay', { initScript: NO_SPEECH_API });
    await fay.page.getByRole('button', { name: 'Saved messages' }).click();
    await fay.page.getByRole('button', { name: 'Record voice message' }).waitFor();
    assert.equal(await fay.page.getByRole('button', { name: /Dictat/ }).count(), 0);
    assert.deepEqual(fay.problems, []);
    await fay.context.close();
  });

  test('no console errors or CSP violations', () => {
    assert.deepEqual(ann.problems, []);
  });
});
