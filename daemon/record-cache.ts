// Decoded projection records kept in memory, write-through (the projector that writes an index
// also sets its cache). Bounded by count and, for records that carry text, by bytes: past
// either bound the cache starts over, which is cheap and keeps no bookkeeping per entry.
export class RecordCache<T> {
  private readonly map = new Map<string, T>();
  private bytes = 0;

  constructor(
    private readonly maxEntries: number,
    /** Rough size of a record, and the budget for all of them (none: count only). */
    private readonly sizeOf?: (value: T) => number,
    private readonly maxBytes = Infinity,
  ) {}

  get(key: string): T | undefined {
    return this.map.get(key);
  }

  set(key: string, value: T) {
    // A replaced record is counted again: the cache only starts over a little sooner.
    const size = this.sizeOf?.(value) ?? 0;
    this.bytes += size;
    if (this.map.size >= this.maxEntries || this.bytes > this.maxBytes) {
      this.map.clear();
      this.bytes = size;
    }
    this.map.set(key, value);
  }

  delete(key: string) {
    this.map.delete(key);
  }

  clear() {
    this.map.clear();
    this.bytes = 0;
  }
}
