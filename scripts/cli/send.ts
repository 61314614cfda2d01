// Sending: text, replies, and files (uploaded in parallel, then one message carrying them).
import { randomUUID } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { basename, extname } from 'node:path';
import type { Options } from './args.ts';
import { CliError, EXIT } from './errors.ts';
import { networkReason, readAnswer, type RelayClient } from './http.ts';
import type { Session } from './session.ts';

/** Files at least this big get a progress bar (when stderr is a terminal). */
export const PROGRESS_MIN_BYTES = 1 << 20;
/** Uploads may be slow on a LAN box over Wi-Fi; this bounds a stalled one, not a slow one. */
const UPLOAD_IDLE_TIMEOUT_MS = 60_000;

const MIME: Record<string, string> = {
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp',
  '.mp4': 'video/mp4', '.mov': 'video/quicktime', '.mkv': 'video/x-matroska', '.webm': 'video/webm',
  '.mp3': 'audio/mpeg', '.ogg': 'audio/ogg', '.oga': 'audio/ogg', '.opus': 'audio/ogg', '.wav': 'audio/wav',
  '.m4a': 'audio/mp4', '.aac': 'audio/aac', '.flac': 'audio/flac',
  '.pdf': 'application/pdf', '.txt': 'text/plain', '.md': 'text/markdown', '.json': 'application/json',
  '.csv': 'text/csv', '.zip': 'application/zip', '.gz': 'application/gzip',
};

export function mimeOf(path: string): string {
  return MIME[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

type Kind = 'image' | 'video' | 'audio' | 'voice' | 'file';

/** --attachment-kind: auto keeps the relay's kind, except that audio goes as a voice clip. */
export function attachmentKind(choice: Options['attachmentKind'], relayKind: string | undefined, mime: string): Kind {
  if (choice === 'file') return 'file';
  if (choice === 'voice') return 'voice';
  const k = (relayKind ?? (mime.startsWith('image/') ? 'image' : mime.startsWith('video/') ? 'video' : mime.startsWith('audio/') ? 'audio' : 'file')) as Kind;
  return k === 'audio' ? 'voice' : k;
}

export interface Uploaded {
  file_id: string;
  url?: string;
  size?: number;
  mime?: string;
  name?: string;
  kind?: string;
}

class Progress {
  private sent = 0;
  private last = 0;
  constructor(private readonly total: number, private readonly on: boolean) {}
  add(n: number) {
    this.sent += n;
    const now = Date.now();
    if (!this.on || (now - this.last < 100 && this.sent < this.total)) return;
    this.last = now;
    const frac = this.total ? this.sent / this.total : 1;
    const width = 30;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, ' ');
    const mib = (n: number) => (n / (1 << 20)).toFixed(1);
    process.stderr.write(`\rupload [${bar}] ${String(Math.floor(frac * 100)).padStart(3)}% ${mib(this.sent)}/${mib(this.total)} MiB`);
  }
  done() {
    if (this.on) process.stderr.write('\n');
  }
}

/** One multipart upload of one file, streamed from disk (so progress is real and memory flat). */
function uploadOne(client: RelayClient, path: string, size: number, progress: Progress): Promise<Uploaded> {
  const boundary = `----webchat-cli-${randomUUID()}`;
  const name = basename(path).replace(/["\r\n]/g, '_');
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: ${mimeOf(path)}\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const url = new URL(client.base + '/api/v1/webchat/upload');
  const headers = {
    ...client.headers(false),
    'content-type': `multipart/form-data; boundary=${boundary}`,
    'content-length': String(head.length + size + tail.length),
  };
  return new Promise<Uploaded>((resolve, reject) => {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { method: 'POST', headers });
    req.setTimeout(UPLOAD_IDLE_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('timeout'), { name: 'TimeoutError' })));
    req.on('error', (err) => reject(new CliError(`cannot upload ${path} to ${client.base} (${networkReason({ name: err.name, message: err.message, cause: err })})`, EXIT.unreachable)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => reject(new CliError(`the relay broke off the upload answer (${err.message})`, EXIT.unreachable)));
      res.on('end', () => {
        const fake = new Response(Buffer.concat(chunks), { status: res.statusCode ?? 500 });
        readAnswer<any>(fake, client.base, 'POST', '/api/v1/webchat/upload')
          .then((body) => {
            // The upload answers per file; accept {files:[…]}, {file:…} or the fields at top level.
            const f = Array.isArray(body.files) ? body.files[0] : body.file ?? body;
            if (!f || typeof f.file_id !== 'string') throw new CliError(`the relay's upload answer for ${path} has no file_id`);
            resolve(f as Uploaded);
          })
          .catch((err: unknown) => {
            if (err instanceof CliError && err.code === 'route_not_found') {
              reject(new CliError(`this relay does not accept uploads (no POST /api/v1/webchat/upload at ${client.base})`, EXIT.refused, err.code, err.status));
            } else if (err instanceof CliError && err.status !== undefined) {
              reject(new CliError(`upload of ${path} refused: ${err.message}`, EXIT.refused, err.code, err.status));
            } else reject(err);
          });
      });
    });
    req.write(head);
    progress.add(head.length);
    const file = createReadStream(path);
    file.on('error', (err) => req.destroy(err));
    file.on('data', (chunk) => progress.add(chunk.length));
    file.on('end', () => {
      req.end(tail);
      progress.add(tail.length);
    });
    file.pipe(req, { end: false });
  });
}

export async function uploadFiles(client: RelayClient, paths: string[]): Promise<Uploaded[]> {
  const sizes = paths.map((p) => {
    try {
      const st = statSync(p);
      if (!st.isFile()) throw new CliError(`--file ${p}: not a regular file`, EXIT.usage);
      return st.size;
    } catch (err) {
      if (err instanceof CliError) throw err;
      throw new CliError(`--file ${p}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`, EXIT.usage);
    }
  });
  const total = sizes.reduce((a, b) => a + b, 0);
  const progress = new Progress(total, !!process.stderr.isTTY && total >= PROGRESS_MIN_BYTES);
  try {
    return await Promise.all(paths.map((p, i) => uploadOne(client, p, sizes[i], progress)));
  } finally {
    progress.done();
  }
}

export interface SendResult {
  message_id: string;
  seq: number;
  created_at: string;
  to: string;
  attachments: { file_id: string; kind: string; name?: string; url: string }[];
}

export async function send(s: Session, o: Options): Promise<SendResult> {
  const { client, persona } = s;
  const uploaded = o.files.length ? await uploadFiles(client, o.files) : [];
  const attachments = uploaded.map((u, i) => ({
    file_id: u.file_id,
    kind: attachmentKind(o.attachmentKind, u.kind, u.mime ?? mimeOf(o.files[i])),
    ...(o.caption ? { caption: o.caption } : {}),
  }));
  const text = o.message ?? o.caption ?? '';
  const r = await client.call<{ message_id: string; seq: number; created_at: string; to: string }>('POST', '/api/v1/messages', {
    channel: 'pchat',
    to: o.to,
    text,
    source: persona.chat_address,
    ...(o.replyTo ? { reply_to: o.replyTo } : {}),
    ...(attachments.length ? { attachments } : {}),
    idempotency_key: `cli-${randomUUID()}`,
  });
  return {
    message_id: r.message_id,
    seq: r.seq,
    created_at: r.created_at,
    to: r.to ?? o.to!,
    attachments: attachments.map((a, i) => ({
      file_id: a.file_id,
      kind: a.kind,
      name: uploaded[i].name ?? basename(o.files[i]),
      url: uploaded[i].url && /^https?:/.test(uploaded[i].url!) ? uploaded[i].url! : client.base + (uploaded[i].url ?? `/api/v1/webchat/files/${a.file_id}`),
    })),
  };
}
