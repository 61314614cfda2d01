// Local persona store: one JSON file per (email, persona label, relay) under
// $XDG_CONFIG_HOME/pchat/personas/ (default ~/.config/pchat/), directory 0700, files 0600,
// written atomically (temp file + rename) so a crash never leaves half a token behind.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { CliError } from './errors.ts';

export interface Persona {
  version: 1;
  email: string;
  /** The --persona label; "" for the email's default persona. */
  persona: string;
  relay: string;
  relay_mode: 'public' | 'private';
  chat_address?: string;
  display_name?: string;
  device_name?: string;
  session_name?: string;
  listen_channel: string;
  token?: string;
  session_id?: string;
  /** Last inbox seq this persona has printed; the next inbox/watch reads after it. */
  cursor?: number;
  created_at: string;
  last_used_at: string;
}

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME?.trim() || join(homedir(), '.config');
  return join(base, 'pchat');
}

function personasDir(env?: NodeJS.ProcessEnv) {
  return join(configDir(env), 'personas');
}

const safe = (s: string) => s.toLowerCase().replace(/[^a-z0-9@._-]+/g, '_').slice(0, 80);

export function personaFile(p: Pick<Persona, 'email' | 'persona' | 'relay'>, env?: NodeJS.ProcessEnv): string {
  const relayTag = createHash('sha256').update(p.relay).digest('hex').slice(0, 8);
  const label = p.persona ? `--${safe(p.persona)}` : '';
  return join(personasDir(env), `${safe(p.email)}${label}--${relayTag}.json`);
}

export function listPersonas(env?: NodeJS.ProcessEnv): Persona[] {
  const dir = personasDir(env);
  if (!existsSync(dir)) return [];
  const out: Persona[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (!name.endsWith('.json')) continue;
    try {
      const p = JSON.parse(readFileSync(join(dir, name), 'utf8')) as Persona;
      if (p?.version === 1 && typeof p.email === 'string' && typeof p.relay === 'string') out.push(p);
    } catch {
      // A file someone else put there, or a torn copy: not a persona.
    }
  }
  return out;
}

/** The stored persona for this email + label: on `relay` if given, else the one used last. */
export function findPersona(email: string, persona: string, relay: string | undefined, env?: NodeJS.ProcessEnv): Persona | undefined {
  const matches = listPersonas(env).filter((p) => p.email === email && p.persona === persona && (!relay || p.relay === relay));
  matches.sort((a, b) => b.last_used_at.localeCompare(a.last_used_at));
  return matches[0];
}

export function savePersona(p: Persona, env?: NodeJS.ProcessEnv): void {
  const dir = personasDir(env);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(configDir(env), 0o700);
    chmodSync(dir, 0o700);
    const file = personaFile(p, env);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(p, null, 2) + '\n', { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
  } catch (err) {
    throw new CliError(`cannot save the persona under ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}
