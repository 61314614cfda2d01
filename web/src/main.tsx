import { render } from 'preact';
import './styles.css';
import { App } from './views/App.tsx';
import { consumeAutoLogin, logins, startSession, ui } from './app.ts';

async function boot() {
  await consumeAutoLogin();
  // A signed launch link opens Settings with the link loaded and verified; nothing switches
  // until the user saves.
  const here = new URL(location.href);
  if (here.searchParams.has('pchat_launch')) {
    ui.open('settings', here.toString());
    for (const k of ['pchat_launch', 'pchat_sig', 'relay', 'relay_mode']) here.searchParams.delete(k);
    history.replaceState(null, '', here.pathname + here.search + here.hash);
  }
  render(<App />, document.getElementById('app')!);
  if (logins.current) await startSession();
}
void boot();
