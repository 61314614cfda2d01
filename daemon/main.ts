// `npm start`: load config, start the relay, drain on SIGTERM/SIGINT.
import { ConfigError, loadConfig } from './config.ts';
import { JournalError } from '../journal/journal.ts';
import { createLogger } from './logger.ts';
import { startRelay } from './relay.ts';

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
  let relay;
  try {
    relay = await startRelay(config, log);
  } catch (err) {
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
  const stop = async (signal: string) => {
    log.info({ signal }, 'draining: answering parked polls, flushing the journal');
    try {
      await relay.close();
    } catch (err) {
      log.fatal({ err }, 'stopping failed; what was acknowledged is on disk, the rest is replayed or retried at the next start');
      process.exit(1);
    }
    log.info('stopped cleanly');
    process.exit(0);
  };
  // Handled for good, not once: Ctrl-C on `npm start` reaches the relay twice (from the
  // terminal, and forwarded by npm a moment later), and a second signal with no handler left
  // would kill it mid-drain. Repeats while draining are noted and otherwise ignored.
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) return log.info({ signal }, 'already draining');
    stopping = true;
    void stop(signal);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
}

void main();
