// Conversation list: search, channel filters, archive toggle, unread counts. The list is a
// listbox with one tab stop (roving tab index); each option is named after the peer.
import { useRef } from 'preact/hooks';
import { chat, logins, ui, openConversation, switchLogin, logout } from '../app.ts';
import { CHANNEL_FILTERS } from '../lib/parse.ts';
import type { Msg } from '../stores/chat.ts';
import { useStore, useTypingExpiry, rovingKeys } from './hooks.ts';
import { Avatar } from './Avatar.tsx';
import { Icon } from './Icon.tsx';
import { MessageHits, SEARCH_MIN_CHARS } from './Search.tsx';

export function Sidebar() {
  const c = useStore(chat);
  const l = useStore(logins);
  useTypingExpiry(chat);
  const listRef = useRef<HTMLUListElement>(null);
  const convs = chat.visibleConversations();
  const activeIndex = Math.max(0, convs.findIndex((x) => x.key === c.active));
  const me = logins.current;

  return (
    <nav class="sidebar" aria-label="Conversations">
      <header class="side-head">
        <button class="me" title="Profile" onClick={() => ui.open('profile')}>
          <Avatar name={c.myName || c.me} fileId={chat.avatarOf(c.me)} />
          <span class="me-text">
            <strong>{c.myName || c.me}</strong>
            <small>{c.me}</small>
          </span>
        </button>
        <div class="side-actions" role="toolbar" aria-label="Main actions">
          <button class="icon" aria-label="New chat" title="New chat (Alt+N)" onClick={() => ui.open('directory')}>
            <Icon name="pencil" />
          </button>
          <button class="icon" aria-label="New group" title="New group (Alt+G)" onClick={() => ui.open('newgroup')}>
            <Icon name="users" />
          </button>
          <button class="icon" aria-label="Contacts" title="Contacts" onClick={() => ui.open('contacts')}>
            <Icon name="contacts" />
          </button>
          <button class="icon" aria-label="Settings" title="Settings (Alt+,)" onClick={() => ui.open('settings')}>
            <Icon name="gear" />
          </button>
        </div>
      </header>
      {l.logins.length > 1 && (
        <label class="switcher">
          <span class="sr-only">Switch login</span>
          <select aria-label="Switch login" value={String(l.active)} onChange={(e) => void switchLogin(Number(e.currentTarget.value))}>
            {l.logins.map((x, i) => (
              <option key={i} value={String(i)}>
                {x.display_name} ({x.chat_address})
              </option>
            ))}
          </select>
        </label>
      )}
      <div class="side-search">
        <input
          id="conv-search"
          type="search"
          placeholder="Search conversations and messages"
          aria-label="Search conversations and messages"
          value={c.search}
          onInput={(e) => chat.setFilter({ search: e.currentTarget.value })}
        />
      </div>
      <div class="filters" role="group" aria-label="Channel filter">
        {CHANNEL_FILTERS.map((f) => (
          <button key={f.id} class="chip" aria-pressed={c.filter === f.id} onClick={() => chat.setFilter({ filter: f.id })}>
            {f.label}
          </button>
        ))}
      </div>
      <div class="side-tabs">
        <button class="link" aria-pressed={c.showArchived} onClick={() => chat.setFilter({ showArchived: !c.showArchived })}>
          {c.showArchived ? '← Back to chats' : 'Archived'}
        </button>
        <button class="link" onClick={() => void openConversation(c.me, { title: 'Saved messages' })}>
          Saved messages
        </button>
      </div>
      <div class="side-list">
        <ul class="convs" role="listbox" aria-label="Conversation list" ref={listRef} onKeyDown={(e) => rovingKeys(e, listRef.current, '[role=option]')}>
          {convs.length === 0 && (
            <li class="empty muted" role="presentation">
              {c.search ? 'No conversation matches.' : c.showArchived ? 'No archived conversations.' : 'No conversations yet. Start one with New chat.'}
            </li>
          )}
          {convs.map((conv, i) => {
            const typingName = chat.typingIn(conv.key);
            const last = conv.last;
            const preview = typingName ? 'typing…' : last ? (last.deleted ? 'Message deleted' : last.text || attachmentLine(last)) : '';
            // The relay no longer gives it (a group you were removed from, an address nobody has): said
            // before it is opened; the preview stays, as opening it shows what the app had.
            const gone = typingName ? null : GONE_MARK[c.msgs[conv.key]?.unavailable ?? ''];
            return (
              <li
                key={conv.key}
                role="option"
                aria-selected={conv.key === c.active}
                tabIndex={i === activeIndex ? 0 : -1}
                class={`conv ${conv.key === c.active ? 'active' : ''}`}
                onClick={() => void openConversation(conv.key)}
                onKeyDown={(e) => (e.key === 'Enter' || e.key === ' ') && (e.preventDefault(), void openConversation(conv.key))}
              >
                <Avatar name={conv.title} fileId={chat.avatarOf(conv.key)} label={`Picture of ${conv.title}`} decorative online={c.online[conv.key]} />
                <span class="conv-main">
                  <span class="conv-title">
                    {conv.kind === 'group' ? '# ' : ''}
                    {conv.title}
                    {conv.unread > 0 && <span class="sr-only">, {conv.unread} unread</span>}
                  </span>
                  <span class={`conv-preview ${typingName ? 'typing' : ''}`}>
                    {gone && <em class="conv-gone">{gone}</em>}
                    {gone && preview ? ' · ' : ''}
                    {preview}
                  </span>
                </span>
                <span class="conv-meta">
                  {last && <time>{shortTime(last.created_at)}</time>}
                  {conv.unread > 0 && (
                    <span class="badge" aria-hidden="true">
                      {conv.unread}
                    </span>
                  )}
                </span>
              </li>
            );
          })}
        </ul>
        {c.search.trim().length >= SEARCH_MIN_CHARS && (
          <section class="side-hits" aria-label="Messages">
            <h3>Messages</h3>
            <MessageHits query={c.search} />
          </section>
        )}
      </div>
      <footer class="side-foot">
        <span class="muted">{c.conn === 'online' ? `Online · ${c.transport === 'ws' ? 'live' : 'long-poll'}` : c.conn}</span>
        <button class="link" onClick={() => void logout()}>
          Log out{me ? ` ${me.chat_address}` : ''}
        </button>
      </footer>
    </nav>
  );
}

/** What a conversation's row says when the relay will not give its history (see ChatStore `unavailable`). */
const GONE_MARK: Record<string, string> = { not_member: 'Not a member', no_address: 'No such address' };

export function shortTime(iso: string): string {
  const d = new Date(iso);
  const now = new Date();
  return d.toDateString() === now.toDateString() ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : d.toLocaleDateString([], { month: 'short', day: 'numeric' });
}

/** A message's first attachment as a line, for one without text ('' when it has none). */
export function attachmentLine(m: Msg): string {
  const a = m.attachments[0];
  return a ? `📎 ${a.name ?? a.kind}` : '';
}
