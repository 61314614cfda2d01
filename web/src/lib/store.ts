// A tiny observable store: state lives here, views subscribe. No framework imports, so
// stores can be unit-tested under node:test.
export type Listener = () => void;

export class Store<S extends object> {
  private listeners = new Set<Listener>();
  private scheduled = false;
  /** Bumped on every change, so views can cheaply tell whether to re-render. */
  version = 0;

  constructor(public state: S) {}

  get(): S {
    return this.state;
  }

  set(patch: Partial<S> | ((s: S) => Partial<S> | void)): void {
    const p = typeof patch === 'function' ? patch(this.state) : patch;
    if (p) this.state = { ...this.state, ...p };
    this.changed();
  }

  /** Call after mutating nested state in place. Notifications are batched per microtask. */
  changed(): void {
    this.version++;
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      for (const l of [...this.listeners]) l();
    });
  }

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}

/** Storage the stores persist to: localStorage in the browser, a Map in tests. */
export interface KeyValue {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export function memoryStorage(): KeyValue {
  const m = new Map<string, string>();
  return {
    getItem: (k) => m.get(k) ?? null,
    setItem: (k, v) => void m.set(k, v),
    removeItem: (k) => void m.delete(k),
  };
}

export function readJson<T>(kv: KeyValue, key: string, fallback: T): T {
  try {
    const raw = kv.getItem(key);
    return raw ? (JSON.parse(raw) as T) : fallback;
  } catch {
    return fallback;
  }
}
