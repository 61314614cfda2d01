// Emoji picker: a grid of common emoji by group; arrows move, Enter picks, Escape closes.
import { useRef, useState } from 'preact/hooks';

const GROUPS: Record<string, string> = {
  Smileys: '😀😃😄😁😆😅😂🤣😊😇🙂🙃😉😌😍🥰😘😋😛😜🤪🤨🧐🤓😎🤩🥳😏😒😞😔😟😕🙁😣😖😫😩🥺😢😭😤😠😡🤯😳🥵🥶😱😨😰😥😓🤗🤔🤭🤫🤥😶😐😑😬🙄😯😦😧😮😲🥱😴🤤😪😵🤐🥴🤢🤮🤧😷🤒🤕',
  Gestures: '👍👎👌✌🤞🤟🤘🤙👈👉👆👇☝✋🤚🖐🖖👋🤝🙏💪👏🙌👐🤲',
  Hearts: '❤🧡💛💚💙💜🖤🤍🤎💔❣💕💞💓💗💖💘💝',
  Objects: '🎉🎊🎁🔥⭐✨⚡💡📎📌📝📅⏰☕🍕🍰🍺🚀💻📱🎧🎤📷🎬✅❌⚠❓❗💯',
};

export function EmojiPicker({ onPick, onClose }: { onPick: (e: string) => void; onClose: () => void }) {
  const [group, setGroup] = useState('Smileys');
  const grid = useRef<HTMLDivElement>(null);
  const list = [...GROUPS[group]];
  return (
    <div class="popover emoji" role="dialog" aria-label="Emoji picker" onKeyDown={(e) => e.key === 'Escape' && (e.stopPropagation(), onClose())}>
      <div class="tabs" role="tablist" aria-label="Emoji groups">
        {Object.keys(GROUPS).map((g) => (
          <button key={g} role="tab" aria-selected={g === group} onClick={() => setGroup(g)}>
            {g}
          </button>
        ))}
      </div>
      <div
        class="emoji-grid"
        ref={grid}
        role="group"
        aria-label={`${group} emoji`}
        onKeyDown={(e) => {
          const items = [...(grid.current?.querySelectorAll<HTMLElement>('button') ?? [])];
          const i = items.indexOf(document.activeElement as HTMLElement);
          const cols = 8;
          const d = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : e.key === 'ArrowDown' ? cols : e.key === 'ArrowUp' ? -cols : 0;
          if (!d) return;
          e.preventDefault();
          items[Math.min(items.length - 1, Math.max(0, i + d))]?.focus();
        }}
      >
        {list.map((em, i) => (
          <button key={em + i} class="em" aria-label={`Insert ${em}`} tabIndex={i === 0 ? 0 : -1} onClick={() => onPick(em)}>
            {em}
          </button>
        ))}
      </div>
    </div>
  );
}
