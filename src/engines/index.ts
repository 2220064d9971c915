/**
 * Opens the engine named by the configuration: "memory", or the URL of a Redis, NATS or
 * PostgreSQL server. Drivers are loaded only for the engine in use.
 */
import { HubError } from '../errors.js';
import type { Engine } from './engine.js';
import { MemoryEngine } from './memory.js';
import { ENGINE_CHOICES, silentEngineLogger, type EngineLogger, type EngineSettings } from './settings.js';

export async function openEngine(spec: string, settings: EngineSettings, logger: EngineLogger = silentEngineLogger): Promise<Engine> {
  if (spec === 'memory') return new MemoryEngine(settings);
  const scheme = /^([a-z-]+):\/\//i.exec(spec)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'redis':
    case 'rediss':
    case 'redis-sentinel': {
      const { RedisEngine } = await withDriver('ioredis', spec, () => import('./redis.js'));
      return RedisEngine.open(spec, settings, logger);
    }
    case 'redis-cluster': {
      const { ShardedRedisEngine } = await withDriver('ioredis', spec, () => import('./redis-sharded.js'));
      return ShardedRedisEngine.open(spec, settings, logger);
    }
    case 'nats': {
      const { NatsEngine } = await withDriver('nats', spec, () => import('./nats.js'));
      return NatsEngine.open(spec, settings, logger);
    }
    case 'postgres':
    case 'postgresql': {
      const { PostgresEngine } = await withDriver('pg', spec, () => import('./postgres.js'));
      return PostgresEngine.open(spec, settings, logger);
    }
    default:
      throw new HubError(
        400,
        'unsupported_engine',
        `Unknown engine "${spec}": use ${ENGINE_CHOICES}.`,
      );
  }
}

/**
 * Loads an engine's module. Its driver (ioredis, nats, pg) is an optional peer dependency, which
 * the app installs for the engine it uses: a missing one is a HubError naming what to install.
 */
async function withDriver<T>(driver: string, spec: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && (error as Error).message.includes(`'${driver}'`);
    if (!missing) throw error;
    const engine = spec.replace(/:\/\/.*$/, '');
    throw new HubError(500, 'engine_driver_missing', `The ${engine} engine needs the "${driver}" package, which is not installed: npm install ${driver}`);
  }
}

export type { Engine, NewEvent, StoredEvent, HistoryResult, KeyValueStore, AppendOptions } from './engine.js';
export type { GapReason } from '../protocol/index.js';
export type { EngineSettings, EngineLogger } from './settings.js';
export { MemoryEngine } from './memory.js';
