// Reading the inbox: a poll that claims from the persona's cursor, prints what is new, and
// stores the cursor. Watch mode reuses `Reader` for every batch, whatever transport it came by.
import type { Options } from './args.ts';
import { Printer, stdoutClosed, toOut } from './format.ts';
import type { Session } from './session.ts';

export interface PollAnswer {
  events: any[];
  cursor: number;
  has_more?: boolean;
}

/** Prints events once each (by seq) and keeps the persona's cursor just behind what it printed. */
export class Reader {
  constructor(
    readonly session: Session,
    readonly printer: Printer,
  ) {}

  get cursor(): number | undefined {
    return this.session.persona.cursor;
  }

  /** Handles a batch in seq order; returns how many events were printed. Saves the cursor. */
  take(events: any[], serverCursor?: number): number {
    const p = this.session.persona;
    let printed = 0;
    let top = p.cursor;
    // stdout closed (the reader went away): what it did not get stays after the cursor.
    let closed = stdoutClosed();
    for (const ev of closed ? [] : events) {
      if (typeof ev?.seq !== 'number') continue;
      if (p.cursor !== undefined && ev.seq <= p.cursor) continue; // already printed (at-least-once delivery)
      const out = toOut(this.session.client.base, ev);
      if (out) {
        if (!this.printer.event(out)) {
          closed = true;
          break;
        }
        printed++;
      }
      top = Math.max(top ?? 0, ev.seq);
    }
    // The first read of a fresh persona starts where the relay's session cursor is.
    if (p.cursor === undefined && serverCursor !== undefined && !closed) top = Math.max(top ?? 0, serverCursor);
    if (top !== undefined && (p.cursor === undefined || top > p.cursor)) {
      p.cursor = top;
      this.session.save();
    }
    return printed;
  }

  pollBody(limit: number, waitMs?: number) {
    const p = this.session.persona;
    return {
      chat_address: p.chat_address,
      limit,
      ...(p.cursor !== undefined ? { after: p.cursor } : {}),
      ...(waitMs ? { wait_ms: waitMs } : {}),
    };
  }
}

export async function inbox(s: Session, o: Options, printer: Printer): Promise<number> {
  const reader = new Reader(s, printer);
  let printed = 0;
  // --limit bounds what this run prints; has_more batches are fetched up to it.
  while (printed < o.limit) {
    const r = await s.client.call<PollAnswer>('POST', '/api/v1/webchat/poll', reader.pollBody(o.limit - printed));
    printed += reader.take(r.events, r.cursor);
    if (!r.has_more || r.events.length === 0 || stdoutClosed()) break;
  }
  return printed;
}
