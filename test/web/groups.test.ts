// Groups in the browser: a chat group created and managed in the UI, a stream group whose
// observers get a read-only composer (and whose writes the relay refuses), join requests
// approved by an admin, a group read in another language, and a streamed AI reply rendering live. Setup goes through the API.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { startTestRelay, type TestRelay } from '../helpers.ts';
import { bubble, launch, openAs, screenshot, sendText, type UserPage } from './browser.ts';

describe('WebChat groups in chromium', () => {
  let relay: TestRelay;
  let browser: Browser;
  let ann: UserPage;
  let ben: UserPage;
  let bot: { token: string };

  before(async () => {
    [relay, browser] = await Promise.all([startTestRelay(), launch()]);
    bot = await relay.login('bot@example.com', { display_name: 'Build Bot', chat_address: 'build-bot', public_visible: true });
    ann = await openAs(browser, relay, 'ann@example.com', 'Ann', 'ann');
    ben = await openAs(browser, relay, 'ben@example.com', 'Ben', 'ben');
  });
  after(async () => {
    await browser?.close();
    await relay?.stop();
  });

  test('a chat group made in the UI: add a member, both write, both read', async () => {
    const p = ann.page;
    await p.getByRole('button', { name: 'New group' }).click();
    const dlg = p.getByRole('dialog', { name: 'New group' });
    await dlg.getByLabel('Name').fill('Team room');
    await dlg.getByRole('button', { name: 'Create group' }).click();
    await p.getByRole('log', { name: 'Messages with Team room' }).waitFor();
    await p.getByRole('button', { name: 'Group members and settings' }).click();
    const gd = p.getByRole('dialog', { name: /Group: Team room/ });
    await gd.getByLabel('Add member by chat address').fill('ben');
    await gd.getByRole('button', { name: 'Add', exact: true }).click();
    await gd.getByText('ben · member').waitFor();
    await screenshot(p, 'group-admin');
    await p.keyboard.press('Escape');
    await sendText(p, 'Welcome to the team room');

    await ben.page.getByRole('option', { name: /Team room/ }).click();
    await bubble(ben.page, 'Welcome to the team room').waitFor();
    await sendText(ben.page, 'Thanks Ann');
    await bubble(p, 'Thanks Ann').waitFor();
    assert.equal(await bubble(p, 'Thanks Ann').getByText('Ben').count(), 1, 'group messages name their sender');
  });

  test("a group read in another language: a member picks Spanish for the group, others' messages get captions", async () => {
    const p = ben.page;
    await p.getByRole('option', { name: /Team room/ }).click();
    await p.getByRole('button', { name: 'Translate this chat' }).click();
    await p.getByRole('menu', { name: 'Translate this chat to' }).getByRole('menuitemradio', { name: 'Spanish' }).click();
    await p.getByText('This chat is translated to Spanish.').waitFor();
    await sendText(ann.page, 'The house is big.');
    const house = bubble(p, 'The house is big.');
    await house.getByText(/Translation \(es\)/).waitFor({ timeout: 20_000 });
    await house.getByText('La casa es grande.').waitFor();
    await screenshot(p, 'group-translation');
    // Ann set no language: her view stays as sent.
    assert.equal(await bubble(ann.page, 'The house is big.').getByText(/Translation/).count(), 0);
  });

  test('a stream group: observers get a read-only composer, the relay refuses their writes, replies stream live', async () => {
    const g = await relay.api('POST', '/api/v1/webchat/groups', { name: 'Build log', visibility: 'public', mode: 'stream' }, bot.token);
    assert.equal(g.status, 200, JSON.stringify(g.body));
    const gid = g.body.group?.group_id ?? g.body.group_id;
    const add = await relay.api('POST', `/api/v1/webchat/groups/${gid}/members`, { member_address: 'ben' }, bot.token);
    assert.equal(add.status, 200, JSON.stringify(add.body));
    await relay.api('POST', '/api/v1/messages', { channel: 'pchat', to: `group:${gid}`, text: 'Build 41 passed' }, bot.token);

    const p = ben.page;
    await p.getByRole('option', { name: /Build log/ }).click();
    await bubble(p, 'Build 41 passed').waitFor();
    const box = p.getByRole('textbox', { name: 'Message' });
    assert.equal(await box.getAttribute('readonly'), '');
    assert.equal(await box.isEditable(), false);
    await p.getByText('Stream group · read-only').waitFor();
    await screenshot(p, 'stream-group-observer');
    // No reply to offer where you may not write; what reads stays.
    await bubble(p, 'Build 41 passed').getByRole('button', { name: 'Message actions' }).click();
    assert.deepEqual(await p.getByRole('menu', { name: 'Message actions' }).getByRole('menuitem').allTextContents(), ['Copy text', 'Translate', 'Read aloud', 'Report']);
    await p.keyboard.press('Escape');

    // The relay refuses an observer's write anyway.
    const refused = await relay.api('POST', '/api/v1/messages', { channel: 'pchat', to: `group:${gid}`, text: 'let me in' }, ben.token);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error, 'stream_read_only');

    // A streamed reply grows in place, then settles on the final text.
    const open = await relay.api('POST', '/api/v1/webchat/stream/open', { to: `group:${gid}`, text: 'Deploying' }, bot.token);
    assert.equal(open.status, 200, JSON.stringify(open.body));
    const id = open.body.message_id;
    await bubble(p, 'Deploying').waitFor();
    await relay.api('POST', '/api/v1/webchat/stream/append', { message_id: id, delta: ' to staging' }, bot.token);
    await bubble(p, 'Deploying to staging').getByLabel('still writing').waitFor();
    await relay.api('POST', '/api/v1/webchat/stream/append', { message_id: id, delta: '… done.' }, bot.token);
    await bubble(p, 'Deploying to staging… done.').waitFor();
    await relay.api('POST', '/api/v1/webchat/stream/close', { message_id: id }, bot.token);
    await bubble(p, 'Deploying to staging… done.').getByLabel('still writing').waitFor({ state: 'detached' });
    assert.equal(await bubble(p, 'Deploying to staging… done.').count(), 1);
  });

  test('the group dialog offers only roles the relay takes; in a stream group a member is its observer', async () => {
    const people = ['cyd', 'dee', 'eli'];
    for (const a of people) await relay.login(`${a}@example.com`, { display_name: a, chat_address: a });
    const g = await relay.api('POST', '/api/v1/webchat/groups', { name: 'Ann log', visibility: 'private', mode: 'stream' }, ann.token);
    assert.equal(g.status, 200, JSON.stringify(g.body));
    const p = ann.page;
    await p.getByRole('option', { name: /Ann log/ }).click();
    await p.getByRole('button', { name: 'Group members and settings' }).click();
    const gd = p.getByRole('dialog', { name: /Group: Ann log/ });
    const roles = await gd.getByLabel('Role').locator('option').evaluateAll((os) => os.map((o) => [(o as HTMLOptionElement).value, o.textContent ?? '']));
    assert.ok(roles.length <= people.length);
    for (const [i, [role]] of roles.entries()) {
      await gd.getByLabel('Add member by chat address').fill(people[i]);
      await gd.getByLabel('Role').selectOption(role);
      await gd.getByRole('button', { name: 'Add', exact: true }).click();
      await gd.getByText(`${people[i]} · ${role}`).or(gd.getByRole('alert')).waitFor();
      assert.equal(await gd.getByRole('alert').count(), 0, `role ${role}: ${await gd.getByRole('alert').textContent().catch(() => '')}`);
    }
    assert.ok(roles.some(([, label]) => /observer/.test(label)), 'the stream group says who observes');
    await p.keyboard.press('Escape');
  });

  test('a refused add keeps the typed address to correct, beside the reason', async () => {
    const p = ann.page;
    await p.getByRole('option', { name: /Ann log/ }).click();
    await p.getByRole('button', { name: 'Group members and settings' }).click();
    const gd = p.getByRole('dialog', { name: /Group: Ann log/ });
    const field = gd.getByLabel('Add member by chat address');
    await field.fill('nobody-by-that-name');
    await gd.getByRole('button', { name: 'Add', exact: true }).click();
    await gd.getByRole('alert').waitFor();
    assert.equal(await field.inputValue(), 'nobody-by-that-name');
    await p.keyboard.press('Escape');
  });

  test('join requests: a user asks from the directory, an admin approves in the group dialog', async () => {
    const g = await relay.api('POST', '/api/v1/webchat/groups', { name: 'Approvals club', visibility: 'public', mode: 'chat', join_policy: 'approval' }, ann.token);
    const gid = g.body.group?.group_id ?? g.body.group_id;
    await ann.page.reload();

    const p = ben.page;
    await p.getByRole('button', { name: 'New chat' }).click();
    const dir = p.getByRole('dialog', { name: 'New chat' });
    await dir.getByRole('button', { name: 'Join Approvals club' }).click();
    await p.getByText('Join request sent to the group admins.').waitFor();
    await p.keyboard.press('Escape');

    await ann.page.getByRole('option', { name: /Approvals club/ }).click();
    await ann.page.getByRole('button', { name: 'Group members and settings' }).click();
    const gd = ann.page.getByRole('dialog', { name: /Group: Approvals club/ });
    await gd.getByRole('button', { name: 'Approve ben' }).click();
    await gd.getByText('ben · member').waitFor();
    await ann.page.keyboard.press('Escape');

    await p.getByRole('option', { name: /Approvals club/ }).waitFor();
    const members = await relay.api('GET', `/api/v1/webchat/groups/${gid}/members`, undefined, ann.token);
    assert.ok(members.body.members.some((m: any) => m.chat_address === 'ben'));
  });

  test('the directory lists named AI/CLI sessions with their online state; a chat opens by name', async () => {
    const hb = await relay.api('POST', '/api/v1/webchat/presence', { chat_address: 'build-bot', display_name: 'Build Bot', visible: true, device_name: 'ci-runner', session_name: 'release worker', listen_channel: 'pchat' }, bot.token);
    assert.equal(hb.status, 200);
    const p = ben.page;
    await p.getByRole('button', { name: 'New chat' }).click();
    const dlg = p.getByRole('dialog', { name: 'New chat' });
    await dlg.getByLabel('Search the directory').fill('build');
    await dlg.getByText('release worker @ ci-runner').waitFor();
    await dlg.getByText('release worker @ ci-runner').getByText('online').waitFor();
    await screenshot(p, 'directory-sessions');
    await dlg.getByLabel('Chat address or name').fill('Build Bot');
    await dlg.getByRole('button', { name: 'Open chat' }).click();
    await p.getByRole('log', { name: 'Messages with Build Bot' }).or(p.getByRole('log', { name: 'Messages with build-bot' })).waitFor();
  });

  test('leaving a group: asked first, then its conversation leaves the list and the open chat closes; the owner is refused with the relay\'s reason', async () => {
    const g = await relay.api('POST', '/api/v1/webchat/groups', { name: 'Book club', visibility: 'private', mode: 'chat' }, ann.token);
    assert.equal(g.status, 200, JSON.stringify(g.body));
    const gid = g.body.group?.group_id ?? g.body.group_id;
    assert.equal((await relay.api('POST', `/api/v1/webchat/groups/${gid}/members`, { member_address: 'ben' }, ann.token)).status, 200);
    await relay.api('POST', '/api/v1/messages', { channel: 'pchat', to: `group:${gid}`, text: 'Chapter one tonight' }, ann.token);
    const members = async () => (await relay.api('GET', `/api/v1/webchat/groups/${gid}/members`, undefined, ann.token)).body.members.map((m: any) => m.chat_address);

    const p = ben.page;
    await p.getByRole('option', { name: /Book club/ }).click();
    await bubble(p, 'Chapter one tonight').waitFor();
    await p.getByRole('button', { name: 'Group members and settings' }).click();
    const gd = p.getByRole('dialog', { name: /Group: Book club/ });
    await gd.getByRole('button', { name: 'Leave group' }).waitFor();
    await screenshot(p, 'group-leave');
    // Asked first: saying no changes nothing.
    let asked = '';
    p.once('dialog', (d) => ((asked = d.message()), void d.dismiss()));
    await gd.getByRole('button', { name: 'Leave group' }).click();
    assert.match(asked, /^Leave Book club\?/);
    assert.ok((await members()).includes('ben'));
    p.once('dialog', (d) => void d.accept());
    await gd.getByRole('button', { name: 'Leave group' }).click();
    await gd.waitFor({ state: 'detached' });
    await p.getByRole('option', { name: /Book club/ }).waitFor({ state: 'detached' });
    assert.equal(await p.getByRole('log', { name: 'Messages with Book club' }).count(), 0);
    await p.getByText('Choose a conversation').waitFor();
    await p.getByText('You left Book club.').waitFor();
    assert.ok(!(await members()).includes('ben'));
    // The relay agrees: after a reload it is not back.
    await p.reload();
    await p.getByRole('option', { name: /Team room/ }).waitFor();
    assert.equal(await p.getByRole('option', { name: /Book club/ }).count(), 0);

    // The owner may not leave (the group is handed over first): the relay's reason shows.
    const a = ann.page;
    await a.getByRole('option', { name: /Book club/ }).click();
    await a.getByRole('button', { name: 'Group members and settings' }).click();
    const ad = a.getByRole('dialog', { name: /Group: Book club/ });
    a.once('dialog', (d) => void d.accept());
    await ad.getByRole('button', { name: 'Leave group' }).click();
    await ad.getByRole('alert').filter({ hasText: /owner cannot leave/ }).waitFor();
    await a.setViewportSize({ width: 375, height: 740 });
    await screenshot(a, 'group-leave-refused-phone');
    await a.setViewportSize({ width: 1280, height: 800 });
    await a.keyboard.press('Escape');
    await a.getByRole('log', { name: 'Messages with Book club' }).waitFor();
    assert.ok((await members()).includes('ann'));
  });

  test('no console errors or CSP violations', () => {
    assert.deepEqual(ann.problems, []);
    assert.deepEqual(ben.problems, []);
  });
});
