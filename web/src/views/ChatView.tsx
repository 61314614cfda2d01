// One conversation: header, the message log (a bounded window with "load older"), the
// composer. Stream groups show observers a read-only composer; so does a conversation whose
// history the relay refuses (a group you are no longer in, an address nobody has), which
// says why instead of inviting a first message, and for a public group offers to join again.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { chat, ui, convLangs, groups, canWrite, joinGroup, loadOlder, loadUntil, markRead, setArchived, setBlocked, attempt, captionLanguage, setConversationLanguage, translationLanguages, type Group, type Reach } from '../app.ts';
import { TRANSLATE_OFF } from '../stores/languages.ts';
import type { JoinRequest, Unavailable } from '../stores/chat.ts';
import { Menu } from './Menu.tsx';
import { useStore, useTypingExpiry, rovingKeys } from './hooks.ts';
import { Avatar } from './Avatar.tsx';
import { MessageItem } from './Message.tsx';
import { Composer } from './Composer.tsx';
import { exportConversation } from './exporting.ts';
import { Icon } from './Icon.tsx';
import { MessageHits } from './Search.tsx';

/** Messages rendered at once; "Load older" widens the window by this much. */
export const WINDOW_STEP = 100;

/** Why a search hit is not shown (when a page failed to load, its error is on screen instead). */
const REACH_NOTICE: Record<Exclude<Reach, 'found' | 'failed'>, string> = {
  further: 'That message is further back than the app loads at once: use "Load older messages" to go on.',
  ended: 'That message is no longer in this conversation.',
  unavailable: 'That message cannot be shown: this conversation is no longer available to you.',
};

/** What the log says when the relay refuses a conversation's history; `had`: messages loaded before are shown. */
function unavailableNotice(why: Unavailable, key: string, had: boolean): string {
  if (why === 'not_member') return `You are no longer a member of this group.${had ? ' Only the messages this app already had are shown.' : ' Its messages are not available to you.'}`;
  if (why === 'no_address') return `No one on this relay has the chat address “${key}”.`;
  return 'This conversation’s history is not available from the relay.';
}

/** Why the composer is read-only where you may not write (the relay would refuse it), or null. */
const LOCKED: Partial<Record<Unavailable, string>> = {
  not_member: 'You can’t send messages here: you are no longer a member of this group.',
  no_address: 'You can’t send messages here: no one has this chat address.',
};

export function ChatView() {
  const c = useStore(chat);
  const u = useStore(ui);
  useStore(convLangs);
  const key = c.active;
  const [size, setSize] = useState(WINDOW_STEP);
  const logRef = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const [reveal, setReveal] = useState<string | null>(null);
  useTypingExpiry(chat);

  useEffect(() => setSize(WINDOW_STEP), [key]);
  // A search hit to show: older history is loaded back to it and the window widened to hold it.
  useEffect(() => {
    const id = u.focusMsg;
    if (!key || !id) return;
    ui.set({ focusMsg: null });
    void loadUntil(key, id).then((reach) => {
      if (chat.state.active !== key) return;
      if (reach !== 'found') {
        if (reach !== 'failed') ui.notify(REACH_NOTICE[reach]);
        return;
      }
      const list = chat.state.msgs[key]?.list ?? [];
      stick.current = false;
      setSize((s) => Math.max(s, list.length - list.findIndex((x) => x.id === id)));
      setReveal(id);
    });
  }, [u.focusMsg, key]);
  useEffect(() => {
    if (!reveal) return;
    focusMessage(reveal);
    setReveal(null);
  }, [reveal]);
  // Back to the page (focus, or the tab shown again): what arrived meanwhile is now read.
  useEffect(() => {
    const onBack = () => key && document.visibilityState === 'visible' && void markRead(key);
    window.addEventListener('focus', onBack);
    document.addEventListener('visibilitychange', onBack);
    return () => {
      window.removeEventListener('focus', onBack);
      document.removeEventListener('visibilitychange', onBack);
    };
  }, [key]);

  const conv = key ? c.conversations[key] : undefined;
  const m = key ? c.msgs[key] : undefined;
  const { items, hiddenOlder } = key ? chat.window(key, size) : { items: [], hiddenOlder: 0 };
  const lastId = items[items.length - 1]?.id;

  // Kept at the bottom when something new comes there: a message, or the notice that the
  // conversation is no longer available (the removal may come while you read its newest lines).
  const goneNote = !!m?.unavailable && !!m.loaded;
  useLayoutEffect(() => {
    const el = logRef.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [lastId, key, items.length, goneNote]);

  if (!key || !conv) {
    return (
      <main class="chat empty-chat">
        <p class="muted">Choose a conversation, or start one with New chat.</p>
      </main>
    );
  }

  const group = conv.kind === 'group' ? groups.get(key.slice(6)) : undefined;
  const gone = m?.unavailable;
  const locked = gone ? LOCKED[gone] : undefined;
  const streamOnly = conv.kind === 'group' && (conv.readOnly || (group ? !canWrite(group) : false));
  // Why you may not write here (the composer shows it), or null where you may.
  const whyReadOnly = locked ?? (!streamOnly ? null : group && !group.member ? 'You are not a member of this group.' : "Only the group's admins can write in this stream group.");
  const readOnly = whyReadOnly !== null;
  const typingName = chat.typingIn(key);
  const peerOnline = c.online[key];
  const older = async () => {
    const el = logRef.current;
    const before = el ? el.scrollHeight - el.scrollTop : 0;
    stick.current = false;
    if (hiddenOlder > 0) setSize((s) => s + WINDOW_STEP);
    else {
      await loadOlder(key);
      setSize((s) => s + WINDOW_STEP);
    }
    requestAnimationFrame(() => el && (el.scrollTop = el.scrollHeight - before));
  };
  const captions = captionLanguage(key) !== null;

  return (
    <main class="chat" aria-label={`Conversation with ${conv.title}`}>
      <header class="chat-head">
        <button class="icon back" aria-label="Back to conversations" onClick={() => ui.set({ pane: 'list' })}>
          <Icon name="back" />
        </button>
        <Avatar name={conv.title} fileId={chat.avatarOf(key)} label={`Picture of ${conv.title}`} online={peerOnline} />
        <div class="chat-title">
          <h2>{conv.title}</h2>
          <small class="muted" aria-live="polite">
            {typingName
              ? `${typingName} is typing…`
              : conv.kind === 'group'
                ? `${group?.mode === 'stream' ? 'Stream group' : 'Group'}${gone === 'not_member' ? ' · no longer a member' : readOnly ? ' · read-only' : ''}`
                : conv.kind === 'saved'
                  ? 'Notes to yourself'
                  : `${key}${gone === 'no_address' ? ' · no such address' : ''}`}
          </small>
        </div>
        <div class="chat-actions" role="toolbar" aria-label="Conversation actions">
          <button class="icon" aria-label="Search in conversation" aria-pressed={u.convSearchOpen} onClick={() => ui.set({ convSearchOpen: !u.convSearchOpen })}>
            <Icon name="search" />
          </button>
          {conv.kind === 'group' && gone !== 'not_member' && (
            <button class="icon" aria-label="Group members and settings" onClick={() => ui.open('group', key.slice(6))}>
              <Icon name="users" />
            </button>
          )}
          {conv.kind !== 'saved' && <TranslationMenu key={key} convKey={key} />}
          <button class="icon" aria-label="Export conversation" onClick={() => exportConversation(key)}>
            <Icon name="download" />
          </button>
          {conv.kind !== 'group' && gone !== 'no_address' && (
            <button class="icon" aria-label={conv.archived ? 'Unarchive conversation' : 'Archive conversation'} onClick={() => void setArchived(key, !conv.archived)}>
              <Icon name="archive" />
            </button>
          )}
          {conv.kind === 'direct' && gone !== 'no_address' && (
            <>
              <button class="icon" aria-label={`Block ${conv.title}`} onClick={() => confirm(`Block ${conv.title}? They will not be able to message you.`) && void setBlocked(key, true)}>
                <Icon name="block" />
              </button>
              <button class="icon" aria-label={`Report ${conv.title}`} onClick={() => ui.open('report', `address:${key}`)}>
                <Icon name="flag" />
              </button>
            </>
          )}
        </div>
      </header>
      {u.convSearchOpen && (
        <div class="conv-search" role="search">
          <input type="search" autofocus aria-label="Search in this conversation" placeholder="Search in this conversation" value={u.convSearch} onInput={(e) => ui.set({ convSearch: e.currentTarget.value })} />
          <MessageHits query={u.convSearch} peer={key} />
        </div>
      )}
      <div
        class="log"
        role="log"
        aria-label={`Messages with ${conv.title}`}
        aria-live="polite"
        ref={logRef}
        onScroll={(e) => {
          const el = e.currentTarget;
          stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 60;
        }}
        onKeyDown={(e) => rovingKeys(e, logRef.current, '.msg')}
      >
        {(hiddenOlder > 0 || m?.hasMore) && (
          <button class="older" onClick={() => void older()}>
            Load older messages
          </button>
        )}
        {m && !m.loaded && <p class="muted center">Loading…</p>}
        {m?.loaded && items.length === 0 && !gone && <p class="muted center">No messages yet. Say hello!</p>}
        {items.map((msg, i) => (
          <MessageItem key={msg.localId ?? msg.id} msg={msg} tabbable={i === items.length - 1} group={conv.kind === 'group'} captions={captions} writable={!readOnly} locked={!!locked} />
        ))}
        {gone && m?.loaded && (
          <div class="muted center gone-note">
            <p>{unavailableNotice(gone, key, items.length > 0)}</p>
            {gone === 'not_member' && group?.visibility === 'public' && !group.member && <JoinOffer key={group.id} group={group} request={c.joinRequests[group.id]} />}
          </div>
        )}
      </div>
      <Composer key={key} convKey={key} readOnly={whyReadOnly} />
    </main>
  );
}

/**
 * The way back into a public group you are no longer in (removed, or left): join it (open
 * policy) or ask its admins to let you in (approval); a private group has none to offer. Once
 * in, the store asks for its history again and the notice goes.
 */
function JoinOffer({ group, request }: { group: Group; request?: JoinRequest }) {
  const [busy, setBusy] = useState(false);
  const status = useRef<HTMLParagraphElement>(null);
  const asked = useRef(false);
  // The button goes once used: focus follows to what replaced it, unless it has moved on meanwhile.
  const focusLost = () => !document.activeElement || document.activeElement === document.body;
  useEffect(() => {
    if (request === 'requested' && asked.current && focusLost()) status.current?.focus();
    asked.current = false;
  }, [request]);
  if (request === 'requested') {
    return (
      <p class="join-offer" role="status" tabIndex={-1} ref={status}>
        Your request to join was sent to the group’s admins: this conversation opens again once one of them lets you in.
      </p>
    );
  }
  const approval = group.join_policy === 'approval';
  const act = async () => {
    if (busy) return;
    setBusy(true);
    asked.current = true;
    const done = await attempt(() => joinGroup(group.id));
    setBusy(false);
    if (done !== 'requested') asked.current = false;
    if (done === 'joined') {
      ui.notify(`You joined ${group.name}.`);
      // In: the notice and its button are gone, the composer (writable now) takes the focus.
      requestAnimationFrame(() => focusLost() && chat.state.active === `group:${group.id}` && document.getElementById('composer')?.focus());
    }
  };
  return (
    <div class="join-offer">
      <p>
        {request === 'rejected'
          ? 'The group’s admins turned down your request to join.'
          : approval
            ? 'Its admins decide who joins: you can ask to join again.'
            : 'This group is public: you can join it again.'}
      </p>
      {/* aria-disabled, not disabled: a disabled button would drop the focus while the relay answers. */}
      <button class="primary" aria-disabled={busy} onClick={() => void act()}>
        {approval ? 'Ask to join' : 'Join group'}
      </button>
    </div>
  );
}

/**
 * "Translate this chat to…": a language for this conversation only, off for it, or as in
 * Settings. Direct chats and groups (the relay keys the choice by address or `group:<id>`).
 */
function TranslationMenu({ convKey }: { convKey: string }) {
  const [open, setOpen] = useState(false);
  const [langs, setLangs] = useState<[string, string][] | null>(null);
  const button = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (open) void translationLanguages().then(setLangs);
  }, [open]);
  const choice = convLangs.choice(convKey);
  const receive = ui.state.prefs.receiveLanguage;
  const nameOf = (code: string) => langs?.find(([c]) => c === code)?.[1] ?? code;
  const pick = (next: string | null, said: string) => void attempt(() => setConversationLanguage(convKey, next), said);
  const items = [
    { label: `As in Settings (${receive ? nameOf(receive) : 'off'})`, checked: choice === null, run: () => pick(null, 'This chat follows the Settings language.') },
    { label: 'Off for this chat', checked: choice === TRANSLATE_OFF, run: () => pick(TRANSLATE_OFF, 'Translation is off for this chat.') },
    ...(langs ?? []).map(([code, name]) => ({ label: name, checked: choice === code, run: () => pick(code, `This chat is translated to ${name}.`) })),
  ];
  return (
    <span class="menu-anchor">
      <button
        ref={button}
        aria-label="Translate this chat"
        aria-haspopup="menu"
        aria-expanded={open}
        class={`icon ${choice !== null ? 'on' : ''}`}
        onClick={() => setOpen(!open)}
      >
        <Icon name="translate" />
      </button>
      {open && langs && <Menu label="Translate this chat to" items={items} onClose={() => (setOpen(false), button.current?.focus())} />}
    </span>
  );
}

function focusMessage(id: string) {
  const el = document.getElementById(`m-${id}`);
  el?.scrollIntoView({ block: 'center' });
  el?.focus();
}

export { attempt };
