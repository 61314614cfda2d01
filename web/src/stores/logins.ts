// Stored logins ("local browser session memory + login switching"): several accounts, on one
// or several relays, one active. Persisted in localStorage; a token is never put in a URL.
import { Store, readJson, type KeyValue } from '../lib/store.ts';

export interface Login {
  relay: string; // '' = this origin
  token: string;
  email: string;
  chat_address: string;
  display_name: string;
  user_id: string;
}

export interface RelaySettings {
  mode: 'public' | 'private';
  url: string; // '' = the relay serving the app
  api_key: string;
  phone_id: string;
  /** Relay identity key pinned from a launch link, if any. */
  expected_key?: string;
}

interface LoginsState {
  logins: Login[];
  active: number; // index into logins, -1 = signed out
  relay: RelaySettings;
}

const KEY = 'pchat.logins.v1';
const RELAY_KEY = 'pchat.relay.v1';

export const DEFAULT_RELAY: RelaySettings = { mode: 'public', url: '', api_key: '', phone_id: '' };

export function loginId(l: Pick<Login, 'relay' | 'user_id' | 'chat_address'>): string {
  return `${l.relay || 'self'}|${l.user_id || l.chat_address}`;
}

export class LoginsStore extends Store<LoginsState> {
  constructor(private kv: KeyValue) {
    const saved = readJson<{ logins: Login[]; active: number }>(kv, KEY, { logins: [], active: -1 });
    const relay = { ...DEFAULT_RELAY, ...readJson<Partial<RelaySettings>>(kv, RELAY_KEY, {}) };
    super({ logins: saved.logins, active: saved.logins[saved.active] ? saved.active : -1, relay });
  }

  private persist() {
    this.kv.setItem(KEY, JSON.stringify({ logins: this.state.logins, active: this.state.active }));
    this.kv.setItem(RELAY_KEY, JSON.stringify(this.state.relay));
  }

  get current(): Login | null {
    return this.state.logins[this.state.active] ?? null;
  }

  /** The relay new logins go to: the private relay URL when one is set, else this origin. */
  get relayUrl(): string {
    const r = this.state.relay;
    return r.mode === 'private' && r.url ? r.url.replace(/\/+$/, '') : '';
  }

  /** Adds (or refreshes) a login and makes it active. */
  add(login: Login): void {
    const id = loginId(login);
    const logins = this.state.logins.filter((l) => loginId(l) !== id);
    logins.push(login);
    this.set({ logins, active: logins.length - 1 });
    this.persist();
  }

  update(patch: Partial<Login>): void {
    const cur = this.current;
    if (!cur) return;
    const logins = [...this.state.logins];
    logins[this.state.active] = { ...cur, ...patch };
    this.set({ logins });
    this.persist();
  }

  switchTo(index: number): void {
    if (!this.state.logins[index]) return;
    this.set({ active: index });
    this.persist();
  }

  /** Forgets the active login (after the relay logout) and activates another one, if any. */
  remove(index = this.state.active): void {
    const logins = this.state.logins.filter((_, i) => i !== index);
    this.set({ logins, active: logins.length ? Math.min(Math.max(0, this.state.active - (index <= this.state.active ? 1 : 0)), logins.length - 1) : -1 });
    this.persist();
  }

  setRelay(patch: Partial<RelaySettings>): void {
    this.set({ relay: { ...this.state.relay, ...patch } });
    this.persist();
  }

  /** The realtime cursor per login, so a reload resumes where it stopped. */
  cursor(l: Login): number {
    return Number(this.kv.getItem(`pchat.cursor.${loginId(l)}`) ?? 0) || 0;
  }
  saveCursor(l: Login, seq: number): void {
    this.kv.setItem(`pchat.cursor.${loginId(l)}`, String(seq));
  }
}
