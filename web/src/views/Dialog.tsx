// A modal dialog: labelled, focus moves in and back out, Escape closes, Tab stays inside.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { ui } from '../app.ts';

let seq = 0;

export function Dialog(props: { title: string; children: ComponentChildren; onClose?: () => void; wide?: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  const id = useRef(`dlg-${++seq}`).current;
  const close = props.onClose ?? (() => ui.close());
  useEffect(() => {
    const back = document.activeElement as HTMLElement | null;
    const first = ref.current?.querySelector<HTMLElement>('[autofocus], input, select, textarea, button:not(.dialog-close)');
    (first ?? ref.current)?.focus();
    return () => back?.focus?.();
  }, []);
  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      close();
    } else if (e.key === 'Tab' && ref.current) {
      const f = [...ref.current.querySelectorAll<HTMLElement>('button, [href], input, select, textarea, [tabindex]:not([tabindex="-1"])')].filter((x) => !(x as HTMLButtonElement).disabled);
      if (f.length === 0) return;
      if (e.shiftKey && document.activeElement === f[0]) {
        e.preventDefault();
        f[f.length - 1].focus();
      } else if (!e.shiftKey && document.activeElement === f[f.length - 1]) {
        e.preventDefault();
        f[0].focus();
      }
    }
  };
  return (
    <div class="backdrop" onClick={(e) => e.target === e.currentTarget && close()}>
      <div class={`dialog ${props.wide ? 'wide' : ''}`} role="dialog" aria-modal="true" aria-labelledby={id} ref={ref} tabIndex={-1} onKeyDown={onKey}>
        <header>
          <h2 id={id}>{props.title}</h2>
          <button class="dialog-close icon" aria-label="Close" onClick={close}>
            ✕
          </button>
        </header>
        <div class="dialog-body">{props.children}</div>
      </div>
    </div>
  );
}
