// View state that is not chat data: which panel and modal are open, the composer's reply /
// edit target, uploads in flight, notices. Kept apart from the chat store so the chat store
// stays a plain model of the relay's data.
import { Store, readJson, type KeyValue } from '../lib/store.ts';

export type Modal = null | 'settings' | 'directory' | 'contacts' | 'profile' | 'blocked' | 'newgroup' | 'group' | 'qr' | 'report' | 'shortcuts';

export interface Upload {
  id: string;
  name: string;
  size: number;
  progress: number;
  error?: string;
}

export interface Prefs {
  hidePresence: boolean;
  notifications: boolean;
  receiveLanguage: string;
  keyboard: boolean;
}

export interface UiState {
  modal: Modal;
  modalArg: string | null;
  replyTo: string | null;
  editing: string | null;
  uploads: Upload[];
  notice: { text: string; kind: 'info' | 'error' } | null;
  /** Phone layout: the sidebar or the conversation fills the screen. */
  pane: 'list' | 'chat';
  prefs: Prefs;
  convSearch: string;
  convSearchOpen: boolean;
  /** A message to scroll to and focus in the open conversation (a search hit), once it is loaded. */
  focusMsg: string | null;
  recording: boolean;
}

const PREFS_KEY = 'pchat.prefs.v1';
export const DEFAULT_PREFS: Prefs = { hidePresence: false, notifications: false, receiveLanguage: '', keyboard: false };

export class UiStore extends Store<UiState> {
  constructor(private kv: KeyValue) {
    super({
      modal: null,
      modalArg: null,
      replyTo: null,
      editing: null,
      uploads: [],
      notice: null,
      pane: 'list',
      prefs: { ...DEFAULT_PREFS, ...readJson<Partial<Prefs>>(kv, PREFS_KEY, {}) },
      convSearch: '',
      convSearchOpen: false,
      focusMsg: null,
      recording: false,
    });
  }

  open(modal: Modal, arg: string | null = null): void {
    this.set({ modal, modalArg: arg });
  }
  close(): void {
    this.set({ modal: null, modalArg: null });
  }

  notify(text: string, kind: 'info' | 'error' = 'info'): void {
    this.set({ notice: { text, kind } });
  }

  setPrefs(patch: Partial<Prefs>): void {
    this.set({ prefs: { ...this.state.prefs, ...patch } });
    this.kv.setItem(PREFS_KEY, JSON.stringify(this.state.prefs));
  }

  upsertUpload(u: Upload): void {
    const others = this.state.uploads.filter((x) => x.id !== u.id);
    this.set({ uploads: [...others, u] });
  }
  dropUpload(id: string): void {
    this.set({ uploads: this.state.uploads.filter((x) => x.id !== id) });
  }
}
