// Bundles the daemon (daemon/main.ts and every module it imports) into dist/relay.mjs with
// esbuild, so `npm start` runs plain JavaScript with `node` instead of starting tsx and
// transpiling the relay's TypeScript on every start. The pure-JavaScript packages are bundled
// in too (~600 modules): node loading them one by one from node_modules was the largest
// remaining part of start-up. The packages in EXTERNAL stay imports, loaded from node_modules
// as they are: native add-ons, packages that find files of their own by path, and what the
// relay imports only when first needed.
//
// Rebuilt only when stale: dist/relay.meta.json records when the last build started and which
// of the repo's files went into it (esbuild's metafile), and the bundle is current while none
// of those files, package.json, package-lock.json (the bundled packages' versions) or this
// script changed since and none was deleted. A new module can only come in through an import
// added to one of them, which makes that file newer. `--force` rebuilds regardless.
// `tsx daemon/main.ts` keeps working from the sources.
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DAEMON_ENTRY = join(ROOT, 'daemon', 'main.ts');
export const DAEMON_BUNDLE = join(ROOT, 'dist', 'relay.mjs');
const META = join(ROOT, 'dist', 'relay.meta.json');
/**
 * Packages loaded from node_modules at run time instead of bundled (with whatever they import):
 * - lmdb: native add-on (and msgpackr's optional one);
 * - pino: starts transport workers from files next to its own (thread-stream);
 * - ws: optional native add-ons (bufferutil, utf-8-validate), required if installed;
 * - franc, file-type, nodemailer: imported on first use only, so not read at start-up.
 * A bundled module that still looks for files by its own path is refused by the build
 * (checkBundled); add its package here instead.
 */
const EXTERNAL = new Set(['lmdb', 'pino', 'ws', 'bufferutil', 'utf-8-validate', 'franc', 'file-type', 'nodemailer']);
/** `@scope/name/sub/path` → `@scope/name`, `name/sub` → `name`. */
const packageOf = (specifier: string) => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');

/** Besides the bundled modules: what decides the externals and the build options. */
const ALSO = ['package.json', 'package-lock.json', 'scripts/build-daemon.ts'];

interface BuildMeta {
  /** Date.now() when the build started: a source saved during the build counts as newer. */
  startedAt: number;
  /** Repo-relative paths of every bundled module outside node_modules. */
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
 * The node arguments of package.json's `start` script ("exec node --enable-source-maps
 * dist/relay.mjs" → its arguments), for whatever must run the relay the way `npm start` does
 * (the benchmark, the shutdown test). `exec` makes node replace npm's shell, so the SIGTERM
 * npm passes on reaches the relay and it drains.
 */
export function npmStartArgs(): string[] {
  const start: string = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts?.start ?? '';
  const words = start.trim().split(/\s+/);
  if (words[0] === 'exec') words.shift();
  if (words[0] !== 'node' || words.length < 2 || words.some((w) => /[$&|;<>'"`]/.test(w))) {
    throw new Error(`package.json "start" is ${JSON.stringify(start)}; expected a plain "[exec] node [options] script"`);
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
 * Bundled CommonJS runs as part of an ES module: `__dirname`, `__filename` and
 * `require.resolve` would be wrong or missing there, and esbuild warns about requires it
 * cannot bundle. Either fails the build rather than a code path at run time.
 */
function checkBundled(warnings: { text: string }[]): void {
  if (warnings.length) throw new Error(`esbuild warnings (see above): ${warnings.map((w) => w.text).join('; ')}`);
  const code = readFileSync(DAEMON_BUNDLE, 'utf8');
  const m = /\b(__dirname|__filename|require\.resolve)\b/.exec(code);
  if (m) {
    const line = code.slice(0, m.index).split('\n').length;
    throw new Error(`${relative(ROOT, DAEMON_BUNDLE)}:${line} uses ${m[1]}; keep the package it comes from external (EXTERNAL in scripts/build-daemon.ts)`);
  }
}

/**
 * `new URL('…', import.meta.url)` in a bundled module resolves against dist/relay.mjs, not
 * against the module's own file. That is the same directory depth for modules one level
 * below the root (http/webapp.ts finds ../web/dist either way); anywhere else, bundled
 * packages included, it would silently point at the wrong place, so the build refuses it.
 */
function checkImportMetaDepth(inputs: string[]): void {
  const bundleDepth = relative(ROOT, dirname(DAEMON_BUNDLE)).split(sep).length;
  for (const f of inputs) {
    if (!readFileSync(join(ROOT, f), 'utf8').includes('import.meta')) continue;
    const depth = dirname(f).split('/').length;
    if (depth !== bundleDepth) {
      throw new Error(
        `${f} uses import.meta but is ${depth} directories deep; in ${relative(ROOT, DAEMON_BUNDLE)} its paths would resolve differently` +
          (f.startsWith('node_modules/') ? ' (keep its package external: EXTERNAL in scripts/build-daemon.ts)' : ''),
      );
    }
  }
}

export async function buildDaemon(force = false): Promise<boolean> {
  if (!force && daemonBuildIsCurrent()) return false;
  const startedAt = Date.now();
  const { build } = await import('esbuild');
  mkdirSync(dirname(DAEMON_BUNDLE), { recursive: true });
  // No build record until this build has passed its checks: a failed one is never "current".
  rmSync(META, { force: true });
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
          // Bare specifiers: node builtins and EXTERNAL packages stay imports, the rest is bundled.
          b.onResolve({ filter: /^[^./]/ }, (args) =>
            args.path.startsWith('node:') || EXTERNAL.has(packageOf(args.path)) ? { path: args.path, external: true } : undefined,
          );
        },
      },
    ],
    // Whitespace and syntax only (names stay): a smaller file is parsed faster at each start
    // (~40 ms less for 2.7 → 1.8 MB); stack traces map back through the source map.
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: true,
    // The map points at the original files (the repo's and node_modules'); they are not embedded.
    sourcesContent: false,
    metafile: true,
    logLevel: 'warning',
    banner: {
      js: [
        '// Generated by scripts/build-daemon.ts from daemon/main.ts: edit the sources, not this file.',
        // Bundled CommonJS requires node builtins and the EXTERNAL packages through this.
        "import { createRequire as __pchatCreateRequire } from 'node:module';",
        'const require = __pchatCreateRequire(import.meta.url);',
      ].join('\n'),
    },
  });
  // Metafile paths are relative to absWorkingDir, with forward slashes. Bundled packages are
  // checked through package.json and package-lock.json (their versions), not file by file.
  const all = Object.keys(result.metafile.inputs);
  const inputs = all.filter((f) => !f.startsWith('node_modules/')).sort();
  try {
    checkBundled(result.warnings);
    checkImportMetaDepth(all);
  } catch (err) {
    rmSync(DAEMON_BUNDLE, { force: true });
    rmSync(`${DAEMON_BUNDLE}.map`, { force: true });
    throw err;
  }
  writeFileSync(META, JSON.stringify({ startedAt, inputs } satisfies BuildMeta, null, 1) + '\n');
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const t0 = Date.now();
  const built = await buildDaemon(process.argv.includes('--force'));
  console.log(built ? `daemon: built dist/relay.mjs in ${Date.now() - t0} ms` : 'daemon: dist/relay.mjs is current');
}
