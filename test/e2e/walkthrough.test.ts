// The README's walk-through is real: scripts/walkthrough.sh (curl + python3, as a reader runs
// it) against a relay, twice on the same relay — the second run must not hang on a message the
// first one already delivered.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestRelay, type TestRelay } from '../helpers.ts';

const run = promisify(execFile);
const SCRIPT = join(import.meta.dirname, '..', '..', 'scripts', 'walkthrough.sh');

let t: TestRelay;
before(async () => {
  t = await startTestRelay({ PCHAT_DEV_EXPOSE_CODES: 'true' });
});
after(() => t.stop());

for (const round of ['first', 'second']) {
  test(`the walk-through runs as the README shows (${round} run on this relay)`, { timeout: 60_000 }, async () => {
    const { stdout } = await run('bash', [SCRIPT], { env: { ...process.env, RELAY_URL: t.url }, timeout: 50_000 });
    const answers = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    const sent = answers.find((a) => a.status === 'sent');
    assert.ok(sent?.message_id, stdout);
    const polled = answers.find((a) => Array.isArray(a.messages));
    assert.deepEqual(polled.messages.map((m: any) => [m.id, m.from, m.text]), [[sent.message_id, 'alex', 'Hello from a human.']], 'the poll brought this run\'s message');
    const receipt = answers.find((a) => a.statuses)?.statuses[0];
    assert.equal(receipt.status, 'read');
    assert.deepEqual(answers.at(-1), { success: false, error: 'validation_failed', message: 'body.text must be string' });
  });
}
