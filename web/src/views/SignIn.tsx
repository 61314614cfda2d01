// Email → code (dev code shown when the relay exposes it) → chat address. Stored logins
// can be resumed from here too.
import { useState } from 'preact/hooks';
import { errorText, logins, requestCode, switchLogin, ui, verifyCode } from '../app.ts';
import { useStore } from './hooks.ts';
import { SettingsDialog } from './Settings.tsx';

export function SignIn() {
  const l = useStore(logins);
  const u = useStore(ui);
  const [step, setStep] = useState<'email' | 'code'>('email');
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [code, setCode] = useState('');
  const [address, setAddress] = useState('');
  const [devCode, setDevCode] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submitEmail = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const out = await requestCode(email.trim(), name.trim() || undefined);
      setDevCode(out.dev_code ?? null);
      setStep('code');
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const submitCode = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await verifyCode({ email: email.trim(), code: code.trim(), display_name: name.trim() || undefined, chat_address: address.trim() || undefined });
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };

  return (
    <main class="signin">
      <div class="card">
        <h1>WebChat</h1>
        <p class="muted">Sign in with your email. {l.relay.mode === 'private' && l.relay.url ? `Relay: ${l.relay.url}` : 'Public relay (this site).'}</p>
        {step === 'email' ? (
          <form onSubmit={submitEmail}>
            <label>
              Email
              <input type="email" required autocomplete="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
            </label>
            <label>
              Display name <span class="muted">(optional)</span>
              <input type="text" autocomplete="name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
            </label>
            <button class="primary" type="submit" disabled={busy}>
              Send code
            </button>
          </form>
        ) : (
          <form onSubmit={submitCode}>
            <p>
              We sent a 6-digit code to <strong>{email}</strong>.
            </p>
            {devCode && (
              <p class="devcode" role="note">
                Development relay — your code is <strong data-testid="dev-code">{devCode}</strong>
              </p>
            )}
            <label>
              Code
              <input inputMode="numeric" pattern="[0-9]{6}" required autocomplete="one-time-code" value={code} onInput={(e) => setCode(e.currentTarget.value)} />
            </label>
            <label>
              Chat address <span class="muted">(optional, e.g. alex; new accounts only)</span>
              <input type="text" pattern="[a-zA-Z0-9][a-zA-Z0-9._\-]{2,31}" value={address} onInput={(e) => setAddress(e.currentTarget.value)} />
            </label>
            <div class="row">
              <button type="button" onClick={() => setStep('email')}>
                Back
              </button>
              <button class="primary" type="submit" disabled={busy}>
                Sign in
              </button>
            </div>
          </form>
        )}
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        {l.logins.length > 0 && (
          <section aria-label="Saved logins">
            <h2>Saved logins</h2>
            <ul class="plain">
              {l.logins.map((x, i) => (
                <li key={i}>
                  <button onClick={() => void switchLogin(i)}>
                    {x.display_name} ({x.chat_address}){x.relay ? ` · ${x.relay}` : ''}
                  </button>
                </li>
              ))}
            </ul>
          </section>
        )}
        <button class="link" onClick={() => ui.open('settings')}>
          Relay settings
        </button>
      </div>
      {u.modal === 'settings' && <SettingsDialog />}
    </main>
  );
}
