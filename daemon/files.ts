// Uploads, content-addressed blobs, file records, attachments on messages, transcription.
//
// Guarantees, bluntly:
// - A blob is written to PCHAT_UPLOAD_DIR/tmp while it is hashed and counted, fsync'd, then
//   renamed to blobs/<aa>/<sha256> (and the folder fsync'd). A failed or interrupted upload
//   removes its temp file; a blob path only ever holds complete bytes. Identical bytes are
//   stored once; every upload still gets its own file id, name and owner.
// - The client's filename is metadata: cleaned, kept in the journal, shown in
//   Content-Disposition; it never becomes part of a path.
// - An upload is acknowledged only after its `uploaded` event is committed (journal flushed).
// - A file id is a 128-bit random capability: whoever holds it may download the file (browsers
//   load <img>/<audio> without headers) and attach it to a message.
// - An upload no message names (nor a profile picture) within PCHAT_UNSENT_UPLOAD_TTL_HOURS is
//   removed by `sweepUnsent`: its `removed` event is journaled first, so from then on its id
//   answers 410 file_gone (a send naming it included); then its blob is deleted unless another
//   file shares the bytes, and `blob_removed` is journaled. A crash between the two leaves the
//   blob listed in `orphan_blobs`, and a later pass deletes it. A crash after an upload's blob
//   was moved into place and before its record was committed leaves bytes nothing names:
//   `sweepStrays` deletes them soon after the next start. A file a message names is never
//   removed this way: the decision and the send are each one synchronous run, so whichever
//   stages first is seen by the other.
// - A file goes with the last message naming it (`removeUnnamed`): when a message is deleted,
//   each file it named that no other live message names and that was never a profile picture
//   is journaled `removed` (reason `deleted`) in the same synchronous run and the same commit
//   as the delete, so the delete's answer means the id answers 410 file_gone; then its blob is
//   deleted as the sweeper's are (`deleteBlobs`; a crash in between leaves it to the sweeper's
//   next pass). Which messages name a file is counted from their events (`file_refs`), so a
//   rebuild agrees; a send naming the file and the delete are each one run, as above.
//   Deleting a conversation only hides it from one side: its messages, and their files, live.
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Refusal } from '../actors/decision.ts';
import type { Attachment } from '../actors/inbox.ts';
import { MEDIA_VERSION, mediaStreamMachine, type FileEvent, type FileKind, type TranscriptBody } from '../actors/media.ts';
import type { Auth } from './accounts.ts';
import { randomHex, type Core } from './core.ts';
import { syncPath, syncPathSync } from './durable.ts';
import type { Audio } from './engines/audio.ts';
import { waveform } from './engines/audio.ts';
import type { Transcriber } from './engines/transcribe.ts';
import { unavailable } from './engines/proc.ts';
import { FILE_URL_RE, usageDay, type FileGoneReason, type FileRecord } from './media-projections.ts';
import type { ActorKind } from './registry.ts';

export const FileStream: ActorKind = { prefix: 'file', machine: mediaStreamMachine, version: MEDIA_VERSION };

export const FILE_ID_RE = /^file_[0-9a-f]{32}$/;
export const FILE_KINDS = ['image', 'video', 'audio', 'voice', 'file'] as const;
/** Audio up to this long is a voice clip unless the client says otherwise (the seed's default). */
export const VOICE_CLIP_MAX_SECONDS = 15 * 60;
/** Waveforms are computed from 8 kHz PCM: plenty for 64 bars, cheap for a long clip. */
const WAVEFORM_RATE = 8_000;
/** Most attachments one message may carry. */
export const MAX_ATTACHMENTS = 20;
/** Files removed, and blobs deleted, per sweeper pass: a pass is a short stall, never a long one. */
const SWEEP_BATCH = 200;
/** A blob's file name: its bytes' sha256. */
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** A removed file's id, named again (a send, a download, a profile picture). */
export const fileGone = (id: string, reason: FileGoneReason | undefined) =>
  new Refusal(
    'file_gone',
    reason === 'deleted'
      ? `"${id}" was removed when the last message carrying it was deleted; upload the file again`
      : `"${id}" was uploaded but no message sent it within PCHAT_UNSENT_UPLOAD_TTL_HOURS, so it was removed; upload the file again`,
  );

/** A file `removeUnnamed` staged as removed: its blob is `deleteBlobs`' to delete once that is committed. */
export interface RemovedFile {
  file_id: string;
  sha256: string;
}

export const fileUrl = (id: string) => `/api/v1/webchat/files/${id}`;

/** Attachment references in text: the metadata line upload returns, or a bare file URL (FILE_URL_RE). */
const META_RE = /\[attachment:(image|video|audio|voice|file)\]/;

/** Served inline: media a browser renders without running anything. Everything else downloads. */
export function isInlineSafe(mime: string): boolean {
  if (mime === 'image/svg+xml') return false;
  return /^(image|audio|video)\//.test(mime) || mime === 'application/pdf';
}

/** The client's filename reduced to a safe display name: no folders, no control characters. */
export function cleanName(raw: string | undefined): string {
  const base = (raw ?? '').split(/[\\/]/).pop() ?? '';
  // Bidirectional controls go too: "photo\u202egpj.exe" would show as "photoexe.jpg".
  const clean = base.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069"]/g, '').replace(/^\.+/, '').trim().slice(0, 200);
  return clean || 'file';
}

const human = (n: number) => (n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1024 ** 2).toFixed(1)} MB`);

/** Mime type from the bytes: magic numbers (file-type), then a look at text for markup. */
export async function sniff(path: string): Promise<string> {
  const { fileTypeFromFile } = await import('file-type'); // loaded on first upload, not at start-up
  const ft = await fileTypeFromFile(path);
  if (ft) return ft.mime === 'application/xml' ? await sniffText(path) : ft.mime;
  return sniffText(path);
}

async function sniffText(path: string): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(8192);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const bytes = head.subarray(0, bytesRead);
    if (bytes.includes(0)) return 'application/octet-stream';
    const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes).replace(/^\ufeff/, '').trimStart().toLowerCase();
    if (/<svg[\s>]/.test(text)) return 'image/svg+xml';
    if (/^(<!doctype html|<html|<head|<body|<iframe|<script|<!--)/.test(text) || /<(script|iframe|html|body)[\s>]/.test(text)) return 'text/html';
    if (text.startsWith('<?xml')) return 'application/xml';
    return text.includes('\ufffd') ? 'application/octet-stream' : 'text/plain';
  } finally {
    await fh.close();
  }
}

/** A blob on disk whose file record is not journaled yet. */
export interface Received {
  sha256: string;
  size: number;
  name: string;
  kindHint: string;
  /** True when this upload stored the bytes; false when it found them there already. */
  created: boolean;
  /** Who sent it: its bytes count against their daily budget until registered or discarded. */
  owner: string;
}

export class Files {
  readonly blobDir: string;
  readonly tmpDir: string;
  /** Bytes being received right now, per user: they count against the daily budget. */
  private readonly inflight = new Map<string, number>();
  /** Blobs received by requests in progress (not registered nor discarded yet), by sha256: how many hold each. */
  private readonly held = new Map<string, number>();
  /** Blobs being deleted (`removeBlob`), by sha256. */
  private readonly removing = new Map<string, Promise<void>>();
  /**
   * Folder syncs under way, by what they make durable (a shard folder's entry in blobs/, a
   * blob's entry in its shard): another request that finds the folder or the blob already there
   * waits for that sync before its own answer says the bytes are stored.
   */
  private readonly syncing = new Map<string, Promise<void>>();
  /** Transcriptions running, by blob and language: a second request for the same clip and language waits for the first. */
  private readonly transcribing = new Map<string, Promise<TranscriptBody>>();

  constructor(
    private readonly core: Core,
    readonly audio: Audio,
    readonly transcriber: Transcriber,
  ) {
    this.blobDir = join(core.config.uploadDir, 'blobs');
    this.tmpDir = join(core.config.uploadDir, 'tmp');
    // The folders made here are synced into their parents before any upload is acknowledged.
    const made = mkdirSync(this.blobDir, { recursive: true });
    if (made) for (let dir = this.blobDir; dir !== dirname(made); dir = dirname(dir)) syncPathSync(dirname(dir));
    mkdirSync(this.tmpDir, { recursive: true });
    // Leftovers of uploads cut off by a crash: never acknowledged, so never referenced.
    for (const f of readdirSync(this.tmpDir)) rmSync(join(this.tmpDir, f), { force: true });
  }

  record(id: string): FileRecord | undefined {
    return FILE_ID_RE.test(id) ? this.core.projections.media.file(id) : undefined;
  }

  known(id: string): FileRecord {
    const rec = this.record(id);
    if (!rec) throw new Refusal('unknown_file', `no file "${id}" on this relay`);
    if (rec.gone_at) throw fileGone(id, rec.gone_reason);
    return rec;
  }

  blobPath(sha: string): string {
    return join(this.blobDir, sha.slice(0, 2), sha);
  }

  usedToday(user: string): number {
    return this.core.projections.media.usage(user, usageDay(Date.now())) + (this.inflight.get(user) ?? 0);
  }

  /** Streams one file to a temp file while hashing and counting, then moves it into place. */
  async receive(auth: Auth, source: Readable, filename: string | undefined, kindHint: string): Promise<Received> {
    const { uploadDailyBytes } = this.core.config;
    if (this.usedToday(auth.user) >= uploadDailyBytes) {
      source.resume();
      throw new Refusal('upload_quota_exceeded', `you have uploaded your ${human(uploadDailyBytes)} for today (UTC); try again tomorrow`);
    }
    const tmp = join(this.tmpDir, `${randomHex(16)}.part`);
    const hash = createHash('sha256');
    let size = 0;
    const count = new Transform({
      transform: (chunk: Buffer, _enc, cb) => {
        size += chunk.length;
        this.inflight.set(auth.user, (this.inflight.get(auth.user) ?? 0) + chunk.length);
        if (this.usedToday(auth.user) > uploadDailyBytes) {
          return cb(new Refusal('upload_quota_exceeded', `this upload goes past your ${human(uploadDailyBytes)} for today (UTC)`));
        }
        hash.update(chunk);
        cb(null, chunk);
      },
    });
    try {
      await pipeline(source, count, createWriteStream(tmp, { flags: 'wx' }));
      if ((source as Readable & { truncated?: boolean }).truncated) throw new Refusal('payload_too_large');
      await syncPath(tmp);
      const sha256 = hash.digest('hex');
      const dest = this.blobPath(sha256);
      let created = false;
      // Held until this request registers or discards it: a failed request with the same bytes
      // must not remove the blob from under it (see `discard`).
      this.hold(sha256);
      try {
        await this.removing.get(sha256); // such a removal already decided: let it finish, then look
        if (existsSync(dest)) {
          await rm(tmp, { force: true });
          await this.syncing.get(sha256); // put there by a request whose sync may still run
        } else {
          const shard = join(this.blobDir, sha256.slice(0, 2));
          // A new shard folder is an entry of blobs/: that is synced too, or a power cut could
          // lose the folder with the blob an answer said was stored.
          if (mkdirSync(shard, { recursive: true })) await this.synced(shard, syncPath(this.blobDir));
          else await this.syncing.get(shard);
          // Registered before the rename: a request that sees the blob at once waits for both.
          await this.synced(sha256, rename(tmp, dest).then(() => syncPath(shard)));
          created = true;
        }
      } catch (err) {
        this.release(sha256);
        throw err;
      }
      // Its bytes stay counted as in flight until the request registers or discards it: a
      // request's later files (and the user's other requests) see them against the budget.
      return { sha256, size, name: cleanName(filename), kindHint, created, owner: auth.user };
    } catch (err) {
      await rm(tmp, { force: true });
      this.uncount(auth.user, size);
      throw err;
    }
  }

  /** Bytes no longer in flight for `user` (journaled as usage, or given up). */
  private uncount(user: string, bytes: number) {
    const left = (this.inflight.get(user) ?? 0) - bytes;
    if (left > 0) this.inflight.set(user, left);
    else this.inflight.delete(user);
  }

  private hold(sha: string) {
    this.held.set(sha, (this.held.get(sha) ?? 0) + 1);
  }

  private release(sha: string) {
    const n = (this.held.get(sha) ?? 0) - 1;
    if (n > 0) this.held.set(sha, n);
    else this.held.delete(sha);
  }

  /**
   * A request that failed: lets go of its blobs (all of them first: it may carry the same bytes
   * twice), and removes those no file record names and no other request in progress holds (one
   * uploading the same bytes counts on them), whoever stored them: the last request to let go
   * of unnamed bytes removes them. The decision is made in one synchronous run and the removal
   * is marked, so a request that finds the blob afterwards waits for it to be gone.
   */
  async discard(received: Received[]) {
    for (const r of received) {
      this.release(r.sha256);
      this.uncount(r.owner, r.size);
    }
    for (const r of received) {
      if (!this.claimed(r.sha256)) await this.removeBlob(r.sha256);
    }
  }

  /**
   * Whether a blob's bytes are someone's: held by a request in progress, being deleted already,
   * or named by a file record. Every deletion decides with it, in the run that starts the deletion.
   */
  private claimed(sha: string): boolean {
    return this.held.has(sha) || this.removing.has(sha) || this.core.projections.media.blobFiles(sha) > 0;
  }

  /** Runs `sync`, listed under `key` in `syncing` (same run, before any await) until it ends. */
  private synced(key: string, sync: Promise<void>): Promise<void> {
    this.syncing.set(key, sync);
    return sync.finally(() => {
      if (this.syncing.get(key) === sync) this.syncing.delete(key);
    });
  }

  /** Deletes a blob, marked as being removed meanwhile (an upload of the same bytes waits for it). Decide first, in the same synchronous run. */
  private removeBlob(sha: string): Promise<void> {
    const removal = rm(this.blobPath(sha), { force: true }).finally(() => this.removing.delete(sha));
    this.removing.set(sha, removal);
    return removal;
  }

  /**
   * One pass of the unsent-upload sweeper (see the header): removes up to SWEEP_BATCH files
   * uploaded before `now` - PCHAT_UNSENT_UPLOAD_TTL_HOURS that no message names, then deletes
   * up to SWEEP_BATCH blobs no file names any more. `more`: a batch was full, call again soon.
   */
  async sweepUnsent(now = Date.now()): Promise<{ removed: number; blobs: number; more: boolean }> {
    const ttl = this.core.config.unsentUploadTtlMs;
    const media = this.core.projections.media;
    let removed = 0;
    const due = ttl ? media.unsentBefore(now - ttl, SWEEP_BATCH) : [];
    for (const id of due) {
      // The list is what is committed: a send staged since may name the file (seen here, staged).
      const rec = media.file(id);
      if (!rec || rec.gone_at || !media.unsent(rec)) continue;
      this.core.registry.apply(FileStream, id, [{ type: 'removed', reason: 'unsent', sha256: rec.sha256, at: now }]);
      removed++;
    }
    if (removed) await this.core.commit();
    const orphans = media.orphanBlobs(SWEEP_BATCH);
    let blobs = 0;
    for (const { sha256, file_id } of orphans) if (await this.deleteOrphan(sha256, file_id)) blobs++;
    if (blobs) await this.core.commit();
    return { removed, blobs, more: due.length === SWEEP_BATCH || orphans.length === SWEEP_BATCH };
  }

  /**
   * Deletes a blob listed as an orphan (the last file naming it was removed by `file_id`) and
   * stages its `blob_removed`; false when it stays. As `discard`: decided in one synchronous
   * run, and marked, so an upload of the same bytes either holds them already (kept) or waits
   * for the removal and stores them again.
   */
  private async deleteOrphan(sha: string, file_id: string): Promise<boolean> {
    const media = this.core.projections.media;
    // Still listed as this file's orphan: a list read before an await may be stale (deleted meanwhile).
    if (media.orphanFile(sha) !== file_id) return false;
    if (this.claimed(sha)) return false;
    await this.removeBlob(sha);
    this.core.registry.apply(FileStream, file_id, [{ type: 'blob_removed', sha256: sha, at: Date.now() }]);
    return true;
  }

  /**
   * Files a deleted message named: those no live message names any more, and never a profile
   * picture, are staged as removed (see the header). Call in the synchronous run that staged
   * the delete, before its commit; hand what it returns to `deleteBlobs` after the commit.
   */
  removeUnnamed(fileIds: readonly string[], at: number): RemovedFile[] {
    const media = this.core.projections.media;
    const out: RemovedFile[] = [];
    for (const id of fileIds) {
      const rec = media.file(id);
      if (!rec || rec.gone_at || rec.profile || media.refs(id) > 0) continue;
      this.core.registry.apply(FileStream, id, [{ type: 'removed', reason: 'deleted', sha256: rec.sha256, at }]);
      out.push({ file_id: id, sha256: rec.sha256 });
    }
    return out;
  }

  /**
   * After the removals are committed: deletes the blobs they left no file naming (bytes
   * another file shares stay), and journals it. A failure is logged and left to the sweeper's
   * next pass (the blob stays listed in `orphan_blobs`).
   */
  async deleteBlobs(removed: readonly RemovedFile[]): Promise<void> {
    const media = this.core.projections.media;
    try {
      let blobs = 0;
      for (const { sha256 } of removed) {
        const file_id = media.orphanFile(sha256);
        if (file_id && (await this.deleteOrphan(sha256, file_id))) blobs++;
      }
      if (blobs) await this.core.commit();
    } catch (err) {
      this.core.log.error({ err: (err as Error).message }, 'deleting the blobs of removed files failed; the sweeper tries again');
    }
  }

  /**
   * Deletes stray blobs: bytes in blobs/ that no file record names and that are not listed as
   * orphans (those are the sweeper's, which journals their removal). A crash after an upload's
   * blob was moved into place and before its record was committed leaves one: never
   * acknowledged, so nothing refers to it. Run once after start; each decision is made in one
   * synchronous run against uploads in progress, as `discard`'s. Returns how many it deleted.
   */
  async sweepStrays(): Promise<number> {
    const media = this.core.projections.media;
    let deleted = 0;
    for (const shard of await readdir(this.blobDir)) {
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      for (const sha of await readdir(join(this.blobDir, shard))) {
        if (!SHA256_HEX.test(sha) || sha.slice(0, 2) !== shard) continue;
        if (this.claimed(sha) || media.orphanFile(sha) !== undefined) continue;
        await this.removeBlob(sha);
        deleted++;
      }
    }
    return deleted;
  }

  /** Sniffs, probes and classifies received blobs, journals their records; durable on return. */
  async register(auth: Auth, received: Received[]): Promise<FileRecord[]> {
    const records = await this.registerHeld(auth, received);
    for (const r of received) {
      this.release(r.sha256); // named by a record now
      this.uncount(r.owner, r.size); // counted in the journaled usage now
    }
    return records;
  }

  private async registerHeld(auth: Auth, received: Received[]): Promise<FileRecord[]> {
    const bodies = [];
    for (const r of received) bodies.push(await this.describe(auth, r));
    const ids: string[] = [];
    for (const body of bodies) {
      const file_id = `file_${randomHex(16)}`;
      const ev: FileEvent = { type: 'uploaded', file_id, ...body, at: Date.now() };
      this.core.registry.apply(FileStream, file_id, [ev]);
      ids.push(file_id);
    }
    await this.core.commit();
    return ids.map((id) => this.known(id));
  }

  private async describe(auth: Auth, r: Received) {
    const path = this.blobPath(r.sha256);
    let mime = await sniff(path);
    const media = /^(audio|video)\//.test(mime) || mime === 'application/ogg';
    const probe = media ? await this.audio.probe(path) : null;
    if (probe && !probe.hasVideo && probe.hasAudio && !mime.startsWith('audio/')) mime = mime.replace(/^(video|application)\//, 'audio/');
    let kind: FileKind;
    const hint = r.kindHint;
    const audioOnly = mime.startsWith('audio/');
    if (hint === 'file') kind = 'file';
    else if (mime.startsWith('image/') && isInlineSafe(mime)) kind = 'image';
    else if (mime.startsWith('video/')) kind = 'video';
    else if (audioOnly) kind = hint === 'audio' || hint === 'voice' ? (hint as FileKind) : (probe?.duration ?? 0) <= VOICE_CLIP_MAX_SECONDS ? 'voice' : 'audio';
    else kind = 'file';
    if ((hint === 'voice' || hint === 'audio') && !audioOnly) {
      throw new Refusal('validation_failed', `kind "${hint}" needs an audio file; "${r.name}" is ${mime}`);
    }
    let duration = probe?.duration ?? null;
    let peaks: number[] | null = null;
    if (kind === 'voice' && this.audio.available) {
      // Recorders (MediaRecorder's webm) often write no duration: the samples tell it.
      // A clip ffmpeg cannot decode goes without; engines busy (engines_busy) refuse the upload:
      // the record is written once, and a retry gets the waveform.
      const pcm = await this.audio.pcm(path, WAVEFORM_RATE, VOICE_CLIP_MAX_SECONDS).catch((err) => {
        if (err instanceof Refusal) throw err;
        return null;
      });
      if (pcm) {
        peaks = waveform(pcm);
        duration ??= Math.round((pcm.length / 2 / WAVEFORM_RATE) * 1000) / 1000;
      }
    }
    return { sha256: r.sha256, size: r.size, mime, name: r.name, kind, owner: auth.user, duration, peaks };
  }

  /** The metadata line a client pastes into a message to attach the file (the seed's way). */
  attachmentText(rec: FileRecord): string {
    const extra = rec.duration !== null && (rec.kind === 'voice' || rec.kind === 'audio' || rec.kind === 'video') ? `, ${rec.duration.toFixed(1)} s` : '';
    return `[attachment:${rec.kind}] ${rec.name} (${human(rec.size)}, ${rec.mime}${extra}) ${fileUrl(rec.file_id)}`;
  }

  /** What upload answers per file. */
  uploadView(rec: FileRecord) {
    return {
      file_id: rec.file_id,
      url: fileUrl(rec.file_id),
      size: rec.size,
      mime: rec.mime,
      name: rec.name,
      kind: rec.kind,
      sha256: rec.sha256,
      duration: rec.duration,
      peaks: rec.peaks,
      attachment: this.attachmentText(rec),
    };
  }

  /** Attachments referenced in a message's text (metadata lines or bare file URLs). */
  parseAttachments(text: string | undefined): Attachment[] {
    const out: Attachment[] = [];
    // Most texts carry no file link: no split and no regex for them (this runs on every send).
    if (!text?.includes('/files/file_')) return out;
    for (const line of text.split('\n')) {
      const kind = META_RE.exec(line)?.[1];
      for (const m of line.matchAll(FILE_URL_RE)) {
        const rec = this.record(m[1]);
        if (rec) out.push({ file_id: rec.file_id, kind: kind ?? rec.kind });
      }
    }
    return out;
  }

  /** The message's attachments: structured ones checked, the text's parsed; one per file. */
  resolveAttachments(body: { text?: string; attachments?: Attachment[] }): Attachment[] | undefined {
    const all = [...(body.attachments ?? []), ...this.parseAttachments(body.text)];
    const seen = new Set<string>();
    const out: Attachment[] = [];
    for (const a of all) {
      if (seen.has(a.file_id)) continue;
      seen.add(a.file_id);
      this.known(a.file_id);
      out.push(a.caption === undefined ? { file_id: a.file_id, kind: a.kind } : { file_id: a.file_id, kind: a.kind, caption: a.caption });
    }
    if (out.length > MAX_ATTACHMENTS) throw new Refusal('validation_failed', `a message carries at most ${MAX_ATTACHMENTS} attachments`);
    return out.length ? out : undefined;
  }

  /** An attachment as recipients see it: what it is, how big, where to get it. */
  attachmentView(a: Attachment) {
    const rec = this.record(a.file_id);
    if (!rec) return { ...a, url: fileUrl(a.file_id) };
    const timed = a.kind === 'voice' || a.kind === 'audio' || a.kind === 'video';
    return {
      file_id: a.file_id,
      kind: a.kind,
      ...(a.caption !== undefined ? { caption: a.caption } : {}),
      name: rec.name,
      size: rec.size,
      mime: rec.mime,
      url: fileUrl(a.file_id),
      ...(timed ? { duration: rec.duration } : {}),
      ...(a.kind === 'voice' ? { peaks: rec.peaks ?? [] } : {}),
    };
  }

  /** Refuses a language the speech engine does not hear: also before a clip is stored to be heard in it. */
  assertHears(language: string | undefined) {
    if (language && !this.transcriber.unavailableHint && !this.transcriber.languages.includes(language)) {
      throw new Refusal('unsupported_language', `this relay's speech engine hears ${this.transcriber.languages.join(', ')}, not ${language}`);
    }
  }

  /** Transcript of a file: cached per blob (journaled), computed once even when asked twice at once (in one language). */
  async transcribe(rec: FileRecord, language?: string): Promise<TranscriptBody & { cached: boolean }> {
    const cached = this.core.projections.media.transcript(rec.sha256);
    if (cached && (!language || cached.language === language)) return { ...cached, cached: true };
    if (this.transcriber.unavailableHint) throw unavailable('transcription', this.transcriber.unavailableHint);
    this.assertHears(language);
    if (!rec.mime.startsWith('audio/') && !rec.mime.startsWith('video/')) {
      throw new Refusal('not_audio', `"${rec.name}" is ${rec.mime}, not an audio clip`);
    }
    const path = this.blobPath(rec.sha256);
    let duration = rec.duration;
    if (duration === null) duration = (await this.audio.probe(path))?.duration ?? null;
    if (duration === null) {
      const pcm = await this.audio.pcm(path, WAVEFORM_RATE, this.core.config.transcribeMaxSeconds + 1);
      duration = pcm.length / 2 / WAVEFORM_RATE;
    }
    const max = this.core.config.transcribeMaxSeconds;
    if (duration > max) throw new Refusal('clip_too_long', `the clip is ${duration.toFixed(1)} s long; this relay transcribes clips up to ${max} s`);
    // By blob and language: a request for another language must not get this one's answer.
    const key = `${rec.sha256}\u0000${language ?? ''}`;
    let running = this.transcribing.get(key);
    if (!running) {
      running = (async () => {
        const t = await this.transcriber.transcribe(path, language);
        const body: TranscriptBody = { text: t.text, language: t.language, engine: t.engine, duration };
        this.core.registry.apply(FileStream, rec.file_id, [{ type: 'transcribed', sha256: rec.sha256, ...body, at: Date.now() }]);
        await this.core.commit();
        return body;
      })();
      this.transcribing.set(key, running);
      running.finally(() => this.transcribing.delete(key)).catch(() => {});
    }
    return { ...(await running), cached: false };
  }
}
