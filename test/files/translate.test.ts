// Translation with real Apertium pairs from Debian, through the persistent per-pair workers:
// direct pairs, pivots through Spanish, refusals, messages by id, batches, the journaled cache,
// language prefs, and receive-side translation arriving on a poll (direct and group messages).
import { after, before, describe, test } from 'node:test';
import { LANGUAGE_PREFS_MAX } from '../../daemon/translation.ts';
import assert from 'node:assert/strict';
import { startTestRelay, type TestRelay } from '../helpers.ts';

describe('translation', () => {
  let t: TestRelay;
  let alice: { token: string };
  let bob: { token: string };
  const tt = (body: Record<string, unknown>, token = alice.token) => t.api('POST', '/api/v1/webchat/translate-text', body, token);

  before(async () => {
    t = await startTestRelay();
    alice = await t.login('alice@example.com', { chat_address: 'alice' });
    bob = await t.login('bob@example.com', { chat_address: 'bob' });
  });
  after(() => t.stop());

  for (const [source, target, text, expected] of [
    ['en', 'es', 'I have two cats and a dog.', 'Tengo dos gatos y un perro.'],
    ['es', 'en', 'El perro es grande.', 'The dog is big.'],
    ['en', 'ca', 'The house is big.', 'La casa és gran.'],
    ['fr', 'es', 'Le chat est noir.', 'El gato es negro.'],
    ['es', 'pt', 'La casa es grande.', 'A casa é grande.'],
    ['pt', 'es', 'A casa é grande.', 'La casa es grande.'],
  ] as const) {
    test(`${source}→${target} through Apertium: "${text}"`, async () => {
      const r = await tt({ text, source, target });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.translated_text, expected);
      assert.equal(r.body.engine, 'apertium');
      assert.equal(r.body.pivot, null);
      assert.equal(r.body.original, text);
    });
  }

  test('a pair without a direct engine pivots through Spanish and says so', async () => {
    const r = await tt({ text: 'The house is big.', source: 'en', target: 'pt' });
    assert.equal(r.status, 200);
    assert.equal(r.body.translated_text, 'A casa é grande.');
    assert.equal(r.body.pivot, 'es');
    const langs = await t.api('GET', '/api/v1/webchat/languages');
    assert.ok(langs.body.pairs.some((p: any) => p.source === 'en' && p.target === 'pt' && p.via === 'es'));
    assert.ok(langs.body.pairs.some((p: any) => p.source === 'en' && p.target === 'es' && !p.via));
    assert.ok(langs.body.languages.some((l: any) => l.code === 'ca' && l.name === 'Catalan'));
  });

  test('the source language is detected when not given', async () => {
    const r = await tt({ text: 'Bonjour, je voudrais un café et un croissant.', target: 'es' });
    assert.equal(r.body.source, 'fr');
    assert.equal(r.body.detected, true);
    assert.match(r.body.translated_text, /café/);
    // Short chat lines defeat letter statistics; the dictionaries' coverage still tells.
    for (const [text, lang, target] of [['I have a cat.', 'en', 'es'], ['Le chat est noir.', 'fr', 'es'], ['A casa é grande.', 'pt', 'es'], ['La casa és gran.', 'ca', 'en']]) {
      assert.equal((await tt({ text, target })).body.source, lang, text);
    }
    const same = await tt({ text: 'Hola, ¿cómo estás? Quiero ir a la playa mañana.', target: 'es' });
    assert.equal(same.body.translated, false, 'text already in the target comes back as is');
  });

  test('unsupported pairs and languages are a clear 400, never a crash', async () => {
    const r = await tt({ text: 'Hello', source: 'en', target: 'de' });
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'unsupported_language_pair');
    assert.match(r.body.message, /available: .*en→es/);
    const r2 = await tt({ text: 'Hello', source: 'ca', target: 'fr' });
    assert.equal(r2.body.error, 'unsupported_language_pair');
    const prefs = await t.api('PUT', '/api/v1/webchat/language-prefs', { receive_language: 'xx' }, bob.token);
    assert.equal(prefs.status, 400);
    assert.equal(prefs.body.error, 'unsupported_language');
    assert.equal((await t.api('GET', '/health')).status, 200);
  });

  test('messages by id, in batches, cached in the journal and listed by GET translations', async () => {
    const s = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'bob', text: 'The dog is big.' }, alice.token);
    const s2 = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'bob', text: 'I have a cat.' }, alice.token);
    const id = s.body.message_id;
    const r = await t.api('POST', '/api/v1/webchat/translate', { message_id: id, target: 'es' }, bob.token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.text, 'El perro es grande.');
    assert.equal(r.body.original, 'The dog is big.');
    const b = await t.api('POST', '/api/v1/webchat/translate-batch', { message_ids: [id, s2.body.message_id], target: 'es' }, bob.token);
    assert.deepEqual(b.body.translations.map((x: any) => x.text), ['El perro es grande.', 'Tengo un gato.']);
    const bt = await t.api('POST', '/api/v1/webchat/translate-batch', { texts: ['The dog is big.', 'The house is big.'], target: 'ca' }, bob.token);
    assert.deepEqual(bt.body.translations.map((x: any) => x.text), ['El gos és gran.', 'La casa és gran.']);
    await t.restart();
    const cached = await t.api('GET', `/api/v1/webchat/translations?message_ids=${id},${s2.body.message_id},msg_nope&target=es`, undefined, bob.token);
    assert.deepEqual(cached.body.translations.map((x: any) => [x.message_id, x.text]), [[id, 'El perro es grande.'], [s2.body.message_id, 'Tengo un gato.']]);
    const repeated = await t.api('GET', `/api/v1/webchat/translations?message_ids=${id}&message_ids=${s2.body.message_id}&target=es`, undefined, bob.token);
    assert.equal(repeated.status, 200, 'the parameter repeated, as URLSearchParams.append writes it');
    assert.deepEqual(repeated.body.translations.map((x: any) => x.message_id), [id, s2.body.message_id]);
    const stranger = await t.login('carol@example.com', { chat_address: 'carol' });
    assert.equal((await t.api('POST', '/api/v1/webchat/translate', { message_id: id, target: 'es' }, stranger.token)).status, 404);
    assert.deepEqual((await t.api('GET', `/api/v1/webchat/translations?message_ids=${id}&target=es`, undefined, stranger.token)).body.translations, []);
  });

  test('GET translations gives no translation of words a message no longer has (edited, deleted)', async () => {
    const s = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'bob', text: 'My secret is the big dog.' }, alice.token);
    const id = s.body.message_id;
    assert.equal((await t.api('POST', '/api/v1/webchat/translate', { message_id: id, target: 'es' }, bob.token)).status, 200);
    const list = async () => (await t.api('GET', `/api/v1/webchat/translations?message_ids=${id}&target=es`, undefined, bob.token)).body.translations.map((x: any) => x.text);
    assert.equal((await list()).length, 1);
    const e = await t.api('POST', '/api/v1/webchat/edit', { message_id: id, text: 'The house is big.' }, alice.token);
    assert.equal(e.status, 200, JSON.stringify(e.body));
    assert.deepEqual(await list(), [], 'the translation of the text before the edit is not the message any more');
    await t.api('POST', '/api/v1/webchat/translate', { message_id: id, target: 'es' }, bob.token);
    assert.deepEqual(await list(), ['La casa es grande.']);
    assert.equal((await t.api('POST', '/api/v1/webchat/delete', { message_id: id }, alice.token)).status, 200);
    assert.deepEqual(await list(), [], 'a deleted message keeps no words, nor translations');
  });

  test('language prefs are kept per user and per conversation', async () => {
    let r = await t.api('GET', '/api/v1/webchat/language-prefs', undefined, alice.token);
    assert.deepEqual([r.body.receive_language, r.body.per_conversation], [null, {}]);
    r = await t.api('PUT', '/api/v1/webchat/language-prefs', { receive_language: 'es-ES', per_conversation: { Bob: 'ca' } }, alice.token);
    assert.equal(r.status, 200);
    assert.deepEqual([r.body.receive_language, r.body.per_conversation], ['es', { bob: 'ca' }]);
    r = await t.api('PUT', '/api/v1/webchat/language-prefs', { per_conversation: { bob: null } }, alice.token);
    assert.deepEqual([r.body.receive_language, r.body.per_conversation], ['es', {}]);
    r = await t.api('PUT', '/api/v1/webchat/language-prefs', { receive_language: null }, alice.token);
    assert.equal(r.body.receive_language, null);
  });

  test(`per-conversation languages are capped at ${LANGUAGE_PREFS_MAX} in all, not per request`, async () => {
    const who = await t.login('prefs-cap@example.com', { chat_address: 'prefs-cap' });
    const batch = (from: number, n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`peer${from + i}`, 'es']));
    const half = LANGUAGE_PREFS_MAX / 2;
    for (const from of [0, half]) {
      const r = await t.api('PUT', '/api/v1/webchat/language-prefs', { per_conversation: batch(from, half) }, who.token);
      assert.equal(r.status, 200, JSON.stringify(r.body).slice(0, 300));
    }
    const over = await t.api('PUT', '/api/v1/webchat/language-prefs', { per_conversation: batch(LANGUAGE_PREFS_MAX, 1) }, who.token);
    assert.equal(over.status, 409);
    assert.equal(over.body.error, 'conflict');
    const kept = await t.api('GET', '/api/v1/webchat/language-prefs', undefined, who.token);
    assert.equal(Object.keys(kept.body.per_conversation).length, LANGUAGE_PREFS_MAX, 'the refused change changed nothing');
    const swap = await t.api('PUT', '/api/v1/webchat/language-prefs', { per_conversation: { peer0: null, newpeer: 'es' } }, who.token);
    assert.equal(swap.status, 200, 'one cleared, one set: still at the cap');
  });

  test('a Spanish reader gets incoming English on a long-poll: original kept, translation beside it', async () => {
    await t.api('PUT', '/api/v1/webchat/language-prefs', { receive_language: 'es' }, bob.token);
    await t.api('POST', '/api/v1/webchat/poll', {}, bob.token);
    const parked = t.api('POST', '/api/v1/webchat/poll', { wait_ms: 10_000 }, bob.token);
    await new Promise((r) => setTimeout(r, 50));
    const s = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'bob', text: 'Where is the house?' }, alice.token);
    const events: any[] = [...(await parked).body.events];
    while (!events.some((e) => e.type === 'translation')) {
      const p = await t.api('POST', '/api/v1/webchat/poll', { wait_ms: 5000 }, bob.token);
      assert.ok(p.body.events.length, 'the translation arrives within the long-poll');
      events.push(...p.body.events);
    }
    const msg = events.find((e) => e.type === 'message');
    assert.equal(msg.message.text, 'Where is the house?', 'the original text is kept');
    const tr = events.find((e) => e.type === 'translation');
    assert.deepEqual([tr.message_id, tr.language, tr.source_language, tr.text], [s.body.message_id, 'es', 'en', 'Dónde es la casa?']);
    assert.ok(tr.seq > msg.seq);
    // Read again later, the message carries its translation inline.
    const again = await t.api('POST', '/api/v1/webchat/poll', { after: msg.seq - 1, limit: 1 }, bob.token);
    assert.equal(again.body.events[0].message.translation.text, 'Dónde es la casa?');
    // The sender sees no translation of their own words.
    const own = await t.api('POST', '/api/v1/webchat/poll', { after: 0, limit: 500 }, alice.token);
    assert.ok(own.body.events.filter((e: any) => e.type === 'message').every((e: any) => e.message.translation === undefined || e.message.translation === null));
  });

  test('an edited message reaches a reader with a receive language translated again', async () => {
    const erin = await t.login('erin@example.com', { chat_address: 'erin' });
    const frank = await t.login('frank@example.com', { chat_address: 'frank' });
    await t.api('PUT', '/api/v1/webchat/language-prefs', { receive_language: 'es' }, frank.token);
    await t.api('POST', '/api/v1/webchat/poll', {}, frank.token);
    const translationsFor = async (id: string, n: number) => {
      const got: any[] = [];
      for (let i = 0; i < 20 && got.length < n; i++) {
        const p = await t.api('POST', '/api/v1/webchat/poll', { wait_ms: 500 }, frank.token);
        got.push(...p.body.events.filter((e: any) => e.type === 'translation' && e.message_id === id));
      }
      return got.map((e) => e.text);
    };
    const s = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'frank', text: 'The dog is big.' }, erin.token);
    assert.deepEqual(await translationsFor(s.body.message_id, 1), ['El perro es grande.']);
    assert.equal((await t.api('POST', '/api/v1/webchat/edit', { message_id: s.body.message_id, text: 'The house is big.' }, erin.token)).status, 200);
    assert.deepEqual(await translationsFor(s.body.message_id, 1), ['La casa es grande.'], 'the edit is followed by the new text translated');
    await t.relay.services.media.translation.settled();
    const again = await t.api('POST', '/api/v1/webchat/poll', { after: 0, limit: 500 }, frank.token);
    const msg = again.body.events.find((e: any) => e.type === 'message' && e.message.id === s.body.message_id);
    assert.equal(msg.message.translation?.text, 'La casa es grande.', 'read again, the message carries the new translation');
  });

  test('group members get receive-side translations in their own language; members may translate group messages', async () => {
    const carol = await t.login('carol@example.com', { chat_address: 'carol' });
    const dave = await t.login('dave@example.com', { chat_address: 'dave' });
    const g = await t.api('POST', '/api/v1/webchat/groups', { name: 'Lingua', visibility: 'private', mode: 'chat', members: ['bob', 'carol', 'dave'] }, alice.token);
    assert.equal(g.status, 200, JSON.stringify(g.body));
    const gid = g.body.group.id;
    await t.api('PUT', '/api/v1/webchat/language-prefs', { receive_language: 'es' }, bob.token); // as the test above left it
    // carol reads this group in Portuguese (a per-conversation setting); dave reads as sent.
    await t.api('PUT', '/api/v1/webchat/language-prefs', { receive_language: 'es', per_conversation: { [`group:${gid}`]: 'pt' } }, carol.token);
    for (const who of [bob, carol, dave]) await t.api('POST', '/api/v1/webchat/poll', { limit: 500 }, who.token);
    const s = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: `group:${gid}`, text: 'The house is big.' }, alice.token);
    assert.equal(s.status, 200, JSON.stringify(s.body));
    const translationOf = async (who: { token: string }) => {
      const events: any[] = [];
      for (let i = 0; i < 20 && !events.some((e) => e.type === 'translation'); i++) {
        events.push(...(await t.api('POST', '/api/v1/webchat/poll', { wait_ms: 500 }, who.token)).body.events);
      }
      return events.find((e) => e.type === 'translation');
    };
    const forBob = await translationOf(bob);
    assert.deepEqual([forBob?.message_id, forBob?.language, forBob?.text], [s.body.message_id, 'es', 'La casa es grande.']);
    const forCarol = await translationOf(carol);
    assert.deepEqual([forCarol?.language, forCarol?.text], ['pt', 'A casa é grande.']);
    // Journaled once per language, in the group's stream (not once per reader's inbox).
    await t.relay.services.media.translation.settled();
    const inGroup = t.relay.services.core.journal.readBack(`group:${gid}`, Number.MAX_SAFE_INTEGER, 50).filter((r: any) => r.event.type === 'translation' && r.event.id === s.body.message_id);
    assert.deepEqual(inGroup.map((r: any) => r.event.language).sort(), ['es', 'pt']);
    const daves = await t.api('POST', '/api/v1/webchat/poll', { wait_ms: 300 }, dave.token);
    assert.ok(!daves.body.events.some((e: any) => e.type === 'translation'), 'no translation for a reader without a language');
    // Read again, the group message carries the reader's translation inline.
    const again = await t.api('POST', '/api/v1/webchat/poll', { after: s.body.seq - 1, limit: 1 }, bob.token);
    assert.equal(again.body.events[0].message.translation.text, 'La casa es grande.');
    // Any member may ask for a translation of a group message; an outsider may not.
    const asked = await t.api('POST', '/api/v1/webchat/translate', { message_id: s.body.message_id, target: 'ca' }, dave.token);
    assert.equal(asked.status, 200, JSON.stringify(asked.body));
    assert.equal(asked.body.translated_text, 'La casa és gran.');
    const outsider = await t.login('eve@example.com', { chat_address: 'eve' });
    const refused = await t.api('POST', '/api/v1/webchat/translate', { message_id: s.body.message_id, target: 'ca' }, outsider.token);
    assert.equal(refused.status, 404);
    assert.equal(refused.body.error, 'unknown_message');
  });

  test('the Apertium pipeline per pair persists across many translations', async () => {
    const translator = t.relay.services.media.translation.translator as any;
    const before = translator.starts;
    for (let i = 0; i < 20; i++) {
      const r = await tt({ text: `The number ${i} is big.`, source: 'en', target: 'es' });
      assert.equal(r.body.translated_text, `El número ${i} es grande.`);
    }
    assert.equal(translator.starts, before, 'no new process per request');
  });

  test('projections rebuilt from the journal keep translations and prefs', async () => {
    const before = await t.api('GET', '/api/v1/webchat/language-prefs', undefined, bob.token);
    await t.relay.services.core.projections.rebuild();
    assert.deepEqual((await t.api('GET', '/api/v1/webchat/language-prefs', undefined, bob.token)).body, before.body);
  });
});
