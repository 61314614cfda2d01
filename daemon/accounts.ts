// Login by email code, session tokens, and the profile (`/api/v1/pchat/auth/...`).
// Tokens are `pct_` + 32 random bytes; only their sha256 is stored.
import { createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { Refusal } from '../actors/decision.ts';
import { decideCloseSessions, decideCreate, decideProfile, decideSessionUse, profileFields, sessionActiveAt, type AccountContext, type Profile, type SessionInfo } from '../actors/account.ts';
import { CODE_TTL_MS, decideIssue, decideVerify, type LoginContext } from '../actors/login.ts';
import { decideCloseConsumers, decideOpenConsumer, type InboxContext } from '../actors/inbox.ts';
import { Account, Core, Inbox, Login, iso, randomHex, sha256 } from './core.ts';
import { fileGone } from './files.ts';
import type { Mailer } from './mailer.ts';
import type { UserRecord } from './projections.ts';

/** Human-chosen chat addresses: lowercase, 3–32 chars, as the seed's docs show (`codex-agent`). */
export const ADDRESS_RE = /^[a-z0-9][a-z0-9._-]{2,31}$/;
/** Names nobody may take: they read as the relay itself (and `constructor`, a name every JavaScript object has). */
const RESERVED_ADDRESSES = new Set(['admin', 'root', 'system', 'relay', 'support', 'group', 'groups', 'pchat', 'webchat', 'constructor']);

/** Refuses an address field (`source`, `chat_address`) that is not the caller's own. */
export function assertOwnAddress(auth: Auth, address: string | undefined, field = 'chat_address') {
  if (address !== undefined && address.trim().toLowerCase() !== auth.record.chat_address) {
    throw new Refusal('not_your_address', `${field} "${address}" is not your chat address (${auth.record.chat_address})`);
  }
}

export interface Auth {
  user: string;
  sid: string;
  record: UserRecord;
}

export function publicUser(u: UserRecord) {
  return {
    id: u.id,
    user_id: u.id,
    email: u.email,
    display_name: u.display_name,
    chat_address: u.chat_address,
    public_visible: u.public_visible,
    avatar_file_id: u.avatar_file_id,
    created_at: iso(u.created_at),
    suspended: u.suspended,
  };
}

export function normalizeAddress(raw: string): string {
  const a = raw.trim().toLowerCase();
  if (!ADDRESS_RE.test(a)) {
    throw new Refusal('invalid_address', 'chat_address must be 3–32 characters: a–z, 0–9, dot, dash or underscore, starting with a letter or digit');
  }
  if (RESERVED_ADDRESSES.has(a)) throw new Refusal('address_taken', `chat address "${a}" is reserved`);
  return a;
}

export class Accounts {
  private readonly codeKey: Buffer;

  constructor(
    private readonly core: Core,
    private readonly mailer: Mailer,
  ) {
    // Codes are stored as HMACs under a key only this relay holds (derived from its identity).
    this.codeKey = createHmac('sha256', Buffer.from(core.identity.secretKey)).update('pchat login codes').digest();
  }

  private codeHash(email: string, code: string) {
    return createHmac('sha256', this.codeKey).update(`${email}\u0000${code}`).digest('hex');
  }

  private loginId(email: string) {
    return sha256(`login:${email}`).slice(0, 32);
  }

  async requestCode(email: string, displayName?: string): Promise<{ sent: true; expires_in: number; dev_code?: string }> {
    const { config, registry, projections } = this.core;
    const known = projections.userByEmail(email) !== undefined;
    const reply = { sent: true as const, expires_in: CODE_TTL_MS / 1000 };
    // Without free mode an unknown email gets no code, but goes through the same actor, budget
    // and journal write (with a hash nothing matches), so its answers look like a known one's.
    const mailed = known || config.freeMode;
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    const now = Date.now();
    const id = this.loginId(email);
    const hash = mailed ? this.codeHash(email, code) : randomHex(32);
    const decision = decideIssue(registry.context<LoginContext>(Login, id), hash, now, displayName);
    if (decision.refusal) throw decision.refusal;
    registry.apply(Login, id, decision.events);
    await this.core.commit();
    if (!mailed) return reply;
    void this.mailer.sendLoginCode(email, code);
    return config.devExposeCodes ? { ...reply, dev_code: code } : reply;
  }

  async verifyCode(body: {
    email: string;
    code: string;
    display_name?: string;
    chat_address?: string;
    public_visible?: boolean;
    device_name?: string;
    session_name?: string;
  }) {
    const { registry, projections } = this.core;
    const email = body.email;
    const existing = projections.userByEmail(email);
    const wanted = body.chat_address ? normalizeAddress(body.chat_address) : undefined;
    const now = Date.now();
    const loginId = this.loginId(email);
    const expected = Buffer.from(this.codeHash(email, body.code), 'hex');
    const decision = decideVerify(
      registry.context<LoginContext>(Login, loginId),
      (hash) => timingSafeEqual(Buffer.from(hash, 'hex'), expected),
      now,
    );
    // Without free mode an unknown email never gets an account (its code hash matches nothing,
    // so this is a second line of defence).
    const refusal = decision.refusal ?? (!existing && !this.core.config.freeMode ? new Refusal('invalid_code') : undefined);
    if (refusal) {
      registry.apply(Login, loginId, decision.events); // the wrong try counts
      await this.core.commit();
      throw refusal;
    }
    // Only once the code is right: whose an address is must not be learnt without one. A taken
    // address leaves the code unused, to try again with another.
    if (wanted) {
      const owner = projections.userByAddress(wanted);
      if (owner && owner !== existing) throw new Refusal('address_taken', `chat address "${wanted}" is taken`);
    }
    // The name request-code was given names a new account when verify-code gives none. Never an
    // existing one's: anyone may request a code for an email, so that name is not the owner's word.
    const requestedName = registry.context<LoginContext>(Login, loginId).display_name;
    registry.apply(Login, loginId, decision.events);

    let user = existing;
    if (!user) {
      user = `usr_${randomHex(8)}`;
      const chatAddress = wanted ?? this.freeAddress();
      const profile: Profile = {
        // Not the email's local part: the name is shown to peers and searched in the directory.
        display_name: body.display_name?.trim() || requestedName || chatAddress,
        chat_address: chatAddress,
        public_visible: body.public_visible ?? false,
        avatar_file_id: null,
      };
      const created = decideCreate(registry.context<AccountContext>(Account, user), email, profile, now);
      registry.apply(Account, user, created.events);
    } else {
      const changes: Partial<Profile> = {
        display_name: body.display_name?.trim() || undefined,
        public_visible: body.public_visible,
        chat_address: wanted,
      };
      registry.apply(Account, user, decideProfile(registry.context<AccountContext>(Account, user), changes, now).events);
    }

    const token = `pct_${randomBytes(32).toString('base64url')}`;
    const sid = `ses_${randomHex(8)}`;
    registry.apply(Account, user, [
      { type: 'session_opened', sid, token_hash: sha256(token), device_name: body.device_name, session_name: body.session_name, at: now },
    ]);
    this.core.applyInbox(user, decideOpenConsumer(registry.context<InboxContext>(Inbox, user), sid, now).events);
    // Past the cap, the sessions opened longest ago are closed (logged out), cursors and all.
    const others = Object.entries(registry.context<AccountContext>(Account, user).sessions).filter(([other]) => other !== sid);
    const evicted = others
      .sort(([, a], [, b]) => a.opened_at - b.opened_at)
      .slice(0, Math.max(0, others.length + 1 - this.core.config.sessionsPerUserMax))
      .map(([old]) => old);
    if (evicted.length) this.closeSessions(user, evicted, now);
    await this.core.commit(evicted.length ? [user] : []);
    const record = projections.user(user)!;
    return {
      session_token: token,
      token,
      user: publicUser(record),
      session: { id: sid, device_name: body.device_name ?? null, session_name: body.session_name ?? null },
      /** Sessions this login closed (the account was at PCHAT_SESSIONS_PER_USER_MAX): the caller ends their live connections. */
      closed_sessions: evicted,
    };
  }

  private freeAddress(): string {
    for (;;) {
      const a = randomHex(8);
      if (!this.core.projections.userByAddress(a)) return a;
    }
  }

  authenticate(token: string | undefined): Auth | null {
    if (!token || !token.startsWith('pct_') || token.length > 200) return null;
    const rec = this.core.projections.token(sha256(token));
    if (!rec) return null;
    const record = this.core.projections.user(rec.user);
    if (!record) return null;
    const auth = { user: rec.user, sid: rec.sid, record };
    return this.inUse(auth) ? auth : null;
  }

  /**
   * Whether the session is still in use: one idle past PCHAT_SESSION_IDLE_DAYS is refused and
   * closed (with the next commit). Otherwise its use is noted, journaled once a day.
   */
  private inUse(auth: Auth): boolean {
    const { registry, config } = this.core;
    const now = Date.now();
    const account = () => registry.context<AccountContext>(Account, auth.user);
    const sessionNow = () => account().sessions[auth.sid];
    const expired = (s: SessionInfo, at: number) => config.sessionIdleMs > 0 && at - sessionActiveAt(s) > config.sessionIdleMs;
    const session = sessionNow();
    if (!session) return false;
    if (expired(session, now)) {
      this.core.stageSoon(() => {
        const s = sessionNow(); // decided afresh: a use may have been saved meanwhile
        if (s && expired(s, Date.now())) this.closeSessions(auth.user, [auth.sid], Date.now());
      });
      return false;
    }
    if (decideSessionUse(account(), auth.sid, now).events.length) {
      this.core.stageSoon(() => registry.apply(Account, auth.user, decideSessionUse(account(), auth.sid, now).events)); // afresh: one save per day
    }
    return true;
  }

  async updateMe(auth: Auth, body: Partial<Profile>) {
    const { registry, projections } = this.core;
    const changes = profileFields(body);
    if (body.display_name !== undefined) {
      changes.display_name = body.display_name.trim();
      if (!changes.display_name) throw new Refusal('validation_failed', 'display_name must not be blank');
    }
    if (body.avatar_file_id) {
      const file = projections.media.file(body.avatar_file_id);
      if (!file || file.owner !== auth.user) throw new Refusal('unknown_file', `no file "${body.avatar_file_id}" of yours; upload the picture first`);
      if (file.gone_at) throw fileGone(body.avatar_file_id, file.gone_reason);
      if (!file.mime.startsWith('image/')) throw new Refusal('validation_failed', `avatar_file_id must be an image; "${body.avatar_file_id}" is ${file.mime}`);
    }
    if (body.chat_address !== undefined) {
      changes.chat_address = normalizeAddress(body.chat_address);
      const owner = projections.userByAddress(changes.chat_address);
      if (owner && owner !== auth.user) throw new Refusal('address_taken', `chat address "${changes.chat_address}" is taken`);
    }
    registry.apply(Account, auth.user, decideProfile(registry.context<AccountContext>(Account, auth.user), changes, Date.now()).events);
    await this.core.commit();
    return publicUser(projections.user(auth.user)!);
  }

  async logout(auth: Auth, all: boolean) {
    const { registry } = this.core;
    const ctx = registry.context<AccountContext>(Account, auth.user);
    const sids = all ? Object.keys(ctx.sessions) : [auth.sid];
    const closed = this.closeSessions(auth.user, sids, Date.now());
    // Woken, the closed sessions' parked long-polls see it and answer 401 (Feed.poll).
    await this.core.commit([auth.user]);
    return { closed };
  }

  /** Stages closing these sessions of `user`, and dropping their cursors; returns how many were open. */
  private closeSessions(user: string, sids: string[], at: number): number {
    const { registry } = this.core;
    const decision = decideCloseSessions(registry.context<AccountContext>(Account, user), sids, at);
    registry.apply(Account, user, decision.events);
    // Their cursors go too: a session token never comes back once closed.
    this.core.applyInbox(user, decideCloseConsumers(registry.context<InboxContext>(Inbox, user), sids, at).events);
    return decision.events.length;
  }
}
