// Conversations whose history the relay refuses, in the browser: a group you were removed from
// (private: 404, public: 403) says so, keeps what the app had and locks the composer; being
// added back makes it usable again; an address nobody has says so; a new chat with someone who
// exists but has no history yet stays the ordinary empty chat. Setup goes through the API.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { APIResponse, Browser, Page } from 'playwright-core';
import { eventually, startTestRelay, type TestRelay } from '../helpers.ts';
import { bubble, launch, openAs, screenshot, sendText, startChat, type UserPage } from './browser.ts';

describe('WebChat conversations the relay will not give', () => {
  let relay: TestRelay;
  let browser: Browser;
  let kim: UserPage;
  let lou: { token: string };
  let max: { token: string };
  let climbers: string;

  /** A group Lou makes (`members` besides her); its id. */
  const louMakes = async (group: Record<string, unknown>): Promise<string> => {
    const g = await relay.api('POST', '/api/v1/webchat/groups', group, lou.token);
    assert.equal(g.status, 200, JSON.stringify(g.body));
    return g.body.group?.group_id ?? g.body.group?.id ?? g.body.group_id;
  };
  const louSays = (group: string, text: string) => relay.api('POST', '/api/v1/messages', { channel: 'pchat', to: `group:${group}`, text }, lou.token);
  /** Lou adds Kim to a group, or removes her: the relay takes it. */
  const addKim = async (group: string) => {
    const added = await relay.api('POST', `/api/v1/webchat/groups/${group}/members`, { member_address: 'kim' }, lou.token);
    assert.equal(added.status, 200, JSON.stringify(added.body));
  };
  const removeKim = async (group: string) => {
    const removed = await relay.api('DELETE', `/api/v1/webchat/groups/${group}/members/kim`, undefined, lou.token);
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
  };
  /** Holds the next history answer for `peer` (a query fragment) until released; `answer` is the relay's answer meanwhile. */
  const holdHistoryPage = async (p: Page, peer: string) => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let answered!: (response: APIResponse) => void;
    const answer = new Promise<APIResponse>((resolve) => (answered = resolve));
    await p.route(
      (url) => url.pathname === '/api/v1/webchat/history' && url.search.includes(peer),
      async (route) => {
        const response = await route.fetch();
        answered(response);
        await gate;
        await route.fulfill({ response });
      },
      { times: 1 },
    );
    return { answer, release };
  };
  const history = async (token: string, peer: string) =>
    (await relay.api('GET', `/api/v1/webchat/history?peer=${encodeURIComponent(peer)}&limit=50`, undefined, token)).body.messages?.map((m: any) => m.text) ?? [];

  before(async () => {
    [relay, browser] = await Promise.all([startTestRelay(), launch()]);
    lou = await relay.login('lou@example.com', { display_name: 'Lou', chat_address: 'lou' });
    // Max exists but is not in the directory, and nobody has written to him.
    max = await relay.login('max@example.com', { display_name: 'Max', chat_address: 'max', public_visible: false });
    kim = await openAs(browser, relay, 'kim@example.com', 'Kim', 'kim');
  });
  after(async () => {
    await browser?.close();
    await relay?.stop();
  });

  test('removed from a private group while it is open: its messages stay, it says you are no longer a member, the composer is locked', async () => {
    climbers = await louMakes({ name: 'Climbers', visibility: 'private', mode: 'chat', members: ['kim'] });
    await louSays(climbers, 'summit plan at dawn');

    const p = kim.page;
    await p.getByRole('option', { name: /Climbers/ }).click();
    await bubble(p, 'summit plan at dawn').waitFor();
    const box = p.getByRole('textbox', { name: 'Message' });
    assert.equal(await box.isEditable(), true);

    await removeKim(climbers);
    // What the relay now answers for its history: a private group is unknown to outsiders.
    const refused = await relay.api('GET', `/api/v1/webchat/history?peer=${encodeURIComponent(`group:${climbers}`)}`, undefined, kim.token);
    assert.equal(refused.status, 404);
    assert.equal(refused.body.error, 'unknown_group');

    const log = p.getByRole('log', { name: 'Messages with Climbers' });
    await log.getByText('You are no longer a member of this group.', { exact: false }).waitFor();
    assert.match((await log.locator('.gone-note').textContent()) ?? '', /Only the messages this app already had are shown/);
    assert.equal(await bubble(p, 'summit plan at dawn').count(), 1, 'what the app had stays on screen');
    assert.equal(await log.getByText('Say hello').count(), 0);
    assert.equal(await box.getAttribute('readonly'), '');
    assert.equal(await box.isEditable(), false);
    assert.match((await box.getAttribute('placeholder')) ?? '', /no longer a member/);
    assert.equal(await p.getByRole('button', { name: 'Send' }).count(), 0);
    await p.getByText('Group · no longer a member').waitFor();
    assert.equal(await p.getByRole('button', { name: 'Group members and settings' }).count(), 0);
    assert.equal(await log.getByRole('button', { name: /Join group|Ask to join/ }).count(), 0, 'a private group has no way back to offer');
    await screenshot(p, 'group-removed');
    await p.setViewportSize({ width: 375, height: 740 });
    await screenshot(p, 'group-removed-phone');
    await p.setViewportSize({ width: 1280, height: 800 });
  });

  test('added back to the group: the notice goes, what was said meanwhile loads, and you can write again', async () => {
    await louSays(climbers, 'rope check while you were out');
    await addKim(climbers);

    const p = kim.page;
    const log = p.getByRole('log', { name: 'Messages with Climbers' });
    await bubble(p, 'rope check while you were out').waitFor();
    await log.locator('.gone-note').waitFor({ state: 'detached' });
    assert.equal(await bubble(p, 'summit plan at dawn').count(), 1);
    const box = p.getByRole('textbox', { name: 'Message' });
    await eventually(() => box.isEditable());
    await p.getByText('Group', { exact: true }).waitFor();
    await sendText(p, 'back on the rope');
    await bubble(p, 'back on the rope').waitFor();
    await eventually(async () => (await history(lou.token, `group:${climbers}`)).includes('back on the rope'));
    await p.getByRole('button', { name: 'Group members and settings' }).waitFor();
  });

  test('removed from a public group never opened here: opening it says so (the relay answers 403), no invitation to say hello', async () => {
    const hikers = await louMakes({ name: 'Hikers', visibility: 'public', mode: 'chat', members: ['kim'] });
    const p = kim.page;
    const option = p.getByRole('option', { name: /Hikers/ });
    await option.waitFor();
    await removeKim(hikers);
    await louSays(hikers, 'trail closed today');

    const refused = p.waitForResponse((r) => r.url().includes('/api/v1/webchat/history') && r.url().includes(encodeURIComponent(`group:${hikers}`)));
    await option.click();
    assert.equal((await refused).status(), 403);
    const log = p.getByRole('log', { name: 'Messages with Hikers' });
    await log.getByText('You are no longer a member of this group. Its messages are not available to you.').waitFor();
    assert.equal(await log.getByText('Say hello').count(), 0);
    assert.equal(await bubble(p, 'trail closed today').count(), 0, 'written after you left: not yours');
    const box = p.getByRole('textbox', { name: 'Message' });
    assert.equal(await box.isEditable(), false);
    assert.match((await box.getAttribute('placeholder')) ?? '', /no longer a member/);
  });

  test('removed from a public group anyone may join: "Join group" by the notice lets you back in, with what was said meanwhile', async () => {
    const skaters = await louMakes({ name: 'Skaters', visibility: 'public', mode: 'chat', join_policy: 'open', members: ['kim'] });
    await louSays(skaters, 'rink opens at nine');
    const p = kim.page;
    await p.getByRole('option', { name: /Skaters/ }).click();
    await bubble(p, 'rink opens at nine').waitFor();
    const log = p.getByRole('log', { name: 'Messages with Skaters' });
    assert.equal(await log.getByRole('button', { name: 'Join group' }).count(), 0, 'a member has nothing to join');

    await removeKim(skaters);
    await louSays(skaters, 'ice is fresh');
    const note = log.locator('.gone-note');
    await note.getByText('This group is public: you can join it again.').waitFor();
    const join = note.getByRole('button', { name: 'Join group' });
    await join.waitFor();
    const box = p.getByRole('textbox', { name: 'Message' });
    assert.equal(await box.isEditable(), false);
    await screenshot(p, 'group-removed-public');
    await p.setViewportSize({ width: 375, height: 740 });
    await screenshot(p, 'group-removed-public-phone');
    await p.setViewportSize({ width: 1280, height: 800 });

    await join.click();
    await bubble(p, 'ice is fresh').waitFor();
    await note.waitFor({ state: 'detached' });
    // The button went with the notice: focus goes on to the composer, not back to the page's start.
    await eventually(() => box.evaluate((el) => el === document.activeElement));
    assert.equal(await bubble(p, 'rink opens at nine').count(), 1);
    await eventually(() => box.isEditable());
    await p.getByText('Group', { exact: true }).waitFor();
    await p.getByText('You joined Skaters.').waitFor();
    await sendText(p, 'back on the ice');
    await eventually(async () => (await history(lou.token, `group:${skaters}`)).includes('back on the ice'));
  });

  test('removed from a public group whose admins approve: "Ask to join" sends a request, and the approval lets you back in', async () => {
    const gliders = await louMakes({ name: 'Gliders', visibility: 'public', mode: 'chat', join_policy: 'approval', members: ['kim'] });
    const p = kim.page;
    const option = p.getByRole('option', { name: /Gliders/ });
    await option.waitFor();
    await removeKim(gliders);
    await louSays(gliders, 'thermals over the ridge');
    await option.click();
    const log = p.getByRole('log', { name: 'Messages with Gliders' });
    const note = log.locator('.gone-note');
    await note.getByText('Its messages are not available to you.', { exact: false }).waitFor();
    await note.getByText('Its admins decide who joins: you can ask to join again.').waitFor();
    assert.equal(await note.getByRole('button', { name: 'Join group' }).count(), 0);
    await note.getByRole('button', { name: 'Ask to join' }).click();
    const sent = note.getByRole('status').filter({ hasText: 'Your request to join was sent to the group’s admins' });
    await sent.waitFor();
    // The button is gone: focus is on what replaced it (read out), not back at the page's start.
    await eventually(() => sent.evaluate((el) => el === document.activeElement));
    assert.equal(await note.getByRole('button', { name: 'Ask to join' }).count(), 0);
    assert.equal(await p.getByRole('textbox', { name: 'Message' }).isEditable(), false, 'still outside until let in');
    await screenshot(p, 'group-removed-asked');

    const requests = await relay.api('GET', `/api/v1/webchat/groups/${gliders}/join-requests`, undefined, lou.token);
    const mine = requests.body.requests.find((r: any) => r.address === 'kim');
    assert.ok(mine, JSON.stringify(requests.body));
    assert.equal((await relay.api('POST', `/api/v1/webchat/groups/${gliders}/join-requests/${mine.request_id}`, { action: 'approve' }, lou.token)).status, 200);
    await bubble(p, 'thermals over the ridge').waitFor();
    await note.waitFor({ state: 'detached' });
    await eventually(() => p.getByRole('textbox', { name: 'Message' }).isEditable());
  });

  test('removed from a group never opened here: its row says so beside the preview it had, and opening it shows that message', async () => {
    // Said before Kim is added: she has none of it live, only the conversation list's preview.
    const kayakers = await louMakes({ name: 'Kayakers', visibility: 'private', mode: 'chat' });
    await louSays(kayakers, 'put in at the old bridge');
    await louSays(kayakers, 'paddles are by the shed');
    await addKim(kayakers);
    const p = kim.page;
    const option = p.getByRole('option', { name: /Kayakers/ });
    await option.getByText('paddles are by the shed').waitFor();
    await removeKim(kayakers);
    await louSays(kayakers, 'river is high');

    // Before it is opened, the row says what opening it will: not a member (any more); the preview stays.
    await option.getByText('Not a member').waitFor();
    assert.match((await option.locator('.conv-preview').textContent()) ?? '', /^Not a member · paddles are by the shed$/);
    await screenshot(p, 'group-removed-row');

    const refused = p.waitForResponse((r) => r.url().includes('/api/v1/webchat/history') && r.url().includes(encodeURIComponent(`group:${kayakers}`)));
    await option.click();
    assert.equal((await refused).status(), 404);
    const log = p.getByRole('log', { name: 'Messages with Kayakers' });
    await log.getByText('You are no longer a member of this group. Only the messages this app already had are shown.').waitFor();
    assert.deepEqual(await log.getByRole('article').locator('.text').allTextContents(), ['paddles are by the shed'], 'the preview it had, nothing more');
    assert.equal(await p.getByRole('textbox', { name: 'Message' }).isEditable(), false);
    await option.getByText('Not a member · paddles are by the shed').waitFor();
    await screenshot(p, 'group-removed-row-opened');
  });

  test('a new chat with someone who exists but has no history yet: the ordinary empty chat, and the message goes', async () => {
    const p = kim.page;
    const asked = p.waitForResponse((r) => r.url().includes('/api/v1/webchat/history?peer=max&limit=50'));
    await startChat(p, 'max');
    const answer = await asked;
    assert.equal(answer.status(), 200, 'history of a real address with nothing in it is an empty page, not a refusal');
    assert.deepEqual((await answer.json()).messages, []);
    const log = p.getByRole('log', { name: 'Messages with max' });
    await log.getByText('No messages yet. Say hello!').waitFor();
    assert.equal(await log.locator('.gone-note').count(), 0);
    const box = p.getByRole('textbox', { name: 'Message' });
    assert.equal(await box.isEditable(), true);
    await p.getByRole('button', { name: 'Block max' }).waitFor();
    await sendText(p, 'hello Max, first message');
    await bubble(p, 'hello Max, first message').waitFor();
    await eventually(async () => (await history(max.token, 'kim')).includes('hello Max, first message'));
    assert.equal(await log.getByText('Say hello').count(), 0);
  });

  test('an address nobody has: a contact opened says so with a locked composer; New chat refuses it, and a group id that is not yours', async () => {
    const p = kim.page;
    await p.getByRole('button', { name: 'Contacts' }).click();
    const dlg = p.getByRole('dialog', { name: 'Contacts' });
    await dlg.getByLabel(/Paste rows/).fill('Ghost Writer, ghost-nobody');
    await dlg.getByRole('button', { name: 'Add pasted contacts' }).click();
    const refused = p.waitForResponse((r) => r.url().includes('/api/v1/webchat/history?peer=ghost-nobody'));
    await dlg.getByRole('button', { name: 'Message Ghost Writer' }).click();
    assert.equal((await refused).status(), 404);
    const log = p.getByRole('log', { name: 'Messages with Ghost Writer' });
    await log.getByText('No one on this relay has the chat address “ghost-nobody”.').waitFor();
    assert.equal(await log.getByText('Say hello').count(), 0);
    const box = p.getByRole('textbox', { name: 'Message' });
    assert.equal(await box.isEditable(), false);
    assert.match((await box.getAttribute('placeholder')) ?? '', /no one has this chat address/);
    await p.getByText('ghost-nobody · no such address').waitFor();
    await p.getByRole('option', { name: /Ghost Writer/ }).getByText('No such address').waitFor();
    assert.equal(await p.getByRole('button', { name: /^(Block|Report) / }).count(), 0, 'nobody to block or report');
    await screenshot(p, 'address-unknown');

    // Someone takes the address later: opening the contact again asks the relay again, and it works.
    await relay.login('ghost@example.com', { display_name: 'Ghost', chat_address: 'ghost-nobody', public_visible: false });
    await p.getByRole('option', { name: /Climbers/ }).click();
    const asked = p.waitForResponse((r) => r.url().includes('/api/v1/webchat/history?peer=ghost-nobody'));
    await p.getByRole('option', { name: /Ghost Writer/ }).click();
    assert.equal((await asked).status(), 200);
    await log.getByText('Say hello', { exact: false }).waitFor();
    assert.equal(await log.getByText('No one on this relay has', { exact: false }).count(), 0);
    assert.equal(await p.getByRole('option', { name: /Ghost Writer/ }).getByText('No such address').count(), 0);
    await sendText(p, 'welcome, ghost');
    await bubble(p, 'welcome, ghost').getByLabel('Sent', { exact: true }).waitFor();

    // Typed into New chat, neither opens a conversation: the relay's reason shows in the dialog.
    await p.getByRole('button', { name: 'New chat' }).click();
    const nc = p.getByRole('dialog', { name: 'New chat' });
    await nc.getByLabel('Chat address or name').fill('nobody-at-all');
    await nc.getByRole('button', { name: 'Open chat' }).click();
    await nc.getByRole('alert').filter({ hasText: /no chat address "nobody-at-all"/ }).waitFor();
    await nc.getByLabel('Chat address or name').fill('grp_0123456789abcdef');
    await nc.getByRole('button', { name: 'Open chat' }).click();
    await nc.getByRole('alert').filter({ hasText: /no group "grp_0123456789abcdef"/ }).waitFor();
    assert.equal(await nc.count(), 1, 'the dialog stays to correct the address');
    await p.keyboard.press('Escape');
    assert.equal(await p.getByRole('log', { name: /grp_0123456789abcdef/ }).count(), 0);
    assert.equal(await p.getByRole('option', { name: /nobody-at-all|grp_0123456789abcdef/ }).count(), 0);
  });

  test('added back while the refusal of its history is still on the way: the late refusal does not lock the group again', async () => {
    const cavers = await louMakes({ name: 'Cavers', visibility: 'private', mode: 'chat', members: ['kim'] });
    await louSays(cavers, 'cave map');
    const p = kim.page;
    const option = p.getByRole('option', { name: /Cavers/ });
    await option.waitFor();
    await removeKim(cavers);

    // Opened after the removal: the relay refuses its history (404), and that answer is held back.
    const peer = `peer=${encodeURIComponent(`group:${cavers}`)}`;
    const held = await holdHistoryPage(p, peer);
    const lateDone = p.waitForEvent('requestfinished', (r) => r.url().includes('/api/v1/webchat/history') && r.url().includes(peer));
    await option.click();
    assert.equal((await held.answer).status(), 404);

    // Lou adds Kim back meanwhile: the app loads the history again, and it comes.
    await addKim(cavers);
    await bubble(p, 'cave map').waitFor();
    // Only now does the refusal asked for before the re-add arrive: it is out of date.
    held.release();
    await lateDone;
    await p.evaluate(() => new Promise((resolve) => setTimeout(resolve, 100)));
    const log = p.getByRole('log', { name: 'Messages with Cavers' });
    assert.equal(await log.locator('.gone-note').count(), 0, 'no "no longer a member" notice');
    assert.equal(await p.getByRole('textbox', { name: 'Message' }).isEditable(), true);
    await p.getByText('Group', { exact: true }).waitFor({ timeout: 1000 });
    assert.equal(await bubble(p, 'cave map').count(), 1);
  });

  test('a history page asked for before a removal and answered after it: its messages show, with no "Load older" beside the notice', async () => {
    // More than a page (50) said before Kim is added: none of it comes to her live, only as history.
    const divers = await louMakes({ name: 'Divers', visibility: 'private', mode: 'chat' });
    const auth = relay.relay.services.accounts.authenticate(lou.token)!;
    for (let i = 1; i <= 55; i++) await relay.relay.services.messaging.send(auth, { channel: 'pchat', to: `group:${divers}`, text: `dive log ${i}` });
    await addKim(divers);
    const p = kim.page;
    const option = p.getByRole('option', { name: /Divers/ });
    await option.waitFor();

    // Kim opens it while still a member; the page is held back until Lou has removed her.
    const held = await holdHistoryPage(p, `peer=${encodeURIComponent(`group:${divers}`)}`);
    await option.click();
    const page = await (await held.answer).json();
    assert.equal(page.has_more, true, 'the relay says there is more');
    const log = p.getByRole('log', { name: 'Messages with Divers' });
    assert.equal(await log.getByRole('article').count(), 0, 'nothing of it came live');
    await removeKim(divers);
    await p.getByText('Group · no longer a member').waitFor();
    held.release();

    await bubble(p, 'dive log 55').waitFor();
    assert.equal(await log.getByRole('article').count(), 50, 'the whole page: readable when it was asked for');
    await log.getByText('You are no longer a member of this group. Only the messages this app already had are shown.').waitFor();
    assert.equal(await log.getByRole('button', { name: 'Load older messages' }).count(), 0, 'nothing older can come');
    await screenshot(p, 'group-removed-late-page');
  });

  test('removed from a group while reading its newest messages in a long log: the notice comes into view', async () => {
    const rowers = await louMakes({ name: 'Rowers', visibility: 'private', mode: 'chat', members: ['kim'] });
    const auth = relay.relay.services.accounts.authenticate(lou.token)!;
    for (let i = 1; i <= 20; i++) await relay.relay.services.messaging.send(auth, { channel: 'pchat', to: `group:${rowers}`, text: `stroke ${i}.` });
    const p = kim.page;
    await p.getByRole('option', { name: /Rowers/ }).click();
    await bubble(p, 'stroke 20.').waitFor();
    const log = p.getByRole('log', { name: 'Messages with Rowers' });
    assert.ok(await log.evaluate((el) => el.scrollHeight > el.clientHeight), 'the log scrolls');

    await removeKim(rowers);
    const note = log.locator('.gone-note');
    await note.waitFor();
    // Kept at the bottom, as a new message would be.
    await eventually(() => note.evaluate((el) => el.getBoundingClientRect().bottom <= el.parentElement!.getBoundingClientRect().bottom + 1));
    await screenshot(p, 'group-removed-long');
  });

  test('removed from a group: its messages offer only what needs no writing there (copy, read aloud), not reply, edit, delete, translate or report', async () => {
    const sailors = await louMakes({ name: 'Sailors', visibility: 'private', mode: 'chat', members: ['kim'] });
    await louSays(sailors, 'wind from the west');
    const note = await relay.api('POST', '/api/v1/messages', { channel: 'pchat', to: `group:${sailors}`, text: 'my own sail note' }, kim.token);
    const p = kim.page;
    await p.getByRole('option', { name: /Sailors/ }).click();
    const menuOf = async (text: string) => {
      await bubble(p, text).getByRole('button', { name: 'Message actions' }).click();
      const menu = p.getByRole('menu', { name: 'Message actions' });
      const items = await menu.getByRole('menuitem').allTextContents();
      await p.keyboard.press('Escape');
      await menu.waitFor({ state: 'detached' });
      return items;
    };
    assert.deepEqual(await menuOf('wind from the west'), ['Reply', 'Copy text', 'Translate', 'Read aloud', 'Report']);
    assert.deepEqual(await menuOf('my own sail note'), ['Reply', 'Copy text', 'Edit', 'Translate', 'Read aloud', 'Delete']);

    await removeKim(sailors);
    await p.getByText('Group · no longer a member').waitFor();
    // What the relay answers now when asked about one of its messages: not one of yours any more.
    const refused = await relay.api('POST', '/api/v1/webchat/delete', { message_id: note.body.message_id }, kim.token);
    assert.equal(refused.body.error, 'unknown_message', JSON.stringify(refused.body));
    assert.deepEqual(await menuOf('wind from the west'), ['Copy text', 'Read aloud']);
    assert.deepEqual(await menuOf('my own sail note'), ['Copy text', 'Read aloud']);
    // Nor does the Delete key ask to delete it.
    let asked = false;
    const onDialog = (d: any) => ((asked = true), void d.dismiss());
    p.on('dialog', onDialog);
    const mine = bubble(p, 'my own sail note');
    await mine.focus();
    await mine.press('Delete');
    await p.evaluate(() => new Promise((resolve) => setTimeout(resolve, 200)));
    p.off('dialog', onDialog);
    assert.equal(asked, false, 'no "Delete this message for everyone?"');
    await bubble(p, 'wind from the west').getByRole('button', { name: 'Message actions' }).click();
    await screenshot(p, 'group-removed-menu');
    await p.keyboard.press('Escape');
  });

  test('no console errors or CSP violations', () => {
    assert.deepEqual(kim.problems, []);
  });
});
