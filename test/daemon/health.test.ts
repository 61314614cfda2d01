// GET /health tells the truth about the journal: 503 with the reason once a commit failed (the
// relay is about to exit and restart from the journal) and while the relay drains.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { catchExits, failNextCommit, requestDuringDrain, startTestRelay } from '../helpers.ts';

test('after a journal commit failed, /health answers 503 with the journal not ok and why', async () => {
  const t = await startTestRelay({ LOG_LEVEL: 'silent' });
  const { core } = t.relay.services;
  const { exits, restore } = catchExits(core);
  try {
    const alice = await t.login('alice@example.com', { chat_address: 'alice' });
    await t.login('bob@example.com', { chat_address: 'bob' });
    assert.equal((await t.api('GET', '/health')).body.journal.ok, true);

    failNextCommit(core.journal, 'ENOSPC: no space left on device (simulated)');
    const send = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'bob', text: 'lost to a full disk' }, alice.token);
    assert.equal(send.status, 500);
    await new Promise((resume) => setImmediate(resume));
    assert.deepEqual(exits, [70], 'the relay would exit now');

    const h = await t.api('GET', '/health');
    assert.equal(h.status, 503);
    assert.equal(h.body.success, false);
    assert.equal(h.body.status, 'failing');
    assert.equal(h.body.journal.ok, false);
    assert.match(h.body.journal.reason, /journal commit failed \(ENOSPC/);
  } finally {
    restore();
    await t.stop();
  }
});

test('a commit that fails in the idle-actor sweep is reported like any other (the relay exits), not left an unhandled rejection', async () => {
  const t = await startTestRelay({ LOG_LEVEL: 'silent', PCHAT_ACTOR_IDLE_MS: '1000' }); // swept every 500 ms
  const { core } = t.relay.services;
  const { exits, restore } = catchExits(core);
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  const commit = core.journal.commit.bind(core.journal);
  try {
    core.journal.commit = () => Promise.reject(new Error('EIO: i/o error (simulated)'));
    await new Promise((resume) => setTimeout(resume, 1200));
    assert.deepEqual(unhandled, [], 'nothing left unhandled');
    assert.deepEqual(exits, [70], 'the relay would exit to restart from the journal');
    assert.equal((await t.api('GET', '/health')).status, 503);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    core.journal.commit = commit;
    restore();
    await t.stop();
  }
});

test('while the relay drains, /health answers 503 with the journal not ok and why', async () => {
  const t = await startTestRelay();
  const { raw, body } = await requestDuringDrain(t, 'GET /health HTTP/1.1\r\nHost: x\r\n', '\r\n');
  assert.match(raw, /^HTTP\/1\.1 503 /, raw);
  assert.equal(body.status, 'draining');
  assert.equal(body.journal.ok, false);
  assert.match(body.journal.reason, /shutting down/);
});
