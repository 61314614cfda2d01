// Groups: create, list, view, settings, members, join requests, leave. The group actor decides;
// a membership change also writes one event to the member's inbox (when they joined or left),
// which is how the member's feed knows which part of the group's stream is theirs.
import { own, Refusal } from '../actors/decision.ts';
import {
  decideAdd,
  decideJoin,
  decideLeave,
  decideRemove,
  decideRequest,
  decideSettings,
  isAdmin,
  isMember,
  type GroupContext,
  type GroupEvent,
  type JoinPolicy,
  type Mode,
  type Role,
  type Visibility,
} from '../actors/group.ts';
import { accepts, isMemberNow } from '../actors/inbox.ts';
import type { Auth } from './accounts.ts';
import { Core, iso, randomHex } from './core.ts';
import type { Feed } from './feed.ts';
import type { GroupRecord } from './projections.ts';

export interface CreateGroupBody {
  name: string;
  visibility?: Visibility;
  mode?: Mode;
  join_policy?: JoinPolicy;
  members?: string[];
}

export class Groups {
  constructor(
    private readonly core: Core,
    private readonly feed: Feed,
  ) {}

  private address(user: string): string {
    return this.core.projections.user(user)?.chat_address ?? user;
  }

  private userOf(address: string): string {
    const user = this.core.projections.userByAddress(address.trim().toLowerCase());
    if (!user) throw new Refusal('unknown_recipient', `no chat address "${address}" on this relay`);
    return user;
  }

  private visible(auth: Auth, id: string): GroupContext {
    return this.feed.visibleGroup(auth, id);
  }

  view(group: GroupContext, user: string) {
    return {
      ...this.outsiderView({
        id: group.id,
        name: group.name,
        visibility: group.visibility,
        mode: group.mode,
        join_policy: group.join_policy,
        owner: group.owner,
        member_count: Object.keys(group.members).length,
        created_at: group.created_at,
      }),
      role: (group.members[user] ?? null) as Role | null,
      can_write: isMember(group, user) && (group.mode === 'chat' || isAdmin(group, user)),
      pending_requests: isAdmin(group, user) ? Object.keys(group.requests).length : undefined,
    };
  }

  /** What a non-member sees, straight from the directory index (no actor is loaded). */
  private outsiderView(rec: GroupRecord) {
    return {
      group_id: rec.id,
      id: rec.id,
      address: `group:${rec.id}`,
      name: rec.name,
      visibility: rec.visibility,
      mode: rec.mode,
      join_policy: rec.join_policy,
      owner: this.address(rec.owner),
      member_count: rec.member_count,
      role: null as Role | null,
      can_write: false,
      pending_requests: undefined as number | undefined,
      created_at: iso(rec.created_at),
    };
  }

  /**
   * Stages group events and, for each membership change, the member's inbox event; one
   * durable commit; wakes everyone who was or is a member.
   */
  private async apply(group: GroupContext, events: GroupEvent[], alsoWake: string[] = []) {
    // Nothing to write (a retried join, a second leave): the answer tells how things stand, which
    // may be another request's write, staged and not yet on disk; it waits until it is.
    if (events.length === 0) return this.core.settled();
    const before = Object.keys(group.members);
    const seqs = this.core.applyGroup(group.id, events);
    const notes: string[] = [];
    events.forEach((e, i) => {
      const seq = seqs[i];
      const added = e.type === 'member_added' ? [e.user] : e.type === 'created' ? [e.owner, ...(e.members ?? [])] : [];
      if (added.length) {
        for (const user of added) {
          if (!isMemberNow(this.feed.inbox(user), group.id)) this.core.applyInbox(user, [{ type: 'joined', group: group.id, from: seq - 1, n: group.count, at: e.at }]);
        }
      } else if (e.type === 'member_removed') {
        this.core.applyInbox(e.user, [{ type: 'left', group: group.id, until: seq, at: e.at }]);
      } else if (e.type === 'join_decided') {
        this.core.applyInbox(e.user, [
          { type: 'group_note', group: group.id, action: e.action === 'approve' ? 'join_approved' : 'join_rejected', name: group.name, by: e.by, at: e.at },
        ]);
        notes.push(e.user);
      }
    });
    const after = Object.keys(this.feed.group(group.id).members);
    await this.core.commit(new Set([...before, ...after, ...notes, ...alsoWake]));
  }

  /** Refuses adding `user` to a group on the word of someone they blocked (it would let the blocked one write to them there). */
  private assertAccepts(user: string, by: string) {
    if (!accepts(this.feed.inbox(user), by)) {
      throw new Refusal('blocked', `${this.address(user)} does not accept being added to groups by you`);
    }
  }

  async create(auth: Auth, body: CreateGroupBody) {
    const name = body.name.trim();
    if (!name) throw new Refusal('validation_failed', 'name must not be empty');
    const members = [...new Set((body.members ?? []).map((a) => this.userOf(a)))].filter((u) => u !== auth.user);
    if (members.length + 1 > this.core.config.groupMaxMembers) {
      throw new Refusal('validation_failed', `a group holds at most ${this.core.config.groupMaxMembers} members`);
    }
    for (const user of members) this.assertAccepts(user, auth.user);
    const id = `grp_${randomHex(8)}`;
    const group = this.feed.group(id);
    const at = Date.now();
    const events: GroupEvent[] = [
      {
        type: 'created',
        name,
        visibility: body.visibility ?? 'private',
        mode: body.mode ?? 'chat',
        join_policy: body.join_policy ?? (body.visibility === 'public' ? 'open' : 'approval'),
        owner: auth.user,
        ...(members.length ? { members } : {}),
        at,
      },
    ];
    await this.apply(group, events);
    return this.view(this.feed.group(id), auth.user);
  }

  get(auth: Auth, id: string) {
    return this.view(this.visible(auth, id), auth.user);
  }

  /** The caller's groups, then the public groups they are not in. */
  list(auth: Auth, q?: string) {
    const inbox = this.feed.inbox(auth.user);
    const mine = Object.keys(inbox.groups)
      .filter((gid) => isMemberNow(inbox, gid))
      .map((gid) => this.view(this.feed.group(gid), auth.user));
    const mineIds = new Set(mine.map((g) => g.id));
    const needle = q?.trim().toLowerCase();
    const publicOnes: ReturnType<Groups['view']>[] = [];
    for (const rec of this.core.projections.allGroups()) {
      if (rec.visibility !== 'public' || mineIds.has(rec.id)) continue;
      if (needle && !rec.name.toLowerCase().includes(needle)) continue;
      publicOnes.push(this.outsiderView(rec));
      if (publicOnes.length >= 500) break;
    }
    const match = (g: { name: string }) => !needle || g.name.toLowerCase().includes(needle);
    return { mine: mine.filter(match), public: publicOnes, groups: [...mine.filter(match), ...publicOnes] };
  }

  /** Public groups for the directory (name, mode, size). */
  publicGroups(q: string | undefined, limit: number) {
    const needle = q?.trim().toLowerCase();
    const out = [];
    for (const rec of this.core.projections.allGroups()) {
      if (rec.visibility !== 'public' || (needle && !rec.name.toLowerCase().includes(needle))) continue;
      out.push({ group_id: rec.id, address: `group:${rec.id}`, name: rec.name, mode: rec.mode, join_policy: rec.join_policy, member_count: rec.member_count });
      if (out.length >= limit) break;
    }
    return out;
  }

  async update(auth: Auth, id: string, change: { name?: string; visibility?: Visibility; mode?: Mode; join_policy?: JoinPolicy }) {
    const group = this.visible(auth, id);
    if (change.name !== undefined && !change.name.trim()) throw new Refusal('validation_failed', 'name must not be empty');
    const decision = decideSettings(group, auth.user, { ...change, name: change.name?.trim() }, Date.now());
    if (decision.refusal) throw decision.refusal;
    await this.apply(group, decision.events);
    return this.view(this.feed.group(id), auth.user);
  }

  members(auth: Auth, id: string) {
    const group = this.visible(auth, id);
    if (!isMember(group, auth.user)) throw new Refusal('not_a_member', `join "${group.name}" to see its members`);
    // A stream group's observers see who writes (owner, admins) and themselves, not each other:
    // as they are not told who joins or leaves.
    const listed = group.mode === 'stream' && !isAdmin(group, auth.user) ? Object.entries(group.members).filter(([user, role]) => role !== 'member' || user === auth.user) : Object.entries(group.members);
    const members = listed.map(([user, role]) => {
      const rec = this.core.projections.user(user);
      return { address: rec?.chat_address ?? user, chat_address: rec?.chat_address ?? user, display_name: rec?.display_name ?? null, role };
    });
    return { group_id: id, members };
  }

  /** Adds a member, or sets their role; without a role, a new member joins as member and a current one keeps theirs. */
  async addMember(auth: Auth, id: string, address: string, requested?: Role) {
    const group = this.visible(auth, id);
    const user = this.userOf(address);
    const role = requested ?? own(group.members, user) ?? 'member';
    if (!isMember(group, user)) this.assertAccepts(user, auth.user);
    const decision = decideAdd(group, auth.user, user, role, this.core.config.groupMaxMembers, Date.now());
    if (decision.refusal) throw decision.refusal;
    await this.apply(group, decision.events);
    const set = decision.events.find((e) => e.type === 'member_added' || e.type === 'role_set');
    return { group_id: id, address: this.address(user), role: set && 'role' in set && set.user === user ? set.role : group.members[user] };
  }

  async removeMember(auth: Auth, id: string, address: string) {
    const group = this.visible(auth, id);
    const user = this.userOf(address);
    const decision = decideRemove(group, auth.user, user, Date.now());
    if (decision.refusal) throw decision.refusal;
    await this.apply(group, decision.events);
    return { group_id: id, address: this.address(user), removed: decision.events.length > 0 };
  }

  async leave(auth: Auth, id: string) {
    const group = this.visible(auth, id);
    const decision = decideLeave(group, auth.user, Date.now());
    if (decision.refusal) throw decision.refusal;
    await this.apply(group, decision.events);
    return { group_id: id, left: true };
  }

  /** Join (open groups) or ask to join (approval groups). */
  async join(auth: Auth, id: string, note?: string) {
    const group = this.visible(auth, id);
    const decision = decideJoin(group, auth.user, `req_${randomHex(8)}`, note, this.core.config.groupMaxMembers, Date.now());
    if (decision.refusal) throw decision.refusal;
    await this.apply(group, decision.events, Object.keys(group.members).filter((u) => isAdmin(group, u)));
    // The answer is what this request did (the group may have moved on since: a concurrent
    // removal or decision), or, when it did nothing, how things stood.
    for (const e of decision.events) {
      if (e.type === 'member_added') return { group_id: id, status: 'joined', role: e.role };
      if (e.type === 'join_requested') return { group_id: id, status: 'requested', request_id: e.request_id };
    }
    if (isMember(group, auth.user)) return { group_id: id, status: 'joined', role: group.members[auth.user] };
    const pending = Object.values(group.requests).find((r) => r.user === auth.user);
    return { group_id: id, status: 'requested', request_id: pending?.request_id ?? null };
  }

  requests(auth: Auth, id: string) {
    const group = this.visible(auth, id);
    if (!isAdmin(group, auth.user)) throw new Refusal('not_group_admin', `only admins of "${group.name}" see join requests`);
    return {
      group_id: id,
      requests: Object.values(group.requests).map((r) => ({
        request_id: r.request_id,
        address: this.address(r.user),
        display_name: this.core.projections.user(r.user)?.display_name ?? null,
        note: r.note ?? null,
        created_at: iso(r.at),
      })),
    };
  }

  async decide(auth: Auth, id: string, requestId: string, action: 'approve' | 'reject') {
    const group = this.visible(auth, id);
    const decision = decideRequest(group, auth.user, requestId, action, this.core.config.groupMaxMembers, Date.now());
    if (decision.refusal) throw decision.refusal;
    await this.apply(group, decision.events);
    return { group_id: id, request_id: requestId, action, status: action === 'approve' ? 'approved' : 'rejected' };
  }
}
