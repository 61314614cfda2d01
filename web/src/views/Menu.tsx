// A popup menu: focus moves to its first item (or the checked one), arrows move, Escape or Tab
// closes it and the caller puts focus back; a click outside its anchor (the parent holding the
// button that opened it) closes it too. Items with `checked` are radio items.
import { useEffect, useRef } from 'preact/hooks';

export interface MenuItem {
  label: string;
  run: () => void;
  checked?: boolean;
}

export function Menu({ label, items, onClose, class: cls = '' }: { label: string; items: MenuItem[]; onClose: () => void; class?: string }) {
  const ref = useRef<HTMLUListElement>(null);
  useEffect(() => {
    const outside = (e: PointerEvent) => {
      const anchor = ref.current?.parentElement;
      if (anchor && !anchor.contains(e.target as Node)) onClose();
    };
    document.addEventListener('pointerdown', outside);
    return () => document.removeEventListener('pointerdown', outside);
  }, [onClose]);
  return (
    <ul
      class={`menu ${cls}`}
      role="menu"
      aria-label={label}
      ref={(el) => {
        ref.current = el;
        if (el && !el.contains(document.activeElement)) (el.querySelector<HTMLElement>('[aria-checked=true]') ?? el.querySelector<HTMLElement>('[role^=menuitem]'))?.focus();
      }}
      onKeyDown={(e) => {
        const list = [...(ref.current?.querySelectorAll<HTMLElement>('[role^=menuitem]') ?? [])];
        const i = list.indexOf(document.activeElement as HTMLElement);
        if (e.key === 'ArrowDown') list[(i + 1) % list.length]?.focus();
        else if (e.key === 'ArrowUp') list[(i - 1 + list.length) % list.length]?.focus();
        else if (e.key === 'Home') list[0]?.focus();
        else if (e.key === 'End') list[list.length - 1]?.focus();
        else if (e.key === 'Escape' || e.key === 'Tab') onClose();
        else return;
        e.preventDefault();
        e.stopPropagation();
      }}
    >
      {items.map((a) => (
        <li key={a.label} role="none">
          <button
            role={a.checked === undefined ? 'menuitem' : 'menuitemradio'}
            aria-checked={a.checked === undefined ? undefined : a.checked}
            tabIndex={-1}
            onClick={() => {
              onClose();
              a.run();
            }}
          >
            {a.label}
          </button>
        </li>
      ))}
    </ul>
  );
}
