// Speech-to-text engines behind one small interface. The default is Debian's pocketsphinx with
// its en-us model, kept loaded in one persistent `pocketsphinx_batch` process that reads its
// control file from stdin: each request is a 16 kHz mono PCM file (decoded by ffmpeg from
// whatever the client recorded) named on one line, each answer one hypothesis line. Operators
// with a better engine set PCHAT_TRANSCRIBE_ENGINE=openai and PCHAT_TRANSCRIBE_URL
// (OpenAI-compatible /v1/audio/transcriptions, e.g. a local whisper server).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Refusal } from '../../actors/decision.ts';
import type { Config } from '../config.ts';
import type { Audio } from './audio.ts';
import { EngineError, engineJson, httpEngine, unavailable, which, Worker } from './proc.ts';
import { openaiUrl } from './translate.ts';

export interface Transcript {
  text: string;
  language: string;
  engine: string;
}

export interface Transcriber {
  readonly engine: string;
  readonly unavailableHint: string | null;
  /** Languages it can hear. */
  readonly languages: string[];
  transcribe(file: string, language?: string): Promise<Transcript>;
  close(): void;
}

const INSTALL_HINT = 'install Debian packages ffmpeg pocketsphinx pocketsphinx-en-us, or set PCHAT_TRANSCRIBE_ENGINE=openai with PCHAT_TRANSCRIBE_URL';

function wrongLanguage(language: string | undefined, languages: string[]) {
  if (language && !languages.includes(language)) {
    throw new Refusal('unsupported_language', `this relay's speech engine hears ${languages.join(', ')}, not ${language}`);
  }
}

export class PocketsphinxTranscriber implements Transcriber {
  readonly engine = 'pocketsphinx';
  readonly languages = ['en'];
  readonly unavailableHint: string | null;
  private readonly bin: string | null;
  private readonly model: string | null;
  private worker: Worker | null = null;
  private workDir: string | null = null;
  private n = 0;

  constructor(
    private readonly config: Config,
    private readonly audio: Audio,
  ) {
    this.bin = which('pocketsphinx_batch', config.enginePath);
    const model = this.bin ? join(dirname(dirname(this.bin)), 'share', 'pocketsphinx', 'model', 'en-us') : null;
    this.model = model && existsSync(join(model, 'en-us', 'mdef')) ? model : null;
    this.unavailableHint = !audio.available
      ? `ffmpeg is not installed (${INSTALL_HINT})`
      : !this.bin
        ? `pocketsphinx is not installed (${INSTALL_HINT})`
        : !this.model
          ? `the pocketsphinx en-us model is not installed (${INSTALL_HINT})`
          : null;
  }

  private start(): Worker {
    this.workDir ??= mkdtempSync(join(tmpdir(), 'pchat-asr-'));
    const m = this.model!;
    const args = [
      '-hmm', join(m, 'en-us'), '-lm', join(m, 'en-us.lm.bin'), '-dict', join(m, 'cmudict-en-us.dict'),
      '-adcin', 'yes', '-cepdir', this.workDir, '-cepext', '.raw',
      '-ctl', '/dev/stdin', '-hyp', '/dev/stdout', '-logfn', '/dev/null',
    ];
    return new Worker(
      'pocketsphinx',
      // pocketsphinx opens its control and hypothesis files by name; node's stdio are sockets,
      // which /dev/stdin cannot reopen, so two `cat`s give it real pipes.
      () =>
        spawn('sh', ['-c', `cat | "$0" "$@" | cat`, this.bin!, ...args], {
          stdio: ['pipe', 'pipe', 'pipe'],
          env: { PATH: this.config.enginePath },
          detached: true,
        }),
      (buf) => {
        const lines = buf.split('\n');
        return [lines.slice(0, -1).filter((l) => l.trim()), lines[lines.length - 1]];
      },
      this.config.engineTimeoutMs,
    );
  }

  async transcribe(file: string, language?: string): Promise<Transcript> {
    if (this.unavailableHint) throw unavailable('transcription', this.unavailableHint);
    wrongLanguage(language, this.languages);
    const pcm = await this.audio.pcm(file, 16_000, this.config.transcribeMaxSeconds + 1);
    // Under 0.1 s there is nothing to hear (and the decoder would have no frames).
    if (pcm.length < 3_200) return { text: '', language: 'en', engine: this.engine };
    this.worker ??= this.start();
    const id = `utt${process.pid}_${++this.n}`;
    const raw = join(this.workDir!, `${id}.raw`);
    mkdirSync(this.workDir!, { recursive: true });
    writeFileSync(raw, pcm);
    try {
      const line = await this.worker.request(`${id}\n`);
      const m = /^(.*?)\s*\((\S+)\s+-?\d+\)\s*$/.exec(line);
      if (!m || m[2] !== basename(id)) throw new EngineError(`pocketsphinx answered out of turn: ${line.slice(0, 100)}`);
      return { text: m[1].trim(), language: 'en', engine: this.engine };
    } finally {
      rmSync(raw, { force: true });
    }
  }

  get starts() {
    return this.worker?.starts ?? 0;
  }

  close() {
    this.worker?.stop();
    this.worker = null;
    if (this.workDir) rmSync(this.workDir, { recursive: true, force: true });
  }
}

/** An OpenAI-compatible /v1/audio/transcriptions endpoint (whisper servers speak it too). */
export class OpenAITranscriber implements Transcriber {
  readonly engine = 'openai';
  readonly unavailableHint: string | null = null;
  readonly languages = ['en', 'es', 'ca', 'fr', 'pt', 'de', 'it', 'nl', 'zh', 'ja', 'ko', 'ar', 'he', 'ru', 'uk', 'pl', 'tr', 'hi'];

  constructor(private readonly config: Config) {}

  async transcribe(file: string, language?: string): Promise<Transcript> {
    wrongLanguage(language, this.languages);
    const { url, apiKey, model } = this.config.transcribe;
    const form = new FormData();
    form.set('file', new Blob([readFileSync(file)]), basename(file));
    form.set('model', model ?? 'whisper-1');
    form.set('response_format', 'verbose_json');
    if (language) form.set('language', language);
    const endpoint = openaiUrl(url!, '/audio/transcriptions');
    const res = await httpEngine(endpoint, { body: form, apiKey, timeoutMs: this.config.engineTimeoutMs });
    const body = (await engineJson(endpoint, res)) as { text?: string; language?: string };
    if (typeof body.text !== 'string') throw new EngineError('the transcription engine answered without text');
    const heard = body.language && body.language.length <= 3 ? body.language : language ?? 'und';
    return { text: body.text.trim(), language: heard, engine: this.engine };
  }

  close() {}
}

export class OffTranscriber implements Transcriber {
  readonly engine = 'off';
  readonly unavailableHint = 'PCHAT_TRANSCRIBE_ENGINE=off';
  readonly languages: string[] = [];
  async transcribe(): Promise<Transcript> {
    throw unavailable('transcription', this.unavailableHint);
  }
  close() {}
}

export function createTranscriber(config: Config, audio: Audio): Transcriber {
  switch (config.transcribe.engine) {
    case 'pocketsphinx':
      return new PocketsphinxTranscriber(config, audio);
    case 'openai':
      return new OpenAITranscriber(config);
    case 'off':
      return new OffTranscriber();
  }
}

