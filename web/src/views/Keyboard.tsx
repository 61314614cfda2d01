// The floating multi-script keyboard: Hebrew and Arabic (right-to-left), CJK helpers
// (kana, punctuation), European accents. Keys insert at the caret of the message box.
import { useState } from 'preact/hooks';

export const LAYOUTS: Record<string, { label: string; dir: 'ltr' | 'rtl'; rows: string[] }> = {
  he: { label: 'עברית', dir: 'rtl', rows: ['קראטוןםפ', 'שדגכעיחלךף', 'זסבהנמצתץ'] },
  ar: { label: 'العربية', dir: 'rtl', rows: ['ضصثقفغعهخحجد', 'شسيبلاتنمكط', 'ئءؤرىةوزظ'] },
  cjk: { label: '中文/日本語', dir: 'ltr', rows: ['あいうえおかきくけこさしすせそ', 'アイウエオカキクケコサシスセソ', '。、「」『』・ー～！？（）'] },
  eu: { label: 'Européen', dir: 'ltr', rows: ['àáâäãåæçèéêë', 'ìíîïñòóôöõøœ', 'ßùúûüýÿ€£¿¡«»'] },
};

export function Keyboard({ onKey, onClose }: { onKey: (s: string) => void; onClose: () => void }) {
  const [layout, setLayout] = useState<keyof typeof LAYOUTS>('he');
  const l = LAYOUTS[layout];
  return (
    <div class="popover keyboard" role="dialog" aria-label="Multi-language keyboard">
      <div class="tabs" role="tablist" aria-label="Keyboard layouts">
        {Object.entries(LAYOUTS).map(([id, x]) => (
          <button key={id} role="tab" aria-selected={id === layout} onClick={() => setLayout(id)}>
            {x.label}
          </button>
        ))}
        <button class="icon" aria-label="Close keyboard" onClick={onClose}>
          ✕
        </button>
      </div>
      <div class="keys" dir={l.dir}>
        {l.rows.map((row, r) => (
          <div class="key-row" key={r}>
            {[...row].map((ch) => (
              <button key={ch} class="key" aria-label={`Type ${ch}`} onMouseDown={(e) => e.preventDefault()} onClick={() => onKey(ch)}>
                {ch}
              </button>
            ))}
          </div>
        ))}
        <div class="key-row">
          <button class="key wide" onMouseDown={(e) => e.preventDefault()} onClick={() => onKey(' ')}>
            Space
          </button>
        </div>
      </div>
    </div>
  );
}
