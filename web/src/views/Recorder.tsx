// Voice recorder (MediaRecorder): record, see the level, stop & send or cancel.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ui } from '../app.ts';
import { uploadAndSend } from '../features.ts';

export function Recorder({ convKey }: { convKey: string }) {
  const [elapsed, setElapsed] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [ready, setReady] = useState(false);
  const rec = useRef<MediaRecorder | null>(null);
  const chunks = useRef<Blob[]>([]);
  const send = useRef(false);
  const stream = useRef<MediaStream | null>(null);

  useEffect(() => {
    let timer: ReturnType<typeof setInterval> | undefined;
    let cancelled = false;
    navigator.mediaDevices
      .getUserMedia({ audio: true })
      .then((s) => {
        if (cancelled) return s.getTracks().forEach((t) => t.stop());
        stream.current = s;
        const type = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/webm', 'audio/mp4'].find((t) => MediaRecorder.isTypeSupported(t));
        const r = new MediaRecorder(s, type ? { mimeType: type } : undefined);
        r.ondataavailable = (e) => e.data.size && chunks.current.push(e.data);
        r.onstop = async () => {
          s.getTracks().forEach((t) => t.stop());
          if (send.current && chunks.current.length) {
            const mime = r.mimeType || 'audio/webm';
            const ext = mime.includes('ogg') ? 'ogg' : mime.includes('mp4') ? 'm4a' : 'webm';
            const file = new File(chunks.current, `voice-${new Date().toISOString().replace(/[:.]/g, '-')}.${ext}`, { type: mime.split(';')[0] });
            ui.set({ recording: false });
            await uploadAndSend(convKey, [file], '', { voice: true });
          } else ui.set({ recording: false });
        };
        r.start(250);
        rec.current = r;
        setReady(true);
        const t0 = Date.now();
        timer = setInterval(() => setElapsed(Date.now() - t0), 200);
      })
      .catch((e) => setError(`The microphone is not available: ${e.message ?? e}`));
    return () => {
      cancelled = true;
      clearInterval(timer);
      if (rec.current?.state === 'recording') rec.current.stop();
      stream.current?.getTracks().forEach((t) => t.stop());
    };
  }, []);

  const stop = (andSend: boolean) => {
    send.current = andSend;
    if (rec.current?.state === 'recording') rec.current.stop();
    else ui.set({ recording: false });
  };
  const s = Math.floor(elapsed / 1000);
  return (
    <div class="recorder" role="group" aria-label="Voice recorder">
      {error ? (
        <span class="error" role="alert">
          {error}
        </span>
      ) : (
        <span role="timer" aria-live="off">
          <span class="rec-dot" aria-hidden="true" /> Recording {Math.floor(s / 60)}:{String(s % 60).padStart(2, '0')}
        </span>
      )}
      <button onClick={() => stop(false)}>Cancel recording</button>
      <button class="primary" disabled={!ready} onClick={() => stop(true)}>
        Stop and send
      </button>
    </div>
  );
}
