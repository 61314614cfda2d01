// Local archive / export of one conversation (JSON and plain text), made in the browser.
import { chat } from '../app.ts';

export function download(name: string, type: string, data: string | Blob): void {
  const blob = typeof data === 'string' ? new Blob([data], { type }) : data;
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

export function conversationText(key: string): string {
  const list = chat.state.msgs[key]?.list ?? [];
  return list
    .map((m) => `[${m.created_at}] ${m.outgoing ? 'You' : (m.display_name ?? m.from)}: ${m.deleted ? '(deleted)' : m.text}${m.attachments.map((a) => ` [${a.kind}: ${a.name ?? a.file_id}]`).join('')}`)
    .join('\n');
}

export function exportConversation(key: string): void {
  const conv = chat.state.conversations[key];
  const list = chat.state.msgs[key]?.list ?? [];
  const safe = key.replace(/[^a-z0-9._-]+/gi, '_');
  const doc = { exported_at: new Date().toISOString(), me: chat.state.me, conversation: { key, title: conv?.title }, messages: list.filter((m) => !m.localId) };
  download(`webchat-${safe}.json`, 'application/json', JSON.stringify(doc, null, 2));
  download(`webchat-${safe}.txt`, 'text/plain', conversationText(key) + '\n');
}
