// What the CLI prints for inbox events: one readable line (plus attachment lines) per event,
// or with --json one JSON object per line. Events are the relay's poll / WebSocket objects
// (docs/realtime.md); attachment links are made absolute so a program can fetch them.

export interface OutAttachment {
  file_id: string;
  kind: string;
  name?: string;
  caption?: string;
  size?: number;
  mime?: string;
  url: string;
}

export type OutEvent =
  | {
      type: 'message';
      seq: number;
      message_id: string;
      from: string;
      display_name?: string;
      to: string;
      group?: string;
      text: string;
      reply_to: string | null;
      attachments: OutAttachment[];
      created_at: string;
    }
  | { type: 'edit'; seq: number; message_id: string; text: string; edited_at?: string }
  | { type: 'delete'; seq: number; message_id: string; deleted_at?: string }
  | { type: 'group'; seq: number; group_id: string; action: string; [k: string]: unknown };

export function attachmentsOf(relay: string, raw: unknown): OutAttachment[] {
  if (!Array.isArray(raw)) return [];
  return raw
    .filter((a) => a && typeof a.file_id === 'string')
    .map((a) => {
      const path = typeof a.url === 'string' && a.url ? a.url : `/api/v1/webchat/files/${encodeURIComponent(a.file_id)}`;
      const out: OutAttachment = { file_id: a.file_id, kind: String(a.kind ?? 'file'), url: /^https?:\/\//.test(path) ? path : relay + path };
      for (const k of ['name', 'caption', 'mime'] as const) if (typeof a[k] === 'string') out[k] = a[k];
      if (typeof a.size === 'number') out.size = a.size;
      return out;
    });
}

/**
 * The relay event as the CLI reports it, or null for what a reader of the inbox does not
 * need: your own sends (echoed to your other devices), receipts, and live-only hints.
 */
export function toOut(relay: string, ev: any): OutEvent | null {
  if (!ev || typeof ev.seq !== 'number') return null;
  switch (ev.type) {
    case 'message': {
      if (ev.outgoing) return null;
      const m = ev.message ?? {};
      const to = String(m.to ?? '');
      const group = typeof m.group === 'string' ? m.group : typeof m.group?.id === 'string' ? m.group.id : to.startsWith('group:') ? to.slice(6) : undefined;
      return {
        type: 'message',
        seq: ev.seq,
        message_id: String(m.id ?? m.message_id),
        from: String(m.from ?? m.source ?? ''),
        ...(m.display_name ? { display_name: String(m.display_name) } : {}),
        to,
        ...(group ? { group } : {}),
        text: String(m.text ?? ''),
        reply_to: m.reply_to ?? null,
        attachments: attachmentsOf(relay, m.attachments),
        created_at: String(m.created_at ?? ''),
      };
    }
    case 'edit':
      return { type: 'edit', seq: ev.seq, message_id: ev.message_id, text: String(ev.text ?? ''), edited_at: ev.edited_at };
    case 'delete':
      return { type: 'delete', seq: ev.seq, message_id: ev.message_id, deleted_at: ev.deleted_at };
    case 'group': {
      const { type: _t, seq, group_id, action, ...rest } = ev;
      return { type: 'group', seq, group_id, action, ...rest };
    }
    default:
      return null;
  }
}

const size = (n?: number) => (n === undefined ? '' : n >= 1 << 20 ? ` ${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? ` ${(n / 1024).toFixed(0)} KiB` : ` ${n} B`);

export function textLines(e: OutEvent): string[] {
  switch (e.type) {
    case 'message': {
      const who = e.display_name && e.display_name !== e.from ? `${e.from} (${e.display_name})` : e.from;
      const where = e.group ? ` in group:${e.group}` : '';
      const lines = [`[${e.created_at}] ${e.message_id} ${who}${where}: ${e.text}`];
      if (e.reply_to) lines.push(`    reply to ${e.reply_to}`);
      for (const a of e.attachments) lines.push(`    attachment (${a.kind}${size(a.size)}) ${a.name ?? a.file_id}: ${a.url}`);
      return lines;
    }
    case 'edit':
      return [`[${e.edited_at ?? ''}] edited ${e.message_id}: ${e.text}`];
    case 'delete':
      return [`[${e.deleted_at ?? ''}] deleted ${e.message_id}`];
    case 'group':
      return [`group ${e.group_id}: ${e.action}`];
  }
}

/** stdout's reader is gone (EPIPE and the like): nothing more we print reaches anyone. */
export const stdoutClosed = () => process.stdout.errored !== null || process.stdout.destroyed;

export class Printer {
  constructor(readonly json: boolean) {}

  /**
   * Prints one event; false when stdout is closed (the reader went away, e.g. `| head -n 1`).
   * A pipe write fails synchronously, so the caller can leave the cursor before that event.
   */
  event(e: OutEvent): boolean {
    process.stdout.write(this.json ? JSON.stringify(e) + '\n' : textLines(e).join('\n') + '\n');
    return !stdoutClosed();
  }

  /** Status lines: JSON objects on stdout with --json, else text on stderr (stdout stays data). */
  status(obj: Record<string, unknown>, text: string) {
    if (this.json) process.stdout.write(JSON.stringify(obj) + '\n');
    else process.stderr.write(text + '\n');
  }

  /** Results the user asked for (sent ids, the GUI URL): stdout in both modes. */
  result(obj: Record<string, unknown>, text: string) {
    process.stdout.write(this.json ? JSON.stringify(obj) + '\n' : text + '\n');
  }
}
