// Browser test helpers: Debian's chromium through playwright-core (never a downloaded
// browser), one browser per test file, one context per user, screenshots saved to
// test-artifacts/screens/.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { buildWeb } from '../../scripts/build-web.ts';
import type { TestRelay } from '../helpers.ts';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENS = join(process.cwd(), 'test-artifacts', 'screens');

/** `extraArgs` add Chromium switches, e.g. a file as the fake camera. */
export async function launch(extraArgs: string[] = []): Promise<Browser> {
  await buildWeb();
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      '--autoplay-policy=no-user-gesture-required',
      ...extraArgs,
    ],
  });
}

export interface UserPage {
  context: BrowserContext;
  page: Page;
  token: string;
  address: string;
  name: string;
  /** Console errors and CSP violations seen on the page. */
  problems: string[];
}

export function watchProblems(page: Page, problems: string[]): void {
  page.on('console', (m) => {
    const t = m.text();
    if (m.type() === 'error' && !/Failed to load resource|ERR_CONNECTION_REFUSED|WebSocket connection to/.test(t)) problems.push(t);
    if (/Content Security Policy/i.test(t)) problems.push(t);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
}

/** A user signed in through the API, opened in its own context through the auto-login URL. */
export async function openAs(
  browser: Browser,
  relay: TestRelay,
  email: string,
  name: string,
  address: string,
  opts: { viewport?: { width: number; height: number }; query?: string; permissions?: string[]; initScript?: string } = {},
): Promise<UserPage> {
  const { token } = await relay.login(email, { display_name: name, chat_address: address, public_visible: true });
  const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1280, height: 800 }, permissions: ['clipboard-read', 'clipboard-write', ...(opts.permissions ?? [])] });
  // A string: functions compiled by tsx carry helpers (__name) the page does not have.
  if (opts.initScript) await context.addInitScript({ content: opts.initScript });
  const page = await context.newPage();
  const problems: string[] = [];
  watchProblems(page, problems);
  await page.goto(`${relay.url}/app/webchat/chat.html?email=${encodeURIComponent(email)}&chat_address=${address}${opts.query ?? ''}&pchat_session=${token}`);
  await page.getByRole('listbox', { name: 'Conversation list' }).waitFor();
  return { context, page, token, address, name, problems };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENS, { recursive: true });
  await page.screenshot({ path: join(SCREENS, `${name}.png`) });
}

/** Opens a chat by address through the New chat dialog. */
export async function startChat(page: Page, address: string): Promise<void> {
  await page.getByRole('button', { name: 'New chat' }).click();
  const dlg = page.getByRole('dialog', { name: 'New chat' });
  await dlg.getByLabel('Chat address or name').fill(address);
  await dlg.getByRole('button', { name: 'Open chat' }).click();
  await dlg.waitFor({ state: 'detached' });
}

export async function sendText(page: Page, text: string): Promise<void> {
  const box = page.getByRole('textbox', { name: 'Message' });
  await box.fill(text);
  await box.press('Enter');
}

/** The message bubble in the log holding `text`. */
export function bubble(page: Page, text: string) {
  return page.getByRole('log').getByRole('article').filter({ hasText: text });
}
