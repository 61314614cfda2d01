// One message: sender, quoted reply, text (direction from its script), attachments,
// translation caption, time, edited mark, delivery status, and its action menu.
import { useRef, useState } from 'preact/hooks';
import type { Msg } from '../stores/chat.ts';
import { chat, ui, deleteMessage, retry } from '../app.ts';
import { speak, translateMessage } from '../features.ts';
import { textDirection } from '../lib/parse.ts';
import { AttachmentView } from './Media.tsx';
import { shortTime } from './Sidebar.tsx';
import { Menu } from './Menu.tsx';

const STATUS_LABEL: Record<string, string> = { pending: 'Sending', sent: 'Sent', delivered: 'Delivered', read: 'Read', failed: 'Not sent' };
const STATUS_ICON: Record<string, string> = { pending: '◷', sent: '✓', delivered: '✓✓', read: '✓✓', failed: '!' };

/**
 * `captions`: this conversation shows translation captions (asked-for ones show regardless).
 * `writable`: you may write in this conversation (not a stream group's observer, nor locked):
 * Reply, Edit and Retry go through a send. `locked`: the relay no longer lets you see this
 * conversation (a group you are no longer in, an address nobody has): it refuses anything asked
 * of its messages by id (delete, translate, report), so only what needs no relay stays (copy,
 * read aloud from the text, discarding a copy that was never sent).
 */
export function MessageItem({ msg, tabbable, group, captions = true, writable = true, locked = false }: { msg: Msg; tabbable: boolean; group: boolean; captions?: boolean; writable?: boolean; locked?: boolean }) {
  const [menu, setMenu] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  const quoted = msg.reply_to ? chat.find(msg.reply_to) : undefined;
  const mine = msg.outgoing;
  const sender = mine ? 'You' : (msg.display_name ?? msg.from);

  const actions: { label: string; key?: string; run: () => void; show: boolean }[] = [
    { label: 'Reply', key: 'r', show: writable && !msg.deleted && !msg.localId, run: () => (ui.set({ replyTo: msg.id, editing: null }), document.getElementById('composer')?.focus()) },
    { label: 'Copy text', key: 'c', show: !msg.deleted && !!msg.text, run: () => void navigator.clipboard?.writeText(msg.text).then(() => ui.notify('Copied.'), () => ui.notify('Copy is not allowed here.', 'error')) },
    { label: 'Edit', key: 'e', show: writable && mine && !msg.deleted && !msg.localId, run: () => (ui.set({ editing: msg.id, replyTo: null }), document.getElementById('composer')?.focus()) },
    { label: 'Translate', show: !locked && !msg.deleted && !!msg.text && !msg.localId, run: () => void translateMessage(msg.id) },
    {
      label: 'Read aloud',
      show: !msg.deleted && !!(msg.translation?.text || msg.text),
      run: () => void speak(msg.translation?.text || msg.text, msg.translation?.language || undefined, msg.localId || locked ? undefined : msg.id),
    },
    { label: 'Report', show: !locked && !mine && !msg.localId, run: () => ui.open('report', `message:${msg.id}`) },
    { label: 'Retry', show: writable && msg.status === 'failed', run: () => void retry(msg.localId!) },
    { label: 'Delete', key: 'Delete', show: (msg.localId ? true : mine && !locked) && !msg.deleted, run: () => confirm(msg.localId ? 'Discard this unsent message?' : 'Delete this message for everyone?') && void deleteMessage(msg.localId ?? msg.id) },
  ];
  const visible = actions.filter((a) => a.show);

  const onKey = (e: KeyboardEvent) => {
    if (e.target !== ref.current) return;
    if (e.key === 'Enter') {
      e.preventDefault();
      setMenu(true);
      return;
    }
    const a = visible.find((x) => x.key && (x.key === e.key || x.key === e.key.toLowerCase()));
    if (a && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      a.run();
    }
  };

  return (
    <div
      id={`m-${msg.id}`}
      ref={ref}
      class={`msg ${mine ? 'mine' : 'theirs'} ${msg.deleted ? 'deleted' : ''} ${msg.status}`}
      tabIndex={tabbable ? 0 : -1}
      role="article"
      aria-label={`${sender}, ${shortTime(msg.created_at)}`}
      onKeyDown={onKey}
    >
      {group && !mine && <div class="sender">{sender}</div>}
      {quoted && !msg.deleted && (
        <blockquote class="quote" aria-label={`Reply to ${quoted.outgoing ? 'you' : (quoted.display_name ?? quoted.from)}`}>
          <strong>{quoted.outgoing ? 'You' : (quoted.display_name ?? quoted.from)}</strong> {quoted.deleted ? 'Message deleted' : quoted.text.slice(0, 140) || '📎'}
        </blockquote>
      )}
      {msg.deleted ? (
        <p class="text muted">
          <em>Message deleted</em>
        </p>
      ) : (
        <>
          {msg.text && (
            <p class="text" dir={textDirection(msg.text)}>
              {msg.text}
              {msg.streaming && <span class="cursor" aria-label="still writing" />}
            </p>
          )}
          {msg.attachments.map((a) => (
            <AttachmentView key={a.file_id} a={a} />
          ))}
          {msg.translation?.text && (captions || msg.translation.onDemand) && (
            <p class="translation" lang={msg.translation.language || undefined} dir={textDirection(msg.translation.text)}>
              <span class="muted">Translation{msg.translation.language ? ` (${msg.translation.language})` : ''}:</span> {msg.translation.text}
            </p>
          )}
        </>
      )}
      <div class="meta">
        {msg.edited_at && !msg.deleted && <span class="muted">edited · </span>}
        <time dateTime={msg.created_at}>{shortTime(msg.created_at)}</time>
        {mine && (
          <span class={`status ${msg.status}`} title={STATUS_LABEL[msg.status]} aria-label={STATUS_LABEL[msg.status]}>
            {' '}
            {STATUS_ICON[msg.status]}
          </span>
        )}
        {msg.error && (
          <span class="error">
            {' '}
            {msg.error}
            {msg.status === 'failed' && msg.resend ? ' Sends when the relay is back.' : ''}
          </span>
        )}
        {visible.length > 0 && (
          <button class="icon more" aria-label="Message actions" aria-haspopup="menu" aria-expanded={menu} tabIndex={-1} onClick={() => setMenu(!menu)}>
            ⋯
          </button>
        )}
      </div>
      {menu && <Menu label="Message actions" items={visible} onClose={() => (setMenu(false), ref.current?.focus())} />}
    </div>
  );
}
