// Backup and restore of a relay's data dir and uploads (docs/private-relay.md "Backup").
// The journal is copied with LMDB's own hot backup (a consistent snapshot taken inside a read
// transaction, safe while the relay runs), never as a file copy of a live journal. The rest of
// the data dir (the identity key) and the upload dir (write-once blobs) are plain copies.
//   backup:  scripts/backup_relay.sh [--out FILE.tar.gz] [--data-dir DIR] [--upload-dir DIR]
//   restore: scripts/restore_relay.sh FILE.tar.gz [--data-dir DIR] [--upload-dir DIR] [--force]
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, cpSync, openSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { open } from 'lmdb';
import { loadConfig, readEnv } from '../daemon/config.ts';
import { liveWriter } from '../journal/journal.ts';

export const BACKUP_FORMAT = 1;
/** The journal's folder inside the data dir (journal/journal.ts). */
const JOURNAL_DIR = 'journal';

class BackupError extends Error {}

function dirs(values: { 'data-dir'?: string; 'upload-dir'?: string }) {
  const config = loadConfig(readEnv());
  return {
    dataDir: resolve(values['data-dir'] ?? config.dataDir),
    uploadDir: resolve(values['upload-dir'] ?? config.uploadDir),
  };
}

function treeSize(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  if (!existsSync(dir)) return { files, bytes };
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    files++;
    bytes += statSync(join(e.parentPath, e.name)).size;
  }
  return { files, bytes };
}

function tar(args: string[]) {
  const r = spawnSync('tar', args, { encoding: 'utf8' });
  if (r.error) throw new BackupError(`tar: ${r.error.message}`);
  if (r.status !== 0) throw new BackupError(`tar failed: ${r.stderr.trim()}`);
}

export async function backup(opts: { dataDir: string; uploadDir: string; out: string }): Promise<Record<string, unknown>> {
  const journal = join(opts.dataDir, JOURNAL_DIR);
  if (!existsSync(join(journal, 'data.mdb'))) throw new BackupError(`no journal at ${journal} (is --data-dir right?)`);
  const stage = mkdtempSync(join(tmpdir(), 'pchat-backup-'));
  try {
    // Read-only open beside the running relay: LMDB is multi-process; the copy is one snapshot.
    const env = open({ path: journal, readOnly: true, maxDbs: 64 });
    try {
      mkdirSync(join(stage, 'data', JOURNAL_DIR), { recursive: true });
      await env.backup(join(stage, 'data', JOURNAL_DIR), true);
    } finally {
      await env.close();
    }
    for (const name of readdirSync(opts.dataDir)) {
      if (name === JOURNAL_DIR) continue;
      cpSync(join(opts.dataDir, name), join(stage, 'data', name), { recursive: true, preserveTimestamps: true });
    }
    mkdirSync(join(stage, 'uploads'), { recursive: true });
    if (existsSync(opts.uploadDir)) cpSync(opts.uploadDir, join(stage, 'uploads'), { recursive: true, preserveTimestamps: true });
    const manifest = {
      format: BACKUP_FORMAT,
      created_at: new Date().toISOString(),
      data_dir: opts.dataDir,
      upload_dir: opts.uploadDir,
      journal: treeSize(join(stage, 'data', JOURNAL_DIR)),
      uploads: treeSize(join(stage, 'uploads')),
    };
    writeFileSync(join(stage, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    mkdirSync(dirname(opts.out), { recursive: true });
    // It holds the relay's secret identity key: 0600 from its first byte (tar writes into the
    // file as it is, so it is never readable by others while tar runs or if it fails).
    closeSync(openSync(opts.out, 'w', 0o600));
    chmodSync(opts.out, 0o600);
    tar(['-czf', opts.out, '-C', stage, 'manifest.json', 'data', 'uploads']);
    return { ...manifest, file: opts.out };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

const nonEmpty = (dir: string) => existsSync(dir) && readdirSync(dir).length > 0;

export function restore(opts: { file: string; dataDir: string; uploadDir: string; force: boolean }): Record<string, unknown> {
  if (!existsSync(opts.file)) throw new BackupError(`no backup file at ${opts.file}`);
  // --force moves the data dir aside: under a running relay, it would go on writing there.
  const writer = liveWriter(join(opts.dataDir, JOURNAL_DIR));
  if (writer !== undefined) throw new BackupError(`the journal in ${opts.dataDir} is in use by process ${writer}; stop the relay first (systemctl stop pchat-relay)`);
  const busy = [opts.dataDir, opts.uploadDir].filter(nonEmpty);
  if (busy.length && !opts.force) {
    throw new BackupError(`${busy.join(' and ')} not empty; stop the relay and pass --force (the current contents are moved aside, not deleted)`);
  }
  const stage = mkdtempSync(join(tmpdir(), 'pchat-restore-'));
  try {
    tar(['-xzf', opts.file, '-C', stage]);
    let manifest: { format?: number };
    try {
      manifest = JSON.parse(readFileSync(join(stage, 'manifest.json'), 'utf8'));
    } catch {
      throw new BackupError(`${opts.file} is not a pChat relay backup (no manifest.json)`);
    }
    if (manifest.format !== BACKUP_FORMAT) throw new BackupError(`${opts.file} has backup format ${manifest.format}; this relay restores ${BACKUP_FORMAT}`);
    if (!existsSync(join(stage, 'data', JOURNAL_DIR, 'data.mdb'))) throw new BackupError(`${opts.file} has no journal`);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const aside: string[] = [];
    for (const [from, to] of [[join(stage, 'data'), opts.dataDir], [join(stage, 'uploads'), opts.uploadDir]] as const) {
      if (existsSync(to)) {
        if (nonEmpty(to)) {
          const moved = `${to}.before-restore-${stamp}`;
          renameSync(to, moved);
          aside.push(moved);
        } else rmSync(to, { recursive: true });
      }
      mkdirSync(dirname(to), { recursive: true });
      cpSync(from, to, { recursive: true, preserveTimestamps: true });
      chmodSync(to, 0o700);
    }
    return { restored: opts.file, data_dir: opts.dataDir, upload_dir: opts.uploadDir, moved_aside: aside };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

async function main() {
  const [verb, ...rest] = process.argv.slice(2);
  const me = verb === 'restore' ? 'restore_relay' : 'backup_relay';
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: verb === 'restore',
      options: { 'data-dir': { type: 'string' }, 'upload-dir': { type: 'string' }, out: { type: 'string' }, force: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    });
    if (values.help || (verb !== 'backup' && verb !== 'restore')) {
      process.stdout.write(
        'backup:  scripts/backup_relay.sh [--out FILE.tar.gz] [--data-dir DIR] [--upload-dir DIR]\n' +
          'restore: scripts/restore_relay.sh FILE.tar.gz [--data-dir DIR] [--upload-dir DIR] [--force]\n' +
          'Directories default to PCHAT_DATA_DIR / PCHAT_UPLOAD_DIR (environment or .env.local).\n',
      );
      return;
    }
    const d = dirs(values);
    if (verb === 'backup') {
      const out = resolve(values.out ?? `pchat-backup-${new Date().toISOString().replace(/[:.]/g, '-')}.tar.gz`);
      const r = await backup({ ...d, out });
      process.stdout.write(`${r.file}\n`);
    } else {
      if (positionals.length !== 1) throw new BackupError('give the backup file to restore');
      const r = restore({ file: resolve(positionals[0]), ...d, force: !!values.force });
      process.stdout.write(`restored ${basename(String(r.restored))} into ${d.dataDir} and ${d.uploadDir}${(r.moved_aside as string[]).length ? `; previous contents moved to ${(r.moved_aside as string[]).join(', ')}` : ''}\n`);
    }
  } catch (err) {
    process.stderr.write(`${me}: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) await main();
