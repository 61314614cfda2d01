// The local address book: imported contacts, kept in this browser.
import { Store, readJson, type KeyValue } from '../lib/store.ts';
import type { Contact } from '../lib/parse.ts';

const KEY = 'pchat.contacts.v1';

function keyOf(c: Contact): string {
  return (c.chat_address || c.email || c.phone || c.name).toLowerCase();
}

export class ContactsStore extends Store<{ contacts: Contact[] }> {
  constructor(private kv: KeyValue) {
    super({ contacts: readJson<Contact[]>(kv, KEY, []) });
  }

  /** Merges new contacts; a contact with the same address / email / phone is updated. Returns how many were new. */
  merge(list: Contact[]): number {
    const map = new Map(this.state.contacts.map((c) => [keyOf(c), c]));
    let added = 0;
    for (const c of list) {
      const k = keyOf(c);
      if (!map.has(k)) added++;
      map.set(k, { ...map.get(k), ...c });
    }
    this.set({ contacts: [...map.values()].sort((a, b) => a.name.localeCompare(b.name)) });
    this.kv.setItem(KEY, JSON.stringify(this.state.contacts));
    return added;
  }

  remove(c: Contact): void {
    this.set({ contacts: this.state.contacts.filter((x) => keyOf(x) !== keyOf(c)) });
    this.kv.setItem(KEY, JSON.stringify(this.state.contacts));
  }
}
