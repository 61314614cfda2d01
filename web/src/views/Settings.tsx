// Settings: a compact modal with an Advanced section — public / private relay, the phone
// bridge's API key and phone ID (seed 000), translation language, presence, notifications,
// blocked users, and private-relay setup from a launch link or a QR code.
import { useEffect, useRef, useState } from 'preact/hooks';
import { logins, ui, setHidden, setReceiveLanguage, attempt, enableNotifications, notificationPermission, translationLanguages } from '../app.ts';
import { verifyLaunchLink, parseLaunchLink, type LinkCheck, type LaunchLink } from '../lib/launch.ts';
import { useStore } from './hooks.ts';
import { Dialog } from './Dialog.tsx';

const LANGS: [string, string][] = [
  ['', 'Off (no translation)'],
  ['en', 'English'],
  ['es', 'Español'],
  ['fr', 'Français'],
  ['de', 'Deutsch'],
  ['it', 'Italiano'],
  ['pt', 'Português'],
  ['ru', 'Русский'],
  ['he', 'עברית'],
  ['ar', 'العربية'],
  ['zh', '中文'],
  ['ja', '日本語'],
  ['ko', '한국어'],
];

export function SettingsDialog() {
  const l = useStore(logins);
  const u = useStore(ui);
  const signedIn = !!logins.current;
  const [relay, setRelay] = useState(l.relay);
  const [langs, setLangs] = useState<[string, string][]>(LANGS);
  const [link, setLink] = useState(u.modalArg ?? '');
  const [parsed, setParsed] = useState<LaunchLink | null>(null);
  const [check, setCheck] = useState<LinkCheck | null>(null);
  const [scanning, setScanning] = useState(false);

  useEffect(() => {
    if (u.modalArg) void applyLink(u.modalArg);
    if (!signedIn) return;
    void translationLanguages().then((list) => list.length && setLangs([['', 'Off (no translation)'], ...list]));
  }, []);

  const applyLink = async (text: string) => {
    const p = parseLaunchLink(text);
    setParsed(p);
    setCheck(null);
    if (!p) return ui.notify('That is not a relay launch link.', 'error');
    const c = await verifyLaunchLink(p);
    setCheck(c);
    // Only a verified link switches the relay; anything else is shown, never applied silently.
    if (c.state === 'valid') {
      const known = relay.url === p.relay ? relay.expected_key : undefined;
      if (known && known !== c.relayKey) ui.notify('Warning: this relay now publishes a different identity key than before.', 'error');
      setRelay({ ...relay, mode: p.mode, url: p.relay, expected_key: c.relayKey });
    }
  };

  const save = () => {
    logins.setRelay(relay);
    ui.close();
    ui.notify(relay.mode === 'private' && relay.url ? `New logins use ${relay.url}.` : 'New logins use this relay.');
  };

  return (
    <Dialog title="Settings">
      {signedIn && (
        <section class="stack">
          <label class="check">
            <input type="checkbox" checked={u.prefs.hidePresence} onChange={(e) => void setHidden(e.currentTarget.checked)} /> Hide me from presence (invisible)
          </label>
          <label class="check">
            <input
              type="checkbox"
              checked={u.prefs.notifications}
              onChange={async (e) => {
                const box = e.currentTarget;
                // A refusal leaves the box as it was (the store did not change, so no re-render would).
                if (!(await enableNotifications(box.checked))) box.checked = u.prefs.notifications;
              }}
            />{' '}
            Browser notifications for background messages
          </label>
          {u.prefs.notifications && notificationPermission() !== 'granted' && <p class="muted">The browser currently blocks notifications for this site.</p>}
          <label>
            Translate incoming messages to
            <select value={u.prefs.receiveLanguage} onChange={(e) => void attempt(() => setReceiveLanguage(e.currentTarget.value), 'Translation language saved.')}>
              {langs.map(([code, name]) => (
                <option key={code} value={code}>
                  {name}
                </option>
              ))}
            </select>
          </label>
          <div class="row">
            <button onClick={() => ui.open('blocked')}>Blocked users</button>
            <button onClick={() => ui.open('profile')}>Profile</button>
            <button onClick={() => ui.open('shortcuts')}>Keyboard shortcuts</button>
          </div>
        </section>
      )}
      <details open={!signedIn || !!u.modalArg}>
        <summary>Advanced: relay, phone bridge</summary>
        <fieldset>
          <legend>Relay</legend>
          <label class="check">
            <input type="radio" name="relay-mode" checked={relay.mode === 'public'} onChange={() => setRelay({ ...relay, mode: 'public' })} /> Public relay (this site)
          </label>
          <label class="check">
            <input type="radio" name="relay-mode" checked={relay.mode === 'private'} onChange={() => setRelay({ ...relay, mode: 'private' })} /> Private server relay
          </label>
          <label>
            Relay server URL
            <input type="url" placeholder="https://relay.example.com" disabled={relay.mode !== 'private'} value={relay.url} onInput={(e) => setRelay({ ...relay, url: e.currentTarget.value.trim() })} />
          </label>
        </fieldset>
        <fieldset>
          <legend>Phone bridge (SMS / WhatsApp / Telegram / email / notify)</legend>
          <label>
            API key
            <input type="password" autocomplete="off" value={relay.api_key} onInput={(e) => setRelay({ ...relay, api_key: e.currentTarget.value })} />
          </label>
          <label>
            Phone ID
            <input type="text" value={relay.phone_id} onInput={(e) => setRelay({ ...relay, phone_id: e.currentTarget.value })} />
          </label>
        </fieldset>
        <fieldset>
          <legend>Load settings from a launch link or QR code</legend>
          <label>
            Launch link
            <input type="url" value={link} onInput={(e) => setLink(e.currentTarget.value)} />
          </label>
          <div class="row">
            <button onClick={() => void applyLink(link)} disabled={!link.trim()}>
              Load link
            </button>
            <button onClick={() => setScanning(!scanning)} aria-expanded={scanning}>
              Scan QR code
            </button>
          </div>
          {scanning && (
            <QrScanner
              onText={(t) => {
                setScanning(false);
                setLink(t);
                void applyLink(t);
              }}
            />
          )}
          {parsed && (
            <p role="status" class={check && check.state !== 'valid' ? 'error' : ''}>
              Relay <strong>{parsed.name ? `${parsed.name} (${parsed.relay})` : parsed.relay}</strong>:{' '}
              {!check ? 'checking its identity key…' : check.state === 'valid' ? "identity key matches the link ✓ — press Save to use this relay." : `not verified: ${check.reason}. Settings were not changed.`}
            </p>
          )}
        </fieldset>
      </details>
      <div class="row end">
        <button onClick={() => ui.close()}>Cancel</button>
        <button class="primary" onClick={save}>
          Save
        </button>
      </div>
    </Dialog>
  );
}

/** QR from the camera where there is one, or from an image file. jsQR loads on demand. */
function QrScanner({ onText }: { onText: (t: string) => void }) {
  const video = useRef<HTMLVideoElement>(null);
  const [msg, setMsg] = useState('');
  const decode = async (source: CanvasImageSource, w: number, h: number): Promise<string | null> => {
    const canvas = document.createElement('canvas');
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
    ctx.drawImage(source, 0, 0, w, h);
    const data = ctx.getImageData(0, 0, w, h);
    const { default: jsQR } = await import('jsqr');
    return jsQR(data.data, w, h)?.data ?? null;
  };
  useEffect(() => {
    let stream: MediaStream | null = null;
    let stop = false;
    if (!navigator.mediaDevices?.getUserMedia) {
      setMsg('No camera here; choose an image of the QR code.');
      return;
    }
    navigator.mediaDevices
      .getUserMedia({ video: { facingMode: 'environment' } })
      .then(async (s) => {
        stream = s;
        const v = video.current!;
        v.srcObject = s;
        await v.play();
        while (!stop) {
          if (v.videoWidth) {
            const t = await decode(v, v.videoWidth, v.videoHeight);
            if (t) return onText(t);
          }
          await new Promise((r) => setTimeout(r, 300));
        }
      })
      .catch(() => setMsg('The camera is not available; choose an image of the QR code.'));
    return () => {
      stop = true;
      stream?.getTracks().forEach((t) => t.stop());
    };
  }, []);
  return (
    <div class="qr">
      <video ref={video} muted playsInline aria-label="Camera preview" />
      <label>
        QR code image
        <input
          type="file"
          accept="image/*"
          onChange={async (e) => {
            const f = e.currentTarget.files?.[0];
            if (!f) return;
            const img = await createImageBitmap(f);
            const t = await decode(img, img.width, img.height);
            if (t) onText(t);
            else setMsg('No QR code found in that image.');
          }}
        />
      </label>
      {msg && <p class="muted">{msg}</p>}
    </div>
  );
}
