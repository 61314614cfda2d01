// Per-conversation translation choices: a language for one chat, or "off" for it, over the
// receive language from Settings. Languages live on the relay too (language-prefs
// `per_conversation`, so the relay translates that chat's messages as they arrive and other
// devices agree); "off" is this browser's own, since the relay has no way to say it.
import { Store, readJson, type KeyValue } from '../lib/store.ts';

export const TRANSLATE_OFF = 'off';
const KEY = 'pchat.convlang.v1';

export interface ConvLanguagesState {
  /** Whose choices these are (the signed-in chat address). */
  owner: string;
  /** conversation key → language code or TRANSLATE_OFF; absent = as in Settings. */
  choices: Record<string, string>;
}

export class ConvLanguagesStore extends Store<ConvLanguagesState> {
  constructor(private kv: KeyValue) {
    super({ owner: '', choices: {} });
  }

  private saved(): Record<string, Record<string, string>> {
    return readJson<Record<string, Record<string, string>>>(this.kv, KEY, {});
  }

  private persist(): void {
    if (!this.state.owner) return;
    this.kv.setItem(KEY, JSON.stringify({ ...this.saved(), [this.state.owner]: this.state.choices }));
  }

  /**
   * A login's choices: what this browser kept, then the relay's languages, which win (another
   * device may have changed them). `relay` undefined: the relay could not say; keep ours.
   */
  load(owner: string, relay?: Record<string, string>): void {
    const local = this.saved()[owner] ?? {};
    let choices = local;
    if (relay) {
      choices = Object.fromEntries(Object.entries(local).filter(([k, v]) => v === TRANSLATE_OFF && !relay[k]));
      Object.assign(choices, relay);
    }
    this.set({ owner, choices });
    this.persist();
  }

  /** `null` follows Settings again. */
  choose(key: string, choice: string | null): void {
    const choices = { ...this.state.choices };
    if (choice) choices[key] = choice;
    else delete choices[key];
    this.set({ choices });
    this.persist();
  }

  choice(key: string): string | null {
    return this.state.choices[key] ?? null;
  }

  /** The language captions in this conversation are in; null: no captions. */
  target(key: string, receive: string): string | null {
    const c = this.state.choices[key];
    if (c === TRANSLATE_OFF) return null;
    return c || receive || null;
  }
}
