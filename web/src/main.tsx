import { render } from 'preact';
import './styles.css';
import { App } from './views/App.tsx';
import { consumeAutoLogin, logins, startSession } from './app.ts';

async function boot() {
  await consumeAutoLogin();
  render(<App />, document.getElementById('app')!);
  if (logins.current) await startSession();
}
void boot();
