// webchat-cli against a real relay: personas, list, send, inbox, watch, errors.
// The CLI always runs as a child process with its own XDG_CONFIG_HOME.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { normalizeRelay } from '../../scripts/cli/http.ts';
import { startTestRelay, type TestRelay } from '../helpers.ts';
import { assertOneErrorLine, jsonLines, LiveCli, newConfigDir, persona, personaFiles, runCli } from './cli-helpers.ts';

test('--relay without a scheme: http:// on loopback and the LAN, https:// anywhere else (the token is not sent in clear)', () => {
  for (const local of ['127.0.0.1:5110', 'localhost:5110', '192.168.1.20:5110', '10.0.0.7', '[::1]:5110', '[fe80::1]:5110', 'relaybox:5110', 'relay.local', 'box.lan:8080']) {
    assert.match(normalizeRelay(local), /^http:\/\//, local);
  }
  for (const remote of ['relay.example.com', 'relay.example.com:8443', '203.0.114.9', '[2606:4700::1111]', 'chat.example.org/pchat/']) {
    assert.match(normalizeRelay(remote), /^https:\/\//, remote);
  }
  assert.equal(normalizeRelay('chat.example.org/pchat/'), 'https://chat.example.org/pchat');
  assert.equal(normalizeRelay('http://relay.example.com'), 'http://relay.example.com', 'an explicit scheme is kept');
  assert.equal(normalizeRelay('HTTPS://10.0.0.7:5110/'), 'https://10.0.0.7:5110');
});

describe('webchat-cli', () => {
  let t: TestRelay;
  let cfg: string;
  let R: string[];
  // alex is a person driving the relay through the API; the agent is the CLI persona.
  let alex: { token: string };

  before(async () => {
    t = await startTestRelay();
    cfg = newConfigDir();
    R = ['--relay', t.url];
    alex = await t.login('alex@example.com', { chat_address: 'alex', display_name: 'Alex', public_visible: true });
    const r = await runCli(cfg, ['agent@example.com', '--name', 'Codex Agent', '--chat-address', 'codex-agent', ...R, '--computer', 'box', '--session-name', 'worker', '--quiet-url']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => t.stop());

  const agent = (...args: string[]) => runCli(cfg, ['agent@example.com', '--quiet-url', ...args]);
  const sendFromAlex = async (text: string, extra: Record<string, unknown> = {}) => {
    const r = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'codex-agent', text, ...extra }, alex.token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as { message_id: string; seq: number };
  };

  test('first run creates a 0600 persona and prints the GUI auto-login URL; later runs reuse the token', async () => {
    const c = newConfigDir();
    const first = await runCli(c, ['bot@example.com', '--name', 'Bot', '--chat-address', 'bot-one', ...R, '--computer', 'laptop', '--session-name', 'gui thread', '--listen-channel', 'pchat']);
    assert.equal(first.code, 0, first.stderr);
    const [{ file, data }] = personaFiles(c);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(c, 'pchat')).mode & 0o777, 0o700);
    assert.equal(data.chat_address, 'bot-one');
    assert.equal(data.display_name, 'Bot');
    assert.equal(data.relay, t.url);
    assert.match(data.token, /^pct_/);
    const url = new URL(first.stdout.split('\n').find((l) => l.startsWith('GUI: '))!.slice(5));
    assert.equal(url.pathname, '/app/webchat/chat.html');
    assert.equal(url.searchParams.get('pchat_session'), data.token);
    assert.equal(url.searchParams.get('email'), 'bot@example.com');
    assert.equal(url.searchParams.get('chat_address'), 'bot-one');

    // The session is named in the directory.
    const dir = await t.api('GET', '/api/v1/webchat/directory?q=bot-one', undefined, alex.token);
    assert.deepEqual(
      dir.body.users[0].sessions.map((s: any) => [s.device_name, s.session_name, s.listen_channel]),
      [['laptop', 'gui thread', 'pchat']],
    );

    // Reuse: same token, no new login; --name changes the account.
    const second = await runCli(c, ['bot@example.com', '--name', 'Bot Two', '--json']);
    assert.equal(second.code, 0, second.stderr);
    const [line] = jsonLines(second.stdout);
    assert.equal(line.type, 'persona');
    assert.equal(line.display_name, 'Bot Two');
    assert.equal(new URL(line.gui_url).searchParams.get('pchat_session'), data.token);
    assert.equal(persona(c, 'bot@example.com').token, data.token);
    const me = await t.api('GET', '/api/v1/pchat/auth/me', undefined, data.token);
    assert.equal(me.body.user.display_name, 'Bot Two');

    // --quiet-url prints nothing.
    const quiet = await runCli(c, ['bot@example.com', '--quiet-url']);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stdout, '');
  });

  test('an expired token is replaced by a fresh login on the next run', async () => {
    const c = newConfigDir();
    assert.equal((await runCli(c, ['expiry@example.com', ...R, '--quiet-url'])).code, 0);
    const old = persona(c, 'expiry@example.com').token;
    assert.equal((await t.api('POST', '/api/v1/pchat/auth/logout', {}, old)).status, 200);
    const r = await runCli(c, ['expiry@example.com', '--quiet-url']);
    assert.equal(r.code, 0, r.stderr);
    const fresh = persona(c, 'expiry@example.com').token;
    assert.notEqual(fresh, old);
    assert.equal((await t.api('GET', '/api/v1/pchat/auth/me', undefined, fresh)).status, 200);
  });

  test('--list shows stored personas without their tokens', async () => {
    const r = await runCli(cfg, ['--list', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const [p] = jsonLines(r.stdout);
    assert.equal(p.email, 'agent@example.com');
    assert.equal(p.chat_address, 'codex-agent');
    assert.equal(p.device_name, 'box');
    assert.equal(p.logged_in, true);
    assert.equal(p.token, undefined);
    assert.ok(!r.stdout.includes('pct_'));
    const text = await runCli(cfg, ['--list']);
    assert.match(text.stdout, /agent@example\.com\n {2}address codex-agent/);
    assert.ok(!text.stdout.includes('pct_'));
  });

  test('direct send and reply reach the receiver; inbox claims each message once', async () => {
    const r = await agent('--to', 'alex', '--message', 'hello from the agent', '--json');
    assert.equal(r.code, 0, r.stderr);
    const [sent] = jsonLines(r.stdout);
    assert.equal(sent.type, 'sent');
    assert.match(sent.message_id, /^msg_/);
    const reply = await agent('--to', 'alex', '--message', 'and a reply', '--reply-to', sent.message_id, '--json');
    assert.equal(reply.code, 0, reply.stderr);
    const got = await t.api('POST', '/api/v1/webchat/poll', { after: 0, limit: 100 }, alex.token);
    const texts = got.body.messages.map((m: any) => [m.from, m.text, m.reply_to]);
    assert.deepEqual(texts.slice(-2), [
      ['codex-agent', 'hello from the agent', null],
      ['codex-agent', 'and a reply', sent.message_id],
    ]);

    const m1 = await sendFromAlex('first for the inbox');
    const m2 = await sendFromAlex('second for the inbox', { reply_to: sent.message_id });
    const inbox = await agent('--inbox', '--json');
    assert.equal(inbox.code, 0, inbox.stderr);
    const events = jsonLines(inbox.stdout).filter((e) => e.type === 'message');
    assert.deepEqual(events.map((e) => [e.message_id, e.from, e.display_name, e.text]), [
      [m1.message_id, 'alex', 'Alex', 'first for the inbox'],
      [m2.message_id, 'alex', 'Alex', 'second for the inbox'],
    ]);
    assert.equal(events[1].reply_to, sent.message_id);
    assert.ok(persona(cfg, 'agent@example.com').cursor >= m2.seq);
    const again = await agent('--inbox', '--json');
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, '');

    // Text form: sender and text on one line; --limit bounds a run.
    await sendFromAlex('text one');
    await sendFromAlex('text two');
    const one = await agent('--inbox', '--limit', '1');
    assert.match(one.stdout, /^\[.+\] msg_\w+ alex \(Alex\): text one\n$/);
    const two = await agent('--inbox');
    assert.match(two.stdout, /alex \(Alex\): text two\n$/);
  });

  test('text that starts with a dash (a markdown list, a negative number) is sent as given', async () => {
    const list = '- step one\n- step two';
    const r = await agent('--to', 'alex', '--message', list, '--json');
    assert.equal(r.code, 0, r.stderr);
    const [sent] = jsonLines(r.stdout);
    const minus = await agent('--to', 'alex', '--message', '-3 °C outside', '--json');
    assert.equal(minus.code, 0, minus.stderr);
    const got = await t.api('POST', '/api/v1/webchat/poll', { after: 0, limit: 500 }, alex.token);
    const texts = got.body.messages.filter((m: any) => m.from === 'codex-agent').map((m: any) => m.text);
    assert.deepEqual(texts.slice(-2), [list, '-3 °C outside']);
    assert.ok(got.body.messages.some((m: any) => m.id === sent.message_id));
  });

  test('--search finds sent and received messages with every word, newest first; --to narrows it; --limit caps it', async () => {
    await sendFromAlex('The Zürich deploy is green');
    assert.equal((await agent('--to', 'alex', '--message', 'zurich DEPLOY noted')).code, 0);
    assert.equal((await agent('--to', 'codex-agent', '--message', 'note: zurich deploy checklist')).code, 0);
    const all = await agent('--search', 'deploy zurich', '--json');
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(
      jsonLines(all.stdout).map((e) => [e.from, e.text]),
      [
        ['codex-agent', 'note: zurich deploy checklist'],
        ['codex-agent', 'zurich DEPLOY noted'],
        ['alex', 'The Zürich deploy is green'],
      ],
    );
    const withAlex = await agent('--search', 'deploy zurich', '--to', 'alex', '--limit', '1', '--json');
    assert.deepEqual(jsonLines(withAlex.stdout).map((e) => e.text), ['zurich DEPLOY noted']);
    const none = await agent('--search', 'no-such-words-anywhere');
    assert.equal(none.code, 0);
    assert.equal(none.stdout, '');
    assert.match(none.stderr, /nothing found/);
    const bad = await agent('--search', 'x', '--message', 'y', '--to', 'alex');
    assert.equal(bad.code, 2);
  });

  test('--to group:grp_… sends to a group', async () => {
    const g = await t.api('POST', '/api/v1/webchat/groups', { name: 'Builds', visibility: 'private', mode: 'chat' }, alex.token);
    assert.equal(g.status, 200, JSON.stringify(g.body));
    const gid: string = g.body.group?.id ?? g.body.group_id ?? g.body.id;
    assert.match(gid, /^grp_/);
    const add = await t.api('POST', `/api/v1/webchat/groups/${gid}/members`, { member_address: 'codex-agent' }, alex.token);
    assert.equal(add.status, 200, JSON.stringify(add.body));
    await agent('--inbox'); // skip the membership events
    const r = await agent('--to', `group:${gid}`, '--message', 'hello group', '--json');
    assert.equal(r.code, 0, r.stderr);
    const got = await t.api('POST', '/api/v1/webchat/poll', { after: 0, limit: 500 }, alex.token);
    assert.ok(got.body.events.some((e: any) => e.type === 'message' && e.message.text === 'hello group' && e.message.from === 'codex-agent'));
    // And a group message from alex reaches the agent's inbox, marked with the group.
    await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: `group:${gid}`, text: 'group news' }, alex.token);
    const inbox = jsonLines((await agent('--inbox', '--json')).stdout).filter((e) => e.type === 'message');
    assert.equal(inbox.at(-1).text, 'group news');
    assert.equal(inbox.at(-1).group, gid);
  });

  test('files: uploaded in parallel, audio goes as a voice clip, the receiver gets working links', async () => {
    const dir = newConfigDir();
    const note = join(dir, 'note.wav');
    const report = join(dir, 'report.txt');
    // A real (if silent) clip: the relay sniffs the bytes, it does not trust the name.
    const clip = wav(0.5);
    writeFileSync(note, clip);
    writeFileSync(report, 'quarterly report\n');
    const r = await agent('--to', 'alex', '--file', note, '--file', report, '--caption', 'two files', '--json');
    assert.equal(r.code, 0, r.stderr);
    const [sent] = jsonLines(r.stdout);
    assert.deepEqual(sent.attachments.map((a: any) => a.kind), ['voice', 'file']);
    const got = await t.api('POST', '/api/v1/webchat/poll', { after: 0, limit: 500 }, alex.token);
    const msg = got.body.messages.find((m: any) => m.id === sent.message_id);
    assert.equal(msg.attachments.length, 2);
    // The agent receives a file from alex and prints an absolute link that downloads it.
    const forced = await runCli(newConfigDir(), ['alex@example.com', ...R, '--quiet-url', '--to', 'codex-agent', '--file', note, '--attachment-kind', 'file', '--json']);
    assert.equal(forced.code, 0, forced.stderr);
    const inbox = jsonLines((await agent('--inbox', '--json')).stdout).filter((e) => e.type === 'message');
    const att = inbox.at(-1).attachments[0];
    assert.equal(att.kind, 'file');
    assert.match(att.url, /^http:\/\/127\.0\.0\.1:\d+\/api\/v1\/webchat\/files\//);
    const dl = await fetch(att.url, { headers: { 'x-pchat-session': persona(cfg, 'agent@example.com').token } });
    assert.equal(dl.status, 200);
    assert.ok(Buffer.from(await dl.arrayBuffer()).equals(clip), 'byte-exact download');
  });

  for (const transport of ['poll', 'ws'] as const) {
    test(`watch (${transport}): presence on, a message within a second, edits and deletions, offline on SIGTERM`, async () => {
      await agent('--inbox');
      const w = new LiveCli(cfg, ['agent@example.com', '--quiet-url', '--watch', '--json', '--transport', transport]);
      try {
        const ready = await w.line((l) => l.type === 'ready');
        assert.equal(ready.transport, transport === 'ws' ? 'websocket' : 'long-poll');
        const online = await t.api('GET', '/api/v1/webchat/directory?q=codex-agent', undefined, alex.token);
        assert.equal(online.body.users[0].online, true);

        const startedAt = Date.now();
        const m = await sendFromAlex('are you there?');
        const got = await w.line((l) => l.type === 'message' && l.message_id === m.message_id, 1000);
        assert.ok(Date.now() - startedAt < 1000);
        assert.equal(got.text, 'are you there?');

        const from = w.lines.length;
        assert.equal((await t.api('POST', '/api/v1/webchat/edit', { message_id: m.message_id, text: 'are you still there?' }, alex.token)).status, 200);
        const edit = await w.line((l) => l.type === 'edit', 5000, from);
        assert.deepEqual([edit.message_id, edit.text], [m.message_id, 'are you still there?']);
        assert.equal((await t.api('POST', '/api/v1/webchat/delete', { message_id: m.message_id }, alex.token)).status, 200);
        const del = await w.line((l) => l.type === 'delete', 5000, from);
        assert.equal(del.message_id, m.message_id);
      } finally {
        assert.equal(await w.stop('SIGTERM'), 0, w.stderr);
      }
      assert.ok(w.lines.some((l) => l.type === 'stopped'));
      const offline = await t.api('GET', '/api/v1/webchat/directory?q=codex-agent', undefined, alex.token);
      assert.equal(offline.body.users[0].online, false);
    });

    test(`watch (${transport}): a restart neither loses nor repeats a message`, async () => {
      await agent('--inbox');
      const args = ['agent@example.com', '--quiet-url', '--watch', '--json', '--transport', transport];
      const w1 = new LiveCli(cfg, args);
      await w1.line((l) => l.type === 'ready');
      const a = await sendFromAlex(`${transport} before restart`);
      await w1.line((l) => l.message_id === a.message_id);
      assert.equal(await w1.stop('SIGINT'), 0, w1.stderr);
      const b = await sendFromAlex(`${transport} while stopped 1`);
      const c = await sendFromAlex(`${transport} while stopped 2`);
      const w2 = new LiveCli(cfg, args);
      try {
        await w2.line((l) => l.type === 'ready');
        const d = await sendFromAlex(`${transport} after restart`);
        await w2.line((l) => l.message_id === d.message_id);
        const ids = w2.lines.filter((l) => l.type === 'message').map((l) => l.message_id);
        assert.deepEqual(ids, [b.message_id, c.message_id, d.message_id]);
      } finally {
        assert.equal(await w2.stop(), 0, w2.stderr);
      }
    });
  }

  test('watch reconnects with backoff when the relay restarts, and misses nothing', async () => {
    await agent('--inbox');
    const w = new LiveCli(cfg, ['agent@example.com', '--quiet-url', '--watch', '--json', '--interval', '0.2']);
    try {
      await w.line((l) => l.type === 'ready');
      await t.restart();
      const m = await sendFromAlex('after the relay restarted');
      const got = await w.line((l) => l.message_id === m.message_id, 15_000);
      assert.equal(got.text, 'after the relay restarted');
      assert.ok(w.lines.some((l) => l.type === 'reconnecting'), JSON.stringify(w.lines));
    } finally {
      assert.equal(await w.stop(), 0, w.stderr);
    }
  });

  test('watch whose stdout reader went away (| grep -m1) stops cleanly and keeps the undelivered message', async () => {
    await agent('--inbox');
    const w = new LiveCli(cfg, ['agent@example.com', '--quiet-url', '--watch', '--json']);
    await w.line((l) => l.type === 'ready');
    const a = await sendFromAlex('the one grep waits for');
    await w.line((l) => l.message_id === a.message_id);
    w.child.stdout!.destroy(); // the reader exits; the next line meets EPIPE
    const b = await sendFromAlex('nobody is reading this one yet');
    const code = await Promise.race([w.exited, new Promise((r) => setTimeout(() => r('still running'), 10_000))]);
    assert.equal(code, 0, w.stderr);
    assert.doesNotMatch(w.stderr, /EPIPE|\n\s+at /);
    const offline = await t.api('GET', '/api/v1/webchat/directory?q=codex-agent', undefined, alex.token);
    assert.equal(offline.body.users[0].online, false);
    const next = jsonLines((await agent('--inbox', '--json')).stdout).filter((e) => e.type === 'message');
    assert.deepEqual(next.map((e) => e.message_id), [b.message_id]);
  });

  test('watch (ws) logs in again at once when the relay closes the socket with 4001 (session logged out)', async () => {
    const c = newConfigDir();
    assert.equal((await runCli(c, ['relogin@example.com', ...R, '--chat-address', 'relogin-bot', '--quiet-url'])).code, 0);
    const old = persona(c, 'relogin@example.com').token;
    const w = new LiveCli(c, ['relogin@example.com', '--quiet-url', '--watch', '--json', '--transport', 'ws', '--interval', '0.2']);
    try {
      await w.line((l) => l.type === 'ready');
      const from = w.lines.length;
      assert.equal((await t.api('POST', '/api/v1/pchat/auth/logout', {}, old)).status, 200);
      // Well before the 20 s heartbeat, which would otherwise be the first to notice.
      await w.line((l) => l.type === 'ready', 8000, from);
      const m = await t.api('POST', '/api/v1/messages', { channel: 'pchat', to: 'relogin-bot', text: 'after the logout' }, alex.token);
      assert.equal(m.status, 200, JSON.stringify(m.body));
      await w.line((l) => l.message_id === m.body.message_id, 5000);
      assert.notEqual(persona(c, 'relogin@example.com').token, old);
    } finally {
      assert.equal(await w.stop(), 0, w.stderr);
    }
  });

  describe('errors: one line on stderr, non-zero exit, no stack trace', () => {
    test('unreachable relay', async () => {
      const port = await new Promise<number>((r) => {
        const s = createServer().listen(0, '127.0.0.1', () => {
          const p = (s.address() as { port: number }).port;
          s.close(() => r(p));
        });
      });
      const r = await runCli(newConfigDir(), ['x@example.com', '--relay', `http://127.0.0.1:${port}`]);
      assert.equal(r.code, 3);
      assert.match(assertOneErrorLine(r), /cannot reach the relay at http:\/\/127\.0\.0\.1:\d+ \(connection refused\)/);
    });

    test('refused write: unknown recipient, too-long text', async () => {
      const r = await agent('--to', 'nobody-here', '--message', 'hi');
      assert.equal(r.code, 1);
      assert.match(assertOneErrorLine(r), /chat address/i);
      const long = await agent('--to', 'alex', '--message', 'x'.repeat(t.config.textMaxChars + 1));
      assert.equal(long.code, 1);
      assertOneErrorLine(long);
    });

    test('bad usage', async () => {
      const r = await runCli(newConfigDir(), ['not-an-email']);
      assert.equal(r.code, 2);
      assertOneErrorLine(r);
      const f = await agent('--to', 'alex', '--file', '/nonexistent/file.txt');
      assert.equal(f.code, 2);
      assert.match(assertOneErrorLine(f), /no such file/);
    });

    describe('on a relay that mails codes (no dev_code)', () => {
      let m: TestRelay;
      before(async () => (m = await startTestRelay({ PCHAT_DEV_EXPOSE_CODES: 'false' })));
      after(() => m.stop());
      const codeFor = (email: string) => {
        const line = [...m.logs].reverse().find((l) => typeof l.msg === 'string' && l.msg.startsWith(`login code for ${email}:`));
        return String(line?.msg).match(/: (\d{6}) /)![1];
      };

      test('first run without a terminal asks for --code; --code logs in; a bad code fails', async () => {
        const c = newConfigDir();
        const ask = await runCli(c, ['mail@example.com', '--relay', m.url]);
        assert.equal(ask.code, 4);
        assert.match(assertOneErrorLine(ask), /a login code was sent to mail@example\.com — run again with --code/);
        const bad = await runCli(c, ['mail@example.com', '--relay', m.url, '--code', codeFor('mail@example.com') === '000000' ? '111111' : '000000']);
        assert.equal(bad.code, 4);
        assert.match(assertOneErrorLine(bad), /login failed: .*code/i);
        await runCli(c, ['mail@example.com', '--relay', m.url]);
        const ok = await runCli(c, ['mail@example.com', '--relay', m.url, '--code', codeFor('mail@example.com'), '--quiet-url']);
        assert.equal(ok.code, 0, ok.stderr);
        assert.match(persona(c, 'mail@example.com').token, /^pct_/);

        // The token expires (here: revoked); without a code the run fails with one clear line.
        await m.api('POST', '/api/v1/pchat/auth/logout', {}, persona(c, 'mail@example.com').token);
        const expired = await runCli(c, ['mail@example.com', '--to', 'mail@example.com', '--message', 'x']);
        assert.equal(expired.code, 4);
        assert.match(assertOneErrorLine(expired), /stored session for mail@example\.com has expired/);
      });
    });
  });
});

/** A mono 16-bit 8 kHz PCM WAV of `seconds` of silence. */
function wav(seconds: number): Buffer {
  const rate = 8000;
  const data = Buffer.alloc(Math.round(rate * seconds) * 2);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}
