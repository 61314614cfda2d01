// Boot and shutdown of one relay: identity, journal, projections, services, HTTP front.
// `startRelay` is what `npm start` runs and what the tests start on a loopback port.
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Journal } from '../journal/journal.ts';
import { buildApp } from '../http/app.ts';
import { Accounts } from './accounts.ts';
import { ConfigError, type Config } from './config.ts';
import { Core } from './core.ts';
import { loadOrCreateIdentity, type RelayIdentity } from './identity.ts';
import { createLogger } from './logger.ts';
import { createMailer } from './mailer.ts';
import { CallbackService } from './callbacks.ts';
import { Feed } from './feed.ts';
import { Groups } from './groups.ts';
import { LiveRegistry } from './live.ts';
import { Media } from './media.ts';
import { Messaging } from './messaging.ts';
import { Presence } from './presence.ts';

/** How often heartbeats are expired and typing hints dropped. */
const PRESENCE_SWEEP_MS = 5_000;
/** In-flight requests get this long to finish once draining starts. */
const DRAIN_GRACE_MS = 5_000;
/** How often idle actors are looked for (at most: twice per PCHAT_ACTOR_IDLE_MS when that is shorter). */
const PASSIVATE_SWEEP_MS = 30_000;
/** How often uploads nobody sent are looked for: they wait a day (by default), minutes more is nothing. */
const UNSENT_SWEEP_MS = 10 * 60_000;
/** ... and how soon the next pass comes when one found more than its batch. */
const UNSENT_SWEEP_AGAIN_MS = 1_000;
/** Stray blobs are looked for this long after start: out of the way of start-up and the first requests. */
const STRAY_SWEEP_DELAY_MS = 5_000;

export interface Services {
  core: Core;
  accounts: Accounts;
  messaging: Messaging;
  feed: Feed;
  groups: Groups;
  live: LiveRegistry;
  presence: Presence;
  media: Media;
  callbacks: CallbackService;
  draining: () => boolean;
}

export interface Relay {
  app: FastifyInstance;
  services: Services;
  url: string;
  log: Logger;
  close(): Promise<void>;
}

/**
 * Why start-up was stopped (main.ts aborts with it on SIGTERM/SIGINT): `startRelay` throws its
 * `signal`'s reason at its next step, having closed what it opened, the journal's claim too.
 */
export class StartAborted extends Error {}

export async function startRelay(config: Config, log: Logger = createLogger(config.logLevel), opts: { signal?: AbortSignal } = {}): Promise<Relay> {
  ensureDir(config.dataDir, 'PCHAT_DATA_DIR');
  ensureDir(config.uploadDir, 'PCHAT_UPLOAD_DIR');
  const identity = loadOrCreateIdentity(config.dataDir);
  const journal = Journal.open(config.dataDir, (message) => log.info(message));
  // What start-up opened, closed again in reverse if it stops before listening (a signal, a port
  // in use, a failed rebuild): the journal last, so its writer claim (writer.pid) goes with it.
  const undo: (() => unknown)[] = [() => journal.close()];
  try {
    return await startOn(journal, config, log, identity, undo, opts.signal);
  } catch (err) {
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch {
        // closing what is left matters more than why one part would not
      }
    }
    throw err;
  }
}

async function startOn(
  journal: Journal,
  config: Config,
  log: Logger,
  identity: RelayIdentity,
  undo: (() => unknown)[],
  signal: AbortSignal | undefined,
): Promise<Relay> {
  const core = new Core(config, journal, identity, log);
  const rebuilt = await core.projections.rebuildIfStale(signal, () => log.info('rebuilding the projections from the journal; the relay listens when done'));
  if (rebuilt) log.info('projections rebuilt from the journal');
  signal?.throwIfAborted();

  const mailer = createMailer(config, log);
  undo.push(() => mailer.close());
  const accounts = new Accounts(core, mailer);
  const feed = new Feed(core);
  const messaging = new Messaging(core, feed);
  const groups = new Groups(core, feed);
  const live = new LiveRegistry();
  const presence = new Presence(core);
  feed.onLive = (auth, delta) => presence.live(auth, delta);
  feed.onPoll = (auth) => presence.polled(auth);
  presence.publicGroups = (q, limit) => groups.publicGroups(q, limit);
  const media = new Media(core);
  undo.push(() => media.close());
  await media.init();
  signal?.throwIfAborted();
  messaging.media = media;
  feed.media = media;
  presence.onTyping = (auth, to, typing) => {
    try {
      messaging.typing(auth, to, typing);
    } catch {
      // A typing hint to an unknown address is dropped, not an error for the heartbeat.
    }
  };
  const callbacks = new CallbackService(core, feed);
  let draining = false;
  const services: Services = { core, accounts, messaging, feed, groups, live, presence, media, callbacks, draining: () => draining };

  const app = await buildApp(services, log);
  undo.push(() => app.close());
  signal?.throwIfAborted();
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  callbacks.start();

  const presenceTimer = setInterval(() => {
    presence.sweep();
    core.waiters.sweep();
    messaging.loopGuard.sweep();
  }, PRESENCE_SWEEP_MS);
  // Staged writes go to disk before their actors leave memory. A failed commit is Core's to
  // report (the relay exits and restarts from the journal); the sweep just skips its turn.
  const passivateTimer = setInterval(() => {
    core.commit().then(
      () => {
        const n = core.registry.passivate(config.actorIdleMs);
        if (n) log.debug({ passivated: n, loaded: core.registry.size }, 'idle actors passivated');
      },
      () => {},
    );
  }, Math.min(PASSIVATE_SWEEP_MS, config.actorIdleMs / 2));
  presenceTimer.unref();
  passivateTimer.unref();
  // Uploads no message named within PCHAT_UNSENT_UPLOAD_TTL_HOURS (Files.sweepUnsent), a batch a
  // pass; and the blobs of removed files a crash left on disk, whatever the TTL (a file goes
  // with the last message naming it even when unsent uploads are kept).
  let sweepTimer: NodeJS.Timeout | undefined;
  let sweeping: Promise<void> | undefined;
  const sweepUnsent = (delay: number) => {
    sweepTimer = setTimeout(() => {
      sweeping = media.files.sweepUnsent().then(
        (r) => {
          if (r.removed || r.blobs) log.info({ removed: r.removed, blobs_deleted: r.blobs }, 'unsent uploads and left-over blobs removed');
          if (!draining) sweepUnsent(r.more ? UNSENT_SWEEP_AGAIN_MS : UNSENT_SWEEP_MS);
        },
        (err: Error) => {
          log.error({ err: err.message }, 'removing unsent uploads failed; trying again later');
          if (!draining) sweepUnsent(UNSENT_SWEEP_MS);
        },
      );
    }, delay);
    sweepTimer.unref();
  };
  sweepUnsent(UNSENT_SWEEP_MS);
  // Bytes a crash left in blobs/ with no record (Files.sweepStrays): once, soon after start.
  let straySweep: Promise<unknown> | undefined;
  const strayTimer = setTimeout(() => {
    straySweep = media.files.sweepStrays().then(
      (n) => n && log.info({ blobs_deleted: n }, 'stray upload bytes from an interrupted upload deleted'),
      (err: Error) => log.error({ err: err.message }, 'looking for stray upload bytes failed'),
    );
  }, STRAY_SWEEP_DELAY_MS);
  strayTimer.unref();

  let closing: Promise<void> | undefined;
  return {
    app,
    services,
    url,
    log,
    close() {
      closing ??= (async () => {
        draining = true;
        clearInterval(presenceTimer);
        clearInterval(passivateTimer);
        clearTimeout(sweepTimer);
        clearTimeout(strayTimer);
        core.waiters.wakeAll();
        live.closeAll();
        callbacks.close(); // deliveries in flight are cut: their events go out again after the restart
        // Keep-alive sockets that were busy when closing began would otherwise hold close()
        // open until their idle timeout.
        const straggler = setTimeout(() => app.server.closeAllConnections(), DRAIN_GRACE_MS);
        await app.close();
        clearTimeout(straggler);
        await sweeping; // a pass under way finishes its commits before the journal closes
        await straySweep; // and one reading the projections, before they close
        presence.saveSeen(Date.now(), true); // connections are closed: every session's last seen, made durable by the drain
        await core.drain(); // sends still waiting for their turn land (and are durable) first
        await feed.flushPushed(); // and what live connections pushed of group messages
        await media.translation.settled(); // translations those sends started, too
        media.close();
        await core.commit(); // and deferred writes (delivered receipts)
        await journal.close();
        mailer.close();
      })();
      return closing;
    },
  };
}

/**
 * Makes `dir` (and its missing parents) and checks it is a writable directory, or stops
 * start-up with a one-line ConfigError naming the setting. One level at a time: Node's
 * recursive mkdir never returns for a path under /proc (it retries ENOENT for ever).
 */
function ensureDir(dir: string, setting: string) {
  const fail = (why: string): never => {
    throw new ConfigError(`${setting}=${dir}: ${why}`);
  };
  const missing: string[] = [];
  let at = dir;
  for (;;) {
    try {
      if (!statSync(at).isDirectory()) fail(`${at} exists and is not a directory`);
      break;
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(at) === at) fail(`${at}: ${(err as Error).message}`);
      missing.unshift(at);
      at = dirname(at);
    }
  }
  for (const d of missing) {
    try {
      // The directory itself is the relay's alone (journal: emails and messages; uploads):
      // 0700, as the identity file is 0600. One that exists keeps the mode it was given.
      mkdirSync(d, d === dir ? 0o700 : undefined);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') fail(`cannot create ${d} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch {
    fail('not writable by this user');
  }
}
