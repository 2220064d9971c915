/**
 * Limits that keep one client from hurting the rest: open streams per client IP and per token
 * subject, publish rates (events and bytes per second) per publisher.
 *
 * ClientLimits is what the HTTP routes and the hub ask; LocalLimits keeps the counters in this
 * process. Under `ssehub serve --workers N` every worker asks the primary process instead
 * (cluster/shared-limits.ts), whose LimitsHost (cluster/limits-host.ts) keeps the hub's one
 * LocalLimits: the workers share one count, as one hub.
 */
import { HubError } from '../errors.js';

/** What one publish costs its publisher: the key its rates are kept under, its events, their bytes. */
export interface PublishCharge {
  /** The publisher: "sub:<token subject>", else "ip:<client address>". */
  key: string;
  events: number;
  /** UTF-8 bytes of every event's data and event name. */
  bytes: number;
}

/** The stream slots one open stream holds; given back once, when it closes. */
export interface StreamLease {
  /** Gives the slots back; a second call does nothing. */
  release(): void;
}

export interface ClientLimits {
  /**
   * Whether a publisher with this subject (undefined: anonymous) is charged at all; the publisher's
   * key is worked out only then. See chargesPublisher().
   */
  chargesPublisher(subject: string | undefined): boolean;
  /**
   * Charges a publish to its publisher before anything is stored: 429 rate_limited with
   * Retry-After over a rate, 413 publish_too_large for a publish larger than a whole burst (it
   * could never pass). Synchronous when the counters are in this process; a promise when another
   * process keeps them.
   */
  chargePublish(charge: PublishCharge): void | Promise<void>;
  /**
   * Takes a stream slot for the client IP and one for the subject (if any), or refuses with 429
   * too_many_streams holding none.
   */
  openStream(ip: string, subject: string | undefined): StreamLease | Promise<StreamLease>;
}

export interface LimitSettings {
  /** 0: no limit, for each of these. */
  maxStreamsPerIp: number;
  maxStreamsPerSubject: number;
  publishRate: number;
  publishBurst: number;
  publishBytesRate: number;
  publishBytesBurst: number;
  /** Whether publishers with a subject are charged too; anonymous ones always are. */
  rateLimitSubjects: boolean;
}

/**
 * Whether a publish is charged to its publisher: some rate is set, and the publisher is anonymous
 * (keyed by client IP) or subjects are limited too. A subject is a principal the app or its token
 * issuer vouched for (a backend streaming to many clients from one host), so by default it is
 * trusted to publish at its own pace; an anonymous client is not.
 */
export function chargesPublisher(settings: Pick<LimitSettings, 'publishRate' | 'publishBytesRate' | 'rateLimitSubjects'>, subject: string | undefined): boolean {
  if (settings.publishRate === 0 && settings.publishBytesRate === 0) return false;
  return subject === undefined || settings.rateLimitSubjects;
}

/** The limits of one process: the counters live here, and every answer is synchronous. */
export class LocalLimits implements ClientLimits {
  readonly streamsPerIp: StreamCounter;
  readonly streamsPerSubject: StreamCounter;
  readonly publishEvents: RateLimiter;
  readonly publishBytes: RateLimiter;

  constructor(
    private readonly settings: LimitSettings,
    now: () => number = Date.now,
  ) {
    this.streamsPerIp = new StreamCounter(settings.maxStreamsPerIp, 'client IP');
    this.streamsPerSubject = new StreamCounter(settings.maxStreamsPerSubject, 'token subject');
    this.publishEvents = new RateLimiter(settings.publishRate, settings.publishBurst, 'events', now);
    this.publishBytes = new RateLimiter(settings.publishBytesRate, settings.publishBytesBurst, 'bytes', now);
  }

  chargesPublisher(subject: string | undefined): boolean {
    return chargesPublisher(this.settings, subject);
  }

  /** Both rates or neither: a publish refused for its bytes gives its events back. */
  chargePublish({ key, events, bytes }: PublishCharge): void {
    this.publishEvents.take(key, events);
    try {
      this.publishBytes.take(key, bytes);
    } catch (error) {
      this.publishEvents.refund(key, events);
      throw error;
    }
  }

  openStream(ip: string, subject: string | undefined): StreamLease {
    this.takeStreamSlots(ip, subject);
    // No limit counts this stream: every such stream shares one lease, rather than an object and
    // its address held per open stream.
    const counted = this.settings.maxStreamsPerIp !== 0 || (subject !== undefined && this.settings.maxStreamsPerSubject !== 0);
    return counted ? new LocalLease(this, ip, subject) : UNCOUNTED_LEASE;
  }

  /** Takes the slots of one stream, or refuses with 429 too_many_streams holding none. */
  takeStreamSlots(ip: string, subject: string | undefined): void {
    this.streamsPerIp.acquire(ip);
    try {
      if (subject !== undefined) this.streamsPerSubject.acquire(subject);
    } catch (error) {
      this.streamsPerIp.release(ip);
      throw error;
    }
  }

  /** Gives back what takeStreamSlots(ip, subject) took; once per stream. */
  releaseStreamSlots(ip: string, subject: string | undefined): void {
    this.streamsPerIp.release(ip);
    if (subject !== undefined) this.streamsPerSubject.release(subject);
  }
}

/** The lease of a stream no limit counts: there is nothing to give back. */
const UNCOUNTED_LEASE: StreamLease = Object.freeze({ release: () => {} });

class LocalLease implements StreamLease {
  private held = true;

  constructor(
    private readonly limits: LocalLimits,
    private readonly ip: string,
    private readonly subject: string | undefined,
  ) {}

  release(): void {
    if (!this.held) return;
    this.held = false;
    this.limits.releaseStreamSlots(this.ip, this.subject);
  }
}

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
 * A token bucket: `ratePerSecond` tokens a second, refilled continuously, at most `burst` saved up;
 * it starts full. The one refill rule of every rate the hub keeps (RateLimiter's per key, a
 * WebSocket connection's ephemeral publishes).
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.updatedAt = now;
  }

  /** The tokens held at `now`, refilled since the last look. */
  available(now: number): number {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.ratePerSecond);
    this.updatedAt = now;
    return this.tokens;
  }

  /** Takes `cost` tokens if they are there at `now`; false (nothing taken) if not. */
  take(cost: number, now: number): boolean {
    if (cost > this.available(now)) return false;
    this.tokens -= cost;
    return true;
  }

  /** Gives back tokens taken for something refused after all. */
  refund(cost: number): void {
    this.tokens = Math.min(this.burst, this.tokens + cost);
  }

  /** Full at `now`: holds no information, a new bucket would be the same. */
  full(now: number): boolean {
    return this.tokens + ((now - this.updatedAt) / 1000) * this.ratePerSecond >= this.burst;
  }
}

/**
 * A token bucket per key: `ratePerSecond` units (events, bytes) on average, bursts up to `burst`.
 * Refused publishes get 429 rate_limited with Retry-After (whole seconds until enough tokens are
 * back); a cost above the whole burst could never be met, and gets 413 publish_too_large instead.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();
  private calls = 0;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly unit: 'events' | 'bytes' = 'events',
    private readonly now: () => number = Date.now,
  ) {}

  /** False when the rate is 0 (no limit): take() does nothing then. */
  get limited(): boolean {
    return this.ratePerSecond !== 0;
  }

  take(key: string, cost: number): void {
    if (this.ratePerSecond === 0) return;
    if (cost > this.burst) {
      throw new HubError(
        413,
        'publish_too_large',
        `This publish is ${cost} ${this.unit}, more than the ${this.burst} ${this.unit} a publisher may publish at once; publish less at a time.`,
      );
    }
    const now = this.now();
    if (++this.calls % 1000 === 0) this.forgetFullBuckets(now);
    let bucket = this.buckets.get(key);
    if (bucket === undefined) this.buckets.set(key, (bucket = new TokenBucket(this.ratePerSecond, this.burst, now)));
    if (!bucket.take(cost, now)) {
      const waitSeconds = Math.max(1, Math.ceil((cost - bucket.available(now)) / this.ratePerSecond));
      throw new HubError(
        429,
        'rate_limited',
        `Publishing faster than ${this.ratePerSecond} ${this.unit}/s (bursts of ${this.burst} ${this.unit}); retry in ${waitSeconds} s.`,
        { 'Retry-After': String(waitSeconds) },
      );
    }
  }

  /** Gives back tokens taken for a publish that was refused after all (by another limit). */
  refund(key: string, cost: number): void {
    this.buckets.get(key)?.refund(cost);
  }

  /** A bucket that has refilled completely holds no information: drop it. */
  private forgetFullBuckets(now: number): void {
    for (const [key, bucket] of this.buckets) if (bucket.full(now)) this.buckets.delete(key);
  }
}
