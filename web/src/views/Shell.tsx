// The signed-in screen: sidebar + conversation, the connection banner, dialogs, and the
// central key map.
import { useEffect } from 'preact/hooks';
import { chat, ui, openConversation } from '../app.ts';
import { matchKey } from '../lib/keymap.ts';
import { useStore } from './hooks.ts';
import { Sidebar } from './Sidebar.tsx';
import { ChatView } from './ChatView.tsx';
import { SettingsDialog } from './Settings.tsx';
import { DirectoryDialog } from './Directory.tsx';
import { ContactsDialog } from './Contacts.tsx';
import { ProfileDialog, BlockedDialog, ShortcutsDialog, ReportDialog } from './Misc.tsx';
import { GroupDialog, NewGroupDialog } from './Groups.tsx';

export function Shell() {
  const c = useStore(chat);
  const u = useStore(ui);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const action = matchKey(e);
      if (!action) return;
      if (ui.state.modal && action !== 'escape') return;
      switch (action) {
        case 'search':
          document.getElementById('conv-search')?.focus();
          ui.set({ pane: 'list' });
          break;
        case 'directory':
        case 'newgroup':
        case 'settings':
        case 'shortcuts':
          ui.open(action);
          break;
        case 'composer':
          document.getElementById('composer')?.focus();
          break;
        case 'list':
          ui.set({ pane: 'list' });
          (document.querySelector('[role=option][tabindex="0"]') as HTMLElement | null)?.focus();
          break;
        case 'convsearch':
          if (chat.state.active) ui.set({ convSearchOpen: true });
          break;
        case 'cycle': {
          const list = chat.visibleConversations();
          const i = list.findIndex((x) => x.key === chat.state.active);
          const next = list[(i + (e.key === 'ArrowUp' ? -1 : 1) + list.length) % list.length];
          if (next) void openConversation(next.key);
          break;
        }
        case 'escape':
          if (ui.state.modal) ui.close();
          else if (ui.state.replyTo || ui.state.editing) ui.set({ replyTo: null, editing: null });
          else if (ui.state.convSearchOpen) ui.set({ convSearchOpen: false });
          else return;
          break;
      }
      e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const banner =
    c.conn === 'reconnecting' ? 'Connection lost — reconnecting…' : c.conn === 'offline' ? 'Offline' : c.conn === 'connecting' ? 'Connecting…' : null;

  return (
    <div class={`shell pane-${u.pane}`}>
      {banner && (
        <div class={`banner ${c.conn}`} role="status" aria-live="polite">
          {banner}
        </div>
      )}
      <Sidebar />
      <ChatView />
      {u.modal === 'settings' && <SettingsDialog />}
      {u.modal === 'directory' && <DirectoryDialog />}
      {u.modal === 'contacts' && <ContactsDialog />}
      {u.modal === 'profile' && <ProfileDialog />}
      {u.modal === 'blocked' && <BlockedDialog />}
      {u.modal === 'shortcuts' && <ShortcutsDialog />}
      {u.modal === 'report' && <ReportDialog />}
      {u.modal === 'newgroup' && <NewGroupDialog />}
      {u.modal === 'group' && <GroupDialog />}
    </div>
  );
}
