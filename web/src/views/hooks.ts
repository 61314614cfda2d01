// Store → view glue: re-render when the store changes.
import { useEffect, useReducer } from 'preact/hooks';
import type { Store } from '../lib/store.ts';
import type { ChatStore } from '../stores/chat.ts';

export function useStore<S extends object>(store: Store<S>): S {
  const [, bump] = useReducer((n: number, _: number) => n + 1, 0);
  useEffect(() => store.subscribe(() => bump(0)), [store]);
  return store.state;
}

/**
 * Re-renders when a typing indicator runs out. Nothing in the store changes then: a typer who
 * closed the tab or lost the network never sends typing:false.
 */
export function useTypingExpiry(store: ChatStore): void {
  const [, bump] = useReducer((n: number, _: number) => n + 1, 0);
  const ends = store.typingEnds();
  useEffect(() => {
    if (ends === null) return;
    const t = setTimeout(() => bump(0), Math.max(0, ends - Date.now()) + 1);
    return () => clearTimeout(t);
  }, [ends]);
}

/** Roving tab index over a list: one item is tabbable, arrows / Home / End move focus. */
export function rovingKeys(e: KeyboardEvent, container: HTMLElement | null, selector: string): boolean {
  if (!container) return false;
  const items = [...container.querySelectorAll<HTMLElement>(selector)];
  if (items.length === 0) return false;
  const i = items.indexOf(document.activeElement as HTMLElement);
  let next = -1;
  if (e.key === 'ArrowDown') next = Math.min(items.length - 1, i + 1);
  else if (e.key === 'ArrowUp') next = Math.max(0, i - 1);
  else if (e.key === 'Home') next = 0;
  else if (e.key === 'End') next = items.length - 1;
  else return false;
  e.preventDefault();
  for (const it of items) it.tabIndex = -1;
  items[next].tabIndex = 0;
  items[next].focus();
  return true;
}
