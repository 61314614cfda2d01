// Files, voice and translation figures against the real relay process (its own temp dir, on
// 127.0.0.1): upload MB/s for 1 MB and 50 MB files (multipart, durable: hashed, fsync'd,
// renamed, journaled before the answer), transcription real-time factor through the
// persistent pocketsphinx worker (clip seconds of work per second of audio; lower is faster),
// and translation sentences/s through the persistent Apertium pipeline. Run by run.ts as its
// last step, or alone: `tsx scripts/bench/media.ts` (BENCH_QUICK=1 for a smoke run).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { JsonClient, login } from './http-client.ts';
import { startRelayProcess } from './relay-proc.ts';

export interface MediaBenchResult {
  upload: { sizeMiB: number; files: number; mibPerSec: number; p50Ms: number }[];
  transcription: { clips: number; audioSeconds: number; wallSeconds: number; realTimeFactor: number; words: string[] } | null;
  translation: { sentences: number; sentencesPerSec: number; concurrency: number; p50Ms: number } | null;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** Sentences pocketsphinx's en-us model knows the words of; each clip is different (transcripts are cached per blob). */
const SPOKEN = [
  'please call me tomorrow morning about the meeting',
  'the weather is nice today so we will walk to the park',
  'open the door and turn on the lights in the kitchen',
  'i will send you the report before the end of the week',
  'can you bring some coffee and a sandwich for lunch',
  'the train leaves at nine in the morning from the station',
];

async function uploadOnce(base: string, token: string, bytes: Buffer, name: string): Promise<number> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(bytes)]), name);
  const t0 = performance.now();
  const res = await fetch(`${base}/api/v1/webchat/upload`, { method: 'POST', body: form, headers: { 'x-pchat-session': token } });
  const body = (await res.json()) as { size?: number };
  if (res.status !== 200 || body.size !== bytes.length) throw new Error(`upload answered ${res.status}: ${JSON.stringify(body).slice(0, 200)}`);
  return performance.now() - t0;
}

export async function runMediaBench(quick: boolean, log: (s: string) => void = () => {}): Promise<MediaBenchResult> {
  const tmp = mkdtempSync(join(tmpdir(), 'pchat-bench-media-'));
  const relay = await startRelayProcess(join(tmp, 'relay'));
  const client = new JsonClient(relay.base, 8);
  try {
    await relay.assertOwnsPort();
    const me = await login(client, 'bench-media@bench.invalid', 'bench-media');
    const result: MediaBenchResult = { upload: [], transcription: null, translation: null };

    for (const [mib, n] of [[1, quick ? 5 : 20], [50, quick ? 1 : 3]] as const) {
      log(`media: ${n} uploads of ${mib} MiB`);
      const times: number[] = [];
      for (let i = 0; i < n; i++) times.push(await uploadOnce(relay.base, me.token, randomBytes(mib * 2 ** 20), `bench-${mib}-${i}.bin`));
      const total = times.reduce((a, b) => a + b, 0) / 1000;
      result.upload.push({ sizeMiB: mib, files: n, mibPerSec: (mib * n) / total, p50Ms: median(times) });
    }

    const caps = (await client.call('GET', '/health')).body.capabilities;
    if (caps.transcribe.on) {
      const clips = SPOKEN.slice(0, quick ? 2 : SPOKEN.length);
      log(`media: transcribing ${clips.length} spoken clips`);
      let audio = 0;
      let wall = 0;
      const words: string[] = [];
      for (const [i, text] of clips.entries()) {
        const wav = join(tmp, `clip${i}.wav`);
        const ogg = join(tmp, `clip${i}.ogg`);
        execFileSync('flite', ['-voice', 'rms', '-t', text, '-o', wav]);
        execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-i', wav, '-c:a', 'libopus', ogg]);
        const form = new FormData();
        form.append('file', new Blob([new Uint8Array(readFileSync(ogg))]), `clip${i}.ogg`);
        const up = (await (await fetch(`${relay.base}/api/v1/webchat/upload`, { method: 'POST', body: form, headers: { 'x-pchat-session': me.token } })).json()) as { file_id: string; duration: number };
        const t0 = performance.now();
        const r = await client.call('POST', '/api/v1/webchat/transcribe', { file_id: up.file_id }, me.token, undefined, 120_000);
        wall += (performance.now() - t0) / 1000;
        audio += up.duration;
        words.push(r.body.text);
      }
      result.transcription = { clips: clips.length, audioSeconds: audio, wallSeconds: wall, realTimeFactor: wall / audio, words };
    }

    if (caps.translate.on) {
      const n = quick ? 60 : 400;
      const concurrency = 4;
      log(`media: translating ${n} sentences en→es, ${concurrency} at a time`);
      // Warm the pipeline (its first request loads the dictionaries).
      await client.call('POST', '/api/v1/webchat/translate-text', { text: 'Hello.', source: 'en', target: 'es' }, me.token);
      const times: number[] = [];
      let next = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < n) {
            const i = next++;
            const s = performance.now();
            const r = await client.call('POST', '/api/v1/webchat/translate-text', { text: `The house number ${i} is near the big station.`, source: 'en', target: 'es' }, me.token);
            if (r.status !== 200) throw new Error(`translate-text answered ${r.status}`);
            times.push(performance.now() - s);
          }
        }),
      );
      result.translation = { sentences: n, sentencesPerSec: n / ((performance.now() - t0) / 1000), concurrency, p50Ms: median(times) };
    }
    return result;
  } finally {
    client.close();
    await relay.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

export function renderMedia(r: MediaBenchResult): string {
  const f = (n: number, d = 1) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  const lines = ['files, voice, translation (relay process, 127.0.0.1):'];
  for (const u of r.upload) lines.push(`  upload ${u.sizeMiB} MiB files: ${f(u.mibPerSec)} MiB/s over ${u.files} (p50 ${f(u.p50Ms, 0)} ms each; hashed, fsync'd, journaled before the answer)`);
  if (r.transcription) {
    const t = r.transcription;
    lines.push(`  transcription (pocketsphinx, persistent): real-time factor ${f(t.realTimeFactor, 2)} (${f(t.wallSeconds, 2)} s for ${f(t.audioSeconds)} s of audio, ${t.clips} clips incl. ffmpeg decode)`);
  } else lines.push('  transcription: off (engine not installed)');
  if (r.translation) {
    const t = r.translation;
    lines.push(`  translation (Apertium en→es, persistent pipeline): ${f(t.sentencesPerSec)} sentences/s at ${t.concurrency} concurrent (p50 ${f(t.p50Ms)} ms)`);
  } else lines.push('  translation: off (engine not installed)');
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = ['1', 'true', 'yes'].includes((process.env.BENCH_QUICK ?? '').toLowerCase());
  const r = await runMediaBench(quick, (s) => process.stderr.write(`[bench] ${s}\n`));
  process.stdout.write(renderMedia(r) + '\n' + JSON.stringify(r) + '\n');
}
