// Text-to-speech behind one small interface, always answering ogg/opus. The default is
// espeak-ng (Debian, ~100 languages), with flite's more natural voice for English where flite
// is installed; ffmpeg encodes their WAV to opus. PCHAT_SPEAK_ENGINE=openai with
// PCHAT_SPEAK_URL uses an OpenAI-compatible /v1/audio/speech endpoint instead.
import { execFile, execFileSync } from 'node:child_process';
import { Refusal } from '../../actors/decision.ts';
import type { Config } from '../config.ts';
import type { Audio } from './audio.ts';
import { languageName } from './languages.ts';
import { EngineError, engineBytes, httpEngine, run, unavailable, which } from './proc.ts';
import { openaiUrl } from './translate.ts';

export interface Speech {
  audio: Buffer;
  mime: 'audio/ogg';
  language: string;
  engine: string;
}

export interface Speaker {
  readonly engine: string;
  readonly unavailableHint: string | null;
  readonly languages: string[];
  speak(text: string, language: string): Promise<Speech>;
  close(): void;
}

const INSTALL_HINT = 'install Debian packages espeak-ng ffmpeg (and flite for a better English voice), or set PCHAT_SPEAK_ENGINE=openai with PCHAT_SPEAK_URL';
/** flite's most natural built-in voice (PCHAT_SPEAK_VOICE picks another: rms, awb, kal16). */
const FLITE_VOICE = 'slt';
/** espeak-ng's voice names for the codes where they differ from ISO 639-1. */
const ESPEAK_VOICE: Record<string, string> = { zh: 'cmn', nb: 'nb', pt: 'pt', en: 'en-us' };

function noVoice(language: string, languages: string[]) {
  return new Refusal('unsupported_language', `no voice for ${languageName(language)} (${language}) on this relay; voices: ${languages.join(', ')}`);
}

/** Language codes of `espeak-ng --voices` output. */
function voiceLanguages(list: string): string[] {
  const codes = list.split('\n').slice(1).map((l) => l.trim().split(/\s+/)[1]).filter(Boolean);
  return [...new Set(codes.map((c) => (c === 'cmn' ? 'zh' : c.split('-')[0])))].sort();
}

export class EspeakSpeaker implements Speaker {
  readonly engine: string;
  private readonly espeak: string | null;
  private readonly flite: string | null;
  /** Filled by the voice probe started in the constructor (in the background: it is a process
   * start, and start-up should not wait for it), or on first use if that comes sooner. */
  private voices: string[] | undefined;

  constructor(
    private readonly config: Config,
    private readonly audio: Audio,
  ) {
    this.espeak = which('espeak-ng', config.enginePath);
    this.flite = which('flite', config.enginePath);
    this.engine = this.flite ? 'espeak-ng+flite' : 'espeak-ng';
    if (!this.espeak) this.voices = [];
    else {
      execFile(this.espeak, ['--voices'], { encoding: 'utf8', timeout: 10_000 }, (err, list) => {
        this.voices ??= err ? [] : voiceLanguages(list);
      }).unref();
    }
  }

  get languages(): string[] {
    if (!this.voices) {
      try {
        this.voices = voiceLanguages(execFileSync(this.espeak!, ['--voices'], { encoding: 'utf8', timeout: 10_000 }));
      } catch {
        this.voices = [];
      }
    }
    return this.voices;
  }

  get unavailableHint(): string | null {
    if (!this.audio.available) return `ffmpeg is not installed (${INSTALL_HINT})`;
    return !this.espeak || this.languages.length === 0 ? `espeak-ng is not installed (${INSTALL_HINT})` : null;
  }

  async speak(text: string, language: string): Promise<Speech> {
    if (this.unavailableHint) throw unavailable('read-aloud', this.unavailableHint);
    if (!this.languages.includes(language)) throw noVoice(language, this.languages);
    const opts = { timeoutMs: this.config.engineTimeoutMs };
    // Text goes in on stdin (espeak) or as one argument (flite): never through a shell.
    const flite = language === 'en' ? this.flite : null;
    const wav = await this.audio.jobs.run(() =>
      flite
        ? // flite opens its output by name and node's stdout is a socket: `cat` gives it a pipe.
          run('sh', ['-c', '"$0" "$@" | cat', flite, '-voice', this.config.speak.voice ?? FLITE_VOICE, '-t', text, '-o', '/dev/stdout'], opts)
        : run(this.espeak!, ['-v', ESPEAK_VOICE[language] ?? language, '--stdin', '--stdout'], { ...opts, input: text }),
    );
    return { audio: await this.audio.toOggOpus(wav), mime: 'audio/ogg', language, engine: flite ? 'flite' : 'espeak-ng' };
  }

  close() {}
}

/** An OpenAI-compatible /v1/audio/speech endpoint, asked for opus (ogg-framed). */
export class OpenAISpeaker implements Speaker {
  readonly engine = 'openai';
  readonly unavailableHint: string | null = null;
  readonly languages = ['en', 'es', 'ca', 'fr', 'pt', 'de', 'it', 'nl', 'zh', 'ja', 'ko', 'ar', 'he', 'ru', 'uk', 'pl', 'tr', 'hi'];

  constructor(private readonly config: Config) {}

  async speak(text: string, language: string): Promise<Speech> {
    if (!this.languages.includes(language)) throw noVoice(language, this.languages);
    const { url, apiKey, model, voice } = this.config.speak;
    const endpoint = openaiUrl(url!, '/audio/speech');
    const res = await httpEngine(endpoint, {
      body: JSON.stringify({ model: model ?? 'tts-1', input: text, voice: voice ?? 'alloy', response_format: 'opus' }),
      apiKey,
      timeoutMs: this.config.engineTimeoutMs,
    });
    const audio = await engineBytes(endpoint, res);
    if (audio.subarray(0, 4).toString('latin1') !== 'OggS') throw new EngineError('the speech engine did not answer with ogg/opus audio');
    return { audio, mime: 'audio/ogg', language, engine: this.engine };
  }

  close() {}
}

export class OffSpeaker implements Speaker {
  readonly engine = 'off';
  readonly unavailableHint = 'PCHAT_SPEAK_ENGINE=off';
  readonly languages: string[] = [];
  async speak(): Promise<Speech> {
    throw unavailable('read-aloud', this.unavailableHint);
  }
  close() {}
}

export function createSpeaker(config: Config, audio: Audio): Speaker {
  switch (config.speak.engine) {
    case 'espeak':
      return new EspeakSpeaker(config, audio);
    case 'openai':
      return new OpenAISpeaker(config);
    case 'off':
      return new OffSpeaker();
  }
}
