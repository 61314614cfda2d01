// The relay's Ed25519 identity (tweetnacl makes the pair). Created once on first start, file
// mode 0600. It signs launch links and every callback delivery (relaySigner), never a message.
import { createPrivateKey, sign } from 'node:crypto';
import { closeSync, existsSync, fchmodSync, fsyncSync, linkSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import { ConfigError } from './config.ts';
import { syncPathSync } from './durable.ts';

export const IDENTITY_FILE = 'relay_identity_ed25519.json';
/** PKCS#8 header of an Ed25519 private key, before its 32-byte seed (RFC 8410): how node:crypto takes the key. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export interface RelayIdentity {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
  /** base64 of the public key, as published at /.well-known/pchat-relay. */
  publicKeyB64: string;
  createdAt: string;
}

export function loadOrCreateIdentity(dataDir: string): RelayIdentity {
  const file = join(dataDir, IDENTITY_FILE);
  if (!existsSync(file)) {
    const kp = nacl.sign.keyPair();
    const createdAt = new Date().toISOString();
    const doc = {
      algorithm: 'ed25519',
      public_key: Buffer.from(kp.publicKey).toString('base64'),
      secret_key: Buffer.from(kp.secretKey).toString('base64'),
      created_at: createdAt,
    };
    // Whole or not at all: written and flushed beside it, then linked into place (a power cut
    // must not leave an empty key file, and a second start racing this one keeps the first key).
    const tmp = `${file}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      fchmodSync(fd, 0o600);
      writeSync(fd, JSON.stringify(doc, null, 2) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      unlinkSync(tmp);
    }
    syncPathSync(dataDir);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    // Not damage: usually ownership or mode (a restore run as another user). Restoring would not help.
    throw new ConfigError(`${file}: cannot be read by this user (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); check its owner and mode (0600, the relay's user)`);
  }
  let doc: { public_key?: string; secret_key?: string; created_at?: string };
  try {
    doc = JSON.parse(text);
  } catch {
    throw new ConfigError(`${file}: not valid JSON; restore it from backup (it is the relay's identity)`);
  }
  const publicKey = Buffer.from(doc.public_key ?? '', 'base64');
  const secretKey = Buffer.from(doc.secret_key ?? '', 'base64');
  if (publicKey.length !== 32 || secretKey.length !== 64 || !Buffer.from(secretKey.subarray(32)).equals(publicKey)) {
    throw new ConfigError(`${file}: not an Ed25519 key pair; restore it from backup (it is the relay's identity)`);
  }
  return {
    publicKey: new Uint8Array(publicKey),
    secretKey: new Uint8Array(secretKey),
    publicKeyB64: publicKey.toString('base64'),
    createdAt: doc.created_at ?? '',
  };
}

/**
 * Signs with the relay's key: base64 detached Ed25519 signatures. node:crypto's, not
 * tweetnacl's: the same bytes (Ed25519 is deterministic) at ~0.05 ms instead of ~5 ms, which
 * matters at one per callback delivery. Make one and keep it: the key object is built here.
 */
export function relaySigner(identity: RelayIdentity): (message: string) => string {
  const key = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, identity.secretKey.subarray(0, 32)]), format: 'der', type: 'pkcs8' });
  return (message) => sign(null, Buffer.from(message), key).toString('base64');
}

export function signDetached(identity: RelayIdentity, message: string): string {
  return relaySigner(identity)(message);
}
