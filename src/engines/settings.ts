import { HubError } from '../errors.js';
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
  /** Shards of the sharded Redis engine (redis-cluster://); absent: DEFAULT_REDIS_SHARDS (below). */
  redisShards?: number;
}

/** The slice of a pino logger an engine uses. */
export interface EngineLogger {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

export const silentEngineLogger: EngineLogger = { info() {}, warn() {}, error() {} };

/** The most shards of the sharded Redis engine: an id carries a component per shard (about 27 characters), and a Last-Event-ID at most 256. */
export const MAX_REDIS_SHARDS = 6;
export const DEFAULT_REDIS_SHARDS = 3;

/**
 * The sharded Redis engine's settings, checked where the configuration is loaded and again where
 * the engine opens (an app may open it without loadConfig). `waitReplicas` is refused because WAIT
 * would reach a random node of the cluster, not the shard's master.
 */
export function checkRedisClusterSettings(shards: number, waitReplicas: number): void {
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_REDIS_SHARDS) {
    throw new HubError(400, 'invalid_config', `--redis-shards must be a whole number from 1 to ${MAX_REDIS_SHARDS}, not ${shards}.`);
  }
  if (waitReplicas > 0) {
    throw new HubError(400, 'invalid_config', "--redis-wait-replicas is not supported on a Redis Cluster (redis-cluster://): WAIT would reach a random node, not the shard's master.");
  }
}

/** The URL schemes openEngine() knows, beside "memory". */
export const ENGINE_SCHEMES = ['redis://', 'rediss://', 'redis-sentinel://', 'redis-cluster://', 'nats://', 'postgres://', 'postgresql://'] as const;

/** The engines a setting may name, as errors say it: '"memory" or a URL starting with redis://, … or postgresql://'. */
export const ENGINE_CHOICES = `"memory" or a URL starting with ${ENGINE_SCHEMES.slice(0, -1).join(', ')} or ${ENGINE_SCHEMES.at(-1)}`;

/** Whether --engine names an engine openEngine() can open: checked at startup, without connecting or loading a driver. */
export function isEngineSpec(spec: string): boolean {
  const lower = spec.toLowerCase();
  return spec === 'memory' || ENGINE_SCHEMES.some((scheme) => lower.startsWith(scheme) && spec.length > scheme.length);
}
