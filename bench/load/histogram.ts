/**
 * A latency histogram with fixed, logarithmic buckets (2% wide, 1 µs to about 2 minutes): recording
 * is one Math.log and one array increment, nothing allocated, and histograms from several load
 * processes merge by adding their counts.
 */
const GROWTH = Math.log(1.02);
export const BUCKETS = 1000;

export class LatencyHistogram {
  readonly counts: Float64Array;
  count = 0;

  constructor(counts?: ArrayLike<number>) {
    this.counts = new Float64Array(BUCKETS);
    if (counts) {
      this.counts.set(counts);
      for (let i = 0; i < BUCKETS; i++) this.count += this.counts[i]!;
    }
  }

  /** Records one latency in microseconds (values below 1 µs count as 1 µs). */
  record(micros: number): void {
    const index = micros <= 1 ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log(micros) / GROWTH));
    this.counts[index]! += 1;
    this.count += 1;
  }

  merge(other: LatencyHistogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i]! += other.counts[i]!;
    this.count += other.count;
  }

  /** The q-quantile (0..1) in microseconds: the upper edge of the bucket that holds it. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.exp((i + 1) * GROWTH);
    }
    return Math.exp(BUCKETS * GROWTH);
  }
}
