// Builds a relay data dir holding BUILD_MESSAGES direct messages between BUILD_USERS users,
// in-process, through the relay's own Core (registry + projections, as a send takes, so
// snapshots and indexes are what the relay itself would have written), committing in batches.
// Prints one JSON line: the session tokens of the first users (for polling after restart).
//
// Run: node --import tsx scripts/bench/build-journal.ts  (env BUILD_DIR, BUILD_MESSAGES, BUILD_USERS, BUILD_TEXT_BYTES)
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from '../../journal/journal.ts';
import { loadConfig } from '../../daemon/config.ts';
import { Account, Core, sha256 } from '../../daemon/core.ts';
import { loadOrCreateIdentity } from '../../daemon/identity.ts';
import { createLogger } from '../../daemon/logger.ts';
import type { AccountEvent } from '../../actors/account.ts';
import type { InboxEvent } from '../../actors/inbox.ts';

/** Messages per LMDB transaction: big enough to amortise the flush, small enough to keep memory flat. */
const BATCH = 20_000;
/** How many users' tokens are handed back (one restart run polls as one of them). */
const TOKENS_RETURNED = 20;

export interface BuiltJournal {
  dataDir: string;
  users: number;
  messages: number;
  buildMs: number;
  /** Session tokens and addresses of the first users. */
  sessions: { token: string; address: string }[];
}

function need(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
}

async function main() {
  const dataDir = join(need('BUILD_DIR'), 'data');
  const messages = Number(need('BUILD_MESSAGES'));
  const users = Number(need('BUILD_USERS'));
  const textBytes = Number(process.env.BUILD_TEXT_BYTES ?? 100);
  const started = performance.now();

  const config = loadConfig({ PCHAT_DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
  mkdirSync(dataDir, { recursive: true });
  const journal = Journal.open(dataDir);
  const core = new Core(config, journal, loadOrCreateIdentity(dataDir), createLogger('silent'));
  // Marks the projections current, as a fresh relay does; otherwise the relay would rebuild at start.
  await core.projections.rebuildIfStale();
  const { registry } = core;

  const ids: string[] = [];
  const addresses: string[] = [];
  const sids: string[] = [];
  const sessions: BuiltJournal['sessions'] = [];
  const now = Date.now();
  for (let u = 0; u < users; u++) {
    const id = `usr_bench${String(u).padStart(7, '0')}`;
    const address = `bench-u${u}`;
    const sid = `ses_bench${u}`;
    const token = `pct_${randomBytes(32).toString('base64url')}`;
    const events: AccountEvent[] = [
      { type: 'created', email: `bench-u${u}@bench.invalid`, display_name: `Bench ${u}`, chat_address: address, public_visible: false, avatar_file_id: null, at: now },
      { type: 'session_opened', sid, token_hash: sha256(token), device_name: 'bench', session_name: 'bench', at: now },
    ];
    registry.apply(Account, id, events);
    ids.push(id);
    addresses.push(address);
    sids.push(sid);
    if (u < TOKENS_RETURNED) sessions.push({ token, address });
  }
  await journal.commit();

  const filler = 'x'.repeat(textBytes);
  const idPrefix = randomBytes(6).toString('hex');
  for (let m = 0; m < messages; m++) {
    // Each user talks to a rotating set of peers, so inboxes see many conversations.
    const a = m % users;
    const b = (a + 1 + (Math.floor(m / users) % (users - 1))) % users;
    const msg = {
      id: `msg_${idPrefix}${m.toString(16).padStart(12, '0')}`,
      from_user: ids[a],
      to_user: ids[b],
      from: addresses[a],
      to: addresses[b],
      text: filler,
      sender_session: sids[a],
      at: now + m,
    };
    // Same order and shape as Messaging.deliver: the recipient's copy first, then the sender's.
    core.applyInbox(ids[b], [{ type: 'msg_in', ...msg } satisfies InboxEvent]);
    core.applyInbox(ids[a], [{ type: 'msg_out', ...msg } satisfies InboxEvent]);
    if ((m + 1) % BATCH === 0) {
      await journal.commit();
      if ((m + 1) % 100_000 === 0) {
        const s = (performance.now() - started) / 1000;
        process.stderr.write(`  journal: ${m + 1} / ${messages} messages (${s.toFixed(0)} s)\n`);
      }
    }
  }
  await journal.close();

  const out: BuiltJournal = { dataDir, users, messages, buildMs: Math.round(performance.now() - started), sessions };
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  process.stderr.write(`build-journal: ${err?.stack ?? err}\n`);
  process.exit(1);
});
