// Email login codes for one email address: stream `login:<sha256(email)>`.
// Codes are stored as keyed hashes. Expiry is a deadline in the context, checked on use, not
// a timer. Limits: MAX_TRIES_PER_CODE wrong guesses burn a code, and a per-email budget of
// codes and of wrong guesses per hour holds across resends.
import { assign, setup } from 'xstate';
import { accept, refuse, type Decision } from './decision.ts';

export const LOGIN_VERSION = 1;
/** A code is typed from a mail on another screen: ten minutes is plenty. */
export const CODE_TTL_MS = 10 * 60_000;
/** Five wrong guesses burn a code (1 in 200,000 chance for a guesser). */
export const MAX_TRIES_PER_CODE = 5;
/** Resends per email per hour: enough for a lost mail, not for mail-bombing someone. */
export const MAX_CODES_PER_HOUR = 5;
/** Wrong guesses per email per hour across all its codes: caps brute force through resends. */
export const MAX_FAILURES_PER_HOUR = 10;
const HOUR = 3_600_000;

export type LoginEvent =
  | { type: 'code_issued'; code_hash: string; expires_at: number; at: number; display_name?: string }
  | { type: 'code_failed'; at: number }
  | { type: 'code_used'; at: number };

export interface LoginContext {
  seq: number;
  code_hash: string | null;
  expires_at: number;
  tries: number;
  /** The display name request-code was given with the pending code (the seed sends it there). */
  display_name?: string;
  /** Times of issued codes and of failures in the last hour (pruned on write). */
  issued: number[];
  failures: number[];
}

type Sequenced = LoginEvent & { seq: number };
const recent = (times: number[], now: number) => times.filter((t) => now - t < HOUR);

export const loginMachine = setup({
  types: { context: {} as LoginContext, events: {} as Sequenced },
  actions: {
    issue: assign(({ context, event }) => {
      const e = event as Extract<Sequenced, { type: 'code_issued' }>;
      // Anyone may ask a code for any email: a name is kept only while every request since the
      // last code was used (or expired) agrees on it, so a stranger's request can drop the name
      // the owner gave, never put its own on the owner's new account.
      const pending = context.code_hash !== null && e.at < context.expires_at;
      const display_name = pending && context.display_name !== e.display_name ? undefined : e.display_name;
      return { seq: e.seq, code_hash: e.code_hash, expires_at: e.expires_at, tries: 0, display_name, issued: [...recent(context.issued, e.at), e.at] };
    }),
  },
}).createMachine({
  id: 'login',
  context: { seq: 0, code_hash: null, expires_at: 0, tries: 0, issued: [], failures: [] },
  initial: 'idle',
  states: {
    idle: {
      on: {
        code_issued: { target: 'pending', actions: 'issue' },
      },
    },
    pending: {
      on: {
        // A resend replaces the pending code.
        code_issued: { target: 'pending', reenter: true, actions: 'issue' },
        code_failed: [
          {
            guard: ({ context }) => context.tries + 1 >= MAX_TRIES_PER_CODE,
            target: 'idle',
            actions: assign(({ context, event }) => ({
              seq: event.seq,
              code_hash: null,
              display_name: undefined,
              tries: context.tries + 1,
              failures: [...recent(context.failures, event.at), event.at],
            })),
          },
          {
            actions: assign(({ context, event }) => ({
              seq: event.seq,
              tries: context.tries + 1,
              failures: [...recent(context.failures, event.at), event.at],
            })),
          },
        ],
        code_used: {
          target: 'idle',
          actions: assign(({ event }) => ({ seq: event.seq, code_hash: null, display_name: undefined, tries: 0 })),
        },
      },
    },
  },
});

function retryAfter(times: number[], now: number): number {
  return Math.max(1, Math.ceil((Math.min(...times) + HOUR - now) / 1000));
}

export function decideIssue(ctx: LoginContext, codeHash: string, now: number, displayName?: string): Decision<LoginEvent> {
  const issued = recent(ctx.issued, now);
  if (issued.length >= MAX_CODES_PER_HOUR) {
    return refuse('too_many_codes', 'too many codes requested for this email; try again later', retryAfter(issued, now));
  }
  const failures = recent(ctx.failures, now);
  if (failures.length >= MAX_FAILURES_PER_HOUR) {
    return refuse('too_many_attempts', 'too many wrong codes for this email; try again later', retryAfter(failures, now));
  }
  return accept({ type: 'code_issued', code_hash: codeHash, expires_at: now + CODE_TTL_MS, at: now, ...(displayName ? { display_name: displayName } : {}) });
}

export function decideVerify(ctx: LoginContext, matches: (hash: string) => boolean, now: number): Decision<LoginEvent> {
  const failures = recent(ctx.failures, now);
  if (failures.length >= MAX_FAILURES_PER_HOUR) {
    return refuse('too_many_attempts', 'too many wrong codes for this email; try again later', retryAfter(failures, now));
  }
  if (!ctx.code_hash || now >= ctx.expires_at) {
    return refuse('invalid_code', 'the code is wrong or has expired; request a new one');
  }
  if (!matches(ctx.code_hash)) {
    return refuse('invalid_code', 'the code is wrong or has expired; request a new one', undefined, [{ type: 'code_failed', at: now }]);
  }
  return accept({ type: 'code_used', at: now });
}
