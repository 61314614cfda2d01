// Structured logs (pino). Secrets never reach a log line: tokens, codes, keys and passwords
// are redacted wherever they appear in the objects we log, including request headers. Login
// codes by the keys they travel under (`code` in a body, `dev_code` in a reply), not every
// `*.code`: that is also an error's code (ENOSPC, EACCES), which the operator needs to see.
import pino, { type Logger } from 'pino';

export const REDACT_PATHS = [
  'req.headers["x-pchat-session"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  '*.token',
  '*.session_token',
  'body.code',
  '*.body.code',
  '*.dev_code',
  '*.password',
  '*.secretKey',
  '*.secret_key',
  '*.api_key',
  'token',
  'session_token',
  'code',
  'dev_code',
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
