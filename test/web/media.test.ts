// Media in the browser against the relay's real engines: multi-file upload with an inline
// image that opens, a voice clip recorded with the fake microphone (waveform, transcription),
// translation captions in the reader's receive language, and read-aloud through /speak.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import QRCode from 'qrcode';
import type { Browser } from 'playwright-core';
import { startTestRelay, type TestRelay } from '../helpers.ts';
import { bubble, launch, openAs, screenshot, sendText, startChat, type UserPage } from './browser.ts';

describe('WebChat media in chromium', () => {
  let relay: TestRelay;
  let browser: Browser;
  let fay: UserPage;
  let gus: UserPage;

  before(async () => {
    [relay, browser] = await Promise.all([startTestRelay(), launch()]);
    fay = await openAs(browser, relay, 'fay@example.com', 'Fay', 'fay');
    gus = await openAs(browser, relay, 'gus@example.com', 'Gus', 'gus');
    await startChat(fay.page, 'gus');
    await sendText(fay.page, 'media test');
    await gus.page.getByRole('option', { name: /^Fay/ }).click();
    await bubble(gus.page, 'media test').waitFor();
  });
  after(async () => {
    await browser?.close();
    await relay?.stop();
  });

  test('several files upload in parallel; the other side sees an inline image that opens, and a download', async () => {
    const png = await QRCode.toBuffer('a picture', { scale: 8 });
    await fay.page.getByRole('textbox', { name: 'Message' }).fill('two files');
    await fay.page.getByLabel('Choose files to send').setInputFiles([
      { name: 'picture.png', mimeType: 'image/png', buffer: png },
      { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello notes\n') },
    ]);
    const msg = bubble(gus.page, 'two files');
    const img = msg.getByRole('img', { name: 'picture.png' });
    await img.waitFor();
    await gus.page.waitForFunction(() => [...document.querySelectorAll('img')].some((i) => i.complete && i.naturalWidth > 0));
    assert.equal(await msg.getByRole('link', { name: 'notes.txt' }).count(), 1);
    const [popup] = await Promise.all([gus.page.waitForEvent('popup'), msg.getByRole('link', { name: 'Open image picture.png' }).click()]);
    await popup.waitForLoadState();
    assert.match(popup.url(), /^blob:/);
    await popup.close();
    const [dl] = await Promise.all([gus.page.waitForEvent('download'), msg.getByRole('link', { name: 'notes.txt' }).click()]);
    assert.equal(dl.suggestedFilename(), 'notes.txt');
    await screenshot(gus.page, 'attachments');
  });

  test('a voice clip recorded with the microphone arrives with a waveform and can be transcribed', async () => {
    await fay.page.getByRole('button', { name: 'Record voice message' }).click();
    const timer = fay.page.getByRole('timer');
    await timer.waitFor();
    await fay.page.waitForFunction(() => /0:0[2-9]/.test(document.querySelector('[role=timer]')?.textContent ?? ''));
    await fay.page.getByRole('button', { name: 'Stop and send' }).click();
    const play = gus.page.getByRole('log').getByRole('button', { name: 'Play voice message' }).last();
    await play.waitFor();
    await gus.page.waitForFunction(() => !document.querySelector('button[aria-label="Play voice message"]')?.hasAttribute('disabled'));
    assert.ok((await gus.page.getByRole('log').getByRole('slider', { name: 'Voice message position' }).count()) >= 1);
    await play.click();
    await gus.page.getByRole('button', { name: 'Pause voice message' }).or(gus.page.getByRole('button', { name: 'Play voice message' })).first().waitFor();
    await gus.page.getByRole('log').getByRole('button', { name: 'Transcribe' }).last().click();
    await gus.page.locator('.transcript').last().waitFor();
    await screenshot(gus.page, 'voice-clip');
  });

  test('a translation caption appears in the receive language set in Settings; the original stays', async () => {
    await gus.page.getByRole('button', { name: 'Settings' }).click();
    const dlg = gus.page.getByRole('dialog', { name: 'Settings' });
    await dlg.getByLabel('Translate incoming messages to').selectOption('es');
    await gus.page.getByText('Translation language saved.').waitFor();
    await gus.page.keyboard.press('Escape');
    await sendText(fay.page, 'The house is big.');
    const msg = bubble(gus.page, 'The house is big.');
    await msg.waitFor();
    await msg.getByText(/Translation \(es\)/).waitFor({ timeout: 20_000 });
    assert.match((await msg.locator('.translation').textContent())!, /casa/i);
    await screenshot(gus.page, 'translation');

    // On demand, from the menu, for a message that came before the setting.
    await bubble(gus.page, 'media test').getByRole('button', { name: 'Message actions' }).click();
    await gus.page.getByRole('menuitem', { name: 'Translate' }).click();
    await bubble(gus.page, 'media test').getByText(/Translation \(es\)/).waitFor({ timeout: 20_000 });
  });

  test('read aloud goes through the relay speak route', async () => {
    await bubble(gus.page, 'The house is big.').getByRole('button', { name: 'Message actions' }).click();
    const [res] = await Promise.all([
      gus.page.waitForResponse((r) => r.url().endsWith('/api/v1/webchat/speak')),
      gus.page.getByRole('menuitem', { name: 'Read aloud' }).click(),
    ]);
    assert.equal(res.status(), 200);
    assert.match(res.headers()['content-type'] ?? '', /^audio\//);
  });

  test('translation per conversation: one chat in its own language, another without captions', async () => {
    const p = gus.page;
    const hal = (await relay.login('hal@example.com', { display_name: 'Hal', chat_address: 'hal' })).token;
    const say = async (token: string, text: string) => (await relay.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'gus', text }, token)).body.message_id as string;
    // Settings: no translation at all.
    await p.getByRole('button', { name: 'Settings' }).click();
    await p.getByRole('dialog', { name: 'Settings' }).getByLabel('Translate incoming messages to').selectOption('');
    await p.getByText('Translation language saved.').waitFor();
    await p.keyboard.press('Escape');

    await say(hal, 'Hello Gus.');
    await p.getByRole('option', { name: /^Hal/ }).click();
    await bubble(p, 'Hello Gus.').waitFor();
    const translate = p.getByRole('button', { name: 'Translate this chat' });
    await translate.click();
    const menu = p.getByRole('menu', { name: 'Translate this chat to' });
    assert.equal(await menu.getByRole('menuitemradio', { name: 'As in Settings (off)' }).getAttribute('aria-checked'), 'true');
    await menu.getByRole('menuitemradio', { name: 'Spanish' }).click();
    await p.getByText('This chat is translated to Spanish.').waitFor();
    // What was already there is translated now; what comes next, by the relay on arrival.
    await bubble(p, 'Hello Gus.').getByText(/Translation \(es\)/).waitFor({ timeout: 20_000 });
    await say(hal, 'The dog is small.');
    const dog = bubble(p, 'The dog is small.');
    await dog.getByText(/Translation \(es\)/).waitFor({ timeout: 20_000 });
    await dog.getByText(/perro/i).waitFor();
    await screenshot(p, 'translation-per-chat');

    // Fay's chat follows Settings (off): no caption, and the relay made none.
    const catId = await say(fay.token, 'The cat is black.');
    await p.getByRole('option', { name: /^Fay/ }).click();
    await bubble(p, 'The cat is black.').waitFor();
    await relay.relay.services.media.translation.settled();
    const made = await relay.api('GET', `/api/v1/webchat/translations?message_ids=${catId}&target=es`, undefined, gus.token);
    assert.deepEqual(made.body.translations, []);
    assert.equal(await bubble(p, 'The cat is black.').getByText(/Translation/).count(), 0);
    const prefs = await relay.api('GET', '/api/v1/webchat/language-prefs', undefined, gus.token);
    assert.deepEqual(prefs.body.per_conversation, { hal: 'es' });

    // The choice survives a reload (the relay keeps it); "Off for this chat" hides the captions.
    await p.reload();
    await p.getByRole('option', { name: /^Hal/ }).click();
    await dog.getByText(/Translation \(es\)/).waitFor();
    await translate.click();
    assert.equal(await menu.getByRole('menuitemradio', { name: 'Spanish' }).getAttribute('aria-checked'), 'true');
    await menu.getByRole('menuitemradio', { name: 'Off for this chat' }).click();
    await dog.getByText(/Translation \(es\)/).waitFor({ state: 'detached' });
    assert.equal(await bubble(p, 'Hello Gus.').getByText(/Translation/).count(), 0);
    assert.deepEqual((await relay.api('GET', '/api/v1/webchat/language-prefs', undefined, gus.token)).body.per_conversation, {});
    // Keyboard: the menu opens on Enter with focus on the checked item; arrows move; Escape closes.
    await translate.focus();
    await p.keyboard.press('Enter');
    await menu.getByRole('menuitemradio', { name: 'Off for this chat', checked: true }).waitFor();
    await screenshot(p, 'translation-menu');
    assert.equal(await menu.getByRole('menuitemradio', { name: 'Off for this chat' }).evaluate((el) => el === document.activeElement), true);
    await p.keyboard.press('Escape');
    await menu.waitFor({ state: 'detached' });
    assert.equal(await translate.evaluate((el) => el === document.activeElement), true);
    // A click elsewhere closes it too.
    await translate.click();
    await menu.waitFor();
    await p.getByRole('textbox', { name: 'Message' }).click();
    await menu.waitFor({ state: 'detached' });
  });

  test('no console errors or CSP violations', () => {
    assert.deepEqual(fay.problems, []);
    assert.deepEqual(gus.problems, []);
  });
});
