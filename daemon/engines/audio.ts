// ffmpeg / ffprobe: what a media file holds, decoding any common clip to 16 kHz mono PCM, the
// waveform summary voice clips carry, and encoding speech to ogg/opus. Each run takes one of
// the relay's engine slots (EngineJobs, PCHAT_MEDIA_JOBS_MAX).
import { Refusal } from '../../actors/decision.ts';
import { EngineError, EngineJobs, run, which } from './proc.ts';

/** The rate pocketsphinx's en-us model was trained on (and plenty for a waveform). */
export const PCM_RATE = 16_000;
/** Bars in a voice clip's waveform: what the GUI's player draws, small enough to ship per message. */
export const WAVEFORM_PEAKS = 64;

export interface Probe {
  duration: number | null;
  hasVideo: boolean;
  hasAudio: boolean;
}

export class Audio {
  readonly ffmpeg: string | null;
  readonly ffprobe: string | null;

  constructor(
    enginePath: string,
    private readonly timeoutMs: number,
    /** Every engine program started per request runs through it (speech synthesis too). */
    readonly jobs: EngineJobs,
  ) {
    this.ffmpeg = which('ffmpeg', enginePath);
    this.ffprobe = which('ffprobe', enginePath);
  }

  get available() {
    return !!this.ffmpeg && !!this.ffprobe;
  }

  async probe(file: string): Promise<Probe | null> {
    if (!this.ffprobe) return null;
    try {
      const out = await this.jobs.run(() => run(this.ffprobe!, ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', file], { timeoutMs: this.timeoutMs }));
      const info = JSON.parse(out.toString()) as { format?: { duration?: string }; streams?: { codec_type?: string; disposition?: { attached_pic?: number } }[] };
      const streams = info.streams ?? [];
      const d = Number(info.format?.duration);
      return {
        duration: Number.isFinite(d) ? Math.round(d * 1000) / 1000 : null,
        // Cover art in an mp3/m4a is a "video" stream of one picture: not a video.
        hasVideo: streams.some((s) => s.codec_type === 'video' && !s.disposition?.attached_pic),
        hasAudio: streams.some((s) => s.codec_type === 'audio'),
      };
    } catch (err) {
      if (err instanceof Refusal) throw err; // engines_busy: not a verdict on the file
      return null; // not a media file ffprobe understands
    }
  }

  /** Decodes the first audio stream to signed 16-bit mono PCM at `rate`, at most `maxSeconds` of it. */
  async pcm(file: string, rate = PCM_RATE, maxSeconds?: number): Promise<Buffer> {
    if (!this.ffmpeg) throw new EngineError('ffmpeg is not installed');
    const limit = maxSeconds ? ['-t', String(maxSeconds)] : [];
    const ffmpeg = this.ffmpeg;
    return this.jobs.run(() =>
      run(ffmpeg, ['-nostdin', '-v', 'error', '-i', file, ...limit, '-vn', '-ac', '1', '-ar', String(rate), '-f', 's16le', '-acodec', 'pcm_s16le', '-'], {
        timeoutMs: this.timeoutMs,
      }),
    );
  }

  /** Encodes WAV (or any input ffmpeg reads) from a buffer to ogg/opus. */
  async toOggOpus(input: Buffer): Promise<Buffer> {
    if (!this.ffmpeg) throw new EngineError('ffmpeg is not installed');
    const ffmpeg = this.ffmpeg;
    return this.jobs.run(() =>
      run(ffmpeg, ['-nostdin', '-v', 'error', '-i', 'pipe:0', '-ac', '1', '-c:a', 'libopus', '-b:a', '32k', '-f', 'ogg', 'pipe:1'], {
        input,
        timeoutMs: this.timeoutMs,
      }),
    );
  }
}

/** Peak amplitude per bar (0–100), the shape a waveform player draws. */
export function waveform(pcm: Buffer, bars = WAVEFORM_PEAKS): number[] {
  const samples = Math.floor(pcm.length / 2);
  if (samples === 0) return [];
  const per = Math.max(1, Math.floor(samples / bars));
  const peaks: number[] = [];
  for (let b = 0; b < bars && b * per < samples; b++) {
    let max = 0;
    const end = b === bars - 1 ? samples : Math.min(samples, (b + 1) * per);
    for (let i = b * per; i < end; i++) {
      const v = Math.abs(pcm.readInt16LE(i * 2));
      if (v > max) max = v;
    }
    peaks.push(Math.round((max / 32768) * 100));
  }
  return peaks;
}
