// Contacts: import CSV / XLSX / VCF files or pasted rows, download a template CSV, export
// CSV, and open a chat with a contact that has a chat address.
import { useState } from 'preact/hooks';
import { ui, openConversation } from '../app.ts';
import { ContactsStore } from '../stores/contacts.ts';
import { CONTACT_TEMPLATE_CSV, contactsFromRows, contactsToCsv, parseCsv, parsePastedContacts, parseVcf, type Contact } from '../lib/parse.ts';
import { useStore } from './hooks.ts';
import { Dialog } from './Dialog.tsx';
import { download } from './exporting.ts';

export const contacts = new ContactsStore(localStorage);

async function parseFile(f: File): Promise<Contact[]> {
  const name = f.name.toLowerCase();
  if (name.endsWith('.vcf') || f.type === 'text/vcard') return parseVcf(await f.text());
  if (name.endsWith('.xlsx')) {
    const { readXlsxRows } = await import('../lib/xlsx.ts');
    return contactsFromRows(readXlsxRows(await f.arrayBuffer()));
  }
  return contactsFromRows(parseCsv(await f.text()));
}

export function ContactsDialog() {
  const s = useStore(contacts);
  const [paste, setPaste] = useState('');
  const [q, setQ] = useState('');
  const report = (n: number, total: number) => ui.notify(`Imported ${total} contact(s), ${n} new.`);
  const list = s.contacts.filter((c) => !q || `${c.name} ${c.chat_address ?? ''} ${c.email ?? ''} ${c.phone ?? ''}`.toLowerCase().includes(q.toLowerCase()));
  return (
    <Dialog title="Contacts" wide>
      <div class="row wrap">
        <label class="file-btn">
          Import file (CSV, XLSX, VCF)
          <input
            type="file"
            accept=".csv,.tsv,.txt,.xlsx,.vcf,text/csv,text/vcard,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            multiple
            onChange={async (e) => {
              const files = [...(e.currentTarget.files ?? [])];
              e.currentTarget.value = '';
              for (const f of files) {
                try {
                  const got = await parseFile(f);
                  report(contacts.merge(got), got.length);
                } catch (err) {
                  ui.notify(`${f.name}: ${(err as Error).message}`, 'error');
                }
              }
            }}
          />
        </label>
        <button onClick={() => download('contacts-template.csv', 'text/csv', CONTACT_TEMPLATE_CSV)}>Download template CSV</button>
        <button disabled={s.contacts.length === 0} onClick={() => download('contacts.csv', 'text/csv', contactsToCsv(s.contacts))}>
          Export CSV
        </button>
      </div>
      <label>
        Paste rows (name, chat address, email, phone — one contact per line)
        <textarea rows={3} value={paste} onInput={(e) => setPaste(e.currentTarget.value)} />
      </label>
      <button
        disabled={!paste.trim()}
        onClick={() => {
          const got = parsePastedContacts(paste);
          report(contacts.merge(got), got.length);
          setPaste('');
        }}
      >
        Add pasted contacts
      </button>
      <label>
        Filter
        <input type="search" value={q} onInput={(e) => setQ(e.currentTarget.value)} />
      </label>
      <table class="contacts">
        <caption class="sr-only">Your contacts</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Chat address</th>
            <th scope="col">Email</th>
            <th scope="col">Phone</th>
            <th scope="col">
              <span class="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {list.map((c) => (
            <tr key={c.name + (c.chat_address ?? c.email ?? c.phone)}>
              <td>{c.name}</td>
              <td>{c.chat_address}</td>
              <td>{c.email}</td>
              <td>{c.phone}</td>
              <td class="row">
                {c.chat_address && (
                  <button onClick={() => (ui.close(), void openConversation(c.chat_address!.toLowerCase(), { title: c.name }))} aria-label={`Message ${c.name}`}>
                    Message
                  </button>
                )}
                <button onClick={() => contacts.remove(c)} aria-label={`Remove ${c.name}`}>
                  Remove
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {s.contacts.length === 0 && <p class="muted">No contacts yet.</p>}
    </Dialog>
  );
}
