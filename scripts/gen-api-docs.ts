// Generates docs/api.md from the route schemas: every route the relay registers, whether it
// needs a session, and its body / query fields (the TypeBox schemas that also validate them).
//   npm run docs:api          rewrite docs/api.md
//   npm run docs:api -- --check   exit 1 if docs/api.md is stale (used by the tests)
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import Fastify, { type RouteOptions } from 'fastify';
import { loadConfig } from '../daemon/config.ts';
import { createLogger } from '../daemon/logger.ts';
import { startRelay } from '../daemon/relay.ts';
import { ERRORS } from '../http/errors.ts';

const ROOT = resolve(import.meta.dirname, '..');
const OUT = join(ROOT, 'docs/api.md');
/** http/ files that are not route plugins. */
const NOT_ROUTES = new Set(['app.ts', 'errors.ts']);

interface Collected {
  method: string;
  url: string;
  auth: boolean;
  body?: any;
  querystring?: any;
  params?: any;
  file: string;
}

function typeOf(s: any): string {
  if (!s) return 'any';
  if (s.anyOf) return s.anyOf.map(typeOf).join(' \\| ');
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.type === 'array') return `${typeOf(s.items)}[]`;
  if (s.type === 'object' && s.properties) return 'object';
  return s.type ?? 'any';
}

function limits(s: any): string {
  const out: string[] = [];
  if (s.minLength !== undefined) out.push(`min length ${s.minLength}`);
  if (s.maxLength !== undefined) out.push(`max length ${s.maxLength}`);
  if (s.minimum !== undefined) out.push(`≥ ${s.minimum}`);
  if (s.maximum !== undefined) out.push(`≤ ${s.maximum}`);
  if (s.minItems !== undefined) out.push(`≥ ${s.minItems} items`);
  if (s.maxItems !== undefined) out.push(`≤ ${s.maxItems} items`);
  if (s.pattern) out.push(`pattern \`${s.pattern.replace(/\|/g, '\\|')}\``);
  if (s.format) out.push(`format ${s.format}`);
  return out.join(', ');
}

function fields(schema: any, prefix = ''): string[] {
  const rows: string[] = [];
  const required = new Set<string>(schema.required ?? []);
  for (const [name, s] of Object.entries<any>(schema.properties ?? {})) {
    rows.push(`| \`${prefix}${name}\` | ${typeOf(s)} | ${required.has(name) ? 'yes' : ''} | ${limits(s)} |`);
    const inner = s.type === 'array' ? s.items : s;
    if (inner?.type === 'object' && inner.properties) rows.push(...fields(inner, `${prefix}${name}${s.type === 'array' ? '[]' : ''}.`));
  }
  return rows;
}

function table(title: string, schema: any): string[] {
  if (!schema?.properties || !Object.keys(schema.properties).length) return [];
  return [`${title}:`, '', '| field | type | required | limits |', '|---|---|---|---|', ...fields(schema), ''];
}

async function collect(): Promise<Collected[]> {
  const dir = mkdtempSync(join(tmpdir(), 'pchat-apidocs-'));
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const config = loadConfig({ HOST: '127.0.0.1', PORT: '0', PCHAT_DATA_DIR: join(dir, 'data'), PCHAT_UPLOAD_DIR: join(dir, 'up'), LOG_LEVEL: 'silent' });
  const relay = await startRelay(config, createLogger('silent', sink));
  const routes: Collected[] = [];
  try {
    const files = readdirSync(join(ROOT, 'http')).filter((f) => f.endsWith('.ts') && !NOT_ROUTES.has(f)).sort();
    for (const file of files) {
      const mod = await import(pathToFileURL(join(ROOT, 'http', file)).href);
      if (typeof mod.default !== 'function') continue;
      // Each plugin in an app of its own, with the relay's real services, so its routes and
      // their schemas are seen exactly as registered.
      const app = Fastify();
      app.decorate('services', relay.services);
      app.decorate('requireAuth', relay.app.requireAuth);
      for (const helper of ['@fastify/websocket', '@fastify/multipart']) {
        try {
          await app.register((await import(helper)).default);
        } catch {
          // not a dependency (yet)
        }
      }
      app.addHook('onRoute', (r: RouteOptions) => {
        const methods = (Array.isArray(r.method) ? r.method : [r.method]).filter((m) => m !== 'HEAD');
        const pre = [r.preHandler, r.preValidation, r.onRequest].flat().filter(Boolean);
        for (const method of methods) {
          routes.push({
            method,
            url: r.url,
            auth: pre.includes(relay.app.requireAuth as never),
            body: (r.schema as any)?.body,
            querystring: (r.schema as any)?.querystring,
            params: (r.schema as any)?.params,
            file,
          });
        }
      });
      await app.register(mod.default);
      await app.ready();
      await app.close();
    }
  } finally {
    await relay.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return routes.sort((a, b) => a.url.localeCompare(b.url) || a.method.localeCompare(b.method));
}

export async function render(): Promise<string> {
  const routes = await collect();
  const lines = [
    '# pChat relay API reference',
    '',
    '<!-- Generated by scripts/gen-api-docs.ts from the route schemas in http/. Do not edit;',
    '     run `npm run docs:api` after changing a route. -->',
    '',
    'JSON in and out. Every answer has `success: true|false`; a refusal is',
    '`{"success":false,"error":"<code>","message":"<sentence>"}` with the status from the table at',
    'the end. Routes marked **session** need `X-PChat-Session: pct_…` (from verify-code).',
    'Fields are validated strictly: a wrong type is a `400 validation_failed` naming the field.',
    'Event shapes for poll / WebSocket / SSE: [realtime.md](realtime.md).',
    '',
    '| method | path | auth | source |',
    '|---|---|---|---|',
    ...routes.map((r) => `| ${r.method} | \`${r.url}\` | ${r.auth ? 'session' : 'none'} | http/${r.file} |`),
    '',
  ];
  for (const r of routes) {
    lines.push(`## ${r.method} ${r.url}`, '', r.auth ? 'Auth: session (`X-PChat-Session`).' : 'Auth: none.', '');
    lines.push(...table('Path parameters', r.params), ...table('Query', r.querystring), ...table('Body', r.body));
  }
  lines.push('## Error codes', '', '| code | status | default message |', '|---|---|---|');
  for (const [code, [status, message]] of Object.entries(ERRORS)) lines.push(`| \`${code}\` | ${status} | ${message} |`);
  return lines.join('\n') + '\n';
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const text = await render();
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(OUT, 'utf8');
    } catch {
      // missing counts as stale
    }
    if (current !== text) {
      process.stderr.write('gen-api-docs: docs/api.md is stale; run npm run docs:api\n');
      process.exit(1);
    }
  } else {
    writeFileSync(OUT, text);
    process.stdout.write(`wrote ${OUT}\n`);
  }
}
