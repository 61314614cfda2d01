// The central key map: every global shortcut in one table, so the help dialog lists exactly
// what works. Handlers are attached by the shell view.
export interface KeyBinding {
  keys: string; // as shown to the user
  match: (e: KeyboardEvent) => boolean;
  action: string;
  label: string;
}

const mod = (e: KeyboardEvent) => e.ctrlKey || e.metaKey;

export const KEYMAP: KeyBinding[] = [
  { keys: 'Ctrl+K', match: (e) => mod(e) && e.key.toLowerCase() === 'k', action: 'search', label: 'Search conversations' },
  { keys: 'Alt+N', match: (e) => e.altKey && e.key.toLowerCase() === 'n', action: 'directory', label: 'New chat (directory)' },
  { keys: 'Alt+G', match: (e) => e.altKey && e.key.toLowerCase() === 'g', action: 'newgroup', label: 'New group' },
  { keys: 'Alt+,', match: (e) => e.altKey && e.key === ',', action: 'settings', label: 'Settings' },
  { keys: 'Alt+M', match: (e) => e.altKey && e.key.toLowerCase() === 'm', action: 'composer', label: 'Go to the message box' },
  { keys: 'Alt+L', match: (e) => e.altKey && e.key.toLowerCase() === 'l', action: 'list', label: 'Go to the conversation list' },
  { keys: 'Alt+F', match: (e) => e.altKey && e.key.toLowerCase() === 'f', action: 'convsearch', label: 'Search in this conversation' },
  { keys: 'Alt+↑ / Alt+↓', match: (e) => e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown'), action: 'cycle', label: 'Previous / next conversation' },
  { keys: 'Shift+?', match: (e) => e.shiftKey && e.key === '?' && !isTyping(e), action: 'shortcuts', label: 'Keyboard shortcuts' },
  { keys: 'Escape', match: (e) => e.key === 'Escape', action: 'escape', label: 'Close a dialog, cancel reply or edit' },
];

/** On a focused message: the message's own keys. */
export const MESSAGE_KEYS: { keys: string; label: string }[] = [
  { keys: '↑ / ↓', label: 'Previous / next message' },
  { keys: 'Enter', label: 'Message actions' },
  { keys: 'R', label: 'Reply' },
  { keys: 'E', label: 'Edit (your messages)' },
  { keys: 'C', label: 'Copy text' },
  { keys: 'Delete', label: 'Delete (your messages)' },
];

export function isTyping(e: KeyboardEvent): boolean {
  const t = e.target as HTMLElement | null;
  return !!t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.isContentEditable);
}

export function matchKey(e: KeyboardEvent): string | null {
  for (const b of KEYMAP) if (b.match(e)) return b.action;
  return null;
}
