// Builds the browser app (web/ → web/dist) when its sources are newer than the last build,
// so `npm start` and `npm test` always serve a current GUI with no extra step.
// `--force` rebuilds regardless.
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const WEB = fileURLToPath(new URL('../web/', import.meta.url));
const DIST = join(WEB, 'dist');
const STAMP = join(DIST, '.build-stamp');
const SOURCES = ['src', 'chat.html', 'vite.config.ts', 'public'];

function newest(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let m = st.mtimeMs;
  for (const name of readdirSync(path)) m = Math.max(m, newest(join(path, name)));
  return m;
}

export function webBuildIsCurrent(): boolean {
  if (!existsSync(STAMP)) return false;
  const built = statSync(STAMP).mtimeMs;
  return SOURCES.every((s) => newest(join(WEB, s)) <= built);
}

export async function buildWeb(force = false): Promise<boolean> {
  if (!force && webBuildIsCurrent()) return false;
  const { build } = await import('vite');
  await build({ configFile: join(WEB, 'vite.config.ts'), logLevel: 'warn' });
  writeFileSync(STAMP, new Date().toISOString() + '\n');
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const t0 = Date.now();
  const built = await buildWeb(process.argv.includes('--force'));
  console.log(built ? `web: built web/dist in ${Date.now() - t0} ms` : 'web: web/dist is current');
}
