// Configuration: bad values stop start-up with a ConfigError naming the variable (also from the
// real daemon, as one line on stderr), `.env.local` is read, and the real environment wins.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, DEFAULT_PORT, loadConfig, readEnv } from '../../daemon/config.ts';
import { IDENTITY_FILE } from '../../daemon/identity.ts';
import { tempDir } from '../helpers.ts';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

const dirs: string[] = [];
const scratch = () => {
  const d = tempDir('pchat-config-');
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function assertConfigError(env: Record<string, string>, variable: string) {
  assert.throws(
    () => loadConfig(env),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
      assert.match(err.message, new RegExp(`\\b${variable}\\b`), `the message names ${variable}: ${err.message}`);
      return true;
    },
  );
}

/** Runs the daemon entry point; resolves with its exit code and output (killed after 15 s). */
function runDaemon(env: Record<string, string | undefined>, cwd = ROOT, entry = 'daemon/main.ts', uid?: number): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  const childEnv: Record<string, string | undefined> = { ...process.env, ...env };
  for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
  // Never let the child think it is part of this test run.
  delete childEnv.NODE_TEST_CONTEXT;
  delete childEnv.NODE_OPTIONS;
  const tsx = import.meta.resolve('tsx');
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', tsx, entry], { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], ...(uid === undefined ? {} : { uid, gid: uid }) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

describe('loadConfig', () => {
  test('defaults load from an empty environment', () => {
    const c = loadConfig({});
    assert.equal(c.port, DEFAULT_PORT);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.devExposeCodes, false, 'dev codes are never the default');
    assert.equal(c.smtp, null);
  });

  test('PORT=abc → ConfigError naming PORT', () => assertConfigError({ PORT: 'abc' }, 'PORT'));
  test('PORT out of range → ConfigError naming PORT', () => assertConfigError({ PORT: '70000' }, 'PORT'));
  test('PCHAT_FREE_MODE_ENABLED=maybe → ConfigError naming it', () => assertConfigError({ PCHAT_FREE_MODE_ENABLED: 'maybe' }, 'PCHAT_FREE_MODE_ENABLED'));
  test('LOG_LEVEL=loud → ConfigError naming it', () => assertConfigError({ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'));
  test('SMTP_HOST without SMTP_FROM → ConfigError naming SMTP_FROM', () => assertConfigError({ SMTP_HOST: 'smtp.example.com' }, 'SMTP_FROM'));
  test('PCHAT_BODY_LIMIT_BYTES=1.5 → ConfigError naming it', () => assertConfigError({ PCHAT_BODY_LIMIT_BYTES: '1.5' }, 'PCHAT_BODY_LIMIT_BYTES'));
  test('integers are decimal digits: PORT=0x1F90, 1e3 or 8080abc → ConfigError naming PORT', () => {
    for (const port of ['0x1F90', '1e3', '8080abc', '80.0']) assertConfigError({ PORT: port }, 'PORT');
    assert.equal(loadConfig({ PORT: ' 8080 ' }).port, 8080);
  });
  test('PCHAT_* / SMTP_* names the relay does not read are listed as unknown (a misspelt PCHAT_FREE_MODE leaves sign-up open)', () => {
    const c = loadConfig({ PCHAT_FREE_MODE: 'false', SMTP_HOTS: 'smtp.example.com', PCHAT_FREE_MODE_ENABLED: 'true', PCHAT_RELAY_URL: 'http://x', PCHAT_BRIDGE_STATE_DIR: '/x', HOME: '/root' });
    assert.deepEqual(c.unknownSettings, ['PCHAT_FREE_MODE', 'SMTP_HOTS']);
    assert.deepEqual(loadConfig({}).unknownSettings, []);
  });
  test('SMTP half-configured (credentials or SMTP_FROM without SMTP_HOST) → ConfigError naming SMTP_HOST, not codes silently logged', () => {
    for (const env of [{ SMTP_USERNAME: 'relay@example.com', SMTP_PASSWORD: 'hunter2' }, { SMTP_PASSWORD: 'hunter2' }, { SMTP_FROM: 'relay@example.com' }] as Record<string, string>[]) {
      assertConfigError(env, 'SMTP_HOST');
    }
  });
  test('SMTP_PASSWORD without SMTP_USERNAME → ConfigError naming SMTP_USERNAME (the password would go unused)', () =>
    assertConfigError({ SMTP_HOST: 'smtp.example.com', SMTP_FROM: 'relay@example.com', SMTP_PASSWORD: 'hunter2' }, 'SMTP_USERNAME'));
  test('SMTP_PORT=x → ConfigError naming it, even with no SMTP_HOST yet', () => assertConfigError({ SMTP_PORT: 'x' }, 'SMTP_PORT'));
  test('PCHAT_TRUST_PROXY: addresses, CIDRs or loopback; "true" (trust anyone) or junk → ConfigError naming it', () => {
    assert.equal(loadConfig({}).trustProxy, null);
    assert.equal(loadConfig({ PCHAT_TRUST_PROXY: ' loopback , 10.0.0.0/8,::1 ' }).trustProxy, 'loopback,10.0.0.0/8,::1');
    for (const bad of ['true', '*', 'proxy.example.com', '10.0.0.1;rm']) assertConfigError({ PCHAT_TRUST_PROXY: bad }, 'PCHAT_TRUST_PROXY');
  });

  test('good values are taken, trimmed and typed', () => {
    const c = loadConfig({
      PORT: ' 6001 ',
      PCHAT_FREE_MODE_ENABLED: 'off',
      LOG_LEVEL: 'warn',
      SMTP_HOST: 'smtp.example.com',
      SMTP_FROM: 'relay@example.com',
      SMTP_PORT: '465',
    });
    assert.equal(c.port, 6001);
    assert.equal(c.freeMode, false);
    assert.equal(c.logLevel, 'warn');
    assert.deepEqual({ host: c.smtp?.host, from: c.smtp?.from, port: c.smtp?.port, secure: c.smtp?.secure }, {
      host: 'smtp.example.com',
      from: 'relay@example.com',
      port: 465,
      secure: true,
    });
  });
});

describe('.env.local', () => {
  test('is read from the given directory', () => {
    const dir = scratch();
    writeFileSync(join(dir, '.env.local'), '# local settings\nPORT=6123\nPCHAT_RELAY_NAME="From File"\nPCHAT_FREE_MODE_ENABLED=false\n');
    const env = readEnv(dir, {});
    assert.equal(env.PORT, '6123');
    const c = loadConfig(env);
    assert.equal(c.port, 6123);
    assert.equal(c.relayName, 'From File');
    assert.equal(c.freeMode, false);
  });

  test('the real environment wins over .env.local', () => {
    const dir = scratch();
    writeFileSync(join(dir, '.env.local'), 'PORT=6123\nPCHAT_RELAY_NAME=From File\n');
    const env = readEnv(dir, { PORT: '7007' });
    assert.equal(env.PORT, '7007');
    const c = loadConfig(env);
    assert.equal(c.port, 7007);
    assert.equal(c.relayName, 'From File', 'what the environment does not set still comes from the file');
  });

  test('no .env.local: only the environment', () => {
    const dir = scratch();
    assert.deepEqual(readEnv(dir, { PORT: '1' }), { PORT: '1' });
  });

  test('a line that is not NAME=value → ConfigError naming .env.local and the line (it used to swallow the next setting)', () => {
    const dir = scratch();
    // Node's parser reads "PCHAT_FREE_MODE_ENABLED false\nPCHAT_DEV_EXPOSE_CODES" as one name: both settings were lost.
    writeFileSync(join(dir, '.env.local'), 'PORT=6123\nPCHAT_FREE_MODE_ENABLED false\nPCHAT_DEV_EXPOSE_CODES=false\n');
    assert.throws(() => readEnv(dir, {}), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.match(err.message, /\.env\.local/);
      assert.match(err.message, /PCHAT_FREE_MODE_ENABLED false/);
      return true;
    });
  });

  test('comments, blank lines, export and quoted values over several lines are settings, not bad lines', () => {
    const dir = scratch();
    writeFileSync(join(dir, '.env.local'), '# relay\n\nexport PORT=6125\nPCHAT_RELAY_NAME="two\nlines"\n  SMTP_FROM = relay@example.com\n');
    const env = readEnv(dir, {});
    assert.equal(env.PORT, '6125');
    assert.equal(env.PCHAT_RELAY_NAME, 'two\nlines');
    assert.equal(env.SMTP_FROM, 'relay@example.com');
  });

  test('a byte-order mark (a file saved by Windows Notepad) does not hide the first setting', () => {
    const dir = scratch();
    writeFileSync(join(dir, '.env.local'), '\uFEFFPORT=6124\r\nPCHAT_FREE_MODE_ENABLED=false\r\n');
    const c = loadConfig(readEnv(dir, {}));
    assert.equal(c.port, 6124);
    assert.equal(c.freeMode, false);
  });

  test('a bad value in .env.local is reported by name', () => {
    const dir = scratch();
    writeFileSync(join(dir, '.env.local'), 'LOG_LEVEL=loud\n');
    assertConfigError(readEnv(dir, {}) as Record<string, string>, 'LOG_LEVEL');
  });
});

describe('the daemon with a bad configuration', () => {
  test('PORT=abc: exits non-zero with exactly one stderr line naming PORT', async () => {
    const data = scratch();
    const res = await runDaemon({ PORT: 'abc', PCHAT_DATA_DIR: join(data, 'data'), PCHAT_UPLOAD_DIR: join(data, 'uploads') });
    assert.equal(res.signal, null, `the daemon did not exit by itself (stdout: ${res.stdout})`);
    assert.notEqual(res.code, 0);
    const lines = res.stderr.split('\n').filter((l) => l.trim() !== '');
    assert.equal(lines.length, 1, `stderr:\n${res.stderr}`);
    assert.match(lines[0], /\bPORT\b/);
    assert.equal(res.stdout, '', 'nothing on stdout: no relay was started');
  });

  for (const [what, env, named] of [
    ['a data dir that is a file', (d: string) => ({ PCHAT_DATA_DIR: join(d, 'file'), PCHAT_UPLOAD_DIR: join(d, 'uploads') }), 'PCHAT_DATA_DIR'],
    ['an upload dir that cannot be made (under /proc: Node\'s recursive mkdir would spin for ever)', (d: string) => ({ PCHAT_DATA_DIR: join(d, 'data'), PCHAT_UPLOAD_DIR: '/proc/pchat-nope/uploads' }), 'PCHAT_UPLOAD_DIR'],
    ['a HOST that does not resolve', (d: string) => ({ HOST: '999.1.1.1', PORT: '0', PCHAT_DATA_DIR: join(d, 'data'), PCHAT_UPLOAD_DIR: join(d, 'uploads') }), 'HOST'],
  ] as const) {
    test(`${what}: exits non-zero with one stderr line naming ${named}`, async () => {
      const dir = scratch();
      writeFileSync(join(dir, 'file'), 'not a directory');
      const res = await runDaemon({ PORT: '0', ...env(dir) });
      assert.equal(res.signal, null, `the daemon did not exit by itself (stderr: ${res.stderr})`);
      assert.notEqual(res.code, 0);
      const lines = res.stderr.split('\n').filter((l) => l.trim() !== '');
      assert.equal(lines.length, 1, `stderr:\n${res.stderr}`);
      assert.match(lines[0], new RegExp(`\\b${named}\\b`));
    });
  }

  test('an identity file the relay may not read: one stderr line saying so (EACCES), not "not valid JSON; restore it from backup"', async () => {
    const dir = scratch();
    const data = join(dir, 'data');
    mkdirSync(data);
    writeFileSync(join(data, IDENTITY_FILE), '{}\n', { mode: 0o600 });
    // As after a restore run as root for a relay that runs as its own user (or a chmod gone wrong).
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      chmodSync(dir, 0o777);
      chmodSync(data, 0o777);
    } else chmodSync(join(data, IDENTITY_FILE), 0o000);
    const res = await runDaemon({ PORT: '0', PCHAT_DATA_DIR: data, PCHAT_UPLOAD_DIR: join(dir, 'uploads'), HOME: dir }, ROOT, 'daemon/main.ts', asRoot ? 65534 : undefined);
    assert.equal(res.signal, null, `the daemon did not exit by itself (stderr: ${res.stderr})`);
    assert.notEqual(res.code, 0);
    const lines = res.stderr.split('\n').filter((l) => l.trim() !== '');
    assert.equal(lines.length, 1, `stderr:\n${res.stderr}`);
    assert.match(lines[0], /relay_identity_ed25519\.json.*EACCES/);
    assert.doesNotMatch(lines[0], /not valid JSON|restore it from backup/);
  });

  test('a bad value from .env.local in the working directory stops it the same way', async () => {
    const dir = scratch();
    writeFileSync(join(dir, '.env.local'), `PCHAT_FREE_MODE_ENABLED=maybe\nPORT=0\nPCHAT_DATA_DIR=${join(dir, 'data')}\nPCHAT_UPLOAD_DIR=${join(dir, 'uploads')}\n`);
    // The child inherits this process's env; make sure these come from the file only.
    const fromFileOnly = { PCHAT_FREE_MODE_ENABLED: undefined, PORT: undefined, PCHAT_DATA_DIR: undefined, PCHAT_UPLOAD_DIR: undefined };
    const res = await runDaemon(fromFileOnly, dir, join(ROOT, 'daemon/main.ts'));
    assert.equal(res.signal, null);
    assert.notEqual(res.code, 0);
    const lines = res.stderr.split('\n').filter((l) => l.trim() !== '');
    assert.equal(lines.length, 1, `stderr:\n${res.stderr}`);
    assert.match(lines[0], /\bPCHAT_FREE_MODE_ENABLED\b/);
  });
});
