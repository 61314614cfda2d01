// What `npm start` and `npm test` run first: the browser app (web/ → web/dist) and the daemon
// bundle (daemon/main.ts → dist/relay.mjs), each rebuilt only when its sources changed.
// `--force` rebuilds both.
import { buildDaemon } from './build-daemon.ts';
import { buildWeb } from './build-web.ts';

const force = process.argv.includes('--force');
const timed = async (run: () => Promise<boolean>) => {
  const t0 = Date.now();
  return { built: await run(), ms: Date.now() - t0 };
};
// In parallel: Vite and esbuild both spend most of their time outside this thread.
const [web, daemon] = await Promise.all([timed(() => buildWeb(force)), timed(() => buildDaemon(force))]);
console.log(
  `web: ${web.built ? `built web/dist (${web.ms} ms)` : 'web/dist is current'}; ` +
    `daemon: ${daemon.built ? `built dist/relay.mjs (${daemon.ms} ms)` : 'dist/relay.mjs is current'}`,
);
