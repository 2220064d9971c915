/**
 * The system topic `$ssehub/stats`: every interval, each hub instance publishes one `stats` event
 * describing itself. It goes through Hub.publish and the engine like any event, so a dashboard on
 * any instance of a cluster sees every instance (told apart by `instance`). These events are not
 * counted as traffic (see countsAsTraffic in hub.ts), so the counters they carry describe users.
 */
import { randomBytes } from 'node:crypto';
import type { Hub } from './hub.js';
import { percentilesBetween, type BucketCounts, type LatencyPercentiles } from './latency.js';

export const STATS_TOPIC = '$ssehub/stats';
export const STATS_EVENT = 'stats';
/** Most topics listed in `topics.top`. */
export const STATS_TOP_TOPICS = 20;

/** The data of a `stats` event (JSON). */
export interface InstanceStats {
  /** Random, 8 hex characters, new for every started hub (one per process when run by `ssehub serve`). */
  instance: string;
  /** When the figures were taken, in milliseconds since the epoch. */
  time: number;
  uptimeSeconds: number;
  /** memory, redis, nats or postgres. */
  engine: string;
  /** Open streams on this instance. */
  connections: number;
  eventsPublished: number;
  eventsDelivered: number;
  slowConsumersDropped: number;
  /**
   * Publish-to-delivery latency of the events this instance handed to its streams since its
   * previous stats event (ssehub_delivery_latency_seconds), in milliseconds; null without events.
   */
  deliveryLatencyMs: LatencyPercentiles;
  topics: { total: number; top: Array<{ topic: string; subscribers: number }> };
}

export interface StatsLogger {
  warn(object: object, message?: string): void;
  info(object: object, message?: string): void;
}

export interface SystemStatsOptions {
  intervalMs: number;
  /** When this instance started (ms since the epoch), for uptimeSeconds. */
  startedAt: number;
  /** Defaults to a fresh random id. */
  instance?: string;
}

export class SystemStatsPublisher {
  readonly instance: string;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = false;
  /** Whether the last publish failed: a run of failures is logged once, and the recovery once. */
  private failing = false;
  /** After stop(), a publish still in flight may fail as the engine closes: that is not worth a warning. */
  private stopped = false;
  /** The latency histogram's buckets at the previous stats event: each event describes its own interval. */
  private latencyBefore: BucketCounts = [];

  constructor(
    private readonly hub: Hub,
    private readonly options: SystemStatsOptions,
    private readonly logger: StatsLogger,
  ) {
    this.instance = options.instance ?? randomBytes(4).toString('hex');
  }

  /** Starts publishing every intervalMs (nothing when it is 0). The timer never keeps the process alive. */
  start(): void {
    if (this.options.intervalMs <= 0 || this.timer !== undefined) return;
    this.timer = setInterval(() => void this.publishNow(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.stopped = true;
  }

  snapshot(deliveryLatencyMs: LatencyPercentiles, now = Date.now()): InstanceStats {
    const stats = this.hub.stats();
    return {
      instance: this.instance,
      time: now,
      uptimeSeconds: Math.floor((now - this.options.startedAt) / 1000),
      engine: this.hub.engine.name,
      connections: stats.connections,
      eventsPublished: stats.eventsPublished,
      eventsDelivered: stats.eventsDelivered,
      slowConsumersDropped: stats.slowConsumersDropped,
      deliveryLatencyMs,
      topics: this.hub.topicSummary(STATS_TOP_TOPICS),
    };
  }

  /**
   * Publishes one stats event. Never throws: an engine that cannot be reached is logged (once per
   * outage) and the next tick tries again. A tick that comes while the previous publish is still
   * waiting on a slow engine is skipped rather than piling up.
   */
  async publishNow(): Promise<void> {
    if (this.inFlight) return;
    this.inFlight = true;
    try {
      const buckets = this.hub.deliveryLatency.bucketCounts();
      const stats = this.snapshot(percentilesBetween(this.latencyBefore, buckets));
      this.latencyBefore = buckets;
      await this.hub.publish([{ topic: STATS_TOPIC, event: STATS_EVENT, data: JSON.stringify(stats) }], { allowReservedTopics: true });
      if (this.failing) this.logger.info({ topic: STATS_TOPIC }, 'publishing system stats again');
      this.failing = false;
    } catch (error) {
      if (!this.failing && !this.stopped) this.logger.warn({ err: error, topic: STATS_TOPIC }, 'could not publish system stats; retrying every interval');
      this.failing = true;
    } finally {
      this.inFlight = false;
    }
  }
}
