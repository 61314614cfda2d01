// What every service shares: the journal, the actor registry, the projections, and the
// after-commit hooks. `commit()` is the one place a write becomes durable.
import { hash, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Journal } from '../journal/journal.ts';
import { Refusal } from '../actors/decision.ts';
import { accountMachine, ACCOUNT_VERSION, type AccountContext } from '../actors/account.ts';
import { inboxMachine, INBOX_PASSIVE, INBOX_VERSION, type InboxEvent } from '../actors/inbox.ts';
import { groupMachine, GROUP_VERSION, isMember, type GroupContext, type GroupEvent } from '../actors/group.ts';
import { loginMachine, LOGIN_VERSION } from '../actors/login.ts';
import type { Auth } from './accounts.ts';
import type { Config } from './config.ts';
import type { RelayIdentity } from './identity.ts';
import { Projections, type MessageRecord } from './projections.ts';
import { Registry, type ActorKind } from './registry.ts';
import { Waiters } from './waiters.ts';

export const Inbox: ActorKind = { prefix: 'inbox', machine: inboxMachine, version: INBOX_VERSION, input: (user) => ({ user }), passive: INBOX_PASSIVE };
export const Account: ActorKind = { prefix: 'user', machine: accountMachine, version: ACCOUNT_VERSION, input: (id) => ({ id }) };
export const Login: ActorKind = { prefix: 'login', machine: loginMachine, version: LOGIN_VERSION };
export const Group: ActorKind = { prefix: 'group', machine: groupMachine, version: GROUP_VERSION, input: (id) => ({ id }) };

/** Longest a deferred write (see `stageSoon`) waits for another commit to ride along with. */
const DEFERRED_STAGE_MS = 5;
/** Sends let through per event-loop turn before the rest wait for the next (see `admit`). */
export const TURN_BUDGET = 16;

export class Core {
  readonly registry: Registry;
  readonly projections: Projections;
  readonly waiters = new Waiters();
  /** Why the journal failed, once a commit did (see `commit`): no commit is acknowledged after it, and /health reports it until the exit. */
  private fault: string | undefined;
  /** Writes nobody waits for, staged by the next commit (each returns the users to wake). */
  private deferred: ((wake: Set<string>) => void)[] = [];
  private deferredTimer: NodeJS.Timeout | undefined;
  /** Sends let through since the current turn's batch opened, and those waiting for a later one. */
  private admitted = 0;
  private readonly admitting: (() => void)[] = [];
  private turnEndQueued = false;
  /** Set by `drain`: the journal is about to close, so no send is let through any more. */
  private drained = false;

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
   * Makes everything staged so far durable, then wakes the readers of the given users (their
   * parked polls and live connections). A failed commit is fatal: memory is ahead of disk, so
   * the process exits and restarts from the journal (nothing acknowledged is lost).
   */
  async commit(touchedUsers: Iterable<string> = []): Promise<void> {
    const wake = this.deferred.length ? this.stageDeferred(touchedUsers) : touchedUsers;
    try {
      await this.journal.commit();
    } catch (err) {
      if (this.fault === undefined) {
        this.fault = `a journal commit failed (${(err as Error).message}); the relay is exiting to restart from the journal`;
        this.log.fatal({ err: (err as Error).message }, 'journal commit failed; exiting so the relay restarts from the journal');
        setImmediate(() => process.exit(70));
      }
      throw err;
    }
    // A later batch can commit after an earlier one failed (disk space freed in between): its
    // events follow ones that are not on disk, so it is not acknowledged either.
    if (this.fault !== undefined) throw new Error('an earlier journal commit failed; the relay is restarting');
    for (const user of wake) this.waiters.wake(user);
  }

  /**
   * Stages a write nobody waits for (a delivered receipt) with the next commit, so it shares
   * that commit's transaction and flush instead of costing one of its own; if no commit comes
   * within DEFERRED_STAGE_MS, one is made for it. `stage` runs synchronously at that point and
   * must decide afresh (state may have moved); it adds the users to wake to `wake` as it stages
   * for them, so those it staged for are woken even if it throws part-way.
   */
  stageSoon(stage: (wake: Set<string>) => void) {
    if (this.drained) return; // the journal is closing: a push after that has nobody to tell
    this.deferred.push(stage);
    this.deferredTimer ??= setTimeout(() => void this.commit().catch(() => {}), DEFERRED_STAGE_MS);
  }

  private stageDeferred(touchedUsers: Iterable<string>): Set<string> {
    clearTimeout(this.deferredTimer);
    this.deferredTimer = undefined;
    const wake = new Set(touchedUsers);
    for (const stage of this.deferred.splice(0)) {
      try {
        stage(wake);
      } catch (err) {
        // A deferred write is nobody's request: its failure must not fail the one it rides with.
        this.log.error({ err: (err as Error).message }, 'a deferred write failed');
      }
    }
    return wake;
  }

  /**
   * Write pipelining. lmdb gathers every write staged in one event-loop turn into one batch
   * and starts committing it only when the turn ends (a setImmediate queued by the turn's
   * first write). When many sends arrive together (a poll phase with many sockets readable),
   * staging them all first leaves the write thread idle and then the main thread idle while
   * it commits. So past TURN_BUDGET sends in a turn, the rest wait: the turn's end is marked
   * by a setImmediate queued from a microtask, i.e. after the admitted sends have staged and
   * so after lmdb's own; there up to TURN_BUDGET waiting sends resume and stage the next batch
   * while the write thread commits this one. Returns undefined when the caller may go on.
   */
  admit(): Promise<void> | undefined {
    if (this.drained) throw new Refusal('draining', 'the relay is shutting down; send again once it is back');
    this.queueTurnEnd();
    if (this.admitted < TURN_BUDGET && this.admitting.length === 0) {
      this.admitted++;
      return undefined;
    }
    return new Promise<void>((resume) => this.admitting.push(resume));
  }

  /**
   * Shutdown: lets the sends still waiting for a turn (they were accepted before draining
   * began) stage and makes everything durable; sends after this are refused with `draining`.
   * Without it a queued send would meet a closed journal: an internal error, never acked.
   */
  async drain(): Promise<void> {
    while (this.admitting.length || this.turnEndQueued) await new Promise<void>((resume) => setImmediate(resume));
    this.drained = true;
    await this.commit(); // and deferred writes (delivered receipts)
  }

  private queueTurnEnd() {
    if (this.turnEndQueued) return;
    this.turnEndQueued = true;
    queueMicrotask(() => setImmediate(() => this.turnEnd()));
  }

  private turnEnd() {
    this.turnEndQueued = false;
    const next = this.admitting.splice(0, TURN_BUDGET);
    this.admitted = next.length;
    for (const resume of next) resume();
    // Queued (from a microtask) after the resumed sends have staged: it ends their turn too.
    if (next.length) this.queueTurnEnd();
  }

  /**
   * Resolves once everything staged so far is on disk; undefined when nothing is in flight. A
   * read answer held until then (computed first, then held) shows no state a crash could still
   * take back (projections and actor contexts change when a write is staged, before its flush).
   */
  settled(): Promise<void> | undefined {
    return this.journal.lastSeq > this.journal.durableSeq ? this.journal.commit() : undefined;
  }

  /** Why the journal takes no writes any more (a commit failed), or undefined while it does. */
  get journalFault(): string | undefined {
    return this.fault;
  }

  /** Highest seq on disk: readers never look past it. */
  get durableSeq(): number {
    return this.journal.durableSeq;
  }

  /** Stages events in a user's inbox. */
  applyInbox(user: string, events: readonly InboxEvent[]): number[] {
    return this.registry.apply(Inbox, user, events);
  }

  /** Stages events in a group's stream. */
  applyGroup(group: string, events: readonly GroupEvent[]): number[] {
    return this.registry.apply(Group, group, events);
  }

  /** Whether this session is still open (not logged out, nor closed by logout-all or the session cap). */
  sessionOpen(auth: { user: string; sid: string }): boolean {
    return !!this.registry.context<AccountContext>(Account, auth.user).sessions[auth.sid];
  }

  /**
   * A caller's session as it is now, for one that waited (a queued send, a long-lived socket):
   * the account's current record (renamed, suspended since), or undefined once the session is
   * closed (logout, logout-all, the session cap) or the account gone.
   */
  currentAuth(auth: Auth): Auth | undefined {
    const record = this.projections.user(auth.user);
    if (!record || !this.sessionOpen(auth)) return undefined;
    return record === auth.record ? auth : { ...auth, record };
  }

  /** Whether `user` takes part in the message: sent or received it directly, or is in its group. */
  seesMessage(user: string, rec: MessageRecord): boolean {
    return rec.group ? isMember(this.registry.context<GroupContext>(Group, rec.group), user) : rec.from_user === user || rec.to_user === user;
  }
}

/** Hex SHA-256 (one-shot: no Hash object per call, which matters at one per request). */
export const sha256 = (s: string | Buffer) => hash('sha256', s, 'hex');
/** Random bytes drawn per syscall for ids; a message id takes 12 of them. */
const RANDOM_POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let poolAt = 0;
/** Hex of `bytes` random bytes (CSPRNG), served from a pool: one syscall per ~300 ids, not one each. */
export const randomHex = (bytes: number) => {
  if (bytes > RANDOM_POOL_BYTES) return randomBytes(bytes).toString('hex');
  if (poolAt + bytes > pool.length) {
    pool = randomBytes(RANDOM_POOL_BYTES);
    poolAt = 0;
  }
  poolAt += bytes;
  return pool.toString('hex', poolAt - bytes, poolAt);
};
/**
 * A message id: 48 bits of milliseconds then 48 random bits, as 24 hex digits. Ids that grow
 * with time are inserted at the end of the message index instead of all over it, so a commit
 * dirties a few B-tree pages rather than one (and its path) per message.
 */
export const messageId = () => `msg_${Date.now().toString(16).padStart(12, '0')}${randomHex(6)}`;
export const iso = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : null);
