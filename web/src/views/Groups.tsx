// Groups: create (public / private, chat / stream, open / approval), and for admins the
// member list, add / remove members, and join requests to approve or reject. Members leave.
import { useEffect, useState } from 'preact/hooks';
import { ui, groups, createGroup, attempt, currentApi, errorText, leaveGroup, loadGroups } from '../app.ts';
import { useStore } from './hooks.ts';
import { Dialog } from './Dialog.tsx';

export function NewGroupDialog() {
  const [name, setName] = useState('');
  const [visibility, setVisibility] = useState('public');
  const [mode, setMode] = useState('chat');
  const [policy, setPolicy] = useState('open');
  return (
    <Dialog title="New group">
      <form
        class="stack"
        onSubmit={async (e) => {
          e.preventDefault();
          await attempt(async () => {
            await createGroup({ name: name.trim(), visibility, mode, join_policy: policy });
            ui.close();
          });
        }}
      >
        <label>
          Name
          <input type="text" required maxLength={80} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          Visibility
          <select value={visibility} onChange={(e) => setVisibility(e.currentTarget.value)}>
            <option value="public">Public (in the directory)</option>
            <option value="private">Private (invite only)</option>
          </select>
        </label>
        <label>
          Mode
          <select value={mode} onChange={(e) => setMode(e.currentTarget.value)}>
            <option value="chat">Chat (everyone writes)</option>
            <option value="stream">Stream (only admins write; others observe)</option>
          </select>
        </label>
        <label>
          Joining
          <select value={policy} onChange={(e) => setPolicy(e.currentTarget.value)}>
            <option value="open">Anyone may join</option>
            <option value="approval">Admins approve join requests</option>
          </select>
        </label>
        <div class="row end">
          <button class="primary" type="submit" disabled={!name.trim()}>
            Create group
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function GroupDialog() {
  const u = useStore(ui);
  const id = u.modalArg ?? '';
  const g = groups.get(id);
  const admin = g?.role === 'owner' || g?.role === 'admin' || g?.role === 'creator';
  const [members, setMembers] = useState<any[] | null>(null);
  const [requests, setRequests] = useState<any[]>([]);
  const [addr, setAddr] = useState('');
  const [role, setRole] = useState('member');
  const [error, setError] = useState<string | null>(null);
  const [leaveError, setLeaveError] = useState<string | null>(null);
  const api = currentApi();
  const base = `/api/v1/webchat/groups/${id}`;
  const load = async () => {
    try {
      const m = await api.get(`${base}/members`);
      setMembers(m.members ?? []);
      if (admin) setRequests((await api.get(`${base}/join-requests`).catch(() => ({ requests: [] }))).requests ?? []);
    } catch (err) {
      setError(errorText(err));
      setMembers([]);
    }
  };
  useEffect(() => void load(), [id]);
  /** True when the relay took it. */
  const act = async (fn: () => Promise<unknown>): Promise<boolean> => {
    try {
      await fn();
      setError(null);
      await load();
      await loadGroups();
      return true;
    } catch (err) {
      setError(errorText(err));
      return false;
    }
  };
  const name = g?.name ?? id;
  const leave = async () => {
    const back = g?.visibility === 'private' ? ' Only an admin can add you again.' : '';
    if (!confirm(`Leave ${name}? You will no longer get its messages.${back}`)) return;
    try {
      await leaveGroup(id);
      ui.close();
      ui.notify(`You left ${name}.`);
    } catch (err) {
      setLeaveError(errorText(err));
    }
  };
  return (
    <Dialog title={`Group: ${name}`} wide>
      <p class="muted">
        {g?.visibility ?? ''} · {g?.mode === 'stream' ? 'stream (only admins write)' : 'chat'} · your role: {g?.role ?? 'observer'}
      </p>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {admin && (
        <form
          class="row"
          onSubmit={(e) => {
            e.preventDefault();
            void act(() => api.post(`${base}/members`, { member_address: addr.trim(), role })).then((ok) => ok && setAddr(''));
          }}
        >
          <label class="grow">
            Add member by chat address
            <input type="text" value={addr} onInput={(e) => setAddr(e.currentTarget.value)} />
          </label>
          <label>
            Role
            {/* The relay's roles; a stream group's members are its observers (no role of their own). */}
            <select value={role} onChange={(e) => setRole(e.currentTarget.value)}>
              <option value="member">{g?.mode === 'stream' ? 'member (observer: reads only)' : 'member'}</option>
              <option value="admin">admin</option>
            </select>
          </label>
          <button type="submit" disabled={!addr.trim()}>
            Add
          </button>
        </form>
      )}
      {admin && requests.length > 0 && (
        <section aria-label="Join requests">
          <h3>Join requests</h3>
          <ul class="plain">
            {requests.map((r) => {
              const rid = r.request_id ?? r.id;
              const who = r.chat_address ?? r.address ?? r.from;
              return (
                <li key={rid} class="dir-row">
                  <span class="grow">{r.display_name ?? who}</span>
                  <button onClick={() => void act(() => api.post(`${base}/join-requests/${rid}`, { action: 'approve' }))} aria-label={`Approve ${who}`}>
                    Approve
                  </button>
                  <button onClick={() => void act(() => api.post(`${base}/join-requests/${rid}`, { action: 'reject' }))} aria-label={`Reject ${who}`}>
                    Reject
                  </button>
                </li>
              );
            })}
          </ul>
        </section>
      )}
      <section aria-label="Members">
        <h3>Members</h3>
        {members === null ? (
          <p class="muted">Loading…</p>
        ) : (
          <ul class="plain">
            {members.map((m) => {
              const a = m.chat_address ?? m.address ?? m.member_address;
              return (
                <li key={a} class="dir-row">
                  <span class="grow">
                    {m.display_name ?? a} <small class="muted">{a} · {m.role}</small>
                  </span>
                  {admin && m.role !== 'owner' && (
                    <button onClick={() => void act(() => api.del(`${base}/members/${encodeURIComponent(a)}`))} aria-label={`Remove ${a}`}>
                      Remove
                    </button>
                  )}
                </li>
              );
            })}
          </ul>
        )}
      </section>
      {g?.member && (
        <section aria-label="Leave">
          {leaveError && (
            <p class="error" role="alert">
              {leaveError}
            </p>
          )}
          <div class="row end">
            <button class="danger" onClick={() => void leave()}>
              Leave group
            </button>
          </div>
        </section>
      )}
    </Dialog>
  );
}
