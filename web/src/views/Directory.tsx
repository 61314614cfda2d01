// Directory: public users, their named AI/CLI sessions (online, typing), public groups.
// Open a chat with anyone by name or address.
import { useEffect, useState } from 'preact/hooks';
import { chat, currentApi, ui, openConversation, errorText, joinGroup, groups } from '../app.ts';
import { Dialog } from './Dialog.tsx';
import { Avatar } from './Avatar.tsx';

interface Dir {
  users: any[];
  sessions: any[];
  groups: any[];
}

export function DirectoryDialog() {
  const [q, setQ] = useState('');
  const [dir, setDir] = useState<Dir | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [to, setTo] = useState('');

  const load = async (query: string) => {
    try {
      const out = await currentApi().get(`/api/v1/webchat/directory?q=${encodeURIComponent(query)}`);
      setDir({ users: out.users ?? [], sessions: out.sessions ?? [], groups: out.groups ?? [] });
      chat.learnUsers(out.users ?? []);
      setError(null);
    } catch (err) {
      setError(errorText(err));
    }
  };
  useEffect(() => {
    const t = setTimeout(() => void load(q), 200);
    return () => clearTimeout(t);
  }, [q]);

  const open = async (key: string, title?: string) => {
    ui.close();
    await openConversation(key, { title });
  };
  const openByName = async (e: Event) => {
    e.preventDefault();
    const v = to.trim();
    if (!v) return;
    const lower = v.toLowerCase().replace(/^@/, '');
    const hit = dir?.users.find((u) => u.chat_address === lower || (u.display_name ?? '').toLowerCase() === lower);
    if (hit) return open(hit.chat_address, hit.display_name);
    try {
      if (/^(group:)?grp_[0-9a-f]{16}$/.test(lower)) {
        // A group opens only for its members: the relay says if it is unknown (or private to you).
        const id = lower.replace(/^group:/, '');
        const g = (await currentApi().get(`/api/v1/webchat/groups/${encodeURIComponent(id)}`)).group;
        if (!g?.role) return setError(`You are not a member of ${g?.name ?? 'that group'}${g?.visibility === 'public' ? ': join it under Public groups' : ''}.`);
        return await open(`group:${id}`, g.name);
      }
      // Not listed (hidden or private): try the address directly — the relay says if it is unknown.
      await currentApi().get(`/api/v1/webchat/history?peer=${encodeURIComponent(lower)}&limit=1`);
      await open(lower);
    } catch (err) {
      setError(errorText(err));
    }
  };
  const join = async (g: any) => {
    const id = g.group_id ?? g.id;
    try {
      if ((await joinGroup(id)) === 'joined') await open(`group:${id}`, g.name);
      else ui.notify('Join request sent to the group admins.');
    } catch (err) {
      setError(errorText(err));
    }
  };

  return (
    <Dialog title="New chat" wide>
      <form class="row" onSubmit={openByName}>
        <label class="grow">
          Chat address or name
          <input type="text" value={to} onInput={(e) => setTo(e.currentTarget.value)} placeholder="e.g. codex-agent" />
        </label>
        <button class="primary" type="submit">
          Open chat
        </button>
      </form>
      <label>
        Search the directory
        <input type="search" value={q} onInput={(e) => setQ(e.currentTarget.value)} />
      </label>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {dir && (
        <div class="dir">
          <section aria-label="People">
            <h3>People</h3>
            {dir.users.length === 0 && <p class="muted">Nobody matches.</p>}
            <ul class="plain">
              {dir.users.map((u) => (
                <li key={u.chat_address} class="dir-row">
                  <Avatar name={u.display_name ?? u.chat_address} fileId={u.avatar_file_id} label={`Picture of ${u.display_name ?? u.chat_address}`} online={u.online} />
                  <span class="grow">
                    <strong>{u.display_name ?? u.chat_address}</strong> <small class="muted">{u.chat_address}</small>
                    <small class={u.online ? 'online' : 'muted'}> · {u.online ? 'online' : 'offline'}</small>
                    {(u.sessions ?? []).length > 0 && (
                      <ul class="sessions">
                        {u.sessions.map((s: any) => (
                          <li key={s.session_id}>
                            <span class={`dot-inline ${s.online ? 'on' : ''}`} aria-hidden="true" />
                            {s.session_name || 'session'}
                            {s.device_name ? ` @ ${s.device_name}` : ''} <small class="muted">{s.online ? 'online' : 'offline'}{s.typing ? ' · typing…' : ''}</small>
                          </li>
                        ))}
                      </ul>
                    )}
                  </span>
                  <button onClick={() => void open(u.chat_address, u.display_name)} aria-label={`Message ${u.display_name ?? u.chat_address}`}>
                    Message
                  </button>
                </li>
              ))}
            </ul>
          </section>
          <section aria-label="Public groups">
            <h3>Public groups</h3>
            {dir.groups.length === 0 && <p class="muted">No public groups.</p>}
            <ul class="plain">
              {dir.groups.map((g) => {
                const id = g.group_id ?? g.id;
                const mine = groups.get(id)?.member;
                return (
                  <li key={id} class="dir-row">
                    <Avatar name={g.name ?? id} />
                    <span class="grow">
                      <strong>{g.name}</strong> <small class="muted">{g.mode === 'stream' ? 'stream' : 'chat'} · {g.member_count ?? g.members ?? '?'} members</small>
                    </span>
                    {mine ? (
                      <button onClick={() => void open(`group:${id}`, g.name)}>Open</button>
                    ) : (
                      <button onClick={() => void join(g)} aria-label={`Join ${g.name}`}>
                        Join
                      </button>
                    )}
                  </li>
                );
              })}
            </ul>
          </section>
        </div>
      )}
    </Dialog>
  );
}
