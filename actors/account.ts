// A user account: stream `user:<user_id>`. Profile, open sessions (token hashes only),
// and abuse reports against it with the auto-block rule.
import { assign, setup } from 'xstate';
import { accept, own, refuse, type Decision, pickDefined } from './decision.ts';

export const ACCOUNT_VERSION = 1;

export interface Profile {
  display_name: string;
  chat_address: string;
  public_visible: boolean;
  avatar_file_id?: string | null;
}

/** The fields a profile change may touch: nothing else of a caller's body reaches an event. */
export const PROFILE_KEYS = ['display_name', 'chat_address', 'public_visible', 'avatar_file_id'] as const satisfies readonly (keyof Profile)[];

/** Only the profile fields of `from` (a body, or an event of older data). */
export const profileFields = (from: Partial<Record<string, unknown>>) => pickDefined(from, PROFILE_KEYS) as Partial<Profile>;

export interface SessionInfo {
  token_hash: string;
  device_name?: string;
  session_name?: string;
  listen_channel?: string;
  hidden?: boolean;
  opened_at: number;
  /** Last seen as last saved (see Presence.saveSeen); absent until first saved. */
  last_seen?: number;
  /** Last authenticated request, as last saved (at most once per SESSION_USE_SAVE_EVERY_MS); absent until first saved. */
  last_used?: number;
}

/** How often a session's use is journaled: idle expiry counts in days, so a day's precision is plenty (not a write per request). */
export const SESSION_USE_SAVE_EVERY_MS = 24 * 3_600_000;

/** When the session was last active, as far as the account knows: opened, seen (presence) or used. */
export const sessionActiveAt = (s: SessionInfo) => Math.max(s.opened_at, s.last_seen ?? 0, s.last_used ?? 0);

/** Journals a use of the session when the last one saved is a day old. */
export function decideSessionUse(ctx: AccountContext, sid: string, at: number): Decision<AccountEvent> {
  const s = own(ctx.sessions, sid);
  if (!s || at - (s.last_used ?? s.opened_at) < SESSION_USE_SAVE_EVERY_MS) return accept();
  return accept({ type: 'session_used', sid, at });
}

export type AccountEvent =
  | ({ type: 'created'; email: string; at: number } & Profile)
  | ({ type: 'profile_updated'; at: number } & Partial<Profile>)
  | { type: 'session_opened'; sid: string; token_hash: string; device_name?: string; session_name?: string; at: number }
  /** A session's names, and whether it hides from the directory (`hidden`, absent in older events: shown). */
  | { type: 'session_named'; sid: string; device_name?: string; session_name?: string; listen_channel?: string; hidden?: boolean; at: number }
  | { type: 'session_closed'; sid: string; token_hash: string; at: number }
  /** When a session was last seen (online, or active), saved now and then: presence itself is memory only. */
  | { type: 'session_seen'; sid: string; at: number }
  | { type: 'session_used'; sid: string; at: number }
  /** `counts` false: recorded, but not toward suspension (the account never wrote to the reporter; absent in older events: it counts). */
  | { type: 'reported'; by: string; reason: string; message_id?: string; counts?: boolean; at: number }
  | { type: 'suspended'; reason: string; at: number };

export interface AccountContext extends Profile {
  id: string;
  seq: number;
  email: string;
  created_at: number;
  sessions: Record<string, SessionInfo>;
  reporters: string[];
  suspended: boolean;
}

type Sequenced = AccountEvent & { seq: number };

export const accountMachine = setup({
  types: { context: {} as AccountContext, events: {} as Sequenced, input: {} as { id: string } },
}).createMachine({
  id: 'account',
  context: ({ input }) => ({
    id: input.id,
    seq: 0,
    email: '',
    created_at: 0,
    display_name: '',
    chat_address: '',
    public_visible: false,
    avatar_file_id: null,
    sessions: {},
    reporters: [],
    suspended: false,
  }),
  initial: 'none',
  states: {
    none: {
      on: {
        created: {
          target: 'active',
          actions: assign(({ event }) => ({
            seq: event.seq,
            email: event.email,
            created_at: event.at,
            display_name: event.display_name,
            chat_address: event.chat_address,
            public_visible: event.public_visible,
            avatar_file_id: event.avatar_file_id ?? null,
          })),
        },
      },
    },
    active: {
      on: {
        profile_updated: {
          actions: assign(({ event }) => ({ ...profileFields(event), seq: event.seq })),
        },
        session_opened: {
          actions: assign(({ context, event }) => ({
            seq: event.seq,
            sessions: {
              ...context.sessions,
              [event.sid]: {
                token_hash: event.token_hash,
                device_name: event.device_name,
                session_name: event.session_name,
                opened_at: event.at,
              },
            },
          })),
        },
        session_named: {
          actions: assign(({ context, event }) => {
            const s = context.sessions[event.sid];
            if (!s) return { seq: event.seq };
            const named = { ...s, device_name: event.device_name, session_name: event.session_name, listen_channel: event.listen_channel, hidden: event.hidden };
            return { seq: event.seq, sessions: { ...context.sessions, [event.sid]: named } };
          }),
        },
        session_seen: {
          actions: assign(({ context, event }) => {
            const s = context.sessions[event.sid];
            if (!s || (s.last_seen ?? 0) >= event.at) return { seq: event.seq };
            return { seq: event.seq, sessions: { ...context.sessions, [event.sid]: { ...s, last_seen: event.at } } };
          }),
        },
        session_used: {
          actions: assign(({ context, event }) => {
            const s = context.sessions[event.sid];
            if (!s || (s.last_used ?? 0) >= event.at) return { seq: event.seq };
            return { seq: event.seq, sessions: { ...context.sessions, [event.sid]: { ...s, last_used: event.at } } };
          }),
        },
        session_closed: {
          actions: assign(({ context, event }) => {
            const { [event.sid]: _gone, ...rest } = context.sessions;
            return { seq: event.seq, sessions: rest };
          }),
        },
        reported: {
          actions: assign(({ context, event }) => ({
            seq: event.seq,
            reporters: event.counts === false || context.reporters.includes(event.by) ? context.reporters : [...context.reporters, event.by],
          })),
        },
        suspended: { actions: assign(({ event }) => ({ seq: event.seq, suspended: true })) },
      },
    },
  },
});

export function decideCreate(ctx: AccountContext, email: string, profile: Profile, at: number): Decision<AccountEvent> {
  if (ctx.created_at) return refuse('conflict', 'account exists');
  return accept({ type: 'created', email, at, ...profile }); // profile: built field by field by the caller
}

export function decideProfile(ctx: AccountContext, changes: Partial<Profile>, at: number): Decision<AccountEvent> {
  const diff: Partial<Profile> = {};
  for (const [k, v] of Object.entries(profileFields(changes)) as [keyof Profile, never][]) {
    if (ctx[k] !== v) diff[k] = v;
  }
  return Object.keys(diff).length ? accept({ ...diff, type: 'profile_updated', at }) : accept();
}

export function decideNameSession(
  ctx: AccountContext,
  sid: string,
  names: { device_name?: string; session_name?: string; listen_channel?: string; visible?: boolean },
  at: number,
): Decision<AccountEvent> {
  const s = ctx.sessions[sid];
  if (!s) return refuse('unauthorized', 'session is closed');
  // Given: set (trimmed), and an empty one clears the name; not given: as it was.
  const named = (given: string | undefined, was: string | undefined) => (given === undefined ? was : given.trim() || undefined);
  const next = {
    device_name: named(names.device_name, s.device_name),
    session_name: named(names.session_name, s.session_name),
    listen_channel: named(names.listen_channel, s.listen_channel),
    hidden: names.visible === undefined ? !!s.hidden : !names.visible,
  };
  if (next.device_name === s.device_name && next.session_name === s.session_name && next.listen_channel === s.listen_channel && next.hidden === !!s.hidden) {
    return accept();
  }
  return accept({ type: 'session_named', sid, device_name: next.device_name, session_name: next.session_name, listen_channel: next.listen_channel, ...(next.hidden ? { hidden: true } : {}), at });
}

export function decideCloseSessions(ctx: AccountContext, sids: string[], at: number): Decision<AccountEvent> {
  return accept(
    ...sids.filter((sid) => ctx.sessions[sid]).map((sid) => ({ type: 'session_closed' as const, sid, token_hash: ctx.sessions[sid].token_hash, at })),
  );
}

/**
 * A report. Every report is recorded; one counts toward suspension only when `counts` (the
 * account wrote to the reporter: see Messaging.report), and at `threshold` distinct reporters
 * whose reports count the account is suspended. So a few throwaway accounts cannot silence
 * someone who never wrote to them.
 */
export function decideReport(
  ctx: AccountContext,
  report: { by: string; reason: string; message_id?: string; counts: boolean },
  threshold: number,
  at: number,
): Decision<AccountEvent> {
  if (report.by === ctx.id) return refuse('bad_request', 'you cannot report yourself');
  const events: AccountEvent[] = [{ type: 'reported', ...report, at }];
  if (!report.counts) return { events };
  const reporters = new Set([...ctx.reporters, report.by]);
  if (!ctx.suspended && reporters.size >= threshold) {
    events.push({ type: 'suspended', reason: `reported by ${reporters.size} users`, at });
  }
  return { events };
}
