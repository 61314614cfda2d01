// The message box: text (Enter sends, Shift+Enter breaks the line), reply / edit bar,
// emoji, files (many at once, uploaded in parallel with progress), voice recorder,
// dictation, and the floating multi-script keyboard. Where you may not write (a stream group's
// observers, a group you are no longer in, an address nobody has) it is read-only and says why.
import { useEffect, useRef, useState } from 'preact/hooks';
import { chat, ui, send, editMessage, typing, stopTyping } from '../app.ts';
import { uploadAndSend } from '../features.ts';
import { formatBytes, textDirection } from '../lib/parse.ts';
import { useStore } from './hooks.ts';
import { EmojiPicker } from './Emoji.tsx';
import { Keyboard } from './Keyboard.tsx';
import { Recorder } from './Recorder.tsx';
import { Icon } from './Icon.tsx';

/** The Web Speech API's error codes, as a person would say them. */
const DICTATION_ERRORS: Record<string, string> = {
  'not-allowed': 'Dictation needs microphone access, which the browser refused.',
  'service-not-allowed': 'This browser does not allow its speech service here.',
  'audio-capture': 'Dictation found no microphone it could listen to.',
  network: "Dictation needs the browser's speech service, which cannot be reached.",
  'no-speech': 'No speech was heard.',
  'language-not-supported': 'Dictation does not support this language.',
};

// Absent in Firefox and some builds: then there is no Dictate button at all.
const SpeechRecognitionCtor: any = typeof window !== 'undefined' ? ((window as any).SpeechRecognition ?? (window as any).webkitSpeechRecognition) : undefined;

/** `readOnly`: why you may not write here (shown in the box), or null where you may. */
export function Composer({ convKey, readOnly }: { convKey: string; readOnly: string | null }) {
  const u = useStore(ui);
  const [text, setText] = useState('');
  const [emoji, setEmoji] = useState(false);
  const [dictating, setDictating] = useState(false);
  const box = useRef<HTMLTextAreaElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const recog = useRef<any>(null);

  const editing = u.editing ? chat.find(u.editing) : undefined;
  const replying = u.replyTo ? chat.find(u.replyTo) : undefined;
  const wasEditing = useRef(false);
  useEffect(() => {
    if (editing) setText(editing.text);
    // An edit ended elsewhere (Escape): its text must not stay behind to be sent as a new message.
    else if (wasEditing.current) setText('');
    wasEditing.current = !!editing;
  }, [u.editing]);

  if (readOnly !== null) {
    return (
      <div class="composer readonly">
        <textarea id="composer" aria-label="Message" readOnly aria-readonly="true" rows={1} placeholder={readOnly} />
      </div>
    );
  }

  const insert = (s: string) => {
    const el = box.current;
    if (!el) return setText((t) => t + s);
    const start = el.selectionStart ?? text.length;
    const end = el.selectionEnd ?? text.length;
    const next = text.slice(0, start) + s + text.slice(end);
    setText(next);
    requestAnimationFrame(() => {
      el.focus();
      el.selectionStart = el.selectionEnd = start + s.length;
    });
  };

  const submit = async () => {
    const t = text.trim();
    if (editing) {
      if (t && t !== editing.text) await editMessage(editing.id, t);
      ui.set({ editing: null });
      setText('');
      return;
    }
    if (!t) return;
    setText('');
    await send(convKey, t);
  };

  const onFiles = async (files: File[]) => {
    if (files.length === 0) return;
    const caption = text.trim();
    const ok = await uploadAndSend(convKey, files, caption);
    if (ok) setText('');
  };

  const dictate = () => {
    if (dictating) {
      recog.current?.stop();
      return;
    }
    const r = new SpeechRecognitionCtor();
    r.lang = navigator.language || 'en-US';
    r.interimResults = false;
    r.onresult = (e: any) => insert(Array.from(e.results as ArrayLike<any>).map((x: any) => x[0].transcript).join(' '));
    r.onend = () => setDictating(false);
    r.onerror = (e: any) => {
      setDictating(false);
      if (e.error !== 'aborted') ui.notify(DICTATION_ERRORS[e.error] ?? `Dictation stopped (${e.error}).`, 'error');
    };
    recog.current = r;
    setDictating(true);
    try {
      r.start();
    } catch (err) {
      setDictating(false);
      ui.notify(`Dictation could not start: ${(err as Error).message}`, 'error');
    }
  };

  return (
    <div
      class="composer"
      onDragOver={(e) => e.preventDefault()}
      onDrop={(e) => {
        e.preventDefault();
        void onFiles([...(e.dataTransfer?.files ?? [])]);
      }}
    >
      {(editing || replying) && (
        <div class="context-bar">
          <span>
            {editing ? 'Editing message' : `Replying to ${replying!.outgoing ? 'yourself' : (replying!.display_name ?? replying!.from)}`}: <em>{(editing ?? replying)!.text.slice(0, 80)}</em>
          </span>
          <button
            class="icon"
            aria-label={editing ? 'Cancel edit' : 'Cancel reply'}
            onClick={() => {
              ui.set({ editing: null, replyTo: null });
              if (editing) setText('');
            }}
          >
            ✕
          </button>
        </div>
      )}
      {u.uploads.length > 0 && (
        <ul class="uploads" aria-label="Uploads">
          {u.uploads.map((x) => (
            <li key={x.id}>
              <span>
                {x.name} <span class="muted">{formatBytes(x.size)}</span>
              </span>
              {x.error ? <span class="error">{x.error}</span> : <progress max={1} value={x.progress} aria-label={`Uploading ${x.name}`} />}
            </li>
          ))}
        </ul>
      )}
      {emoji && <EmojiPicker onPick={(e) => insert(e)} onClose={() => (setEmoji(false), box.current?.focus())} />}
      {u.prefs.keyboard && <Keyboard onKey={insert} onClose={() => ui.setPrefs({ keyboard: false })} />}
      {u.recording ? (
        <Recorder convKey={convKey} />
      ) : (
        <div class="compose-row">
          <div class="tools" role="toolbar" aria-label="Composer tools">
            <button class="icon" aria-label="Emoji" aria-expanded={emoji} onClick={() => setEmoji(!emoji)}>
              <Icon name="smile" />
            </button>
            <button class="icon" aria-label="Attach files" onClick={() => fileInput.current?.click()}>
              <Icon name="clip" />
            </button>
            <input
              ref={fileInput}
              type="file"
              multiple
              hidden
              aria-label="Choose files to send"
              onChange={(e) => {
                const files = [...(e.currentTarget.files ?? [])];
                e.currentTarget.value = '';
                void onFiles(files);
              }}
            />
            <button class="icon" aria-label="Record voice message" disabled={typeof MediaRecorder === 'undefined'} onClick={() => ui.set({ recording: true })}>
              <Icon name="mic" />
            </button>
            {SpeechRecognitionCtor && (
              <button class="icon" aria-label={dictating ? 'Stop dictation' : 'Dictate'} aria-pressed={dictating} onClick={dictate}>
                <Icon name="speech" />
              </button>
            )}
            <button class="icon" aria-label="Multi-language keyboard" aria-pressed={u.prefs.keyboard} onClick={() => ui.setPrefs({ keyboard: !u.prefs.keyboard })}>
              <Icon name="keyboard" />
            </button>
          </div>
          <textarea
            id="composer"
            ref={box}
            aria-label="Message"
            rows={1}
            dir={text ? textDirection(text) : 'auto'}
            placeholder={editing ? 'Edit your message' : 'Write a message'}
            value={text}
            onInput={(e) => {
              setText(e.currentTarget.value);
              if (e.currentTarget.value) typing(convKey);
              else stopTyping(convKey);
            }}
            onBlur={() => stopTyping(convKey)}
            onPaste={(e) => {
              const files = [...(e.clipboardData?.files ?? [])];
              if (files.length) {
                e.preventDefault();
                void onFiles(files);
              }
            }}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
                e.preventDefault();
                void submit();
              } else if (e.key === 'ArrowUp' && !text) {
                // Up in an empty box edits your last message, as in most messengers.
                const mine = [...(chat.state.msgs[convKey]?.list ?? [])].reverse().find((m) => m.outgoing && !m.deleted && !m.localId);
                if (mine) {
                  e.preventDefault();
                  ui.set({ editing: mine.id });
                }
              }
            }}
          />
          <button class="primary send" aria-label={editing ? 'Save edit' : 'Send'} onClick={() => void submit()}>
            {editing ? 'Save' : 'Send'}
          </button>
        </div>
      )}
    </div>
  );
}
