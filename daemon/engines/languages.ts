// Language codes: ISO 639-1 on the API, the 639-3 names Apertium modes and franc use inside.

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
 * Best guess of `text`'s language among `candidates`, or null when it cannot be told. With
 * dictionary coverage (the share of words each language's analyser knows) that decides, and
 * letter-trigram statistics (franc) only break near-ties; without it, franc alone on text long
 * enough for statistics to mean something.
 */
export async function detectLanguage(text: string, candidates: string[], coverage?: Map<string, number>): Promise<string | null> {
  const only = candidates.map((c) => LANGUAGES[c]?.[0]).filter((c): c is string => !!c);
  if (candidates.length === 1) return candidates[0];
  const { francAll } = await import('franc'); // loaded on first use, not at start-up
  const trigram = new Map<string, number>(only.length > 1 ? francAll(text, { only, minLength: 3 }).map(([l, s]) => [toCode(l), s]) : []);
  if (coverage && coverage.size) {
    let best: string | null = null;
    let bestScore = -1;
    for (const [lang, cov] of coverage) {
      const score = cov + 0.05 * (trigram.get(lang) ?? 0);
      if (score > bestScore) [best, bestScore] = [lang, score];
    }
    return bestScore > 0.3 ? best : null;
  }
  if (text.trim().length < 25 || trigram.size === 0) return null;
  const [[top, s1], second] = [...trigram.entries()].sort((a, b) => b[1] - a[1]);
  return second && second[1] > 0.9 * s1 ? null : top;
}
