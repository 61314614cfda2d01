// Launch links: signed by the relay's identity, verified with the key from /.well-known.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadOrCreateIdentity } from '../../daemon/identity.ts';
import { createLaunchLink, verifyLaunchLink } from '../../scripts/launch-link.ts';
import { startTestRelay, tempDir, type TestRelay } from '../helpers.ts';
import { ROOT } from './cli-helpers.ts';

// Async: the relay answering /.well-known runs in this process.
const link = (args: string[]) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(join(ROOT, 'scripts/private_relay_link'), args, { encoding: 'utf8', cwd: tempDir('pchat-link-cwd-'), timeout: 20_000 }, (err, stdout, stderr) =>
      resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });

describe('private_relay_link', () => {
  let t: TestRelay;
  before(async () => (t = await startTestRelay()));
  after(() => t.stop());

  test('prints a link signed by the relay that /.well-known verifies, and a PNG QR code', async () => {
    const png = join(tempDir(), 'link.png');
    const r = await link(['--relay', t.url, '--site', 'https://chat.example.com/app/webchat/chat.html', '--data-dir', t.config.dataDir, '--name', 'LAN box', '--json', '--qr-png', png]);
    assert.equal(r.status, 0, r.stderr);
    const { url, payload } = JSON.parse(r.stdout);
    const u = new URL(url);
    assert.equal(u.origin + u.pathname, 'https://chat.example.com/app/webchat/chat.html');
    assert.equal(u.searchParams.get('relay'), t.url);
    assert.equal(u.searchParams.get('relay_mode'), 'private');
    assert.equal(payload.name, 'LAN box');
    const verdict = await verifyLaunchLink(url);
    assert.equal(verdict.ok, true, JSON.stringify(verdict));
    assert.deepEqual(readFileSync(png).subarray(0, 8), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));

    const ok = await link(['--verify', url]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^genuine: signed by /);

    // Tampering with the signed payload breaks the signature.
    const forged = new URL(url);
    const body = JSON.parse(Buffer.from(forged.searchParams.get('pchat_launch')!, 'base64url').toString());
    forged.searchParams.set('pchat_launch', Buffer.from(JSON.stringify({ ...body, relay_mode: 'public' })).toString('base64url'));
    assert.deepEqual(await verifyLaunchLink(forged.toString()).then((v) => [v.ok, !v.ok && v.reason]), [false, 'bad signature (not signed by the key this relay publishes)']);
    const bad = await link(['--verify', forged.toString()]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^private_relay_link: not genuine: bad signature/);

    // Pointing the link at another relay is caught before any key is fetched.
    const moved = new URL(url);
    moved.searchParams.set('relay', 'https://evil.example.com');
    assert.equal((await verifyLaunchLink(moved.toString())).ok, false);
  });

  test('a link signed by another key, or expired, does not verify', async () => {
    const other = loadOrCreateIdentity(tempDir());
    const foreign = createLaunchLink(other, { site: `${t.url}/app/webchat/chat.html`, relay: t.url, name: 'x' });
    const v1 = await verifyLaunchLink(foreign.url);
    assert.equal(v1.ok, false);
    const mine = loadOrCreateIdentity(t.config.dataDir);
    const old = createLaunchLink(mine, { site: `${t.url}/app/webchat/chat.html`, relay: t.url, name: 'x', expiresAt: new Date(Date.now() - 1000) });
    assert.deepEqual(await verifyLaunchLink(old.url).then((v) => !v.ok && v.reason), 'the link has expired');
  });

  test('without the relay identity it refuses in one line', async () => {
    const r = await link(['--relay', t.url, '--data-dir', tempDir()]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^private_relay_link: no relay identity at .+ — start the relay once, or pass --data-dir\n$/);
  });
});
