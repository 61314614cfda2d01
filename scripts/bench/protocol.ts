// Messages between the orchestrator (run.ts) and the load generator (load.ts), which runs in
// its own process so the relay, the echo server and the client never share an event loop.

export interface Pair {
  senderToken: string;
  receiverToken: string;
  receiverAddress: string;
}

export type PhaseSpec =
  /** Closed loop against the echo server: `concurrency` requests always in flight. */
  | { kind: 'echo'; base: string; concurrency: number; durationMs: number; textBytes: number }
  /** Closed loop against the relay: each sender sends again as soon as its last send is acked. */
  | { kind: 'closed'; base: string; pairs: Pair[]; durationMs: number; textBytes: number }
  /** Open loop: `rate` msg/s in total on a fixed schedule, whatever the relay's answers do. */
  | { kind: 'open'; base: string; pairs: Pair[]; rate: number; durationMs: number; textBytes: number };

export interface LatencySummary {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export interface PhaseResult {
  kind: PhaseSpec['kind'];
  durationMs: number;
  /** Requests (echo) or sends (relay) answered 200 within the measured window. */
  okInWindow: number;
  /** All answered 200, including those in flight when the window closed. */
  okTotal: number;
  errors: number;
  errorSamples: string[];
  /** Open loop: sends not issued because too many were already in flight (the relay fell behind). */
  shed: number;
  offered: number;
  /** Relay only: messages received by polls within the window, in total, lost, seen twice. */
  deliveredInWindow: number;
  deliveredTotal: number;
  lost: number;
  duplicates: number;
  /** Request latency (echo round trip, or send → durable ack). */
  requestLatencyMs: LatencySummary;
  /** Relay only: send (scheduled time, for open loop) → message in a poll answer. */
  e2eLatencyMs: LatencySummary;
  /** Load generator's own CPU over the phase, as % of one core (near 100 means client-bound). */
  clientCpuPct: number;
}

export type ToLoad = { type: 'run'; id: number; phase: PhaseSpec } | { type: 'exit' };
export type FromLoad = { type: 'ready' } | { type: 'result'; id: number; result: PhaseResult } | { type: 'error'; id: number; message: string };
