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
