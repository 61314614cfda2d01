// Search over one's own messages against a real relay: every word, case and accents aside;
// newest first with paging; one conversation or group; edits, deletes and deleted
// conversations; groups only while one was in them; the scan budget says where to go on.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startInProcessRelay, startTestRelay, type TestRelay } from '../helpers.ts';

type Who = { token: string; user: any };
const G = '/api/v1/webchat/groups';

describe('search', () => {
  let t: TestRelay;
  let ana: Who, bo: Who, cem: Who;
  const send = async (who: Who, to: string, text: string) => {
    const res = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to, text }, who.token);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.message_id as string;
  };
  const search = async (who: Who, query: string) => {
    const res = await t.api('GET', `/api/v1/webchat/search?${query}`, undefined, who.token);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as { results: any[]; has_more: boolean; next_before: number | null };
  };
  const texts = (r: { results: any[] }) => r.results.map((e) => e.message.text);

  before(async () => {
    t = await startTestRelay();
    ana = await t.login('ana@example.com', { chat_address: 'ana' });
    bo = await t.login('bo@example.com', { chat_address: 'bo-2' });
    cem = await t.login('cem@example.com', { chat_address: 'cem' });
  });
  after(() => t.stop());

  test('every word, in any order, case and accents aside; both sides find it, newest first, as poll shows it', async () => {
    await send(ana, 'bo-2', 'Deploy the Café build tonight');
    await send(bo, 'ana', 'lunch first?');
    await send(bo, 'ana', 'the cafe DEPLOY went fine');
    const mine = await search(ana, 'q=' + encodeURIComponent('deploy café'));
    assert.deepEqual(texts(mine), ['the cafe DEPLOY went fine', 'Deploy the Café build tonight']);
    assert.equal(mine.has_more, false);
    assert.equal(mine.results[0].type, 'message');
    assert.equal(mine.results[0].outgoing, false);
    assert.equal(mine.results[1].outgoing, true);
    assert.deepEqual(texts(await search(bo, 'q=CAFE+deploy')), ['the cafe DEPLOY went fine', 'Deploy the Café build tonight']);
    assert.deepEqual(texts(await search(cem, 'q=deploy')), [], 'not a party: nothing');
    assert.deepEqual(texts(await search(ana, 'q=deploy+lunch')), [], 'every word must be there');
  });

  test('limit pages with next_before; peer narrows to one conversation (saved messages too)', async () => {
    for (let i = 0; i < 5; i++) await send(ana, 'cem', `ticket ${i}`);
    await send(ana, 'bo-2', 'ticket for bo');
    await send(ana, 'ana', 'ticket note to self');
    const p1 = await search(ana, 'q=ticket&limit=3');
    assert.deepEqual(texts(p1), ['ticket note to self', 'ticket for bo', 'ticket 4']);
    assert.equal(p1.has_more, true);
    const p2 = await search(ana, `q=ticket&limit=3&before=${p1.next_before}`);
    assert.deepEqual(texts(p2), ['ticket 3', 'ticket 2', 'ticket 1']);
    const p3 = await search(ana, `q=ticket&limit=3&before=${p2.next_before}`);
    assert.deepEqual(texts(p3), ['ticket 0']);
    assert.equal(p3.has_more, false);
    assert.deepEqual(texts(await search(ana, 'q=ticket&peer=bo-2')), ['ticket for bo']);
    assert.deepEqual(texts(await search(ana, 'q=ticket&peer=ANA')), ['ticket note to self']);
    assert.deepEqual(texts(await search(cem, 'q=ticket&peer=ana&limit=2')), ['ticket 4', 'ticket 3']);
  });

  test('edits are found by their new words only, deleted messages and a deleted conversation not at all', async () => {
    const id = await send(bo, 'cem', 'the password is swordfish');
    assert.equal((await t.api('POST', '/api/v1/webchat/edit', { message_id: id, text: 'the password is hunter2' }, bo.token)).status, 200);
    assert.deepEqual(texts(await search(cem, 'q=swordfish')), []);
    assert.deepEqual(texts(await search(cem, 'q=hunter2')), ['the password is hunter2']);
    assert.equal((await t.api('POST', '/api/v1/webchat/delete', { message_id: id }, bo.token)).status, 200);
    assert.deepEqual(texts(await search(cem, 'q=password')), []);

    await send(bo, 'cem', 'orchid secret');
    assert.equal((await t.api('POST', '/api/v1/webchat/conversation/delete', { peer: 'bo-2' }, cem.token)).status, 200);
    assert.deepEqual(texts(await search(cem, 'q=orchid')), [], 'the deleter no longer finds it');
    assert.deepEqual(texts(await search(bo, 'q=orchid')), ['orchid secret'], 'the other side still does');
  });

  test('groups: members find its messages, outsiders do not; a former member finds what was said while they were in', async () => {
    const created = await t.api('POST', G, { name: 'Ops', visibility: 'private', mode: 'chat' }, ana.token);
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const g = created.body.group;
    assert.equal((await t.api('POST', `${G}/${g.group_id}/members`, { member_address: 'bo-2' }, ana.token)).status, 200);
    await send(ana, `group:${g.group_id}`, 'rollback plan alpha');
    assert.deepEqual(texts(await search(bo, 'q=rollback')), ['rollback plan alpha']);
    assert.deepEqual(texts(await search(bo, `q=rollback&peer=group:${g.group_id}`)), ['rollback plan alpha']);
    assert.deepEqual(texts(await search(bo, 'q=rollback&peer=ana')), [], 'a direct conversation does not hold group messages');
    assert.deepEqual(texts(await search(cem, 'q=rollback')), []);
    const outsider = await t.api('GET', `/api/v1/webchat/search?q=rollback&peer=group:${g.group_id}`, undefined, cem.token);
    assert.equal(outsider.status, 404);
    assert.equal(outsider.body.error, 'unknown_group');

    assert.equal((await t.api('POST', `${G}/${g.group_id}/leave`, undefined, bo.token)).status, 200);
    await send(ana, `group:${g.group_id}`, 'rollback plan beta');
    assert.deepEqual(texts(await search(bo, 'q=rollback')), ['rollback plan alpha'], 'nothing said after they left');
    assert.deepEqual(texts(await search(ana, 'q=rollback')), ['rollback plan beta', 'rollback plan alpha']);
  });

  test('a former member does not find a group message deleted while they were in the group', async () => {
    const g = (await t.api('POST', G, { name: 'Keys', visibility: 'private', mode: 'chat' }, ana.token)).body.group;
    assert.equal((await t.api('POST', `${G}/${g.group_id}/members`, { member_address: 'cem' }, ana.token)).status, 200);
    const oops = await send(ana, `group:${g.group_id}`, 'vault combination 4711');
    await send(ana, `group:${g.group_id}`, 'vault is open');
    assert.equal((await t.api('POST', '/api/v1/webchat/delete', { message_id: oops }, ana.token)).status, 200);
    assert.deepEqual(texts(await search(cem, 'q=vault')), ['vault is open'], 'a member: the deleted one is gone');
    assert.equal((await t.api('POST', `${G}/${g.group_id}/leave`, undefined, cem.token)).status, 200);
    assert.deepEqual(texts(await search(cem, 'q=vault')), ['vault is open'], 'having left, still gone');
    assert.deepEqual(texts(await search(cem, 'q=4711')), []);
  });

  test('bad queries get 400 and say why', async () => {
    for (const [query, why] of [
      ['', 'no q'],
      ['q=', 'empty q'],
      ['q=%20%20', 'blank q'],
      [`q=${'x'.repeat(201)}`, 'q too long'],
      ['q=a&limit=0', 'limit 0'],
      ['q=a&limit=101', 'limit over 100'],
      ['q=a&before=abc', 'before not a number'],
    ]) {
      const res = await t.api('GET', `/api/v1/webchat/search?${query}`, undefined, ana.token);
      assert.equal(res.status, 400, `${why}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error, 'validation_failed', why);
    }
    const unknown = await t.api('GET', '/api/v1/webchat/search?q=a&peer=nobody-here', undefined, ana.token);
    assert.equal(unknown.status, 404);
    assert.equal((await t.api('GET', '/api/v1/webchat/search?q=a')).status, 401);
  });
});

test('search: past the scan budget it stops and says where to go on; following next_before finds the rest', async () => {
  const r = await startInProcessRelay();
  try {
    const [dot, eli] = [await r.user('dot'), await r.user('eli')];
    const { messaging, feed } = r.relay.services;
    for (let i = 0; i < 30; i++) await messaging.send(dot, { channel: 'pchat', to: 'eli', text: i % 10 === 0 ? `needle ${i}` : `hay ${i}` });
    const found: string[] = [];
    let before: number | undefined;
    let calls = 0;
    for (;;) {
      const page = await feed.search(eli, 'needle', { before, limit: 10, scanMax: 7 });
      calls++;
      found.push(...page.results.map((e: any) => e.message.text));
      if (!page.has_more) break;
      assert.ok(page.next_before! < (before ?? Infinity), 'it moves on');
      before = page.next_before!;
    }
    assert.deepEqual(found, ['needle 20', 'needle 10', 'needle 0']);
    assert.ok(calls >= 5, `several calls of at most 7 events each (${calls})`);
  } finally {
    await r.stop();
  }
});
