// Structured logs (pino). Secrets never reach a log line: tokens, codes, keys and passwords
// are redacted wherever they appear in the objects we log, including request headers.
import pino, { type Logger } from 'pino';

export const REDACT_PATHS = [
  'req.headers["x-pchat-session"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  '*.token',
  '*.session_token',
  '*.code',
  '*.password',
  '*.secretKey',
  '*.secret_key',
  '*.api_key',
  'token',
  'session_token',
  'code',
  'password',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'pchat-relay' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
