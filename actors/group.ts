// One group: stream `group:<grp_id>`. Its journal holds the membership history and the
// group's messages, written once; members read it through their own cursor (their inbox
// records when they joined and left, see actors/inbox.ts). The context is the roster and the
// pending join requests — never the message history.
import { assign, setup } from 'xstate';
import { accept, own, refuse, type Decision, pickDefined } from './decision.ts';
import type { Attachment } from './inbox.ts';

/** 2: the context keeps each writer's newest message number (`sent_n`); older snapshots are replayed. */
export const GROUP_VERSION = 2;
/** Deleted messages remembered for unread counts: an unread count past this many deletes back may count a deleted one. */
export const DELETED_N_MAX = 1_000;
/** After a rejection, the same user may ask to join again only after this: admins are not asked twice a minute. */
export const JOIN_RETRY_AFTER_REJECT_MS = 24 * 3_600_000;
/** Join requests waiting at once per group: the roster of requests is kept in the group's actor. */
export const JOIN_REQUESTS_PENDING_MAX = 1_000;

export type Visibility = 'public' | 'private';
export type Mode = 'chat' | 'stream';
export type JoinPolicy = 'open' | 'approval';
export type Role = 'owner' | 'admin' | 'member';

export interface GroupMessageBody {
  id: string;
  group: string;
  from_user: string;
  from: string;
  text: string;
  reply_to?: string;
  attachments?: Attachment[];
  sender_session: string;
  /** Open for streamed deltas until a final edit. */
  streaming?: boolean;
  hops?: number;
  at: number;
}

export type GroupEvent =
  /** `members` joined with the group (as members), in the same event. */
  | { type: 'created'; name: string; visibility: Visibility; mode: Mode; join_policy: JoinPolicy; owner: string; members?: string[]; at: number }
  | { type: 'member_added'; user: string; role: Role; by: string; at: number }
  | { type: 'member_removed'; user: string; by: string; left: boolean; at: number }
  | { type: 'role_set'; user: string; role: Role; by: string; at: number }
  | { type: 'settings'; by: string; at: number; name?: string; visibility?: Visibility; mode?: Mode; join_policy?: JoinPolicy }
  | { type: 'join_requested'; request_id: string; user: string; note?: string; at: number }
  | { type: 'join_decided'; request_id: string; user: string; action: 'approve' | 'reject'; by: string; at: number }
  /** A message to the group; `n` counts the group's messages (unread = count − read n). */
  | ({ type: 'g_msg'; n: number; idem_key?: string; body_hash?: string } & GroupMessageBody)
  | { type: 'edited'; id: string; text: string; at: number; final?: boolean }
  /** `n`: the deleted message's number (absent in events journaled before it was kept). */
  | { type: 'deleted'; id: string; at: number; n?: number }
  | { type: 'delta'; id: string; delta: string; at: number }
  /** A group message (or a voice clip's transcript) translated for the members who read the group in `language` (daemon/translation.ts). */
  | { type: 'translation'; id: string; part: string; language: string; text: string; source_language: string; engine: string; pivot?: string; transcript?: string; at: number };

export interface JoinRequest {
  request_id: string;
  user: string;
  note?: string;
  at: number;
}

export interface GroupContext {
  id: string;
  seq: number;
  exists: boolean;
  name: string;
  visibility: Visibility;
  mode: Mode;
  join_policy: JoinPolicy;
  owner: string;
  members: Record<string, Role>;
  requests: Record<string, JoinRequest>;
  /** When each user's latest join request was turned down, within JOIN_RETRY_AFTER_REJECT_MS (absent in older snapshots). */
  rejected?: Record<string, number>;
  /** Messages sent to the group so far. */
  count: number;
  /** Each writer's newest message number (absent in snapshots older than the field). */
  sent_n?: Record<string, number>;
  /** Numbers of the latest DELETED_N_MAX deleted messages: no longer anyone's unread. */
  deleted_n?: number[];
  last: { id: string; seq: number; at: number } | null;
  created_at: number;
}

type Sequenced = GroupEvent & { seq: number };

export const groupMachine = setup({
  types: {
    context: {} as GroupContext,
    events: {} as Sequenced,
    input: {} as { id: string },
  },
}).createMachine({
  id: 'group',
  context: ({ input }) => ({
    id: input.id,
    seq: 0,
    exists: false,
    name: '',
    visibility: 'private',
    mode: 'chat',
    join_policy: 'approval',
    owner: '',
    members: {},
    requests: {},
    count: 0,
    last: null,
    created_at: 0,
  }),
  initial: 'open',
  states: {
    open: {
      on: {
        created: {
          actions: assign(({ event: e }) => ({
            seq: e.seq,
            exists: true,
            name: e.name,
            visibility: e.visibility,
            mode: e.mode,
            join_policy: e.join_policy,
            owner: e.owner,
            members: { ...Object.fromEntries((e.members ?? []).map((u) => [u, 'member' as Role])), [e.owner]: 'owner' as Role },
            created_at: e.at,
          })),
        },
        member_added: {
          actions: assign(({ context, event: e }) => {
            const { [e.user]: _done, ...requests } = context.requests;
            return { seq: e.seq, members: { ...context.members, [e.user]: e.role }, requests: dropRequestsOf(requests, e.user) };
          }),
        },
        member_removed: {
          actions: assign(({ context, event: e }) => {
            const { [e.user]: _gone, ...members } = context.members;
            return { seq: e.seq, members };
          }),
        },
        role_set: {
          actions: assign(({ context, event: e }) => ({
            seq: e.seq,
            members: { ...context.members, [e.user]: e.role },
            owner: e.role === 'owner' ? e.user : context.owner,
          })),
        },
        settings: {
          actions: assign(({ context, event: e }) => ({
            seq: e.seq,
            name: e.name ?? context.name,
            visibility: e.visibility ?? context.visibility,
            mode: e.mode ?? context.mode,
            join_policy: e.join_policy ?? context.join_policy,
          })),
        },
        join_requested: {
          actions: assign(({ context, event: e }) => ({
            seq: e.seq,
            requests: { ...context.requests, [e.request_id]: { request_id: e.request_id, user: e.user, note: e.note, at: e.at } },
          })),
        },
        join_decided: {
          actions: assign(({ context, event: e }) => {
            const { [e.request_id]: _done, ...requests } = context.requests;
            if (e.action !== 'reject') return { seq: e.seq, requests };
            // Rejections are remembered for the retry wait only (the record must not grow with every stranger).
            const rejected = Object.fromEntries(Object.entries(context.rejected ?? {}).filter(([, at]) => e.at - at < JOIN_RETRY_AFTER_REJECT_MS));
            return { seq: e.seq, requests, rejected: { ...rejected, [e.user]: e.at } };
          }),
        },
        g_msg: {
          actions: assign(({ context, event: e }) => ({
            seq: e.seq,
            count: e.n,
            last: { id: e.id, seq: e.seq, at: e.at },
            sent_n: { ...context.sent_n, [e.from_user]: e.n },
          })),
        },
        deleted: {
          actions: assign(({ context, event: e }) => (e.n ? { seq: e.seq, deleted_n: [...(context.deleted_n ?? []), e.n].slice(-DELETED_N_MAX) } : { seq: e.seq })),
        },
        '*': { actions: assign(({ event }) => ({ seq: event.seq })) },
      },
    },
  },
});

function dropRequestsOf(requests: Record<string, JoinRequest>, user: string): Record<string, JoinRequest> {
  return Object.fromEntries(Object.entries(requests).filter(([, r]) => r.user !== user));
}

// ---- decisions: pure functions over the context ----

export const isAdmin = (ctx: GroupContext, user: string) => own(ctx.members, user) === 'owner' || own(ctx.members, user) === 'admin';
export const isMember = (ctx: GroupContext, user: string) => own(ctx.members, user) !== undefined;

/** What an outsider may know: a private group does not exist for them. */
export function decideSee(ctx: GroupContext, user: string): Decision<GroupEvent> {
  if (!ctx.exists || (ctx.visibility === 'private' && !isMember(ctx, user))) {
    return refuse('unknown_group', `no group "${ctx.id}" on this relay`);
  }
  return accept();
}

/** Whether `user` may post (send, edit, delete, stream, upload) to the group. */
export function decideWrite(ctx: GroupContext, user: string): Decision<GroupEvent> {
  const seen = decideSee(ctx, user);
  if (seen.refusal) return seen;
  if (!isMember(ctx, user)) return refuse('not_a_member', `you are not a member of group "${ctx.name}"`);
  if (ctx.mode === 'stream' && !isAdmin(ctx, user)) {
    return refuse('stream_read_only', `"${ctx.name}" is a stream group: only its owner and admins write; members observe`);
  }
  return accept();
}

/** Refuses a new member when the group holds `maxMembers` already. */
function decideRoom(ctx: GroupContext, maxMembers: number): Decision<GroupEvent> {
  return Object.keys(ctx.members).length >= maxMembers ? refuse('conflict', `"${ctx.name}" is full (${maxMembers} members)`) : accept();
}

function decideAdmin(ctx: GroupContext, by: string): Decision<GroupEvent> {
  const seen = decideSee(ctx, by);
  if (seen.refusal) return seen;
  if (!isAdmin(ctx, by)) return refuse('not_group_admin', `only admins of "${ctx.name}" may do that`);
  return accept();
}

/**
 * Adds a member or sets a member's role. Admins add members; only the owner appoints or
 * demotes admins, and only the owner hands the group over (role `owner` on a member: they
 * become the owner, the old owner an admin).
 */
export function decideAdd(ctx: GroupContext, by: string, user: string, role: Role, maxMembers: number, at: number): Decision<GroupEvent> {
  const admin = decideAdmin(ctx, by);
  if (admin.refusal) return admin;
  const byOwner = own(ctx.members, by) === 'owner';
  const current = own(ctx.members, user);
  if (current === 'owner') return role === 'owner' ? accept() : refuse('forbidden', "the owner's role changes only by handing the group to another member");
  if (role === 'owner') {
    if (!byOwner) return refuse('not_group_admin', 'only the owner hands the group over');
    if (!current) return refuse('validation_failed', 'hand the group over to a member: add them first');
    return accept({ type: 'role_set', user, role: 'owner', by, at }, { type: 'role_set', user: by, role: 'admin', by, at });
  }
  if ((role === 'admin' || current === 'admin') && current !== role && !byOwner) return refuse('not_group_admin', 'only the owner appoints or demotes admins');
  if (current === role) return accept();
  if (current) return accept({ type: 'role_set', user, role, by, at });
  const room = decideRoom(ctx, maxMembers);
  return room.refusal ? room : accept({ type: 'member_added', user, role, by, at });
}

export function decideRemove(ctx: GroupContext, by: string, user: string, at: number): Decision<GroupEvent> {
  if (by === user) return decideLeave(ctx, user, at);
  const admin = decideAdmin(ctx, by);
  if (admin.refusal) return admin;
  const role = own(ctx.members, user);
  if (!role) return accept();
  if (role === 'owner') return refuse('forbidden', 'the owner cannot be removed');
  if (role === 'admin' && own(ctx.members, by) !== 'owner') return refuse('not_group_admin', 'only the owner removes admins');
  return accept({ type: 'member_removed', user, by, left: false, at });
}

export function decideLeave(ctx: GroupContext, user: string, at: number): Decision<GroupEvent> {
  const seen = decideSee(ctx, user);
  if (seen.refusal) return seen;
  const role = own(ctx.members, user);
  if (!role) return accept();
  if (role === 'owner') return refuse('forbidden', 'the owner cannot leave; hand the group over first (set another member\'s role to owner)');
  return accept({ type: 'member_removed', user, by: user, left: true, at });
}

export function decideJoin(ctx: GroupContext, user: string, requestId: string, note: string | undefined, maxMembers: number, at: number): Decision<GroupEvent> {
  const seen = decideSee(ctx, user);
  if (seen.refusal) return seen;
  if (isMember(ctx, user)) return accept();
  const room = decideRoom(ctx, maxMembers);
  if (room.refusal) return room;
  if (ctx.join_policy === 'open') return accept({ type: 'member_added', user, role: 'member', by: user, at });
  if (Object.values(ctx.requests).some((r) => r.user === user)) return accept();
  const rejectedAt = own(ctx.rejected ?? {}, user);
  if (rejectedAt !== undefined && at - rejectedAt < JOIN_RETRY_AFTER_REJECT_MS) {
    const wait = Math.ceil((rejectedAt + JOIN_RETRY_AFTER_REJECT_MS - at) / 1000);
    return refuse('rate_limited', `your request to join "${ctx.name}" was turned down; you may ask again in ${Math.ceil(wait / 3600)} h`, wait);
  }
  if (Object.keys(ctx.requests).length >= JOIN_REQUESTS_PENDING_MAX) {
    return refuse('conflict', `"${ctx.name}" has ${JOIN_REQUESTS_PENDING_MAX} join requests waiting for its admins; try again once they have answered some`);
  }
  return accept({ type: 'join_requested', request_id: requestId, user, note, at });
}

export function decideRequest(ctx: GroupContext, by: string, requestId: string, action: 'approve' | 'reject', maxMembers: number, at: number): Decision<GroupEvent> {
  const admin = decideAdmin(ctx, by);
  if (admin.refusal) return admin;
  const req = own(ctx.requests, requestId);
  if (!req) return refuse('unknown_request', `no pending join request "${requestId}" in "${ctx.name}"`);
  const decided: GroupEvent = { type: 'join_decided', request_id: requestId, user: req.user, action, by, at };
  if (action === 'reject') return accept(decided);
  const room = isMember(ctx, req.user) ? accept<GroupEvent>() : decideRoom(ctx, maxMembers);
  if (room.refusal) return room;
  return accept<GroupEvent>(decided, { type: 'member_added', user: req.user, role: 'member', by, at });
}

export function decideSettings(
  ctx: GroupContext,
  by: string,
  change: { name?: string; visibility?: Visibility; mode?: Mode; join_policy?: JoinPolicy },
  at: number,
): Decision<GroupEvent> {
  const admin = decideAdmin(ctx, by);
  if (admin.refusal) return admin;
  const diff = Object.fromEntries(Object.entries(settingsFields(change)).filter(([k, v]) => v !== ctx[k as keyof GroupContext]));
  if (Object.keys(diff).length === 0) return accept();
  return accept({ ...diff, type: 'settings', by, at });
}

/** The fields a settings change may touch: nothing else of a caller's body reaches an event. */
const SETTINGS_KEYS = ['name', 'visibility', 'mode', 'join_policy'] as const;

/** Only the settings fields of `from` (a body, or an event). */
export const settingsFields = (from: Partial<Record<string, unknown>>) =>
  pickDefined(from, SETTINGS_KEYS) as { name?: string; visibility?: Visibility; mode?: Mode; join_policy?: JoinPolicy };
