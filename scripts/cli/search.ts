// Search: the relay's GET /api/v1/webchat/search, followed page by page (each reads back a
// bounded stretch of the journal) until --limit results or the start of the history.
import type { Options } from './args.ts';
import { Printer, toOut } from './format.ts';
import type { Session } from './session.ts';

interface SearchAnswer {
  results: any[];
  has_more: boolean;
  next_before: number | null;
}

/** Pages asked for at most: each reads back up to 10,000 journal events, so this is a long history. */
const MAX_PAGES = 50;

export async function search(s: Session, o: Options, printer: Printer): Promise<number> {
  let printed = 0;
  let before: number | null = null;
  for (let page = 0; page < MAX_PAGES && printed < o.limit; page++) {
    const q = new URLSearchParams({ q: o.search!, limit: String(o.limit - printed) });
    if (o.to) q.set('peer', o.to);
    if (before !== null) q.set('before', String(before));
    const r = await s.client.call<SearchAnswer>('GET', `/api/v1/webchat/search?${q}`);
    for (const ev of r.results) {
      // Your own messages are results too (an inbox reader skips them as echoes).
      const out = toOut(s.client.base, { ...ev, outgoing: false });
      if (!out) continue;
      if (!printer.event(out)) return printed;
      printed++;
    }
    if (!r.has_more || r.next_before === null) break;
    before = r.next_before;
  }
  return printed;
}
