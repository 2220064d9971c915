/** Limits that keep one client from hurting the rest: open streams per key, publish rate per key. */
import { HubError } from '../errors.js';

/** Counts open streams per key (client IP, token subject); refuses past the maximum (0: no limit). */
export class StreamCounter {
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly max: number,
    private readonly what: string,
  ) {}

  /** Takes a slot for `key`, or refuses with 429 too_many_streams. */
  acquire(key: string): void {
    if (this.max === 0) return;
    const count = this.counts.get(key) ?? 0;
    if (count >= this.max) {
      throw new HubError(429, 'too_many_streams', `At most ${this.max} open streams per ${this.what}.`, { 'Retry-After': '5' });
    }
    this.counts.set(key, count + 1);
  }

  /** Gives back a slot taken by acquire(key); the caller releases each slot once. */
  release(key: string): void {
    const count = this.counts.get(key);
    if (count === undefined) return;
    if (count <= 1) this.counts.delete(key);
    else this.counts.set(key, count - 1);
  }

  get keys(): number {
    return this.counts.size;
  }
}

/**
 * A token bucket per key: `ratePerSecond` events on average, bursts up to `burst`. Refused
 * publishes get 429 with Retry-After (whole seconds until enough tokens are back).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; updatedAt: number }>();
  private calls = 0;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** False when the rate is 0 (no limit): take() does nothing then. */
  get limited(): boolean {
    return this.ratePerSecond !== 0;
  }

  take(key: string, cost: number): void {
    if (this.ratePerSecond === 0) return;
    const now = this.now();
    if (++this.calls % 1000 === 0) this.forgetFullBuckets(now);
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, updatedAt: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.ratePerSecond);
    bucket.updatedAt = now;
    this.buckets.set(key, bucket);
    if (cost > bucket.tokens) {
      const waitSeconds = Math.max(1, Math.ceil((Math.min(cost, this.burst) - bucket.tokens) / this.ratePerSecond));
      throw new HubError(429, 'rate_limited', `Publishing faster than ${this.ratePerSecond} events/s (bursts of ${this.burst}); retry in ${waitSeconds} s.`, {
        'Retry-After': String(waitSeconds),
      });
    }
    bucket.tokens -= cost;
  }

  /** A bucket that has refilled completely holds no information: drop it. */
  private forgetFullBuckets(now: number): void {
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.ratePerSecond >= this.burst) this.buckets.delete(key);
    }
  }
}
