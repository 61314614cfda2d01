// Pure parsing helpers: auto-login URLs, conversation keys, contacts (CSV / VCF / pasted
// rows), CSV export. No DOM, so node:test covers them.

export interface AutoLogin {
  token: string;
  relay?: string;
  email?: string;
  chat_address?: string;
  display_name?: string;
  /** The address bar without the token (and the other login parameters). */
  cleanUrl: string;
}

const LOGIN_PARAMS = ['pchat_session', 'session_token', 'email', 'chat_address', 'display_name', 'name', 'persona', 'relay', 'relay_url', 'relay_mode', 'session', 'session_name', 'computer', 'device_name'];

/** Reads the CLI's auto-login URL (`chat.html?...&pchat_session=pct_…`). */
export function parseAutoLogin(href: string): AutoLogin | null {
  const url = new URL(href);
  const params = new URLSearchParams(url.search);
  // Some links carry the parameters in the fragment instead.
  const hash = new URLSearchParams(url.hash.replace(/^#/, ''));
  const pick = (k: string) => params.get(k) ?? hash.get(k) ?? undefined;
  const token = pick('pchat_session') ?? pick('session_token');
  if (!token || !/^pct_[A-Za-z0-9_-]+$/.test(token)) return null;
  const relay = pick('relay') ?? pick('relay_url');
  const out = {
    token,
    relay: relay && /^https?:\/\//.test(relay) ? relay.replace(/\/+$/, '') : undefined,
    email: pick('email'),
    chat_address: pick('chat_address'),
    display_name: pick('display_name') ?? pick('name'),
  };
  const hashHadLogin = LOGIN_PARAMS.some((k) => hash.has(k));
  for (const k of LOGIN_PARAMS) {
    params.delete(k);
    hash.delete(k);
  }
  const q = params.toString();
  // Keep a plain fragment (#top) as it was; rewrite it only when it carried login parameters.
  const h = hashHadLogin ? hash.toString() : url.hash.replace(/^#/, '');
  return { ...out, cleanUrl: url.pathname + (q ? `?${q}` : '') + (h ? `#${h}` : '') };
}

/** A conversation is keyed by the peer's address, `group:grp_…`, or your own address (saved). */
export function conversationKey(msg: { from: string; to: string; group?: string | { id: string } | null }, me: string, outgoing?: boolean): string {
  const g = typeof msg.group === 'object' && msg.group ? msg.group.id : msg.group;
  if (g) return g.startsWith('group:') ? g : `group:${g}`;
  if (msg.to?.startsWith('group:')) return msg.to;
  const mine = outgoing ?? msg.from === me;
  return mine ? msg.to : msg.from;
}

export const CHANNEL_FILTERS = [
  { id: 'all', label: 'All' },
  { id: 'sms', label: 'SMS' },
  { id: 'wa', label: 'WA' },
  { id: 'tg', label: 'TG' },
  { id: 'email', label: 'Email' },
  { id: 'notify', label: 'Notify' },
  { id: 'pchat', label: 'WebChat' },
] as const;
export type ChannelFilter = (typeof CHANNEL_FILTERS)[number]['id'];

// ---------- contacts ----------

export interface Contact {
  name: string;
  chat_address?: string;
  email?: string;
  phone?: string;
}

/** RFC 4180 CSV: quoted fields, doubled quotes, CRLF or LF. Also accepts ; or tab separated. */
export function parseCsv(text: string): string[][] {
  const firstLine = text.split(/\r?\n/, 1)[0] ?? '';
  const sep = [',', ';', '\t'].sort((a, b) => firstLine.split(b).length - firstLine.split(a).length)[0];
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === sep) {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      field = '';
      if (row.some((f) => f.trim() !== '')) rows.push(row);
      row = [];
    } else field += c;
  }
  row.push(field);
  if (row.some((f) => f.trim() !== '')) rows.push(row);
  return rows;
}

function csvField(v: string): string {
  // A leading = + - @ would run as a formula in a spreadsheet (a plain phone number cannot).
  const safe = /^[=+\-@]/.test(v) && !/^\+?[0-9][0-9 ()-]*$/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function toCsv(rows: string[][]): string {
  return rows.map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
}

export const CONTACT_TEMPLATE_CSV = toCsv([
  ['name', 'chat_address', 'email', 'phone'],
  ['Ada Lovelace', 'ada', 'ada@example.com', '+15551230001'],
]);

const HEADER_ALIASES: Record<keyof Contact, string[]> = {
  name: ['name', 'display_name', 'display name', 'full name', 'fn'],
  chat_address: ['chat_address', 'chat address', 'address', 'pchat', 'webchat'],
  email: ['email', 'e-mail', 'mail', 'email address'],
  phone: ['phone', 'mobile', 'tel', 'telephone', 'phone number'],
};

/** Turns table rows (first row = header, if it looks like one) into contacts. */
export function contactsFromRows(rows: string[][]): Contact[] {
  if (rows.length === 0) return [];
  const head = rows[0].map((h) => h.trim().toLowerCase());
  const col: Partial<Record<keyof Contact, number>> = {};
  for (const [k, names] of Object.entries(HEADER_ALIASES) as [keyof Contact, string[]][]) {
    const i = head.findIndex((h) => names.includes(h));
    if (i >= 0) col[k] = i;
  }
  const hasHeader = Object.keys(col).length > 0;
  const body = hasHeader ? rows.slice(1) : rows;
  const out: Contact[] = [];
  for (const r of body) {
    const c: Contact = { name: '' };
    if (hasHeader) {
      for (const [k, i] of Object.entries(col) as [keyof Contact, number][]) {
        const v = (r[i] ?? '').trim();
        if (v) c[k] = v;
      }
    } else {
      // Headerless rows: recognise each cell by its shape.
      for (const cell of r.map((x) => x.trim()).filter(Boolean)) {
        if (!c.email && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(cell)) c.email = cell;
        else if (!c.phone && /^\+?[0-9][0-9 ()-]{5,}$/.test(cell)) c.phone = cell.replace(/[ ()-]/g, '');
        else if (!c.chat_address && /^[a-z0-9][a-z0-9._-]{2,31}$/.test(cell) && c.name) c.chat_address = cell;
        else if (!c.name) c.name = cell;
      }
    }
    if (!c.name) c.name = c.chat_address ?? c.email ?? c.phone ?? '';
    if (c.name) out.push(c);
  }
  return out;
}

/** Pasted rows: one contact per line, cells split by tab, comma or semicolon. */
export function parsePastedContacts(text: string): Contact[] {
  const rows = text
    .split(/\r?\n/)
    .map((l) => l.split(/\t|;|,/).map((c) => c.trim()))
    .filter((r) => r.some(Boolean));
  return contactsFromRows(rows);
}

/** vCard 2.1 / 3.0 / 4.0: FN, N, EMAIL, TEL; folded lines unfolded. */
export function parseVcf(text: string): Contact[] {
  const lines = text.replace(/\r?\n[ \t]/g, '').split(/\r?\n/);
  const out: Contact[] = [];
  let cur: Contact | null = null;
  for (const line of lines) {
    const m = /^([^:;]+)((?:;[^:]*)?):(.*)$/.exec(line.trim());
    if (!m) continue;
    const prop = m[1].toUpperCase().replace(/^item\d+\./i, '');
    const value = m[3].replace(/\\([,;\\])/g, '$1').replace(/\\n/gi, ' ').trim();
    if (prop === 'BEGIN' && value.toUpperCase() === 'VCARD') cur = { name: '' };
    else if (!cur) continue;
    else if (prop === 'END') {
      if (!cur.name) cur.name = cur.email ?? cur.phone ?? '';
      if (cur.name) out.push(cur);
      cur = null;
    } else if (prop === 'FN') cur.name = value;
    else if (prop === 'N' && !cur.name) cur.name = value.split(';').filter(Boolean).reverse().join(' ');
    else if (prop === 'EMAIL' && !cur.email) cur.email = value;
    else if (prop === 'TEL' && !cur.phone) cur.phone = value.replace(/^tel:/i, '').replace(/[ ()-]/g, '');
    else if (prop === 'X-PCHAT-ADDRESS' && !cur.chat_address) cur.chat_address = value;
  }
  return out;
}

export function contactsToCsv(contacts: Contact[]): string {
  return toCsv([['name', 'chat_address', 'email', 'phone'], ...contacts.map((c) => [c.name, c.chat_address ?? '', c.email ?? '', c.phone ?? ''])]);
}

// ---------- misc ----------

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** Right-to-left scripts (Hebrew, Arabic, Syriac, Thaana, N'Ko…) decide the text direction. */
export function textDirection(text: string): 'rtl' | 'ltr' {
  const m = /[\u0590-\u08FF\uFB1D-\uFDFF\uFE70-\uFEFF]|[A-Za-z\u00C0-\u024F\u0370-\u03FF\u0400-\u04FF\u3040-\u30FF\u4E00-\u9FFF]/.exec(text);
  return m && /[\u0590-\u08FF\uFB1D-\uFDFF\uFE70-\uFEFF]/.test(m[0]) ? 'rtl' : 'ltr';
}
