// Percentiles over latency samples. Samples are kept raw (bounded by the phase's message cap),
// so percentiles are exact rather than bucketed.

/** Nearest-rank percentile (p in 0..100) of unsorted samples; NaN when there are none. */
export function percentile(samples: ArrayLike<number>, p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = Float64Array.from(samples).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function median(xs: number[]): number {
  return percentile(xs, 50);
}

/** A growable Float64 sample buffer with a hard cap, so a runaway phase cannot eat memory. */
export class Samples {
  private buf: Float64Array;
  length = 0;
  dropped = 0;

  constructor(private readonly cap = 5_000_000) {
    this.buf = new Float64Array(Math.min(cap, 65_536));
  }

  push(v: number) {
    if (this.length === this.buf.length) {
      if (this.length >= this.cap) {
        this.dropped++;
        return;
      }
      const next = new Float64Array(Math.min(this.cap, this.buf.length * 2));
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = v;
  }

  values(): Float64Array {
    return this.buf.subarray(0, this.length);
  }

  summary() {
    const v = this.values();
    return { n: v.length, p50: percentile(v, 50), p99: percentile(v, 99), max: v.length ? percentile(v, 100) : NaN };
  }
}
