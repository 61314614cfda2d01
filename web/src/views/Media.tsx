// Attachments inline: image preview, video and audio players, voice clips with a waveform
// and on-demand transcription, and a download link for anything else.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Attachment } from '../stores/chat.ts';
import { attachmentBlob, transcribe, waveform } from '../features.ts';
import { formatBytes } from '../lib/parse.ts';

function useBlob(a: Attachment): { url: string | null; error: string | null } {
  const [url, setUrl] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    attachmentBlob(a).then(
      (u) => live && setUrl(u),
      (e) => live && setError(String(e?.message ?? e)),
    );
    return () => {
      live = false;
    };
  }, [a.file_id]);
  return { url, error };
}

export function AttachmentView({ a }: { a: Attachment }) {
  const { url, error } = useBlob(a);
  const name = a.name ?? a.file_id;
  if (error) return <div class="att file error">⚠ {name}: {error}</div>;
  if (a.kind === 'voice') return <VoiceClip a={a} url={url} />;
  return (
    <figure class={`att ${a.kind}`}>
      {a.kind === 'image' &&
        (url ? (
          <a href={url} target="_blank" rel="noopener" aria-label={`Open image ${name}`}>
            <img src={url} alt={a.caption || name} loading="lazy" />
          </a>
        ) : (
          <div class="att-loading">Loading image…</div>
        ))}
      {a.kind === 'video' && (url ? <video src={url} controls preload="metadata" aria-label={`Video ${name}`} /> : <div class="att-loading">Loading video…</div>)}
      {a.kind === 'audio' && (url ? <audio src={url} controls preload="metadata" aria-label={`Audio ${name}`} /> : <div class="att-loading">Loading audio…</div>)}
      <figcaption>
        {url ? (
          <a href={url} download={name}>
            {a.kind === 'file' ? '📄 ' : ''}
            {name}
          </a>
        ) : (
          name
        )}
        {a.size ? <span class="muted"> · {formatBytes(a.size)}</span> : null}
        {a.caption ? <div>{a.caption}</div> : null}
      </figcaption>
    </figure>
  );
}

function normalize(p: number[]): number[] {
  const top = Math.max(0, ...p);
  return top > 0 ? p.map((x) => x / top) : [];
}

function VoiceClip({ a, url }: { a: Attachment; url: string | null }) {
  const audio = useRef<HTMLAudioElement>(null);
  const [peaks, setPeaks] = useState<number[]>(() => normalize(a.waveform ?? (a as any).peaks ?? []));
  const [pos, setPos] = useState(0);
  const [playing, setPlaying] = useState(false);
  const [text, setText] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (url && peaks.length === 0) waveform(url).then(setPeaks, () => setPeaks([]));
  }, [url]);
  const toggle = () => {
    const el = audio.current;
    if (!el) return;
    if (el.paused) void el.play();
    else el.pause();
  };
  return (
    <figure class="att voice">
      <div class="voice-row">
        <button class="icon play" aria-label={playing ? 'Pause voice message' : 'Play voice message'} disabled={!url} onClick={toggle}>
          {playing ? '❚❚' : '▶'}
        </button>
        <div
          class="wave"
          role="slider"
          aria-label="Voice message position"
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={Math.round(pos * 100)}
          tabIndex={0}
          onKeyDown={(e) => {
            const el = audio.current;
            if (!el || !el.duration) return;
            if (e.key === 'ArrowRight') el.currentTime = Math.min(el.duration, el.currentTime + 2);
            else if (e.key === 'ArrowLeft') el.currentTime = Math.max(0, el.currentTime - 2);
            else if (e.key === ' ' || e.key === 'Enter') toggle();
            else return;
            e.preventDefault();
          }}
          onClick={(e) => {
            const el = audio.current;
            const r = (e.currentTarget as HTMLElement).getBoundingClientRect();
            if (el?.duration) el.currentTime = ((e.clientX - r.left) / r.width) * el.duration;
          }}
        >
          {(peaks.length ? peaks : Array.from({ length: 48 }, () => 0.15)).map((p, i, arr) => (
            <span key={i} class={i / arr.length < pos ? 'bar on' : 'bar'} ref={(el) => void el?.style.setProperty('--h', `${Math.max(8, p * 100)}%`)} />
          ))}
        </div>
        {url && <audio ref={audio} src={url} preload="metadata" onPlay={() => setPlaying(true)} onPause={() => setPlaying(false)} onEnded={() => (setPlaying(false), setPos(0))} onTimeUpdate={(e) => setPos(e.currentTarget.duration ? e.currentTarget.currentTime / e.currentTarget.duration : 0)} />}
      </div>
      <figcaption>
        <span class="muted">Voice message</span>{' '}
        {text === null ? (
          <button
            class="link"
            disabled={busy}
            onClick={async () => {
              setBusy(true);
              setText(await transcribe(a));
              setBusy(false);
            }}
          >
            {busy ? 'Transcribing…' : 'Transcribe'}
          </button>
        ) : (
          <q class="transcript">{text || '(no speech found)'}</q>
        )}
        {url && (
          <>
            {' · '}
            <a href={url} download={a.name ?? 'voice.webm'}>
              Download
            </a>
          </>
        )}
      </figcaption>
    </figure>
  );
}
