// docs/examples/ai-worker.mjs — the documented 30-line AI worker — against a real relay.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { eventually, startTestRelay, type TestRelay } from '../helpers.ts';
import { cliEnv, newConfigDir, ROOT } from './cli-helpers.ts';

let t: TestRelay;
before(async () => (t = await startTestRelay()));
after(() => t.stop());

test('the documented worker answers a message through the model and goes offline on SIGTERM', async () => {
  const alex = await t.login('alex@example.com', { chat_address: 'alex' });
  const worker = spawn(process.execPath, [join(ROOT, 'docs/examples/ai-worker.mjs'), 'worker@example.com', '--relay', t.url, '--chat-address', 'worker-bot', '--name', 'Worker'], {
    env: cliEnv(newConfigDir(), { WEBCHAT_CLI: join(ROOT, 'scripts/webchat-cli.mjs'), MODEL_CMD: 'tr a-z A-Z' }),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  worker.stderr!.on('data', (c) => (stderr += c));
  const exited = new Promise<number | null>((r) => worker.on('close', r));
  const online = async () => (await t.api('GET', '/api/v1/webchat/directory?q=worker-bot', undefined, alex.token)).body.users?.[0]?.online === true;
  try {
    await eventually(online, 15_000, 50);
    const sent = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'worker-bot', text: 'hello worker' }, alex.token);
    assert.equal(sent.status, 200);
    const reply = await eventually(async () => {
      const r = await t.api('POST', '/api/v1/webchat/poll', { limit: 50, wait_ms: 2000 }, alex.token);
      return r.body.messages.find((m: any) => m.from === 'worker-bot');
    }, 15_000);
    assert.equal(reply.text, 'ALEX WROTE: HELLO WORKER');
    assert.equal(reply.reply_to, sent.body.message_id);
  } finally {
    worker.kill('SIGTERM');
  }
  assert.equal(await exited, 0, stderr);
  assert.equal(await online(), false);
});
