// Presence and the directory. Presence is ephemeral (memory only): a session is online while
// it heartbeats or polls within the window or holds a live connection (a parked long-poll, a
// WebSocket, an event stream). What a session is called (device, session name, listen channel) and whether it hides from the
// directory are durable, on the account actor; so is when it was last seen, saved now and then
// (see `saveSeen`).
import { decideNameSession, decideProfile, type AccountContext, type AccountEvent } from '../actors/account.ts';
import { assertOwnAddress, type Auth } from './accounts.ts';
import { Account, Core, Group, Inbox, iso } from './core.ts';
import { isMemberNow, type InboxContext } from '../actors/inbox.ts';
import type { GroupContext } from '../actors/group.ts';
import { sessionNames, type UserRecord } from './projections.ts';

/** A session's last heartbeat is forgotten after a day of silence. */
const FORGET_AFTER_MS = 24 * 3_600_000;
/**
 * An active session's last-seen time is saved at most this often (and once more when it goes
 * offline, and at shutdown): one small write per session per period, and a crash forgets at
 * most this much of it.
 */
export const SEEN_SAVE_EVERY_MS = 5 * 60_000;
/** Typing hints shown in the directory expire quickly. */
const TYPING_TTL_MS = 10_000;
/** Directory pages stay small enough for a phone. */
export const MAX_DIRECTORY_LIMIT = 500;

interface SessionPresence {
  user: string;
  sid: string;
  visible: boolean;
  /** Last heartbeat, or last time a live connection opened or closed (see `seenAt`). */
  lastSeen: number;
  /** The last-seen time last saved to the account. */
  savedSeen: number;
  /** Last heartbeat or poll: online for the presence window after it. */
  beatAt: number;
  /** When the last live connection ended: a poll loop reconnects within the grace. */
  liveEndedAt: number;
  live: number;
  typingTo?: string;
  typingAt?: number;
}

export interface PresenceBody {
  chat_address?: string;
  display_name?: string;
  visible?: boolean;
  device_name?: string;
  session_name?: string;
  listen_channel?: string;
  typing_to?: string;
}

/** Chat groups up to this size tell their members who comes online and goes. */
const PRESENCE_GROUP_MAX = 256;
/** A long-poll loop is between requests for a moment; it stays online through this. */
const LIVE_GRACE_MS = 3_000;

export class Presence {
  private readonly sessions = new Map<string, SessionPresence>();
  /** The same entries by user: whether a user is online is asked on every heartbeat, poll and sweep. */
  private readonly byUser = new Map<string, Set<SessionPresence>>();
  private readonly online = new Set<string>();
  /** Lets the typing hint reach the peer (messaging owns the ephemeral push). */
  onTyping: (auth: Auth, to: string, typing: boolean) => void = () => {};
  /** Public groups for the directory (wired by the relay). */
  publicGroups: (q: string | undefined, limit: number) => unknown[] = () => [];

  constructor(private readonly core: Core) {}

  private entry(auth: Auth): SessionPresence {
    let p = this.sessions.get(auth.sid);
    if (!p) {
      const session = this.core.registry.context<AccountContext>(Account, auth.user).sessions[auth.sid];
      const seen = session?.last_seen ?? 0;
      p = { user: auth.user, sid: auth.sid, visible: !session?.hidden, lastSeen: seen, savedSeen: seen, beatAt: 0, liveEndedAt: 0, live: 0 };
      this.sessions.set(auth.sid, p);
      let mine = this.byUser.get(auth.user);
      if (!mine) this.byUser.set(auth.user, (mine = new Set()));
      mine.add(p);
    }
    return p;
  }

  /** Heartbeating within the window or holding a live connection, shown or not. */
  private active(p: SessionPresence, now: number) {
    return p.live > 0 || now - p.beatAt < this.core.config.presenceWindowMs || now - p.liveEndedAt < LIVE_GRACE_MS;
  }

  private sessionOnline(p: SessionPresence, now: number) {
    return p.visible && this.active(p, now);
  }

  /** When a session was last seen: now while it holds a live connection. */
  private seenAt(p: SessionPresence, now: number) {
    return p.live > 0 ? now : p.lastSeen;
  }

  isOnline(user: string, now = Date.now()): boolean {
    for (const p of this.byUser.get(user) ?? []) if (this.sessionOnline(p, now)) return true;
    return false;
  }

  async heartbeat(auth: Auth, body: PresenceBody) {
    assertOwnAddress(auth, body.chat_address);
    const { registry } = this.core;
    const now = Date.now();
    const ctx = registry.context<AccountContext>(Account, auth.user);
    const events = [
      ...decideProfile(ctx, { display_name: body.display_name?.trim() || undefined }, now).events,
      ...decideNameSession(ctx, auth.sid, body, now).events,
    ];
    if (events.length) registry.apply(Account, auth.user, events);
    await this.core.commit(); // also with nothing to write: the names it answers with may be another request's, not yet on disk
    const p = this.entry(auth);
    // Without `visible`, a session stays as it last said (hiding lasts, also across restarts).
    p.visible = body.visible ?? !registry.context<AccountContext>(Account, auth.user).sessions[auth.sid]?.hidden;
    p.lastSeen = now;
    p.beatAt = now;
    if (body.typing_to) {
      p.typingTo = body.typing_to.trim().toLowerCase();
      p.typingAt = now;
      this.onTyping(auth, p.typingTo, true);
    }
    this.refresh(auth.user, now);
    const window = this.core.config.presenceWindowMs;
    return { online: this.sessionOnline(p, now), visible: p.visible, expires_in: Math.round(window / 1000), session_id: auth.sid };
  }

  /** A live connection (parked poll) opened (+1) or closed (-1). */
  live(auth: Auth, delta: 1 | -1) {
    // A connection of a session closed meanwhile (logout, the session cap) ends after its
    // session's entry was dropped: it must not bring it back, online and visible.
    if (!this.core.sessionOpen(auth)) return this.drop([auth.sid]);
    const p = this.entry(auth);
    p.live = Math.max(0, p.live + delta);
    // Seen while connected; online ends a little after the last connection (heartbeats aside).
    p.lastSeen = Date.now();
    if (p.live === 0) p.liveEndedAt = p.lastSeen;
    this.refresh(auth.user);
  }

  /**
   * A poll, long or not: the session is seen, as by a heartbeat (a worker that polls every few
   * seconds, as seed 001's loop does, stays online without heartbeating too). Nothing is
   * journaled per poll: the last-seen time is saved now and then, as a heartbeat's is (see
   * `saveSeen`).
   */
  polled(auth: Auth) {
    if (!this.core.sessionOpen(auth)) return;
    const p = this.entry(auth);
    const now = Date.now();
    p.lastSeen = now;
    p.beatAt = now;
    // Already shown online and still so: nothing to tell anyone (the usual poll).
    if (this.online.has(auth.user) && this.sessionOnline(p, now)) return;
    this.refresh(auth.user, now);
  }

  /** Emits a presence event to the user's conversation peers when online state flips. */
  private refresh(user: string, now = Date.now()) {
    const online = this.isOnline(user, now);
    if (online === this.online.has(user)) return;
    if (online) this.online.add(user);
    else this.online.delete(user);
    const rec = this.core.projections.user(user);
    if (!rec) return;
    const event = { type: 'presence' as const, chat_address: rec.chat_address, display_name: rec.display_name, online, at: iso(now) };
    const to = new Set<string>();
    for (const conv of this.core.projections.conversations(user)) to.add(conv.peer);
    // Chat groups' members see each other come and go; stream groups' observers (and groups
    // too large for it to mean anything) do not.
    const inbox = this.core.registry.context<InboxContext>(Inbox, user);
    for (const gid of Object.keys(inbox.groups)) {
      // Mode and size from the group's directory record: a stream group's roster is not loaded for this.
      const rec = this.core.projections.groupRecord(gid);
      if (!rec || rec.mode !== 'chat' || rec.member_count > PRESENCE_GROUP_MAX || !isMemberNow(inbox, gid)) continue;
      for (const member of Object.keys(this.core.registry.context<GroupContext>(Group, gid).members)) to.add(member);
    }
    to.delete(user);
    for (const blocked of inbox.blocked) to.delete(blocked); // someone I blocked is not told I am around
    for (const peer of to) this.core.waiters.push(peer, event);
  }

  /** Expires heartbeats and saves last-seen times; call periodically. */
  sweep(now = Date.now()) {
    const users = new Set<string>();
    for (const [sid, p] of this.sessions) {
      users.add(p.user);
      if (p.live === 0 && now - p.lastSeen > FORGET_AFTER_MS) this.forget(sid);
    }
    for (const user of this.online) users.add(user);
    for (const user of users) this.refresh(user, now);
    // Nobody waits for it; a failed commit is fatal in Core.commit, which logs it.
    if (this.saveSeen(now)) this.core.commit().catch(() => {});
  }

  /**
   * Stages the last-seen times not saved yet: of sessions gone quiet, of active ones (hidden
   * or not) whose saved time is SEEN_SAVE_EVERY_MS old, and of all (`all`, at shutdown). Returns whether it
   * staged any; the caller commits.
   */
  saveSeen(now = Date.now(), all = false): boolean {
    const byUser = new Map<string, AccountEvent[]>();
    for (const p of this.sessions.values()) {
      const seen = this.seenAt(p, now);
      if (seen <= p.savedSeen) continue;
      if (!all && this.active(p, now) && seen - p.savedSeen < SEEN_SAVE_EVERY_MS) continue;
      p.savedSeen = seen;
      if (!this.core.sessionOpen(p)) continue; // closed meanwhile
      const events = byUser.get(p.user) ?? [];
      events.push({ type: 'session_seen', sid: p.sid, at: seen });
      byUser.set(p.user, events);
    }
    for (const [user, events] of byUser) this.core.registry.apply(Account, user, events);
    return byUser.size > 0;
  }

  private forget(sid: string) {
    const p = this.sessions.get(sid);
    if (!p) return;
    this.sessions.delete(sid);
    const mine = this.byUser.get(p.user);
    mine?.delete(p);
    if (mine?.size === 0) this.byUser.delete(p.user);
  }

  /** Forget a closed session at once (logout). */
  drop(sids: string[]) {
    const users = new Set<string>();
    for (const sid of sids) {
      const p = this.sessions.get(sid);
      if (p) users.add(p.user);
      this.forget(sid);
    }
    for (const u of users) this.refresh(u);
  }

  /**
   * Public users and groups for `viewer`. Someone who blocked the viewer is listed (they are
   * public) but shows the viewer no presence: offline, no last seen, no sessions — as their
   * presence events and typing hints never reach the viewer either.
   */
  directory(viewer: string, q: string | undefined, limit: number) {
    const now = Date.now();
    const needle = q?.trim().toLowerCase();
    const bySession = new Map<string, SessionPresence>();
    for (const p of this.sessions.values()) bySession.set(p.sid, p);
    const users: ReturnType<Presence['userEntry']>[] = [];
    // A search also finds a user by the name of one of their sessions ("support worker"): one
    // pass over the sessions index, not a read per user.
    const bySessionName = needle ? this.core.projections.usersWithSessionNamed(needle) : undefined;
    for (const rec of this.core.projections.allUsers()) {
      if (!rec.public_visible || rec.suspended) continue;
      const named = !needle || rec.chat_address.includes(needle) || rec.display_name.toLowerCase().includes(needle);
      if (!named && !bySessionName!.has(rec.id)) continue;
      const hidden = rec.id !== viewer && this.core.projections.hasBlocked(rec.id, viewer);
      if (hidden && !named) continue; // not found by the names of sessions the viewer may not see
      const entry = this.userEntry(rec, hidden ? undefined : bySession, now);
      // Found by a session's name only: that session must be listed (a hidden one does not count).
      if (!named && !entry.sessions.some((x) => sessionNames(x).includes(needle!))) continue;
      users.push(entry);
    }
    users.sort((a, b) => Number(b.online) - Number(a.online) || a.display_name.localeCompare(b.display_name));
    const page = users.slice(0, limit);
    const sessions = page.flatMap((u) => u.sessions.map((s) => ({ ...s, chat_address: u.chat_address, display_name: u.display_name })));
    return { users: page, sessions, groups: this.publicGroups(q, limit), total: users.length };
  }

  /** A user's directory entry; without `bySession`, one that shows no presence at all. */
  private userEntry(rec: UserRecord, bySession: Map<string, SessionPresence> | undefined, now: number) {
    const who = { chat_address: rec.chat_address, display_name: rec.display_name, avatar_file_id: rec.avatar_file_id };
    if (!bySession) return { ...who, online: false, last_seen: null, sessions: [] };
    let lastSeen = 0;
    const sessions = [];
    for (const s of this.core.projections.sessions(rec.id)) {
      const p = bySession.get(s.sid);
      if (p ? !p.visible : s.hidden) continue;
      const seen = p ? this.seenAt(p, now) : (s.last_seen ?? 0);
      lastSeen = Math.max(lastSeen, seen);
      const online = !!p && this.sessionOnline(p, now);
      if (!online && !s.device_name && !s.session_name) continue;
      sessions.push({
        session_id: s.sid,
        device_name: s.device_name ?? null,
        session_name: s.session_name ?? null,
        listen_channel: s.listen_channel ?? null,
        online,
        last_seen: iso(seen),
        typing: !!p?.typingAt && now - p.typingAt < TYPING_TTL_MS,
      });
    }
    return {
      ...who,
      online: sessions.some((s) => s.online),
      last_seen: iso(lastSeen),
      sessions,
    };
  }
}
