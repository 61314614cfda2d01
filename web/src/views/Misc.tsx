// Profile (display name, chat address, avatar), blocked users, shortcuts, report abuse.
import { useEffect, useState } from 'preact/hooks';
import { chat, ui, attempt, updateMe, blockedList, setBlocked, report, logins, logout, currentApi } from '../app.ts';
import { KEYMAP, MESSAGE_KEYS } from '../lib/keymap.ts';
import { useStore } from './hooks.ts';
import { Dialog } from './Dialog.tsx';
import { Avatar } from './Avatar.tsx';

export function ProfileDialog() {
  const c = useStore(chat);
  const [name, setName] = useState(c.myName);
  const [address, setAddress] = useState(c.me);
  const save = async (e: Event) => {
    e.preventDefault();
    await attempt(async () => {
      await updateMe({ ...(name !== c.myName ? { display_name: name } : {}), ...(address !== c.me ? { chat_address: address } : {}) });
      ui.close();
    }, 'Profile saved.');
  };
  return (
    <Dialog title="Profile">
      <form class="stack" onSubmit={save}>
        <div class="row">
          <Avatar name={name || c.me} fileId={chat.avatarOf(c.me)} label="Your picture" />
          <label class="file-btn">
            Upload avatar
            <input
              type="file"
              accept="image/*"
              onChange={async (e) => {
                const f = e.currentTarget.files?.[0];
                if (!f) return;
                await attempt(async () => {
                  const out = await currentApi().upload('/api/v1/webchat/upload', f, f.name);
                  await updateMe({ avatar_file_id: (out.files?.[0] ?? out).file_id });
                }, 'Avatar updated.');
              }}
            />
          </label>
        </div>
        <label>
          Display name
          <input type="text" required maxLength={80} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          Chat address
          <input type="text" required pattern="[a-zA-Z0-9][a-zA-Z0-9._\-]{2,31}" value={address} onInput={(e) => setAddress(e.currentTarget.value)} />
        </label>
        <p class="muted">Signed in as {logins.current?.email}</p>
        <div class="row end">
          <button type="button" onClick={() => void logout()}>
            Log out
          </button>
          <button type="button" onClick={() => (logins.set({ active: -1 }), ui.close())}>
            Add another login
          </button>
          <button class="primary" type="submit">
            Save
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function BlockedDialog() {
  const [list, setList] = useState<{ chat_address: string; display_name: string | null }[] | null>(null);
  const [addr, setAddr] = useState('');
  const load = () => void blockedList().then(setList, () => setList([]));
  useEffect(load, []);
  return (
    <Dialog title="Blocked users">
      <form
        class="row"
        onSubmit={async (e) => {
          e.preventDefault();
          await setBlocked(addr.trim(), true);
          setAddr('');
          load();
        }}
      >
        <label class="grow">
          Block a chat address
          <input type="text" value={addr} onInput={(e) => setAddr(e.currentTarget.value)} />
        </label>
        <button type="submit" disabled={!addr.trim()}>
          Block
        </button>
      </form>
      {list === null ? (
        <p class="muted">Loading…</p>
      ) : list.length === 0 ? (
        <p class="muted">You have blocked nobody.</p>
      ) : (
        <ul class="plain">
          {list.map((b) => (
            <li key={b.chat_address} class="dir-row">
              <span class="grow">
                {b.display_name ?? b.chat_address} <small class="muted">{b.chat_address}</small>
              </span>
              <button onClick={async () => (await setBlocked(b.chat_address, false), load())} aria-label={`Unblock ${b.chat_address}`}>
                Unblock
              </button>
            </li>
          ))}
        </ul>
      )}
    </Dialog>
  );
}

export function ShortcutsDialog() {
  return (
    <Dialog title="Keyboard shortcuts">
      <table class="keys-table">
        <caption class="sr-only">Global shortcuts</caption>
        <tbody>
          {KEYMAP.map((k) => (
            <tr key={k.action}>
              <th scope="row">
                <kbd>{k.keys}</kbd>
              </th>
              <td>{k.label}</td>
            </tr>
          ))}
          {MESSAGE_KEYS.map((k) => (
            <tr key={k.keys}>
              <th scope="row">
                <kbd>{k.keys}</kbd>
              </th>
              <td>{k.label} (on a focused message)</td>
            </tr>
          ))}
          <tr>
            <th scope="row">
              <kbd>Enter</kbd> / <kbd>Shift+Enter</kbd>
            </th>
            <td>Send / new line (in the message box); ↑ in an empty box edits your last message</td>
          </tr>
        </tbody>
      </table>
    </Dialog>
  );
}

export function ReportDialog() {
  const u = useStore(ui);
  const [reason, setReason] = useState('');
  const [kind, id] = (u.modalArg ?? '').split(/:(.*)/s);
  return (
    <Dialog title="Report abuse">
      <form
        class="stack"
        onSubmit={async (e) => {
          e.preventDefault();
          await report(kind === 'message' ? { message_id: id } : { address: id }, reason.trim());
          ui.close();
        }}
      >
        <p>{kind === 'message' ? 'Report this message to the relay operators.' : `Report ${id} to the relay operators.`}</p>
        <label>
          Reason
          <textarea required rows={3} maxLength={1000} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
        </label>
        <div class="row end">
          <button type="button" onClick={() => ui.close()}>
            Cancel
          </button>
          <button class="primary" type="submit" disabled={!reason.trim()}>
            Send report
          </button>
        </div>
      </form>
    </Dialog>
  );
}
