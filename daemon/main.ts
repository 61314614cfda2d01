// `npm start`: load config, start the relay, drain on SIGTERM/SIGINT (and stop cleanly on one
// that comes during start-up).
import { ConfigError, loadConfig } from './config.ts';
import { JournalError } from '../journal/journal.ts';
import { createLogger } from './logger.ts';
import { StartAborted, startRelay, type Relay } from './relay.ts';

async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`pchat-relay: bad configuration: ${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  let relay: Relay | undefined;
  const stop = async (running: Relay, signal: string) => {
    log.info({ signal }, 'draining: answering parked polls, flushing the journal');
    try {
      await running.close();
    } catch (err) {
      log.fatal({ err }, 'stopping failed; what was acknowledged is on disk, the rest is replayed or retried at the next start');
      process.exit(1);
    }
    log.info('stopped cleanly');
    process.exit(0);
  };
  // Signals are handled from the start, not once listening: one that came while the journal
  // opens and the projections rebuild (minutes, for a big journal) killed the relay with its
  // journal claim (writer.pid) left behind. Start-up now stops at its next step, closes what it
  // opened and exits 0. And for good, not once: Ctrl-C on `npm start` reaches the relay twice
  // (from the terminal, and forwarded by npm a moment later), and a second signal with no
  // handler left would kill it mid-drain. Repeats while stopping are noted and ignored.
  const starting = new AbortController();
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) return log.info({ signal }, 'already stopping');
    stopping = true;
    if (relay) return void stop(relay, signal);
    log.info({ signal }, 'stopping during start-up: closing the journal before listening');
    starting.abort(new StartAborted(`${signal} during start-up`));
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  try {
    relay = await startRelay(config, log, { signal: starting.signal });
  } catch (err) {
    if (err instanceof StartAborted) {
      log.info('stopped cleanly before listening');
      process.exit(0);
    }
    if (err instanceof JournalError || err instanceof ConfigError) {
      process.stderr.write(`pchat-relay: cannot start: ${err.message}\n`);
      process.exit(err instanceof JournalError ? 74 : 78);
    }
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      process.stderr.write(`pchat-relay: cannot start: ${config.host}:${config.port} is already in use (set PORT)\n`);
      process.exit(98);
    }
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EADDRNOTAVAIL' || code === 'EACCES') {
      process.stderr.write(`pchat-relay: cannot start: cannot listen on HOST=${config.host} PORT=${config.port} (${code}: ${(err as Error).message})\n`);
      process.exit(78);
    }
    throw err;
  }
  if (config.unknownSettings.length) {
    log.warn({ settings: config.unknownSettings }, `unknown settings ignored (misspelt?): ${config.unknownSettings.join(', ')}; see the README's configuration table`);
  }
  log.info(
    { url: relay.url, data_dir: config.dataDir, upload_dir: config.uploadDir, smtp: !!config.smtp, dev_codes: config.devExposeCodes },
    `pChat relay listening on ${relay.url}`,
  );
  // A signal after start-up's last step, while it began listening: drain as usual.
  if (stopping) void stop(relay, 'signal during start-up');
}

void main();
