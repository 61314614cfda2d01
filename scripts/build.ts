// What `npm start` and `npm test` run first: the browser app (web/ → web/dist) and the daemon
// bundle (daemon/main.ts → dist/relay.mjs), each rebuilt only when its sources changed.
// `--force` rebuilds both.
import { buildDaemon } from './build-daemon.ts';
import { buildWeb } from './build-web.ts';

const force = process.argv.includes('--force');
const t0 = Date.now();
const [web, daemon] = await Promise.all([buildWeb(force), buildDaemon(force)]);
const ms = Date.now() - t0;
console.log(`web: ${web ? `built web/dist (${ms} ms)` : 'web/dist is current'}; daemon: ${daemon ? `built dist/relay.mjs (${ms} ms)` : 'dist/relay.mjs is current'}`);
