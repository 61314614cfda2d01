// Agent-grade delivery against a real relay: named consumers that never steal from each other,
// peek and ack, streamed replies seen live and folded into one message, and the loop guard.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openWs, startTestRelay, type TestRelay } from '../helpers.ts';

type Who = { token: string; user: any };

describe('agent-grade delivery', () => {
  let t: TestRelay;
  let human: Who, bot: Who, bot2: Who;
  const send = (who: Who, to: string, text: string, extra: Record<string, unknown> = {}) =>
    t.api('POST', '/api/v1/messages', { channel: 'pchat', to, text, ...extra }, who.token);
  const poll = (who: Who, body: Record<string, unknown> = {}) => t.api('POST', '/api/v1/webchat/poll', body, who.token);
  const texts = (r: { body: any }) => r.body.events.filter((e: any) => e.type === 'message').map((e: any) => e.message.text);

  before(async () => {
    t = await startTestRelay({ PCHAT_LOOP_MAX_HOPS: '12', PCHAT_LOOP_REPLY_BUDGET: '100', PCHAT_LOOP_WINDOW_MS: '2000' });
    human = await t.login('human@example.com', { chat_address: 'human' });
    bot = await t.login('bot@example.com', { chat_address: 'bot', session_name: 'worker' });
    bot2 = await t.login('bot2@example.com', { chat_address: 'bot2' });
  });
  after(() => t.stop());

  test('named consumers: a CLI worker, a browser tab and a webhook each get every message once', async () => {
    for (const c of ['cli', 'tab', 'hook']) await poll(bot, { consumer: c }); // open them at "now"
    await send(human, 'bot', 'job 1');
    await send(human, 'bot', 'job 2');
    assert.deepEqual(texts(await poll(bot, { consumer: 'cli' })), ['job 1', 'job 2']);
    assert.deepEqual(texts(await poll(bot, { consumer: 'cli' })), [], 'claimed by cli');
    assert.deepEqual(texts(await poll(bot, { consumer: 'tab' })), ['job 1', 'job 2'], 'the tab was not robbed by the cli');
    // peek reads without claiming.
    const peek1 = await poll(bot, { consumer: 'hook', peek: true });
    assert.deepEqual(texts(peek1), ['job 1', 'job 2']);
    const peek2 = await poll(bot, { consumer: 'hook', peek: true, limit: 1 });
    assert.deepEqual(texts(peek2), ['job 1']);
    assert.equal(peek2.body.cursor, peek1.body.cursor, 'peek leaves the cursor alone');
    // ack up to the first one: the hook then gets only the second.
    const firstSeq = peek2.body.events[0].seq;
    const ack = await t.api('POST', '/api/v1/webchat/ack', { consumer: 'hook', upto: firstSeq }, bot.token);
    assert.equal(ack.body.cursor, firstSeq);
    const back = await t.api('POST', '/api/v1/webchat/ack', { consumer: 'hook', upto: 1 }, bot.token);
    assert.equal(back.body.cursor, firstSeq, 'an ack never moves a cursor backwards');
    assert.deepEqual(texts(await poll(bot, { consumer: 'hook' })), ['job 2']);
    const past = await t.api('POST', '/api/v1/webchat/ack', { consumer: 'hook', upto: 10 ** 12 }, bot.token);
    assert.equal(past.status, 400);
    const bad = await poll(bot, { consumer: 'has spaces' });
    assert.equal(bad.body.error, 'validation_failed');
    // Session consumers' names are not for the taking (they escaped the named-consumer limit).
    for (const body of [{ consumer: 'ses_fake' }, { consumer: 'ses_fake', peek: true }]) {
      const r = await poll(bot, body);
      assert.equal(r.status, 400);
      assert.match(r.body.message, /reserved for sessions/);
    }
    assert.equal((await t.api('POST', '/api/v1/webchat/ack', { consumer: 'ses_x', upto: 1 }, bot.token)).status, 400);
    // The consumer's WebSocket sees the same stream and acks the same cursor.
    await send(human, 'bot', 'job 3');
    const ws = await openWs(t.url, { token: bot.token, query: 'consumer=tab' });
    const m = await ws.next((f) => f.type === 'message' && f.message.text === 'job 3');
    ws.send({ type: 'ack', ref: 1, upto: m.seq });
    assert.equal((await ws.next((f) => f.ref === 1)).consumer, 'tab');
    await ws.close();
    assert.deepEqual(texts(await poll(bot, { consumer: 'tab' })), []);
    assert.deepEqual(texts(await poll(bot, { consumer: 'cli' })), ['job 3']);
  });

  test('a consumer first seen by a peek keeps what arrives after it: an ack of the peeked part loses nothing', async () => {
    await send(human, 'bot', 'task 1');
    const seen = await poll(bot, { consumer: 'peeker', peek: true });
    assert.deepEqual(texts(seen), ['task 1']);
    await send(human, 'bot', 'task 2');
    await poll(bot); // the session's own consumer claims everything: the inbox's top moves past task 2
    const ack = await t.api('POST', '/api/v1/webchat/ack', { consumer: 'peeker', upto: seen.body.events[0].seq }, bot.token);
    assert.equal(ack.body.cursor, seen.body.events[0].seq, JSON.stringify(ack.body));
    assert.deepEqual(texts(await poll(bot, { consumer: 'peeker' })), ['task 2']);
  });

  test('named consumers are listed and removed; at the limit, removing one makes room (nothing else did)', async () => {
    const agent = await t.login('many@example.com', { chat_address: 'many-consumers' });
    for (let i = 0; i < 32; i++) assert.equal((await poll(agent, { consumer: `run-${i}`, peek: true })).status, 200);
    const full = await poll(agent, { consumer: 'run-32' });
    assert.equal(full.status, 409);
    assert.match(full.body.message, /DELETE \/api\/v1\/webchat\/consumers/, 'the refusal says the way out');
    const list = await t.api('GET', '/api/v1/webchat/consumers', undefined, agent.token);
    assert.equal(list.status, 200);
    assert.equal(list.body.consumers.length, 32, 'the session\'s own consumer is not listed');
    assert.ok(list.body.consumers.every((c: any) => /^run-\d+$/.test(c.consumer) && Number.isInteger(c.cursor)));

    const del = await t.api('DELETE', '/api/v1/webchat/consumers/run-0', undefined, agent.token);
    assert.equal(del.status, 200, JSON.stringify(del.body));
    assert.equal(del.body.removed, 'run-0');
    assert.equal((await t.api('DELETE', '/api/v1/webchat/consumers/run-0', undefined, agent.token)).body.error, 'unknown_consumer');
    assert.equal((await t.api('DELETE', '/api/v1/webchat/consumers/run-1', undefined, bot.token)).status, 404, 'another inbox has no such consumer');
    assert.equal((await t.api('DELETE', '/api/v1/webchat/consumers/has%20space', undefined, agent.token)).status, 400);
    assert.equal((await t.api('DELETE', `/api/v1/webchat/consumers/${agent.session.id}`, undefined, agent.token)).status, 404, 'not a named one: a session\'s cursor goes with its logout');
    assert.equal((await poll(agent, { consumer: 'run-32' })).status, 200, 'room for a new one');
    // A removed name used again starts afresh: it gets what arrives from then on.
    await send(human, 'many-consumers', 'after the removal');
    assert.deepEqual(texts(await poll(agent, { consumer: 'run-32' })), ['after the removal']);
    await t.restart({ PCHAT_LOOP_MAX_HOPS: '12', PCHAT_LOOP_REPLY_BUDGET: '100', PCHAT_LOOP_WINDOW_MS: '2000' });
    const again = await t.api('GET', '/api/v1/webchat/consumers', undefined, agent.token);
    assert.deepEqual(again.body.consumers.map((c: any) => c.consumer).sort(), list.body.consumers.map((c: any) => c.consumer).filter((c: string) => c !== 'run-0').concat('run-32').sort(), 'journaled');
  });

  test('streamed replies: observers see deltas live; the message folds into one final text', async () => {
    const watcher = await openWs(t.url, { token: human.token, query: 'consumer=live-view' });
    await watcher.next((f) => f.type === 'ready');
    const seqBefore = (await poll(human, { consumer: 'late', peek: true })).body.cursor;
    const open = await t.api('POST', '/api/v1/webchat/stream/open', { to: 'human', text: 'Thinking' }, bot.token);
    assert.equal(open.status, 200, JSON.stringify(open.body));
    const id = open.body.message_id;
    const first = await watcher.next((f) => f.type === 'message' && f.message.id === id);
    assert.equal(first.message.streaming, true);
    for (const d of [' about', ' it', '...']) {
      const r = await t.api('POST', '/api/v1/webchat/stream/append', { message_id: id, delta: d }, bot.token);
      assert.equal(r.status, 200);
    }
    await watcher.next((f) => f.type === 'delta' && f.delta === '...');
    const deltas = watcher.frames.filter((f) => f.type === 'delta' && f.message_id === id).map((f) => f.delta);
    assert.deepEqual(deltas, [' about', ' it', '...']);
    // A reader joining mid-stream (a resume, a late poll) gets the text as opened, then every
    // delta: appending them gives the text so far, each part once.
    const midway = (await poll(human, { after: seqBefore, limit: 100, consumer: 'midway', peek: true })).body.events;
    const opened = midway.find((e: any) => e.message?.id === id).message;
    const folded = opened.text + midway.filter((e: any) => e.type === 'delta' && e.message_id === id).map((e: any) => e.delta).join('');
    assert.equal(folded, 'Thinking about it...');
    // Another user cannot stream into it; the sender cannot append after close.
    const foreign = await t.api('POST', '/api/v1/webchat/stream/append', { message_id: id, delta: 'x' }, human.token);
    assert.equal(foreign.body.error, 'not_sender');
    const closed = await t.api('POST', '/api/v1/webchat/stream/close', { message_id: id }, bot.token);
    assert.equal(closed.body.text, 'Thinking about it...');
    const fin = await watcher.next((f) => f.type === 'edit' && f.final === true && f.message_id === id);
    assert.equal(fin.text, 'Thinking about it...');
    const late = await t.api('POST', '/api/v1/webchat/stream/append', { message_id: id, delta: 'more' }, bot.token);
    assert.equal(late.body.error, 'stream_closed');
    await watcher.close();

    // A late reader sees one message with the final text, no deltas.
    const readLate = await poll(human, { after: seqBefore, limit: 100 });
    const types = readLate.body.events.filter((e: any) => e.message_id === id || e.message?.id === id).map((e: any) => e.type);
    assert.deepEqual(types, ['message', 'edit']);
    const msg = readLate.body.events.find((e: any) => e.message?.id === id).message;
    assert.equal(msg.text, 'Thinking about it...');
    assert.equal(msg.streaming, undefined);
    const hist = await t.api('GET', '/api/v1/webchat/history?peer=bot', undefined, human.token);
    assert.equal(hist.body.messages.at(-1).text, 'Thinking about it...');
  });

  test('a stream opened empty and closed with nothing in it ends as taken back, not stuck open', async () => {
    const open = await t.api('POST', '/api/v1/webchat/stream/open', { to: 'human' }, bot.token);
    assert.equal(open.status, 200, JSON.stringify(open.body));
    const c = await t.api('POST', '/api/v1/webchat/stream/close', { message_id: open.body.message_id }, bot.token);
    assert.equal(c.status, 200, JSON.stringify(c.body));
    assert.equal(c.body.deleted, true);
    const again = await t.api('POST', '/api/v1/webchat/stream/append', { message_id: open.body.message_id, delta: 'late' }, bot.token);
    assert.equal(again.body.error, 'stream_closed');
    const hist = await t.api('GET', '/api/v1/webchat/history?peer=bot', undefined, human.token);
    const m = hist.body.messages.find((x: any) => x.id === open.body.message_id);
    assert.deepEqual([m.deleted, m.text, m.streaming], [true, '', undefined]);
  });

  test('streamed text survives a restart mid-stream (every append was durable)', async () => {
    const open = await t.api('POST', '/api/v1/webchat/stream/open', { to: 'human' }, bot.token);
    await t.api('POST', '/api/v1/webchat/stream/append', { message_id: open.body.message_id, delta: 'part one' }, bot.token);
    await t.restart();
    const r = await t.api('POST', '/api/v1/webchat/stream/append', { message_id: open.body.message_id, delta: ', part two' }, bot.token);
    assert.equal(r.body.length, 'part one, part two'.length);
    const c = await t.api('POST', '/api/v1/webchat/stream/close', { message_id: open.body.message_id }, bot.token);
    assert.equal(c.body.text, 'part one, part two');
  });

  test('loop guard: two bots answering each other are stopped with 429 loop_guard; one-way streams are not', async () => {
    for (let i = 0; i < 40; i++) assert.equal((await send(bot, 'bot2', `log line ${i}`)).status, 200, 'a one-way stream is never a loop');
    let refused: any;
    let exchanged = 0;
    for (let i = 0; i < 40 && !refused; i++) {
      const r = await send(i % 2 ? bot : bot2, i % 2 ? 'bot2' : 'bot', `ping ${i}`);
      if (r.status === 200) exchanged++;
      else refused = r;
    }
    assert.ok(refused, 'the ping-pong was stopped');
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error, 'loop_guard');
    assert.match(refused.body.message, /back and forth 13 times/);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    // bot was talking to bot2 just before, so bot2's first answer is already hop 1.
    assert.equal(exchanged, 12, '12 hops went through, the 13th was refused');
    // A human in another conversation is unaffected, and a pause resets the pair.
    assert.equal((await send(human, 'bot', 'are you there?')).status, 200);
    await new Promise((r) => setTimeout(r, 2100));
    assert.equal((await send(bot, 'bot2', 'after a pause')).status, 200);
    // A hop count carried over from another relay counts too.
    const carried = await send(bot2, 'human', 'forwarded', { hops: 99 });
    assert.equal(carried.body.error, 'loop_guard');
  });

  test('a person at the browser app chatting briskly with a bot is never taken for a loop', async () => {
    const person = await t.login('person@example.com', { chat_address: 'person', device_name: 'browser', session_name: 'WebChat' });
    for (let i = 0; i < 40; i++) {
      const asked = await send(person, 'bot', `question ${i}`);
      assert.equal(asked.status, 200, JSON.stringify(asked.body));
      const answered = await send(bot, 'person', `answer ${i}`);
      assert.equal(answered.status, 200, `answer ${i}: ${JSON.stringify(answered.body)}`);
    }
  });
});
