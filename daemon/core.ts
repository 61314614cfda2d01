// What every service shares: the journal, the actor registry, the projections, and the
// after-commit hooks. `commit()` is the one place a write becomes durable.
import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Journal } from '../journal/journal.ts';
import { accountMachine, ACCOUNT_VERSION } from '../actors/account.ts';
import { inboxMachine, INBOX_VERSION, type InboxEvent } from '../actors/inbox.ts';
import { loginMachine, LOGIN_VERSION } from '../actors/login.ts';
import type { Config } from './config.ts';
import type { RelayIdentity } from './identity.ts';
import { Projections } from './projections.ts';
import { Registry, type ActorKind } from './registry.ts';
import { Waiters } from './waiters.ts';

export const Inbox: ActorKind = { prefix: 'inbox', machine: inboxMachine, version: INBOX_VERSION, input: (user) => ({ user }) };
export const Account: ActorKind = { prefix: 'user', machine: accountMachine, version: ACCOUNT_VERSION, input: (id) => ({ id }) };
export const Login: ActorKind = { prefix: 'login', machine: loginMachine, version: LOGIN_VERSION };

export class Core {
  readonly registry: Registry;
  readonly projections: Projections;
  readonly waiters = new Waiters();
  /** Highest seq of each inbox known to be on disk; polls never read past it. */
  private readonly durable = new Map<string, number>();
  private fatal = false;

  constructor(
    readonly config: Config,
    readonly journal: Journal,
    readonly identity: RelayIdentity,
    readonly log: Logger,
  ) {
    this.projections = new Projections(journal);
    this.registry = new Registry(journal, config.snapshotEvery, (stream, seq, event) => this.projections.apply(stream, seq, event));
  }

  /**
   * Makes everything staged so far durable, then marks the given inboxes durable up to their
   * current seq and wakes their parked polls. A failed commit is fatal: memory is ahead of
   * disk, so the process exits and restarts from the journal (nothing acknowledged is lost).
   */
  async commit(touchedInboxes: Iterable<string> = []): Promise<void> {
    const heads = [...new Set(touchedInboxes)].map((user) => [user, this.journal.head(`inbox:${user}`)] as const);
    try {
      await this.journal.commit();
    } catch (err) {
      if (!this.fatal) {
        this.fatal = true;
        this.log.fatal({ err: (err as Error).message }, 'journal commit failed; exiting so the relay restarts from the journal');
        setImmediate(() => process.exit(70));
      }
      throw err;
    }
    for (const [user, seq] of heads) {
      if (seq > (this.durable.get(user) ?? 0)) this.durable.set(user, seq);
      this.waiters.wake(user);
    }
  }

  /** Highest durable seq of an inbox (after a restart, everything in the journal is). */
  durableSeq(user: string): number {
    return this.durable.get(user) ?? this.journal.head(`inbox:${user}`);
  }

  /** Stages events in a user's inbox (remembering what was durable before). */
  applyInbox(user: string, events: readonly InboxEvent[]): number[] {
    if (!this.durable.has(user)) this.durable.set(user, this.journal.head(`inbox:${user}`));
    return this.registry.apply(Inbox, user, events);
  }
}

export const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
export const randomHex = (bytes: number) => randomBytes(bytes).toString('hex');
export const iso = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : null);
