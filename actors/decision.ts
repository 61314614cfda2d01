// What a command handler returns: the events to persist and, when the command is refused,
// why. A refusal may still carry events (a wrong login code is recorded, then refused).
export class Refusal extends Error {
  constructor(
    /** A stable code from http/errors.ts. */
    readonly code: string,
    message?: string,
    readonly retryAfterSec?: number,
  ) {
    super(message ?? code);
  }
}

export interface Decision<E> {
  events: E[];
  refusal?: Refusal;
}

export const accept = <E>(...events: E[]): Decision<E> => ({ events });
export const refuse = <E>(code: string, message?: string, retryAfterSec?: number, events: E[] = []): Decision<E> => ({
  events,
  refusal: new Refusal(code, message, retryAfterSec),
});

/**
 * `rec[key]` when `key` is the record's own entry, else undefined: for maps keyed by what a
 * caller sends (a consumer name, an address, a group or request id), where a plain lookup of
 * "constructor" or "toString" would find Object.prototype's function instead of nothing.
 */
export const own = <T>(rec: Readonly<Record<string, T>>, key: string): T | undefined => (Object.hasOwn(rec, key) ? rec[key] : undefined);

/** The fields of `from` named in `keys` that are set: what a decision takes of a caller's body (nothing else reaches an event). */
export function pickDefined<K extends string>(from: Partial<Record<string, unknown>>, keys: readonly K[]): Partial<Record<K, unknown>> {
  const out: Partial<Record<K, unknown>> = {};
  for (const k of keys) if (from[k] !== undefined) out[k] = from[k];
  return out;
}
