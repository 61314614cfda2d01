// Media and language features: upload, voice, transcription, translation, read-aloud.
// Each calls the relay route from SPEC.md; a relay without the route says so plainly.
import { ApiError } from './lib/api.ts';
import { chat, convLangs, currentApi, send, ui, errorText } from './app.ts';
import { TRANSLATE_OFF } from './stores/languages.ts';
import type { Attachment } from './stores/chat.ts';

function unavailable(err: unknown, what: string): string {
  if (err instanceof ApiError && (err.code === 'route_not_found' || err.status === 404)) return `${what} is not available on this relay.`;
  return errorText(err);
}

export function kindOf(file: { type: string; name: string }, voice = false): Attachment['kind'] {
  if (voice) return 'voice';
  if (file.type.startsWith('image/')) return 'image';
  if (file.type.startsWith('video/')) return 'video';
  if (file.type.startsWith('audio/')) return 'audio';
  return 'file';
}

/** Uploads files in parallel (progress per file), then sends one message carrying them all. */
export async function uploadAndSend(key: string, files: File[], caption: string, opts: { voice?: boolean } = {}): Promise<boolean> {
  const api = currentApi();
  const results = await Promise.allSettled(
    files.map(async (file, i) => {
      const id = `up_${Date.now()}_${i}`;
      ui.upsertUpload({ id, name: file.name, size: file.size, progress: 0 });
      try {
        const out = await api.upload(`/api/v1/webchat/upload?to=${encodeURIComponent(key)}`, file, file.name, (p) => ui.upsertUpload({ id, name: file.name, size: file.size, progress: p }), opts.voice ? { kind: 'voice' } : {});
        ui.dropUpload(id);
        const f = out.files?.[0] ?? out;
        const att: Attachment = {
          file_id: f.file_id,
          kind: opts.voice ? 'voice' : (f.kind ?? kindOf(file)),
          name: f.name ?? file.name,
          mime: f.mime ?? file.type,
          size: f.size ?? file.size,
          url: f.url,
          ...(f.peaks ? { waveform: f.peaks } : {}),
        };
        return att;
      } catch (err) {
        ui.upsertUpload({ id, name: file.name, size: file.size, progress: 0, error: unavailable(err, 'File upload') });
        setTimeout(() => ui.dropUpload(id), 8000);
        throw err;
      }
    }),
  );
  const ok = results.filter((r): r is PromiseFulfilledResult<Attachment> => r.status === 'fulfilled').map((r) => r.value);
  const failed = results.length - ok.length;
  if (failed) ui.notify(`${failed} file(s) could not be uploaded.`, 'error');
  if (ok.length === 0) return false;
  await send(key, caption, ok);
  return true;
}

export function fileUrl(a: Pick<Attachment, 'file_id' | 'url'>): string {
  return a.url ?? `/api/v1/webchat/files/${encodeURIComponent(a.file_id)}`;
}

const blobCache = new Map<string, Promise<string>>();
/** The attachment as a blob: URL (fetched with the session header; the CSP allows blob:). */
export function attachmentBlob(a: Pick<Attachment, 'file_id' | 'url'>): Promise<string> {
  let p = blobCache.get(a.file_id);
  if (!p) {
    p = currentApi().blobUrl(fileUrl(a));
    p.catch(() => blobCache.delete(a.file_id));
    blobCache.set(a.file_id, p);
  }
  return p;
}

export async function transcribe(a: Attachment): Promise<string | null> {
  try {
    const out = await currentApi().post('/api/v1/webchat/transcribe', { file_id: a.file_id });
    return out.text ?? out.transcript ?? '';
  } catch (err) {
    ui.notify(unavailable(err, 'Transcription'), 'error');
    return null;
  }
}

/** What Translate on a message translates to: the conversation's language, Settings', or the browser's. */
export function targetLanguage(key?: string): string {
  const chosen = key ? convLangs.choice(key) : null;
  if (chosen && chosen !== TRANSLATE_OFF) return chosen;
  return ui.state.prefs.receiveLanguage || (navigator.language || 'en').slice(0, 2);
}

export async function translateMessage(id: string): Promise<void> {
  try {
    const target = targetLanguage(chat.state.index[id]);
    const out = await currentApi().post('/api/v1/webchat/translate', { message_id: id, target });
    const text = out.translated_text ?? out.text ?? '';
    chat.applyEvent({ type: 'translation', message_id: id, text, language: out.language ?? out.target ?? target, onDemand: true });
  } catch (err) {
    ui.notify(unavailable(err, 'Translation'), 'error');
  }
}

let speaking: HTMLAudioElement | null = null;
/** Read aloud: the relay's speak route; the browser's speech synthesis where the relay has none. */
export async function speak(text: string, language?: string, messageId?: string): Promise<void> {
  if (!text.trim()) return;
  const api = currentApi();
  try {
    // By message id the relay reads it in the reader's receive language (translating first).
    const res = await fetch(api.url('/api/v1/webchat/speak'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(api.token ? { 'x-pchat-session': api.token } : {}) },
      body: JSON.stringify(messageId ? { message_id: messageId, ...(language ? { language } : {}) } : { text, ...(language ? { language } : {}) }),
    });
    const type = res.headers.get('content-type') ?? '';
    if (res.ok && type.startsWith('audio/')) {
      speaking?.pause();
      speaking = new Audio(URL.createObjectURL(await res.blob()));
      await speaking.play();
      return;
    }
    if (res.ok && type.includes('json')) {
      const out = await res.json();
      const url = out.url ?? (out.file_id ? `/api/v1/webchat/files/${out.file_id}` : null);
      if (url) {
        speaking?.pause();
        speaking = new Audio(await api.blobUrl(url));
        await speaking.play();
        return;
      }
    }
  } catch {
    // fall through to the browser's voice
  }
  if (typeof speechSynthesis !== 'undefined') {
    const u = new SpeechSynthesisUtterance(text);
    if (language) u.lang = language;
    speechSynthesis.cancel();
    speechSynthesis.speak(u);
  } else ui.notify('Read-aloud is not available here.', 'error');
}

/** Peaks of an audio clip, for the voice waveform. */
export async function waveform(url: string, bars = 48): Promise<number[]> {
  const AC = (window as any).AudioContext ?? (window as any).webkitAudioContext;
  if (!AC) return [];
  const buf = await (await fetch(url)).arrayBuffer();
  const ctx = new AC();
  try {
    const audio: AudioBuffer = await ctx.decodeAudioData(buf);
    const data = audio.getChannelData(0);
    const step = Math.max(1, Math.floor(data.length / bars));
    const peaks: number[] = [];
    for (let i = 0; i < bars; i++) {
      let max = 0;
      for (let j = i * step; j < Math.min(data.length, (i + 1) * step); j++) max = Math.max(max, Math.abs(data[j]));
      peaks.push(max);
    }
    const top = Math.max(...peaks, 0.01);
    return peaks.map((p) => p / top);
  } finally {
    void ctx.close();
  }
}
