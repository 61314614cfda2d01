// Helpers for the files / voice / translation suites: multipart uploads and real spoken clips.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestRelay } from '../helpers.ts';

/** A 1×1 PNG: the smallest real image (sniffed as image/png, served inline). */
export const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000' + '1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082', 'hex');

export interface Part {
  name?: string;
  data: Buffer | string;
  field?: string;
}

/** POSTs a multipart body with file parts (and plain fields) the way a browser form does. */
export async function upload(t: TestRelay, token: string | undefined, parts: Part[], path = '/api/v1/webchat/upload', fields: Record<string, string> = {}) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  for (const p of parts) form.append(p.field ?? 'file', new Blob([typeof p.data === 'string' ? p.data : new Uint8Array(p.data)]), p.name ?? 'file.bin');
  const headers: Record<string, string> = token ? { 'x-pchat-session': token } : {};
  const res = await fetch(t.url + path, { method: 'POST', body: form, headers });
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    // keep text
  }
  return { status: res.status, body, headers: res.headers };
}

export async function download(t: TestRelay, url: string, headers: Record<string, string> = {}) {
  const res = await fetch(t.url + url, { headers });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

/** The blobs a relay's data dir holds (by their sha256 names). */
export function blobsIn(dir: string): string[] {
  const root = join(dir, 'uploads', 'blobs');
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((d) => readdirSync(join(root, d)));
}

/**
 * A real spoken clip: flite's "rms" voice says `text` (16 kHz WAV), and ffmpeg encodes it the
 * way browsers and phones record: webm/opus and ogg/opus (and mp3).
 */
export function spokenClip(dir: string, text: string, name = 'clip'): { wav: Buffer; webm: Buffer; ogg: Buffer; mp3: Buffer } {
  const wav = join(dir, `${name}.wav`);
  execFileSync('flite', ['-voice', 'rms', '-t', text, '-o', wav]);
  const enc = (ext: string, codec: string[]) => {
    const out = join(dir, `${name}.${ext}`);
    execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-i', wav, ...codec, out]);
    return readFileSync(out);
  };
  return { wav: readFileSync(wav), webm: enc('webm', ['-c:a', 'libopus']), ogg: enc('ogg', ['-c:a', 'libopus']), mp3: enc('mp3', ['-c:a', 'libmp3lame']) };
}

/** ffprobe's view of audio bytes: codec and duration. */
export function probeAudio(file: string): { codec: string; duration: number; format: string } {
  const out = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', file], { encoding: 'utf8' }));
  return { codec: out.streams[0]?.codec_name, duration: Number(out.format.duration), format: out.format.format_name };
}
