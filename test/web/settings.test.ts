// Settings, trust and the address book in the browser: signed launch links (pasted, opened,
// and read from a QR image or the camera) checked against the relay's identity key, phone-bridge fields,
// hide from presence, blocked users, report abuse, contact import / export, local export.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import QRCode from 'qrcode';
import writeExcelFile from 'write-excel-file/node';
import type { Browser, Page } from 'playwright-core';
import { startTestRelay, tempDir, type TestRelay } from '../helpers.ts';
import { createLaunchLink, readIdentity } from '../../scripts/launch-link.ts';
import { bubble, launch, openAs, screenshot, sendText, startChat, watchProblems, type UserPage } from './browser.ts';

describe('WebChat settings and contacts in chromium', () => {
  let relay: TestRelay;
  let browser: Browser;
  let dan: UserPage;
  let eve: UserPage;
  let link: string;

  before(async () => {
    [relay, browser] = await Promise.all([startTestRelay(), launch()]);
    dan = await openAs(browser, relay, 'dan@example.com', 'Dan', 'dan');
    eve = await openAs(browser, relay, 'eve@example.com', 'Eve', 'eve');
    link = createLaunchLink(readIdentity(relay.config.dataDir), { site: `${relay.url}/app/webchat/chat.html`, relay: relay.url, name: 'Test box' }).url;
  });
  after(async () => {
    await browser?.close();
    await relay?.stop();
  });

  test('opening a signed launch link verifies the relay key and switches only on Save', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(link);
    const dlg = page.getByRole('dialog', { name: 'Settings' });
    await dlg.getByText('identity key matches the link ✓').waitFor();
    assert.doesNotMatch(page.url(), /pchat_launch|pchat_sig/);
    await screenshot(page, 'launch-link-verified');
    await dlg.getByRole('button', { name: 'Save' }).click();
    const stored = JSON.parse((await page.evaluate(() => localStorage.getItem('pchat.relay.v1')))!);
    assert.equal(stored.mode, 'private');
    assert.equal(stored.url, relay.url);
    assert.ok(stored.expected_key);
    await page.getByText(`Relay: ${relay.url}`).waitFor();
    await context.close();
  });

  test('a tampered launch link is refused and changes nothing', async () => {
    const u = new URL(link);
    const payload = JSON.parse(Buffer.from(u.searchParams.get('pchat_launch')!, 'base64url').toString());
    payload.name = 'Evil box';
    u.searchParams.set('pchat_launch', Buffer.from(JSON.stringify(payload)).toString('base64url'));
    const p = dan.page;
    await p.getByRole('button', { name: 'Settings' }).click();
    const dlg = p.getByRole('dialog', { name: 'Settings' });
    await dlg.getByText('Advanced: relay, phone bridge').click();
    await dlg.getByLabel('Launch link').fill(u.toString());
    await dlg.getByRole('button', { name: 'Load link' }).click();
    await dlg.getByText(/not verified: the relay's identity key does not match/).waitFor();
    assert.equal(await dlg.getByLabel('Relay server URL').inputValue(), '');
    await p.keyboard.press('Escape');
  });

  test('a launch link read from a QR code image', async () => {
    const png = await QRCode.toBuffer(link, { errorCorrectionLevel: 'M', margin: 2, scale: 6 });
    const p = dan.page;
    await p.getByRole('button', { name: 'Settings' }).click();
    const dlg = p.getByRole('dialog', { name: 'Settings' });
    await dlg.getByText('Advanced: relay, phone bridge').click();
    await dlg.getByRole('button', { name: 'Scan QR code' }).click();
    await dlg.getByLabel('QR code image').setInputFiles({ name: 'qr.png', mimeType: 'image/png', buffer: png });
    await dlg.getByText('identity key matches the link ✓').waitFor();
    assert.equal(await dlg.getByLabel('Relay server URL').inputValue(), relay.url);
    // Phone bridge fields (seed 000) are kept with the relay settings.
    await dlg.getByLabel('API key').fill('ck_test_123');
    await dlg.getByLabel('Phone ID').fill('phone_main');
    await dlg.getByRole('button', { name: 'Save' }).click();
    const stored = JSON.parse((await p.evaluate(() => localStorage.getItem('pchat.relay.v1')))!);
    assert.equal(stored.api_key, 'ck_test_123');
    assert.equal(stored.phone_id, 'phone_main');
  });

  test('a launch link read by the camera (a QR video file as the fake camera)', async () => {
    // Chromium plays a Y4M file as its fake camera; ffmpeg turns the QR picture into one.
    const dir = tempDir('pchat-camera-');
    const png = join(dir, 'qr.png');
    const y4m = join(dir, 'qr.y4m');
    writeFileSync(png, await QRCode.toBuffer(link, { errorCorrectionLevel: 'M', margin: 4, width: 480 }));
    execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-loop', '1', '-i', png, '-frames:v', '5', '-pix_fmt', 'yuv420p', y4m]);
    const camera = await launch([`--use-file-for-fake-video-capture=${y4m}`]);
    try {
      const page = await (await camera.newContext()).newPage();
      const problems: string[] = [];
      watchProblems(page, problems);
      await page.goto(`${relay.url}/app/webchat/chat.html`);
      await page.getByRole('button', { name: 'Relay settings' }).click();
      const dlg = page.getByRole('dialog', { name: 'Settings' });
      assert.equal(await dlg.getByLabel('Relay server URL').inputValue(), '');
      await dlg.getByRole('button', { name: 'Scan QR code' }).click();
      await dlg.getByText('identity key matches the link ✓').waitFor();
      assert.equal(await dlg.getByLabel('Relay server URL').inputValue(), relay.url);
      assert.equal(await dlg.getByLabel('Launch link').inputValue(), link);
      assert.equal(await dlg.getByRole('radio', { name: /Private server relay/ }).isChecked(), true);
      await screenshot(page, 'launch-link-camera');
      await dlg.getByRole('button', { name: 'Save' }).click();
      const stored = JSON.parse((await page.evaluate(() => localStorage.getItem('pchat.relay.v1')))!);
      assert.equal(stored.url, relay.url);
      assert.deepEqual(problems, []);
    } finally {
      await camera.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('hide from presence takes the user out of the directory', async () => {
    const listed = async () => (await relay.api('GET', '/api/v1/webchat/directory?q=dan', undefined, eve.token)).body.users.some((u: any) => u.chat_address === 'dan');
    assert.equal(await listed(), true);
    await dan.page.getByRole('button', { name: 'Settings' }).click();
    await dan.page.getByRole('checkbox', { name: /Hide me from presence/ }).check();
    await dan.page.keyboard.press('Escape');
    for (let i = 0; i < 50 && (await listed()); i++) await dan.page.waitForTimeout(100);
    assert.equal(await listed(), false);
    await dan.page.getByRole('button', { name: 'Settings' }).click();
    await dan.page.getByRole('checkbox', { name: /Hide me from presence/ }).uncheck();
    await dan.page.keyboard.press('Escape');
  });

  test('block and unblock from the Blocked users dialog; report abuse', async () => {
    await startChat(eve.page, 'dan');
    await sendText(eve.page, 'hello dan');
    await dan.page.getByRole('option', { name: /^Eve/ }).click();
    await bubble(dan.page, 'hello dan').waitFor();
    dan.page.once('dialog', (d) => void d.accept());
    await dan.page.getByRole('button', { name: 'Block Eve' }).click();
    await dan.page.getByText('Blocked eve.').waitFor();
    const refused = await relay.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'dan', text: 'blocked?' }, eve.token);
    assert.equal(refused.status, 403);
    await dan.page.getByRole('button', { name: 'Settings' }).click();
    await dan.page.getByRole('button', { name: 'Blocked users' }).click();
    const bd = dan.page.getByRole('dialog', { name: 'Blocked users' });
    await bd.getByRole('button', { name: 'Unblock eve' }).click();
    await bd.getByText('You have blocked nobody.').waitFor();
    await dan.page.keyboard.press('Escape');
    const ok = await relay.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'dan', text: 'unblocked' }, eve.token);
    assert.equal(ok.status, 200);

    await bubble(dan.page, 'unblocked').getByRole('button', { name: 'Message actions' }).click();
    await dan.page.getByRole('menuitem', { name: 'Report' }).click();
    const rd = dan.page.getByRole('dialog', { name: 'Report abuse' });
    await rd.getByLabel('Reason').fill('spam test');
    await rd.getByRole('button', { name: 'Send report' }).click();
    await dan.page.getByText('Report sent. Thank you.').waitFor();
  });

  test('avatar: the picture set in Profile shows for the other user in the directory, the sidebar and the chat header', async () => {
    const picture = await QRCode.toBuffer('Dan', { width: 96, margin: 1, color: { dark: '#b03a2eff', light: '#f9e79fff' } });
    const loaded = (img: ReturnType<Page['getByRole']>) => img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth > 0 && el.src.startsWith('blob:'));
    await dan.page.getByRole('button', { name: 'Settings' }).click();
    await dan.page.getByRole('button', { name: 'Profile' }).click();
    const profile = dan.page.getByRole('dialog', { name: 'Profile' });
    await profile.getByLabel('Upload avatar').setInputFiles({ name: 'dan.png', mimeType: 'image/png', buffer: picture });
    await dan.page.getByText('Avatar updated.').waitFor();
    await profile.getByRole('img', { name: 'Your picture' }).waitFor();
    await dan.page.keyboard.press('Escape');

    const p = eve.page;
    await p.getByRole('button', { name: 'New chat' }).click();
    const dir = p.getByRole('dialog', { name: 'New chat' });
    await dir.getByLabel('Search the directory').fill('dan');
    const inDirectory = dir.getByRole('region', { name: 'People' }).getByRole('img', { name: 'Picture of Dan' });
    await inDirectory.waitFor();
    assert.equal(await loaded(inDirectory), true);
    await p.keyboard.press('Escape');
    // The directory told the app (picture and name); the sidebar and the header show them without a reload.
    const option = p.getByRole('option', { name: /^Dan/ });
    // In the list the picture is decorative (the option is named by its text), hence includeHidden.
    await option.getByRole('img', { name: 'Picture of Dan', includeHidden: true }).waitFor();
    await option.click();
    const header = p.getByRole('main', { name: 'Conversation with Dan' }).getByRole('img', { name: 'Picture of Dan' });
    await header.waitFor();
    assert.equal(await loaded(header), true);
    await screenshot(p, 'avatar');

    // A fresh page learns it from the conversation list.
    await p.reload();
    const again = p.getByRole('option', { name: /^Dan/ }).getByRole('img', { name: 'Picture of Dan', includeHidden: true });
    await again.waitFor();
    assert.equal(await loaded(again), true);
  });

  test('contacts: import CSV, VCF and pasted rows; template and CSV export download; chat from a contact', async () => {
    const p = dan.page;
    await p.getByRole('button', { name: 'Contacts' }).click();
    const dlg = p.getByRole('dialog', { name: 'Contacts' });
    const file = dlg.getByLabel('Import file (CSV, XLSX, VCF)');
    await file.setInputFiles({ name: 'c.csv', mimeType: 'text/csv', buffer: Buffer.from('name,chat_address,email\r\n"Eve, the tester",eve,eve@example.com\r\n') });
    await dlg.getByRole('cell', { name: 'Eve, the tester', exact: true }).waitFor();
    await file.setInputFiles({ name: 'c.vcf', mimeType: 'text/vcard', buffer: Buffer.from('BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Vera Card\r\nTEL;TYPE=CELL:+1 555 123 0002\r\nEND:VCARD\r\n') });
    await dlg.getByRole('cell', { name: 'Vera Card', exact: true }).waitFor();
    await dlg.getByLabel(/Paste rows/).fill('Pat Paste\tpat@example.com\t+15551230003');
    await dlg.getByRole('button', { name: 'Add pasted contacts' }).click();
    await dlg.getByRole('cell', { name: 'Pat Paste', exact: true }).waitFor();

    const [tpl] = await Promise.all([p.waitForEvent('download'), dlg.getByRole('button', { name: 'Download template CSV' }).click()]);
    assert.match(readFileSync((await tpl.path())!, 'utf8'), /^name,chat_address,email,phone/);
    const [exp] = await Promise.all([p.waitForEvent('download'), dlg.getByRole('button', { name: 'Export CSV' }).click()]);
    const csv = readFileSync((await exp.path())!, 'utf8');
    assert.match(csv, /"Eve, the tester",eve,eve@example.com/);
    assert.match(csv, /Vera Card,,,\+15551230002/);
    await screenshot(p, 'contacts');
    await dlg.getByRole('button', { name: 'Message Eve, the tester' }).click();
    await p.getByRole('log', { name: /Messages with/ }).waitFor();
    await bubble(p, 'hello dan').waitFor();
  });

  test('contacts: an XLSX file imports through the reader loaded only when needed', async () => {
    const xlsx = await writeExcelFile([
      ['Name', 'Chat address', 'Email', 'Phone'],
      ['Xena Sheet', 'xena', 'xena@example.com', 15551230009],
      ['Yuri Row', null, 'yuri@example.com', '+1 555 123 0010'],
    ]).toBuffer();
    const p = dan.page;
    const chunks: string[] = [];
    const onRequest = (r: { url(): string }) => /\/assets\/xlsx-[^/]+\.js$/.test(r.url()) && chunks.push(r.url());
    p.on('request', onRequest);
    await p.getByRole('button', { name: 'Contacts' }).click();
    const dlg = p.getByRole('dialog', { name: 'Contacts' });
    assert.deepEqual(chunks, [], 'the XLSX reader is not part of the initial load');
    await dlg.getByLabel('Import file (CSV, XLSX, VCF)').setInputFiles({ name: 'people.xlsx', mimeType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', buffer: xlsx });
    const xena = dlg.getByRole('row', { name: /Xena Sheet/ });
    await xena.waitFor();
    assert.deepEqual((await xena.getByRole('cell').allTextContents()).slice(0, 4), ['Xena Sheet', 'xena', 'xena@example.com', '15551230009']);
    assert.deepEqual((await dlg.getByRole('row', { name: /Yuri Row/ }).getByRole('cell').allTextContents()).slice(0, 4), ['Yuri Row', '', 'yuri@example.com', '+1 555 123 0010']);
    await p.getByText('Imported 2 contact(s), 2 new.').waitFor();
    assert.equal(chunks.length, 1, 'the XLSX reader was fetched on first use');
    p.off('request', onRequest);

    await dlg.getByLabel('Import file (CSV, XLSX, VCF)').setInputFiles({ name: 'broken.xlsx', mimeType: 'application/octet-stream', buffer: Buffer.from('not a zip at all') });
    await p.getByText('broken.xlsx: not an XLSX file').waitFor();
    await screenshot(p, 'contacts-xlsx');
    await p.keyboard.press('Escape');
  });

  test('a conversation exports locally as JSON and text', async () => {
    const p = dan.page;
    const downloads: string[] = [];
    p.on('download', async (d) => downloads.push(readFileSync((await d.path())!, 'utf8')));
    await p.getByRole('button', { name: 'Export conversation' }).click();
    for (let i = 0; i < 50 && downloads.length < 2; i++) await p.waitForTimeout(100);
    const json = JSON.parse(downloads.find((d) => d.startsWith('{'))!);
    assert.ok(json.messages.some((m: any) => m.text === 'hello dan'));
    assert.match(downloads.find((d) => !d.startsWith('{'))!, /Eve: hello dan/);
  });

  test('no console errors or CSP violations', () => {
    assert.deepEqual(dan.problems, []);
    assert.deepEqual(eve.problems, []);
  });
});
