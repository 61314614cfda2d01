// private_relay_link: print a one-click GUI launch URL for a private relay, signed with the
// relay's identity key, and a QR code of it for phones. Run it on the relay box (it reads
// $PCHAT_DATA_DIR/relay_identity_ed25519.json). --verify checks a link the way the GUI does.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import QRCode from 'qrcode';
import { readEnv } from '../daemon/config.ts';
import { createLaunchLink, readIdentity, verifyLaunchLink } from './launch-link.ts';

const HELP = `private_relay_link — a signed one-click launch link (and QR code) for a private relay

Usage:
  scripts/private_relay_link --relay https://relay.example.com [--site https://…/app/webchat/chat.html]
  scripts/private_relay_link --verify 'https://…/chat.html?…&pchat_launch=…&pchat_sig=…'

Options:
  --relay URL        the relay's public URL (what phones and browsers will reach)
  --site URL         the WebChat GUI page (default: <relay>/app/webchat/chat.html)
  --name NAME        the relay's name in the link (default: $PCHAT_RELAY_NAME or "pChat relay")
  --mode MODE        private | public (default private)
  --expires-days N   the link stops verifying after N days (default: never)
  --data-dir DIR     where relay_identity_ed25519.json is (default: $PCHAT_DATA_DIR or ./data)
  --qr               print a QR code to the terminal (default when stdout is a terminal)
  --no-qr            never print the QR code
  --qr-png FILE      also write the QR code as a PNG
  --json             print {url, payload} as JSON
  --verify LINK      check a link's signature against its relay's /.well-known/pchat-relay
`;

function fail(msg: string, code = 1): never {
  process.stderr.write(`private_relay_link: ${msg}\n`);
  process.exit(code);
}

function origin(flag: string, raw: string): string {
  try {
    const u = new URL(raw);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
    return flag === 'relay' ? `${u.origin}${u.pathname.replace(/\/+$/, '')}` : u.toString();
  } catch {
    return fail(`--${flag} ${JSON.stringify(raw)} is not an http(s) URL`, 2);
  }
}

async function main() {
  let v;
  try {
    v = parseArgs({
      options: {
        relay: { type: 'string' }, site: { type: 'string' }, name: { type: 'string' }, mode: { type: 'string' },
        'expires-days': { type: 'string' }, 'data-dir': { type: 'string' }, qr: { type: 'boolean' }, 'no-qr': { type: 'boolean' },
        'qr-png': { type: 'string' }, json: { type: 'boolean' }, verify: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    return fail(`${(err as Error).message} (see --help)`, 2);
  }
  if (v.help) return void process.stdout.write(HELP);

  if (v.verify) {
    const verdict = await verifyLaunchLink(v.verify);
    if (v.json) process.stdout.write(JSON.stringify(verdict) + '\n');
    if (!verdict.ok) return fail(`not genuine: ${verdict.reason}`);
    if (!v.json) process.stdout.write(`genuine: signed by ${verdict.payload.relay} (${verdict.payload.name}), key ${verdict.public_key}\n`);
    return;
  }

  if (!v.relay) return fail('--relay is required (see --help)', 2);
  const relay = origin('relay', v.relay);
  const site = v.site ? origin('site', v.site) : `${relay}/app/webchat/chat.html`;
  const mode = v.mode ?? 'private';
  if (mode !== 'private' && mode !== 'public') return fail('--mode must be private or public', 2);
  let expiresAt: Date | undefined;
  if (v['expires-days'] !== undefined) {
    const days = Number(v['expires-days']);
    if (!(days > 0 && days <= 3650)) return fail('--expires-days must be a number of days from 1 to 3650', 2);
    expiresAt = new Date(Date.now() + days * 86_400_000);
  }
  const env = readEnv();
  const dataDir = resolve(v['data-dir'] ?? env.PCHAT_DATA_DIR ?? './data');
  let identity;
  try {
    identity = readIdentity(dataDir);
  } catch (err) {
    return fail((err as Error).message);
  }
  const name = v.name ?? env.PCHAT_RELAY_NAME ?? 'pChat relay';
  const { url, payload } = createLaunchLink(identity, { site, relay, name, mode, expiresAt });

  if (v['qr-png']) await QRCode.toFile(v['qr-png'], url, { type: 'png', errorCorrectionLevel: 'M', margin: 2, width: 512 });
  if (v.json) return void process.stdout.write(JSON.stringify({ url, payload, qr_png: v['qr-png'] ?? null }) + '\n');
  process.stdout.write(url + '\n');
  const showQr = v['no-qr'] ? false : (v.qr ?? !!process.stdout.isTTY);
  if (showQr) process.stdout.write(await QRCode.toString(url, { type: 'terminal', small: true, errorCorrectionLevel: 'L' }));
}

await main();
