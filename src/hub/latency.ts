/**
 * Publish-to-delivery latency: how long an event took from the moment its engine accepted it
 * (StoredEvent.time, stamped by whichever instance or server stored it) to the moment this instance
 * handed it to its local streams. Observed once per event per instance, never per subscriber, into
 * a prom-client histogram that /metrics exposes and the $ssehub/stats events summarise.
 */
import { Histogram, type LabelValues, type MetricObjectWithValues, type MetricValueWithName, type ObserveDataWithExemplar } from 'prom-client';

export const DELIVERY_LATENCY_METRIC = 'ssehub_delivery_latency_seconds';

/** Bucket bounds in seconds: fine below 10 ms, where a healthy hub lives, coarse up to 10 s. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const HELP = 'Seconds from an event being accepted (by any instance) to this instance handing it to its streams; once per event, not per stream.';

/**
 * The delivery latency histogram as prom-client's registry and /metrics see it (one of its
 * Histograms, read through get()), with its counts kept here: observe() runs on the delivery path
 * once per event, and prom-client's own (labels, their validation and hashing: about 140 ns, where
 * these lines take 2) was the largest cost of the hub's own making there. It takes no labels.
 */
export class DeliveryLatency extends Histogram {
  /** Observations per bucket (not cumulative), +Inf last. */
  private readonly perBucket = new Float64Array(BUCKETS.length + 1);
  private sum = 0;
  private count = 0;

  constructor() {
    // Not in prom-client's global registry: tests run many hubs in one process.
    super({ name: DELIVERY_LATENCY_METRIC, help: HELP, buckets: BUCKETS, registers: [] });
    // prom-client's constructor sets its own observe on the instance, which would hide this class's.
    delete (this as { observe?: unknown }).observe;
  }

  /** One observation, in seconds (the label forms of prom-client's observe() are refused). */
  override observe(value: number | LabelValues<string> | ObserveDataWithExemplar<string>, ...rest: number[]): void {
    if (typeof value !== 'number' || rest.length > 0) throw new TypeError(`${DELIVERY_LATENCY_METRIC} takes no labels`);
    let bucket = 0;
    while (bucket < BUCKETS.length && value > BUCKETS[bucket]!) bucket += 1;
    this.perBucket[bucket]! += 1;
    this.sum += value;
    this.count += 1;
  }

  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    return this.getForPromString();
  }

  /** The cumulative count of each bucket (`le` ascending, +Inf last), as /metrics shows them. */
  bucketCounts(): BucketCounts {
    let cumulative = 0;
    return [...BUCKETS, Infinity].map((le, i) => ({ le, count: (cumulative += this.perBucket[i]!) }));
  }

  /** What the registry reads for /metrics: the buckets (cumulative, `le`), then the sum and the count. */
  async getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    const values: Array<MetricValueWithName<string>> = this.bucketCounts().map(({ le, count }) => ({
      labels: { le: le === Infinity ? '+Inf' : le },
      value: count,
      metricName: `${DELIVERY_LATENCY_METRIC}_bucket`,
    }));
    values.push(
      { labels: {}, value: this.sum, metricName: `${DELIVERY_LATENCY_METRIC}_sum` },
      { labels: {}, value: this.count, metricName: `${DELIVERY_LATENCY_METRIC}_count` },
    );
    // The shape prom-client's own Histogram answers (its typings name an enum and a collect field its code does not use).
    const metric = { name: DELIVERY_LATENCY_METRIC, help: HELP, type: 'histogram', values, aggregator: 'sum' };
    return metric as unknown as MetricObjectWithValues<MetricValueWithName<string>>;
  }

  override reset(): void {
    // (prom-client's constructor calls this before these fields exist: they start at zero anyway.)
    if (this.perBucket === undefined) return;
    this.perBucket.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

/** A histogram of its own for every hub. */
export function createDeliveryLatency(): DeliveryLatency {
  return new DeliveryLatency();
}

/** The cumulative count of each bucket (`le` ascending, +Inf last). */
export type BucketCounts = ReadonlyArray<{ le: number; count: number }>;

/** Latency percentiles of the events observed between two readings, in milliseconds; null when there were none. */
export interface LatencyPercentiles {
  p50: number | null;
  p99: number | null;
}

/**
 * The q-quantile of what was observed between `before` and `after` (both from bucketCounts), in
 * seconds, interpolated linearly inside its bucket as Prometheus' histogram_quantile does: the
 * buckets bound the answer, not the exact value. In the +Inf bucket it is the highest finite bound.
 */
export function quantileBetween(before: BucketCounts, after: BucketCounts, q: number): number | null {
  const counts = after.map((bucket, i) => bucket.count - (before[i]?.count ?? 0));
  const total = counts.at(-1) ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i]! < rank) continue;
    const upper = after[i]!.le;
    const lower = i === 0 ? 0 : after[i - 1]!.le;
    if (upper === Infinity) return lower;
    const below = i === 0 ? 0 : counts[i - 1]!;
    const inBucket = counts[i]! - below;
    return inBucket === 0 ? upper : lower + ((upper - lower) * (rank - below)) / inBucket;
  }
  return null;
}

/** p50 and p99 between two readings, in milliseconds rounded to 0.01 ms. */
export function percentilesBetween(before: BucketCounts, after: BucketCounts): LatencyPercentiles {
  const ms = (seconds: number | null): number | null => (seconds === null ? null : Math.round(seconds * 100_000) / 100);
  return { p50: ms(quantileBetween(before, after, 0.5)), p99: ms(quantileBetween(before, after, 0.99)) };
}
