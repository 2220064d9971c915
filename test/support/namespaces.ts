/**
 * Fresh namespaces on the shared test servers, and removing what a test left under them (Redis
 * keys, the NATS stream and KV bucket, the PostgreSQL tables), so that runs leave nothing behind.
 */
import { randomBytes } from 'node:crypto';

export type EngineKind = 'redis' | 'nats' | 'postgres';

/** A namespace no other test uses: valid for every engine (lowercase, digits, starting with a letter). */
export function freshNamespace(prefix = 't'): string {
  return `${prefix}${randomBytes(5).toString('hex')}`;
}

/** Removes the namespace's data from the server at `url`; never throws (cleanup is best effort). */
export async function removeNamespace(kind: EngineKind, url: string, namespace: string): Promise<void> {
  try {
    if (kind === 'redis') {
      const { Redis } = await import('ioredis');
      const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await redis.connect();
        const keys = await redis.keys(`${namespace}:*`);
        if (keys.length > 0) await redis.del(...keys);
      } finally {
        redis.disconnect();
      }
    } else if (kind === 'nats') {
      const { connect } = await import('nats');
      const nc = await connect({ servers: url, timeout: 2000 });
      try {
        const jsm = await nc.jetstreamManager();
        for (const stream of [namespace, `KV_${namespace}-kv`]) await jsm.streams.delete(stream).catch(() => false);
      } finally {
        await nc.close();
      }
    } else {
      if (!/^[a-z_][a-z0-9_]{0,40}$/.test(namespace)) return;
      const { default: pg } = await import('pg');
      const admin = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
      await admin.connect();
      try {
        const { rows } = await admin.query<{ tablename: string }>(
          `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND left(tablename, length($1) + 1) = $1 || '_'`,
          [namespace],
        );
        if (rows.length > 0) await admin.query(`DROP TABLE IF EXISTS ${rows.map((row) => row.tablename).join(', ')}`);
        await admin.query(`DROP FUNCTION IF EXISTS ${namespace}_append`); // the engine's append function (postgres-schema.ts)
      } finally {
        await admin.end();
      }
    }
  } catch {
    // The server may be the one a test took away; what is left expires or is harmless.
  }
}
