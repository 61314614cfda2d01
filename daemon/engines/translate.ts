// Translation engines behind one small interface. The default is Apertium from Debian, run as
// one persistent pipeline per language pair (every stage in null-flush mode, so a request is
// a NUL-terminated block in and out, and the dictionaries load once). Pairs without a direct
// mode pivot through Spanish, Apertium's hub language, and say so. Operators with a better
// engine point PCHAT_TRANSLATE_URL at a LibreTranslate-compatible server or an
// OpenAI-compatible chat endpoint; nothing calls out unless they do.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Refusal } from '../../actors/decision.ts';
import type { Config } from '../config.ts';
import { languageName, toCode } from './languages.ts';
import { EngineError, engineJson, httpEngine, unavailable, which, Worker } from './proc.ts';

/** Apertium's hub: most Debian pairs have Spanish on one side. */
export const PIVOT_LANGUAGE = 'es';

export interface Translation {
  text: string;
  source: string;
  target: string;
  engine: string;
  /** The language the text went through when no direct pair exists. */
  pivot?: string;
}

export interface LanguagePair {
  source: string;
  target: string;
  /** Set when the pair is served by pivoting through this language. */
  via?: string;
}

export interface Translator {
  readonly engine: string;
  /** Null when usable; otherwise why not and how to fix it. */
  readonly unavailableHint: string | null;
  /** Direct pairs the engine serves. */
  pairs(): LanguagePair[];
  /**
   * For an engine that learns its pairs from a server: reaches it again if it has not yet (it
   * was down at start), so `pairs()` is what it serves; throws EngineError if it still cannot.
   */
  ready?(): Promise<void>;
  /** Translates between two supported languages (source ≠ target); throws unsupported_language_pair. */
  translate(text: string, source: string, target: string): Promise<Translation>;
  /**
   * Share of the text's words each candidate language's dictionary knows (0–1), when the
   * engine can tell; detection prefers it to letter statistics, which fail on short chat lines.
   */
  coverage?(text: string, candidates: string[]): Promise<Map<string, number>>;
  close(): void;
}

const INSTALL_HINT = 'install Debian packages apertium apertium-eng-spa apertium-eng-cat apertium-fr-es apertium-es-pt, or set PCHAT_TRANSLATE_ENGINE=libretranslate|openai with PCHAT_TRANSLATE_URL';

/** Every pair reachable directly or through the pivot. */
export function withPivots(direct: LanguagePair[]): LanguagePair[] {
  const has = new Set(direct.map((p) => `${p.source}>${p.target}`));
  const langs = new Set(direct.flatMap((p) => [p.source, p.target]));
  const out = [...direct];
  for (const s of langs) {
    for (const t of langs) {
      if (s === t || has.has(`${s}>${t}`)) continue;
      if (has.has(`${s}>${PIVOT_LANGUAGE}`) && has.has(`${PIVOT_LANGUAGE}>${t}`)) out.push({ source: s, target: t, via: PIVOT_LANGUAGE });
    }
  }
  return out;
}

export function unsupportedPair(source: string, target: string, pairs: LanguagePair[]): Refusal {
  const list = pairs.map((p) => `${p.source}→${p.target}`).join(', ') || 'none';
  return new Refusal('unsupported_language_pair', `no translation from ${languageName(source)} (${source}) to ${languageName(target)} (${target}) on this relay; available: ${list}`);
}

// ---------- Apertium ----------

/** Characters with a meaning in Apertium's stream format; plain text escapes them. */
const STREAM_SPECIAL = /[\\^$[\]{}/@<>*#]/g;
const escapeStream = (s: string) => s.replace(/\0/g, '').replace(STREAM_SPECIAL, (c) => `\\${c}`);
const unescapeStream = (s: string) => s.replace(/\\(.)/gs, '$1');

interface Mode {
  source: string;
  target: string;
  file: string;
}

/** `eng-spa.mode` / `es-pt.mode` → a pair; variants (`eng-cat_valencia`) and tools (`eco-…`) are skipped. */
export function findModes(modesDir: string): Mode[] {
  if (!existsSync(modesDir)) return [];
  const out: Mode[] = [];
  for (const f of readdirSync(modesDir)) {
    const m = /^([a-z]{2,3})-([a-z]{2,3})\.mode$/.exec(f);
    if (!m) continue;
    const source = toCode(m[1]);
    const target = toCode(m[2]);
    if (source === target || m[1] === 'eco') continue;
    // Two spellings of one pair (eng-spa and en-es): keep the first.
    if (out.some((o) => o.source === source && o.target === target)) continue;
    out.push({ source, target, file: join(modesDir, f) });
  }
  return out.sort((a, b) => a.file.localeCompare(b.file));
}

/** The mode's shell pipeline with every stage in null-flush mode and unknown-word marks off. */
export function nullFlushPipeline(modeText: string): string {
  return modeText
    .trim()
    .replace(/\$1/g, '-n')
    .replace(/\$2/g, '')
    .split('|')
    .map((stage) => {
      const s = stage.trim();
      const sp = s.indexOf(' ');
      return sp < 0 ? `${s} -z` : `${s.slice(0, sp)} -z${s.slice(sp)}`;
    })
    .join(' | ');
}

export class ApertiumTranslator implements Translator {
  readonly engine = 'apertium';
  readonly unavailableHint: string | null;
  private readonly modes: Mode[];
  private readonly workers = new Map<string, Worker>();

  constructor(private readonly config: Config) {
    const bin = which('apertium', config.enginePath);
    const lt = which('lt-proc', config.enginePath);
    this.modes = bin && lt ? findModes(join(dirname(dirname(bin)), 'share', 'apertium', 'modes')) : [];
    this.unavailableHint = !bin || !lt ? `apertium is not installed (${INSTALL_HINT})` : this.modes.length === 0 ? `no Apertium language pair is installed (${INSTALL_HINT})` : null;
  }

  pairs(): LanguagePair[] {
    return this.modes.map(({ source, target }) => ({ source, target }));
  }

  private worker(mode: Mode): Worker {
    const key = `${mode.source}-${mode.target}`;
    let w = this.workers.get(key);
    if (!w) {
      const pipeline = nullFlushPipeline(readFileSync(mode.file, 'utf8'));
      w = new Worker(
        `apertium ${key}`,
        () => spawn('sh', ['-c', pipeline], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: this.config.enginePath, LC_ALL: 'C.UTF-8' }, detached: true }),
        (buf) => {
          const parts = buf.split('\0');
          return [parts.slice(0, -1), parts[parts.length - 1]];
        },
        this.config.engineTimeoutMs,
      );
      this.workers.set(key, w);
    }
    return w;
  }

  private async direct(text: string, source: string, target: string): Promise<string> {
    const mode = this.modes.find((m) => m.source === source && m.target === target);
    if (!mode) throw unsupportedPair(source, target, withPivots(this.pairs()));
    // One block per line keeps line breaks exactly where the writer put them. The trailing
    // blank matters: the analyser holds a last word until it sees where the word ends.
    const lines = text.split('\n');
    const out = await Promise.all(lines.map((line) => (line.trim() ? this.worker(mode).request(`${escapeStream(line)} \0`) : Promise.resolve(line))));
    return out.map((l) => unescapeStream(l).trimEnd()).join('\n').trim();
  }

  async translate(text: string, source: string, target: string): Promise<Translation> {
    const direct = this.modes.some((m) => m.source === source && m.target === target);
    if (direct) return { text: await this.direct(text, source, target), source, target, engine: this.engine };
    const pair = withPivots(this.pairs()).find((p) => p.source === source && p.target === target);
    if (!pair?.via) throw unsupportedPair(source, target, withPivots(this.pairs()));
    const middle = await this.direct(text, source, pair.via);
    return { text: await this.direct(middle, pair.via, target), source, target, engine: this.engine, pivot: pair.via };
  }

  /** Morphological analysers by language (the first stage of a pair whose source it is). */
  private readonly analysers = new Map<string, Worker>();

  private analyser(lang: string): Worker | null {
    let w = this.analysers.get(lang);
    if (w) return w;
    const mode = this.modes.find((m) => m.source === lang);
    const bin = mode && /^\s*lt-proc\s+(?:-\S+\s+)*'([^']+\.automorf\.bin)'/.exec(readFileSync(mode.file, 'utf8'))?.[1];
    if (!bin) return null;
    w = new Worker(
      `lt-proc ${lang}`,
      () => spawn('lt-proc', ['-z', bin], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: this.config.enginePath, LC_ALL: 'C.UTF-8' } }),
      (buf) => {
        const parts = buf.split('\0');
        return [parts.slice(0, -1), parts[parts.length - 1]];
      },
      this.config.engineTimeoutMs,
    );
    this.analysers.set(lang, w);
    return w;
  }

  async coverage(text: string, candidates: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const input = `${escapeStream(text.replace(/\s+/g, ' ').slice(0, 2000))} \0`;
    await Promise.all(
      candidates.map(async (lang) => {
        const w = this.analyser(lang);
        if (!w) return;
        const units = [...(await w.request(input)).matchAll(/\^((?:\\.|[^$\\])*)\$/g)].map((m) => m[1]);
        // Words only (a surface form with a letter); `^word/*word$` is a word the dictionary lacks.
        const words = units.filter((u) => /\p{L}/u.test(u.split('/')[0]));
        if (words.length) out.set(lang, words.filter((u) => !u.includes('/*')).length / words.length);
      }),
    );
    return out;
  }

  /** How many pipeline processes were started (the benchmark shows they persist). */
  get starts() {
    let n = 0;
    for (const w of this.workers.values()) n += w.starts;
    return n;
  }

  close() {
    for (const w of [...this.workers.values(), ...this.analysers.values()]) w.stop();
    this.workers.clear();
    this.analysers.clear();
  }
}

// ---------- HTTP engines ----------

/** A LibreTranslate-compatible server: GET /languages, POST /translate {q, source, target}. */
export class LibreTranslateTranslator implements Translator {
  readonly engine = 'libretranslate';
  readonly unavailableHint: string | null = null;
  private known: LanguagePair[] = [];

  constructor(private readonly config: Config) {}

  /** Reads the server's languages once at start; a server that is down is tried again on use. */
  async init(): Promise<void> {
    try {
      const res = await fetch(`${this.config.translate.url}/languages`, { signal: AbortSignal.timeout(this.config.engineTimeoutMs) });
      const langs = (await res.json()) as { code: string; targets?: string[] }[];
      this.known = langs.flatMap((l) => (l.targets ?? langs.map((x) => x.code)).filter((t) => t !== l.code).map((t) => ({ source: toCode(l.code), target: toCode(t) })));
    } catch {
      this.known = [];
    }
  }

  pairs() {
    return this.known;
  }

  async ready() {
    if (this.known.length === 0) await this.init();
    if (this.known.length === 0) throw new EngineError(`the translation server at ${this.config.translate.url} did not list its languages (GET /languages); is it running?`);
  }

  async translate(text: string, source: string, target: string): Promise<Translation> {
    await this.ready();
    if (!this.known.some((p) => p.source === source && p.target === target)) throw unsupportedPair(source, target, this.known);
    const { url, apiKey } = this.config.translate;
    const res = await httpEngine(`${url}/translate`, {
      body: JSON.stringify({ q: text, source, target, format: 'text', ...(apiKey ? { api_key: apiKey } : {}) }),
      apiKey: null,
      timeoutMs: this.config.engineTimeoutMs,
    });
    const body = (await engineJson(`${url}/translate`, res)) as { translatedText?: string };
    if (typeof body.translatedText !== 'string') throw new EngineError(`${url}/translate answered without translatedText`);
    return { text: body.translatedText, source, target, engine: this.engine };
  }

  close() {}
}

/** `https://host/v1` or `https://host` → `https://host/v1/<path>`. */
export const openaiUrl = (base: string, path: string) => `${base.endsWith('/v1') ? base : `${base}/v1`}${path}`;

/** An OpenAI-compatible chat model asked to translate (any pair among the named languages). */
export class OpenAIChatTranslator implements Translator {
  readonly engine = 'openai';
  readonly unavailableHint: string | null = null;

  constructor(private readonly config: Config) {}

  pairs(): LanguagePair[] {
    const codes = ['en', 'es', 'ca', 'fr', 'pt', 'de', 'it', 'nl', 'zh', 'ja', 'ko', 'ar', 'he', 'ru', 'uk', 'pl', 'tr', 'hi'];
    return codes.flatMap((s) => codes.filter((t) => t !== s).map((t) => ({ source: s, target: t })));
  }

  async translate(text: string, source: string, target: string): Promise<Translation> {
    const { url, apiKey, model } = this.config.translate;
    const endpoint = openaiUrl(url!, '/chat/completions');
    const res = await httpEngine(endpoint, {
      body: JSON.stringify({
        model: model ?? 'gpt-4o-mini',
        temperature: 0,
        messages: [
          { role: 'system', content: `Translate the user's message from ${languageName(source)} to ${languageName(target)}. Answer with the translation only.` },
          { role: 'user', content: text },
        ],
      }),
      apiKey,
      timeoutMs: this.config.engineTimeoutMs,
    });
    const body = (await engineJson(endpoint, res)) as { choices?: { message?: { content?: string } }[] };
    const out = body.choices?.[0]?.message?.content;
    if (typeof out !== 'string') throw new EngineError('the chat engine answered without a message');
    return { text: out.trim(), source, target, engine: this.engine };
  }

  close() {}
}

/** A translator that is switched off: every call says how to switch it on. */
export class OffTranslator implements Translator {
  readonly engine = 'off';
  readonly unavailableHint = 'PCHAT_TRANSLATE_ENGINE=off';
  pairs() {
    return [];
  }
  async translate(): Promise<Translation> {
    throw unavailable('translation', this.unavailableHint);
  }
  close() {}
}

export function createTranslator(config: Config): Translator {
  switch (config.translate.engine) {
    case 'apertium':
      return new ApertiumTranslator(config);
    case 'libretranslate':
      return new LibreTranslateTranslator(config);
    case 'openai':
      return new OpenAIChatTranslator(config);
    case 'off':
      return new OffTranslator();
  }
}
