// Install paths: the private-relay tarball (built, unpacked, npm ci --omit=dev, started,
// healthy, the CLI working from it), the systemd units (systemd-analyze verify clean), and
// backup / restore of a live relay's data dir and uploads.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { loadConfig } from '../../daemon/config.ts';
import { createLogger } from '../../daemon/logger.ts';
import { startRelay } from '../../daemon/relay.ts';
import { eventually, freePort, request, startTestRelay, tempDir, testConfig } from '../helpers.ts';
import { jsonLines, ROOT } from './cli-helpers.ts';
import { Writable } from 'node:stream';

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: opts.timeout ?? 120_000, cwd: opts.cwd, env: opts.env ?? process.env }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('private-relay tarball', () => {
  let out: string;
  let install: string;
  before(async () => {
    out = tempDir('pchat-dist-');
    const r = await run(join(ROOT, 'scripts/package_private_relay.sh'), [out]);
    assert.equal(r.code, 0, r.stderr);
    install = tempDir('pchat-install-');
    const x = await run('tar', ['-xzf', join(out, 'webchat-private-relay.tar.gz'), '-C', install]);
    assert.equal(x.code, 0, x.stderr);
    install = join(install, 'webchat-private-relay');
  });

  test('holds sources, the relay bundle, lockfile, .env.example, start_relay.sh and the units — not tests or local data', () => {
    for (const f of ['package.json', 'package-lock.json', '.env.example', 'start_relay.sh', 'daemon/main.ts', 'http/app.ts', 'journal/journal.ts',
      'scripts/webchat-cli.ts', 'scripts/private_relay_link', 'scripts/backup_relay.sh', 'systemd/pchat-relay.service', 'systemd/pchat-phone-bridge.service', 'dist/relay.mjs',
      'docs/private-relay.md']) {
      assert.ok(existsSync(join(install, f)), `${f} missing`);
    }
    assert.ok(statSync(join(install, 'start_relay.sh')).mode & 0o100);
    for (const f of ['test', 'node_modules', 'data', '.ci', 'scripts/bench']) assert.ok(!existsSync(join(install, f)), `${f} shipped`);
    assert.ok(existsSync(join(out, 'webchat-private-relay', 'package.json')), 'dist/webchat-private-relay/ is kept beside the tarball');
  });

  test('unpacked on a fresh box: npm ci --omit=dev && ./start_relay.sh runs a healthy relay the CLI can use', async () => {
    const ci = await run('npm', ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: install, timeout: 180_000 });
    assert.equal(ci.code, 0, ci.stderr);
    assert.ok(!existsSync(join(install, 'node_modules/typescript')), 'dev dependencies were installed');
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, WEBCHAT_RELAY_PORT: String(port), PCHAT_DEV_EXPOSE_CODES: 'true', LOG_LEVEL: 'warn' };
    delete env.PORT;
    delete env.PCHAT_DATA_DIR;
    delete env.PCHAT_UPLOAD_DIR;
    const relay = spawn(join(install, 'start_relay.sh'), [], { cwd: tempDir(), env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    relay.stderr!.on('data', (c) => (stderr += c));
    const exited = new Promise<number | null>((r) => relay.on('close', r));
    try {
      const url = `http://127.0.0.1:${port}`;
      const health = await eventually(async () => {
        try {
          const h = await request(url, 'GET', '/health');
          return h.status === 200 ? h : null;
        } catch {
          return null;
        }
      }, 20_000, 100);
      assert.equal(health!.body.status, 'ok');
      const gui = await request(url, 'GET', '/app/webchat/chat.html');
      assert.equal(gui.status, 200, 'the built GUI ships in the tarball');
      assert.match(String(gui.body), /<html/i);
      assert.ok(existsSync(join(install, 'data/relay_identity_ed25519.json')), 'data lives beside start_relay.sh');

      // The CLI from the install, from another directory.
      const cfg = tempDir();
      const cli = await run('node', [join(install, 'scripts/webchat-cli.mjs'), 'ops@example.com', '--chat-address', 'ops-box', '--relay', url, '--to', 'ops-box', '--message', 'hello', '--json'], {
        cwd: tempDir(),
        env: { ...process.env, XDG_CONFIG_HOME: cfg },
      });
      assert.equal(cli.code, 0, cli.stderr);
      assert.ok(jsonLines(cli.stdout).some((l) => l.type === 'sent'));
    } finally {
      relay.kill('SIGTERM');
    }
    assert.equal(await exited, 0, stderr);
  });
});

describe('systemd units', () => {
  const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  for (const unit of ['pchat-relay.service', 'pchat-phone-bridge.service']) {
    test(`${unit}: hardening present and systemd-analyze verify clean`, () => {
      const text = readFileSync(join(ROOT, 'systemd', unit), 'utf8');
      for (const line of ['User=pchat', 'Restart=on-failure', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes']) {
        assert.ok(text.includes(`\n${line}\n`), `${unit} lacks ${line}`);
      }
      assert.match(text, /\nStateDirectory=pchat-/);
      assert.match(text, /\nReadWritePaths=\/var\/lib\/pchat-/);
      assert.match(text, /\nTimeoutStopSec=\d+s\n/);
      assert.match(text, /\nLimitNOFILE=\d+\n/);
      assert.ok(!analyze.error, 'systemd-analyze is needed (apt-get install systemd; .ci/run installs it)');
      // Verify against this checkout: the install path is rewritten to where the files really are.
      const dir = tempDir();
      const file = join(dir, unit);
      writeFileSync(file, text.replaceAll('/opt/pchat-relay/start_relay.sh', join(ROOT, 'scripts/start_relay.sh')).replaceAll('/opt/pchat-relay', ROOT));
      const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr.trim(), '', 'systemd-analyze verify printed warnings');
      // The check is real: a broken unit is reported.
      writeFileSync(file, text.replace('Restart=on-failure', 'Restart=sometimes'));
      assert.match(spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' }).stderr, /restart specifier/);
    });
  }
  test('pchat-relay.service: its state dirs win over a relay.env copied from .env.example (EnvironmentFile= overrides Environment=)', () => {
    const unit = readFileSync(join(ROOT, 'systemd/pchat-relay.service'), 'utf8');
    const directives = (name: string) => [...unit.matchAll(new RegExp(`^${name}=(.*)$`, 'gm'))].map((m) => m[1]);
    const assign = (env: Record<string, string | undefined>, item: string) => {
      const i = item.indexOf('=');
      env[item.slice(0, i)] = item.slice(i + 1);
    };
    // systemd.exec(5): Environment= first; EnvironmentFile= overrides it; then whatever ExecStart
    // sets through env(1). docs/private-relay.md makes relay.env a copy of .env.example.
    const env: Record<string, string | undefined> = {};
    for (const item of directives('Environment')) assign(env, item);
    assert.deepEqual(directives('EnvironmentFile'), ['-/etc/pchat-relay/relay.env']);
    Object.assign(env, parseEnv(readFileSync(join(ROOT, '.env.example'), 'utf8')));
    const argv = directives('ExecStart')[0].split(/\s+/);
    if (argv[0] === '/usr/bin/env') for (const item of argv.slice(1).filter((a) => a.includes('='))) assign(env, item);
    const writable = directives('ReadWritePaths')[0];
    for (const name of ['PCHAT_DATA_DIR', 'PCHAT_UPLOAD_DIR']) {
      const dir = resolve(directives('WorkingDirectory')[0], env[name] ?? '');
      assert.ok(dir.startsWith(`${writable}/`), `${name} is ${dir}: read-only under ProtectSystem=strict (only ${writable} is writable), so the relay cannot start`);
    }
  });
});

describe('backup and restore', () => {
  test('a backup of a running relay restores into a relay with the same messages, key and uploads', async () => {
    const t = await startTestRelay();
    let restoredStop: (() => Promise<void>) | undefined;
    try {
      const a = await t.login('a@example.com', { chat_address: 'aa-a' });
      const b = await t.login('b@example.com', { chat_address: 'bb-b' });
      for (let i = 0; i < 5; i++) {
        assert.equal((await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'bb-b', text: `m${i}` }, a.token)).status, 200);
      }
      mkdirSync(join(t.config.uploadDir, 'ab'), { recursive: true });
      writeFileSync(join(t.config.uploadDir, 'ab', 'abcdef'), 'blob bytes');
      const key = (await t.api('GET', '/.well-known/pchat-relay')).body.public_key;

      const file = join(tempDir(), 'backup.tar.gz');
      const env = { ...process.env, PCHAT_DATA_DIR: t.config.dataDir, PCHAT_UPLOAD_DIR: t.config.uploadDir };
      const bk = await run(join(ROOT, 'scripts/backup_relay.sh'), ['--out', file], { env, cwd: tempDir() });
      assert.equal(bk.code, 0, bk.stderr);
      assert.equal(statSync(file).mode & 0o777, 0o600);

      const target = tempDir();
      const to = ['--data-dir', join(target, 'data'), '--upload-dir', join(target, 'uploads')];
      const rs = await run(join(ROOT, 'scripts/restore_relay.sh'), [file, ...to], { cwd: tempDir() });
      assert.equal(rs.code, 0, rs.stderr);
      const again = await run(join(ROOT, 'scripts/restore_relay.sh'), [file, ...to], { cwd: tempDir() });
      assert.equal(again.code, 1);
      assert.match(again.stderr, /^restore_relay: .* not empty; stop the relay and pass --force/);

      const config = testConfig(target);
      const sink = new Writable({ write: (_c, _e, cb) => cb() });
      const restored = await startRelay(loadConfig({ ...Object.fromEntries(Object.entries(process.env)), HOST: '127.0.0.1', PORT: '0', PCHAT_DATA_DIR: config.dataDir, PCHAT_UPLOAD_DIR: config.uploadDir, LOG_LEVEL: 'silent' }), createLogger('silent', sink));
      restoredStop = () => restored.close();
      assert.equal((await request(restored.url, 'GET', '/.well-known/pchat-relay')).body.public_key, key);
      const hist = await request(restored.url, 'GET', '/api/v1/webchat/history?peer=aa-a&limit=50', undefined, b.token);
      assert.equal(hist.status, 200, JSON.stringify(hist.body));
      assert.deepEqual(hist.body.messages.map((m: any) => m.text).sort(), ['m0', 'm1', 'm2', 'm3', 'm4']);
      assert.equal(readFileSync(join(target, 'uploads', 'ab', 'abcdef'), 'utf8'), 'blob bytes');
    } finally {
      await restoredStop?.();
      await t.stop();
    }
  });
  test('restore --force onto the data dir of a running relay is refused (it would move the journal out from under it)', async () => {
    const t = await startTestRelay();
    try {
      const a = await t.login('live@example.com', { chat_address: 'live-one' });
      const env = { ...process.env, PCHAT_DATA_DIR: t.config.dataDir, PCHAT_UPLOAD_DIR: t.config.uploadDir };
      const file = join(tempDir(), 'backup.tar.gz');
      assert.equal((await run(join(ROOT, 'scripts/backup_relay.sh'), ['--out', file], { env, cwd: tempDir() })).code, 0);
      const rs = await run(join(ROOT, 'scripts/restore_relay.sh'), [file, '--force'], { env, cwd: tempDir() });
      assert.equal(rs.code, 1, `restore ran under a live relay: ${rs.stdout}`);
      assert.match(rs.stderr, /^restore_relay: .*in use by process \d+.*stop/);
      assert.ok(existsSync(join(t.config.dataDir, 'journal', 'data.mdb')), 'the live journal stays where it is');
      assert.equal((await t.api('GET', '/api/v1/pchat/auth/me', undefined, a.token)).status, 200);
    } finally {
      await t.stop();
    }
  });
});
