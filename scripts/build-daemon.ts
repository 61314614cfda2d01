// Bundles the daemon (daemon/main.ts and every module of this repo it imports) into
// dist/relay.mjs with esbuild, so `npm start` runs plain JavaScript with `node` instead of
// starting tsx and transpiling the relay's TypeScript on every start. Packages stay external,
// loaded from node_modules as they are (lmdb and msgpackr have native parts; CommonJS
// packages may find files next to themselves), except the few in INLINE.
//
// Rebuilt only when stale: dist/relay.meta.json records when the last build started and which
// files went into it (esbuild's metafile), and the bundle is current while none of those
// files, package.json or this script changed since and none was deleted. A new module can only
// come in through an import added to one of them, which makes that file newer. `--force`
// rebuilds regardless. `tsx daemon/main.ts` keeps working from the sources.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DAEMON_ENTRY = join(ROOT, 'daemon', 'main.ts');
export const DAEMON_BUNDLE = join(ROOT, 'dist', 'relay.mjs');
const META = join(ROOT, 'dist', 'relay.meta.json');
/**
 * Packages bundled in rather than loaded from node_modules: pure ES modules with no native
 * part and no files of their own to find, whose many small modules cost start-up time when
 * node loads them one by one. @sinclair/typebox is 247 modules (~0.1 s of each start).
 */
const INLINE = new Set(['@sinclair/typebox']);
/** `@scope/name/sub/path` → `@scope/name`, `name/sub` → `name`. */
const packageOf = (specifier: string) => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');

/** Besides the bundled modules: what decides the externals and the build options. */
const ALSO = ['package.json', 'package-lock.json', 'scripts/build-daemon.ts'];

interface BuildMeta {
  /** Date.now() when the build started: a source saved during the build counts as newer. */
  startedAt: number;
  /** Repo-relative paths of every bundled module. */
  inputs: string[];
}

function readMeta(): BuildMeta | null {
  try {
    const m = JSON.parse(readFileSync(META, 'utf8')) as BuildMeta;
    return typeof m.startedAt === 'number' && Array.isArray(m.inputs) ? m : null;
  } catch {
    return null;
  }
}

/**
 * The node arguments of package.json's `start` script ("node --enable-source-maps
 * dist/relay.mjs" → its arguments), for whatever must run the relay the way `npm start` does
 * (the benchmark, the shutdown test).
 */
export function npmStartArgs(): string[] {
  const start: string = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts?.start ?? '';
  const words = start.trim().split(/\s+/);
  if (words[0] !== 'node' || words.length < 2 || words.some((w) => /[$&|;<>'"`]/.test(w))) {
    throw new Error(`package.json "start" is ${JSON.stringify(start)}; expected a plain "node [options] script"`);
  }
  return words.slice(1);
}

export function daemonBuildIsCurrent(): boolean {
  const meta = readMeta();
  if (!meta || !existsSync(DAEMON_BUNDLE) || !existsSync(`${DAEMON_BUNDLE}.map`)) return false;
  return [...meta.inputs, ...ALSO].every((f) => {
    const path = join(ROOT, f);
    return existsSync(path) && statSync(path).mtimeMs <= meta.startedAt;
  });
}

/**
 * `new URL('…', import.meta.url)` in a bundled module resolves against dist/relay.mjs, not
 * against the module's own file. That is the same directory depth for modules one level
 * below the root (http/webapp.ts finds ../web/dist either way); anywhere else it would
 * silently point at the wrong place, so the build refuses it.
 */
function checkImportMetaDepth(inputs: string[]): void {
  const bundleDepth = relative(ROOT, dirname(DAEMON_BUNDLE)).split(sep).length;
  for (const f of inputs) {
    if (!readFileSync(join(ROOT, f), 'utf8').includes('import.meta')) continue;
    const depth = dirname(f).split('/').length;
    if (depth !== bundleDepth) {
      throw new Error(`${f} uses import.meta but is ${depth} directories deep; in ${relative(ROOT, DAEMON_BUNDLE)} its paths would resolve differently`);
    }
  }
}

export async function buildDaemon(force = false): Promise<boolean> {
  if (!force && daemonBuildIsCurrent()) return false;
  const startedAt = Date.now();
  const { build } = await import('esbuild');
  mkdirSync(dirname(DAEMON_BUNDLE), { recursive: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [DAEMON_ENTRY],
    outfile: DAEMON_BUNDLE,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    plugins: [
      {
        name: 'external-packages',
        setup(b) {
          // Bare specifiers (packages and node: builtins) stay imports unless INLINE says otherwise.
          b.onResolve({ filter: /^[^./]/ }, (args) => (INLINE.has(packageOf(args.path)) ? undefined : { path: args.path, external: true }));
        },
      },
    ],
    sourcemap: true,
    // The map points at the original files under the repo root; they are not embedded.
    sourcesContent: false,
    metafile: true,
    logLevel: 'warning',
    banner: { js: '// Generated by scripts/build-daemon.ts from daemon/main.ts: edit the sources, not this file.' },
  });
  // Metafile paths are relative to absWorkingDir, with forward slashes; inlined packages are
  // checked through package.json (their version) and package-lock.json, not file by file.
  const inputs = Object.keys(result.metafile.inputs)
    .filter((f) => !f.startsWith('node_modules/'))
    .sort();
  checkImportMetaDepth(inputs);
  writeFileSync(META, JSON.stringify({ startedAt, inputs } satisfies BuildMeta, null, 1) + '\n');
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const t0 = Date.now();
  const built = await buildDaemon(process.argv.includes('--force'));
  console.log(built ? `daemon: built dist/relay.mjs in ${Date.now() - t0} ms` : 'daemon: dist/relay.mjs is current');
}
