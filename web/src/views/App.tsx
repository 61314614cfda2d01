import { useEffect } from 'preact/hooks';
import { chat, logins, ui, nudgeRealtime } from '../app.ts';
import { useStore } from './hooks.ts';
import { SignIn } from './SignIn.tsx';
import { Shell } from './Shell.tsx';

export function App() {
  const l = useStore(logins);
  const u = useStore(ui);
  useEffect(() => {
    const onOnline = () => nudgeRealtime();
    window.addEventListener('online', onOnline);
    document.addEventListener('visibilitychange', onOnline);
    return () => {
      window.removeEventListener('online', onOnline);
      document.removeEventListener('visibilitychange', onOnline);
    };
  }, []);
  useEffect(() => {
    if (!u.notice) return;
    const t = setTimeout(() => ui.set({ notice: null }), u.notice.kind === 'error' ? 8000 : 4000);
    return () => clearTimeout(t);
  }, [u.notice]);
  useEffect(() => {
    const update = () => {
      const n = chat.totalUnread();
      document.title = n ? `(${n}) WebChat` : 'WebChat';
    };
    update();
    return chat.subscribe(update);
  }, []);
  return (
    <>
      {l.active >= 0 ? <Shell key={l.active} /> : <SignIn />}
      <div class={`notice ${u.notice?.kind ?? ''}`} role={u.notice?.kind === 'error' ? 'alert' : 'status'} aria-live="polite">
        {u.notice?.text}
      </div>
    </>
  );
}
