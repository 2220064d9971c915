import type { RetentionRule } from '../topics/index.js';

/** What every engine is configured with (from config.ts, through start.ts). */
export interface EngineSettings {
  /** Events kept per topic for resume; 0 keeps none. */
  historyMaxEvents: number;
  /** Age after which an event leaves history, in milliseconds. */
  historyMaxAgeMs: number;
  /**
   * Retention per topic, first match wins; topics no rule matches keep historyMaxEvents and
   * historyMaxAgeMs (topics/retention.ts, which every engine asks).
   */
  retention?: readonly RetentionRule[];
  /**
   * Bytes all retained events may take; 0 or absent: no budget. The memory engine evicts its oldest events
   * past it; the NATS engine sets it as its stream's max_bytes.
   */
  historyMaxBytes?: number;
  /**
   * Where a distributed engine keeps this hub's data (Redis key prefix, NATS stream name,
   * PostgreSQL table prefix). Hub instances with the same engine URL and namespace form one cluster.
   */
  namespace: string;
  /** Replicas of the NATS engine's stream and KV bucket on a JetStream cluster; absent: 1. */
  natsReplicas?: number;
  /** Replicas that must hold a Redis append before it is acknowledged (WAIT); absent or 0: none. */
  redisWaitReplicas?: number;
}

/** The slice of a pino logger an engine uses. */
export interface EngineLogger {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

export const silentEngineLogger: EngineLogger = { info() {}, warn() {}, error() {} };
