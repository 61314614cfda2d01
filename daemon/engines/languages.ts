// Language codes: ISO 639-1 on the API, the 639-3 names Apertium modes and franc use inside.
import { franc } from 'franc';

/** 639-1 → [639-3, English name]. Languages an engine may offer; unknown codes pass through. */
export const LANGUAGES: Record<string, [string, string]> = {
  af: ['afr', 'Afrikaans'],
  an: ['arg', 'Aragonese'],
  ar: ['arb', 'Arabic'],
  ast: ['ast', 'Asturian'],
  be: ['bel', 'Belarusian'],
  bg: ['bul', 'Bulgarian'],
  br: ['bre', 'Breton'],
  ca: ['cat', 'Catalan'],
  cs: ['ces', 'Czech'],
  da: ['dan', 'Danish'],
  de: ['deu', 'German'],
  el: ['ell', 'Greek'],
  en: ['eng', 'English'],
  eo: ['epo', 'Esperanto'],
  es: ['spa', 'Spanish'],
  eu: ['eus', 'Basque'],
  fi: ['fin', 'Finnish'],
  fr: ['fra', 'French'],
  gl: ['glg', 'Galician'],
  he: ['heb', 'Hebrew'],
  hi: ['hin', 'Hindi'],
  hr: ['hrv', 'Croatian'],
  id: ['ind', 'Indonesian'],
  is: ['isl', 'Icelandic'],
  it: ['ita', 'Italian'],
  ja: ['jpn', 'Japanese'],
  ko: ['kor', 'Korean'],
  mk: ['mkd', 'Macedonian'],
  ms: ['zlm', 'Malay'],
  nb: ['nob', 'Norwegian Bokmål'],
  nl: ['nld', 'Dutch'],
  nn: ['nno', 'Norwegian Nynorsk'],
  oc: ['oci', 'Occitan'],
  pl: ['pol', 'Polish'],
  pt: ['por', 'Portuguese'],
  ro: ['ron', 'Romanian'],
  ru: ['rus', 'Russian'],
  sc: ['srd', 'Sardinian'],
  sl: ['slv', 'Slovenian'],
  sr: ['srp', 'Serbian'],
  sv: ['swe', 'Swedish'],
  tr: ['tur', 'Turkish'],
  uk: ['ukr', 'Ukrainian'],
  ur: ['urd', 'Urdu'],
  zh: ['cmn', 'Chinese'],
};

const FROM_3: Record<string, string> = Object.fromEntries(Object.entries(LANGUAGES).map(([two, [three]]) => [three, two]));
// Apertium's older pair names use other 639-3 / 639-2 spellings.
Object.assign(FROM_3, { fre: 'fr', ger: 'de', hbs: 'sr', zho: 'zh', nor: 'nb', ara: 'ar' });

/** The API's code for an engine's name of a language (`spa` → `es`, `es` → `es`). */
export function toCode(name: string): string {
  const n = name.toLowerCase();
  return FROM_3[n] ?? n;
}

export const languageName = (code: string) => LANGUAGES[code]?.[1] ?? code;

/** Language codes clients send: `es`, `pt-BR` (the region is dropped), `spa`. */
export function normalizeLanguage(raw: string): string {
  return toCode(raw.trim().toLowerCase().split(/[-_]/)[0]);
}

/**
 * Best guess of `text`'s language among `candidates` (trigram statistics, franc), or null when
 * the text is too short or ambiguous to say.
 */
export function detectLanguage(text: string, candidates: string[]): string | null {
  const only = candidates.map((c) => LANGUAGES[c]?.[0]).filter((c): c is string => !!c);
  if (only.length === 0) return null;
  if (only.length === 1) return candidates.find((c) => LANGUAGES[c]?.[0] === only[0]) ?? null;
  const guess = franc(text, { only, minLength: 3 });
  return guess === 'und' ? null : toCode(guess);
}
