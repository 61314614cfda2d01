// What the log shows an operator: enough to diagnose a failure (the error's code), never a
// secret (tokens, login codes, keys).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestRelay } from '../helpers.ts';

test('a failed request is logged with its error code (ENOTDIR), not "[redacted]"; login codes are still redacted', async () => {
  const t = await startTestRelay();
  try {
    const { token } = await t.login('disk@example.com', { chat_address: 'disk-user' });
    // The upload staging folder replaced by a file: the upload fails with ENOTDIR.
    rmSync(join(t.config.uploadDir, 'tmp'), { recursive: true });
    writeFileSync(join(t.config.uploadDir, 'tmp'), 'not a directory');
    const form = new FormData();
    form.append('file', new Blob(['hello']), 'a.txt');
    const res = await fetch(`${t.url}/api/v1/webchat/upload`, { method: 'POST', headers: { 'x-pchat-session': token }, body: form });
    assert.equal(res.status, 500);
    const line = t.logs.find((l) => l.msg === 'request failed');
    assert.ok(line, 'the failure was logged');
    assert.equal((line.err as { code?: string }).code, 'ENOTDIR', `the operator sees the error code: ${JSON.stringify(line.err)}`);

    // Login codes under the keys they travel in are still redacted wherever they are logged.
    t.relay.log.info({ code: '123456', dev_code: '234567', body: { email: 'x@example.com', code: '345678' }, reply: { dev_code: '456789' } }, 'code probe');
    const probe = JSON.stringify(t.logs.find((l) => l.msg === 'code probe'));
    for (const code of ['123456', '234567', '345678', '456789']) assert.ok(!probe.includes(code), `${code} reached the log: ${probe}`);
  } finally {
    await t.stop();
  }
});
