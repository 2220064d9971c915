/**
 * The PostgreSQL engine: several hub instances share one database (node-postgres).
 *
 * - Append: one transaction per batch holding the namespace's advisory lock. Ids come from a counter
 *   in the meta row, so they are gapless and, since appends are serialized, become visible in id
 *   order: a reader tailing `id > cursor` can never skip a lower id that commits later. An append
 *   with a dedupe key looks it up and records it in that transaction, so a repeat within its window
 *   (from any instance) stores nothing and gets the first ids.
 * - Delivery: each instance tails the events table from the last id it delivered, one read at a
 *   time, woken by NOTIFY (sent inside the append transaction, without payload) and by a poll every
 *   second as a safety net. After a dropped connection it simply reads on from its cursor.
 * - History: the same table, filtered by each topic's eviction record and the age limit, after the
 *   client's id and up to this instance's delivery position (postgres-schema.ts has the details).
 *
 * Retention follows each topic's limits (topics/retention.ts): its count when it is appended to,
 * its age (recorded on its row) in the sweep and when history is read. It never deletes what
 * delivery may still need: eviction only moves a topic's evicted_id (the row leaves history at
 * once), and rows out of history are deleted DELIVERY_GRACE_MS later.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { HubError } from '../errors.js';
import { TopicRetention, selectorMatches, type Selector } from '../topics/index.js';
import {
  dedupeWindowOf,
  type AppendOptions,
  type DeliverListener,
  type DeliveryGapListener,
  type Engine,
  type EngineHealth,
  type EngineStats,
  type HistoryResult,
  type KeyValueStore,
  type NewEvent,
  type StoredEvent,
  storedEvents,
} from './engine.js';
import type { GapReason } from '../protocol/index.js';
import { DELIVERY_GRACE_MS, postgresStatements, type PostgresStatements } from './postgres-schema.js';
import type { EngineLogger, EngineSettings } from './settings.js';
import { DEFAULT_HEALTH_TIMEOUT_MS, HealthProbe } from './health.js';
import { BackgroundTasks, LocalDelivery } from './local-delivery.js';
import { EngineUnavailableError, orUnavailable } from './unavailable.js';

const POLL_INTERVAL_MS = 1000;
const STATS_INTERVAL_MS = 5000;
const TAIL_BATCH = 1000;
const SWEEP_BATCH = 10_000;
const CONNECT_TIMEOUT_MS = 5000;
/**
 * Longest wait for a query's answer (node-postgres' query_timeout), after which it fails: a server
 * that stops answering, with the connection still open, would otherwise hold a publish until the
 * operating system gives up on the connection. The failed transaction's connection is discarded,
 * which rolls it back. Generous next to a sweep of SWEEP_BATCH rows; Redis has 5 s (commandTimeout).
 */
const QUERY_TIMEOUT_MS = 10_000;
const CLOSE_TIMEOUT_MS = 3000;

const NAMESPACE_PATTERN = /^[a-z_][a-z0-9_]{0,40}$/;

interface EventRow {
  id: string;
  topic: string;
  event: string | null;
  data: Buffer;
  time: string;
}

interface HistoryRow {
  topic: string | null;
  known: boolean;
  evicted_id: string | null;
  forgotten_id: string;
  id: string | null;
  event: string | null;
  data: Buffer | null;
  time: string | null;
  expired: boolean | null;
}

/** A signed 64-bit advisory lock key of the namespace, as SQL text. */
function lockKeyOf(namespace: string): string {
  return createHash('sha256').update(`ssehub:${namespace}`).digest().readBigInt64BE(0).toString();
}

/** The counter inside an id "<epoch>-<counter>", whatever the epoch; undefined if malformed. */
function counterOf(id: string): number | undefined {
  const match = /^[0-9a-f]+-(\d{1,15})$/.exec(id);
  return match ? Number(match[1]) : undefined;
}

function connectionOptions(url: string): pg.ClientConfig {
  return { connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, query_timeout: QUERY_TIMEOUT_MS, keepAlive: true };
}

/** Waits for the promise, but not longer than ms (for close(), which must not hang). */
function withTimeout(promise: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise((resolve) => (timer = setTimeout(resolve, ms)));
  return Promise.race([promise.catch(() => {}), timeout]).finally(() => clearTimeout(timer));
}

export class PostgresEngine implements Engine {
  readonly name = 'postgres';
  readonly kv: KeyValueStore;
  private readonly sql: PostgresStatements;
  private readonly lockKey: string;
  /** The last id delivered to this instance. */
  private cursor = 0;
  private epoch = '';
  private closed = false;
  private readonly localDelivery: LocalDelivery<number>;
  private readonly tasks: BackgroundTasks;
  private cachedStats: EngineStats = { topics: 0, retainedEvents: 0 };
  private listenClient: pg.Client | undefined;
  private listenRetry: NodeJS.Timeout | undefined;
  /** The tail read in progress, if any; reads never overlap, which keeps delivery in order and exactly once. */
  private reading: Promise<void> | undefined;
  private readAgain = false;
  private tailFailures = 0;
  private readonly healthProbe: HealthProbe;
  private readonly retention: TopicRetention;

  private constructor(
    private readonly url: string,
    private readonly pool: pg.Pool,
    private readonly settings: EngineSettings,
    private readonly logger: EngineLogger,
  ) {
    this.sql = postgresStatements(settings.namespace);
    this.lockKey = lockKeyOf(settings.namespace);
    this.kv = new PostgresKeyValueStore(pool, this.sql.kv);
    this.localDelivery = new LocalDelivery('postgres', logger, (a, b) => a - b);
    this.tasks = new BackgroundTasks('postgres', logger);
    this.healthProbe = new HealthProbe('postgres', () => this.ping());
    this.retention = new TopicRetention(settings);
  }

  /** Creates the namespace's tables if needed, starts listening, and delivers from the newest committed id on. */
  static async open(url: string, settings: EngineSettings, logger: EngineLogger): Promise<PostgresEngine> {
    if (!NAMESPACE_PATTERN.test(settings.namespace)) {
      throw new HubError(
        400,
        'invalid_config',
        `Invalid namespace "${settings.namespace}" for the postgres engine: ` +
          'lowercase letters, digits and underscores, starting with a letter or underscore, at most 41 characters.',
      );
    }
    const pool = new pg.Pool({ ...connectionOptions(url), application_name: 'ssehub' });
    pool.on('error', (error) => logger.warn({ err: error }, 'postgres engine: an idle connection failed'));
    const engine = new PostgresEngine(url, pool, settings, logger);
    try {
      await engine.start();
    } catch (error) {
      await engine.close();
      throw error instanceof HubError ? error : new EngineUnavailableError('postgres', error);
    }
    return engine;
  }

  private async start(): Promise<void> {
    await orUnavailable('postgres', async () => {
      await this.transaction((client) => client.query(this.sql.schema));
      const { rows } = await this.pool.query<{ epoch: string; last_id: string }>(this.sql.meta);
      this.epoch = rows[0]!.epoch;
      this.cursor = Number(rows[0]!.last_id);
      await this.listen();
    });
    this.tasks.every(POLL_INTERVAL_MS, async () => this.requestRead());
    const sweepMs = Math.min(60_000, Math.max(1000, Math.floor(this.retention.shortestAgeMs / 2)));
    this.tasks.every(sweepMs, () => this.sweep());
    this.tasks.every(STATS_INTERVAL_MS, () => this.refreshStats());
    void this.refreshStats().catch(() => {});
  }

  async append(events: readonly NewEvent[], options: AppendOptions = {}): Promise<StoredEvent[]> {
    if (events.length === 0) return [];
    const { dedupeKey } = options;
    const topics = events.map((event) => event.topic);
    const added = new Map<string, number>();
    for (const topic of topics) added.set(topic, (added.get(topic) ?? 0) + 1);
    const { base, count, time, epoch } = await orUnavailable('postgres', () =>
      this.transaction(async (client) => {
        if (dedupeKey !== undefined) {
          // Under the advisory lock: no append can store this key between the lookup and insertEvents.
          const { rows: found } = await client.query<{ base: string; count: number; time: string; epoch: string }>(this.sql.findDedupe, [dedupeKey]);
          const first = found[0];
          if (first) return { base: Number(first.base), count: first.count, time: Number(first.time), epoch: first.epoch };
        }
        const { rows } = await client.query<{ base: string; time: string; epoch: string }>(this.sql.insertEvents, [
          events.length,
          topics,
          events.map((event) => event.event ?? null),
          events.map((event) => Buffer.from(event.data, 'utf8')),
          this.sql.channel,
          dedupeKey ?? null,
          dedupeKey === undefined ? null : dedupeWindowOf(options),
        ]);
        const inserted = rows[0]!;
        const appendedTo = [...added.keys()];
        const limits = appendedTo.map((topic) => this.retention.limitsOf(topic));
        await client.query(this.sql.retainByCount, [
          appendedTo,
          [...added.values()],
          limits.map((limit) => limit.maxEvents),
          inserted.time,
          limits.map((limit) => limit.maxAgeMs),
        ]);
        return { base: Number(inserted.base), count: events.length, time: Number(inserted.time), epoch: inserted.epoch };
      }),
    );
    this.noteEpoch(epoch);
    const stored = storedEvents('postgres', events, Array.from({ length: count }, (_, i) => `${epoch}-${base + i + 1}`), time);
    // Delivered here before append() returns, like the memory engine: this instance's listeners and
    // position() already cover the batch. The events are stored either way, so a slow tail is not a failure.
    await this.deliveredUpTo(base + events.length).catch(() => {});
    return stored;
  }

  async history(selectors: readonly Selector[], afterId: string): Promise<HistoryResult> {
    let after = this.counterOfOwn(afterId);
    let reason: GapReason | undefined;
    // Catch up with every event committed so far (by any instance), so that the answer covers them
    // all and an id handed out elsewhere a moment ago is waited for instead of mistaken for unknown.
    const { rows: meta } = await orUnavailable('postgres', () => this.pool.query<{ last_id: string }>(this.sql.lastId));
    const newest = Number(meta[0]!.last_id);
    if (after !== undefined && after > newest) after = undefined; // never handed out
    await this.deliveredUpTo(newest);
    if (after === undefined) reason = 'unknown-id';
    const from = after ?? 0;
    // Captured before reading: everything up to it is visible, everything after it is still to be delivered.
    const positionId = this.cursor;
    const topics = await this.topicsFor(selectors);
    const { rows } = await orUnavailable('postgres', () =>
      this.pool.query<HistoryRow>(this.sql.history, [topics, from, positionId, topics.map((topic) => this.retention.limitsOf(topic).maxAgeMs)]),
    );
    const hasPattern = selectors.some((selector) => selector.kind === 'pattern');
    let mayBeForgotten = hasPattern;
    const events: StoredEvent[] = [];
    for (const row of rows) {
      if (row.topic === null) continue;
      if (!row.known) mayBeForgotten = true;
      else if (reason === undefined && Number(row.evicted_id) > from) reason = 'history-exceeded';
      if (row.id === null) continue;
      if (row.expired) {
        // Past the age limit but not yet swept: it is gone as far as a client can tell.
        if (reason === undefined) reason = 'history-exceeded';
        continue;
      }
      const event: StoredEvent = { id: `${this.epoch}-${row.id}`, topic: row.topic, data: row.data!.toString('utf8'), time: Number(row.time) };
      if (row.event !== null) event.event = row.event;
      events.push(event);
    }
    // A topic without records may have been forgotten (as may any topic a pattern covers): be conservative.
    const forgotten = Number(rows[0]?.forgotten_id ?? 0);
    if (reason === undefined && mayBeForgotten && forgotten > from) reason = 'history-exceeded';
    const result: HistoryResult = { events, complete: reason === undefined, position: `${this.epoch}-${positionId}` };
    if (reason !== undefined) result.reason = reason;
    return result;
  }

  async position(): Promise<string> {
    return `${this.epoch}-${this.cursor}`;
  }

  compareIds(a: string, b: string): number {
    const x = counterOf(a);
    const y = counterOf(b);
    if (x === undefined || y === undefined) return (x === undefined ? 0 : 1) - (y === undefined ? 0 : 1);
    return x - y;
  }

  onDeliver(listener: DeliverListener): void {
    this.localDelivery.onDeliver(listener);
  }

  onDeliveryGap(listener: DeliveryGapListener): void {
    this.localDelivery.onDeliveryGap(listener);
  }

  stats(): EngineStats {
    return this.cachedStats;
  }

  health(timeoutMs?: number): Promise<EngineHealth> {
    return this.healthProbe.check(timeoutMs);
  }

  /**
   * `select 1` through the pool. Its query_timeout (honoured by node-postgres, missing from its
   * types) fails the query on a server that stopped answering, and the pool then discards that
   * connection instead of leaving it stuck.
   */
  private async ping(): Promise<void> {
    if (this.closed) throw new Error('the engine is closed');
    const query: pg.QueryConfig & { query_timeout: number } = { text: 'select 1', query_timeout: DEFAULT_HEALTH_TIMEOUT_MS };
    await this.pool.query(query);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.tasks.stop();
    clearTimeout(this.listenRetry);
    this.localDelivery.close(); // fails whoever waits, and no listener hears of anything after this
    const listenClient = this.listenClient;
    this.listenClient = undefined;
    await withTimeout(Promise.allSettled([listenClient?.end(), this.reading]), CLOSE_TIMEOUT_MS);
    await withTimeout(this.pool.end(), CLOSE_TIMEOUT_MS);
  }

  /** The counter inside one of this namespace's ids, or undefined if it is not one. */
  private counterOfOwn(id: string): number | undefined {
    const dash = id.indexOf('-');
    if (dash <= 0 || id.slice(0, dash) !== this.epoch) return undefined;
    return counterOf(id);
  }

  private noteEpoch(epoch: string): void {
    if (epoch === this.epoch) return;
    // Only possible if the tables were dropped and recreated under a running instance.
    this.logger.warn({ previous: this.epoch, epoch }, 'postgres engine: the namespace was recreated; earlier history is gone');
    this.epoch = epoch;
  }

  /** Runs work in a transaction holding the namespace's advisory lock: appends, sweeps and schema changes never interleave. */
  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const ignore = () => {}; // a connection lost mid-transaction is reported by the query that fails
    client.on('error', ignore);
    try {
      await client.query(`BEGIN; SELECT pg_advisory_xact_lock(${this.lockKey})`);
      const result = await work(client);
      await client.query('COMMIT');
      client.removeListener('error', ignore);
      client.release();
      return result;
    } catch (error) {
      client.removeListener('error', ignore);
      // Discarding the connection rolls the transaction back and releases the lock.
      client.release(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  }

  /** Connects the dedicated LISTEN connection; on loss it reconnects with backoff and catches up. */
  private async listen(): Promise<void> {
    const client = new pg.Client({ ...connectionOptions(this.url), application_name: 'ssehub-listen' });
    client.on('notification', () => this.requestRead());
    client.on('error', (error) => this.listenLost(client, error));
    client.on('end', () => this.listenLost(client, new Error('the connection ended')));
    try {
      await client.connect();
      await client.query(`LISTEN ${this.sql.channel}`);
    } catch (error) {
      client.end().catch(() => {});
      throw error;
    }
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.listenClient = client;
    this.requestRead(); // anything appended while nobody listened
  }

  private listenLost(client: pg.Client, error: Error): void {
    if (client !== this.listenClient || this.closed) return;
    this.listenClient = undefined;
    this.logger.warn({ err: error }, 'postgres engine: lost the LISTEN connection; reconnecting (polling meanwhile)');
    client.end().catch(() => {});
    this.reconnectListen(1);
  }

  private reconnectListen(attempt: number): void {
    if (this.closed) return;
    this.listenRetry = setTimeout(
      () => {
        this.listen().catch((error: unknown) => {
          if (attempt === 1) this.logger.warn({ err: error }, 'postgres engine: cannot reconnect the LISTEN connection yet');
          this.reconnectListen(attempt + 1);
        });
      },
      Math.min(100 * 2 ** attempt, 5000),
    );
    this.listenRetry.unref();
  }

  /** Asks for a tail read; one runs at a time, and a request during a read makes it read again. */
  private requestRead(): void {
    if (this.closed) return;
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.readAgain = false;
    this.reading = this.readTail().finally(() => {
      this.reading = undefined;
      if (this.readAgain) this.requestRead();
    });
  }

  private async readTail(): Promise<void> {
    try {
      let rows: EventRow[];
      do {
        ({ rows } = await this.pool.query<EventRow>(this.sql.tail, [this.cursor, TAIL_BATCH]));
        for (const row of rows) this.deliver(row);
      } while (rows.length === TAIL_BATCH && !this.closed);
      this.tailFailures = 0;
    } catch (error) {
      // The poll retries within a second, from the same cursor.
      if (this.tailFailures++ === 0 && !this.closed) {
        this.logger.warn({ err: error }, 'postgres engine: delivery interrupted; resuming from the last delivered event');
      }
    }
  }

  private deliver(row: EventRow): void {
    const id = Number(row.id);
    if (id !== this.cursor + 1) {
      // Ids are gapless: rows were pruned before this instance delivered them (it lagged past the grace period).
      this.localDelivery.gap({ from: this.cursor + 1, to: id - 1 }, 'events were deleted before this instance could deliver them');
    }
    this.cursor = id;
    const event: StoredEvent = { id: `${this.epoch}-${id}`, topic: row.topic, data: row.data.toString('utf8'), time: Number(row.time) };
    if (row.event !== null) event.event = row.event;
    this.localDelivery.deliver(id, event);
  }

  /** Resolves once this instance has delivered the id, reading the table now rather than at the next wake-up. */
  private deliveredUpTo(target: number): Promise<void> {
    const delivered = this.localDelivery.until(target, this.cursor, 'this instance is behind the events table');
    this.requestRead();
    return delivered;
  }

  private async topicsFor(selectors: readonly Selector[]): Promise<string[]> {
    const exact = new Set<string>();
    for (const selector of selectors) if (selector.kind === 'exact') exact.add(selector.topic);
    if (!selectors.some((selector) => selector.kind === 'pattern')) return [...exact];
    const { rows } = await orUnavailable('postgres', () => this.pool.query<{ topic: string }>(this.sql.allTopics));
    for (const { topic } of rows) if (selectors.some((selector) => selectorMatches(selector, topic))) exact.add(topic);
    return [...exact];
  }

  /** Age retention for topics nobody publishes to, forgetting long-empty topics, pruning, expired keys and dedupe rows; each instance helps. */
  private async sweep(): Promise<void> {
    const { historyMaxAgeMs } = this.settings;
    await this.transaction(async (client) => {
      await client.query(this.sql.retainByAge, [historyMaxAgeMs]);
      await client.query(this.sql.forgetTopics, [Math.max(this.retention.largest.maxAgeMs, DELIVERY_GRACE_MS), SWEEP_BATCH]);
    });
    // Outside the lock: it only deletes rows at or below evicted_id, which never decreases.
    await this.pool.query(this.sql.prune, [DELIVERY_GRACE_MS, SWEEP_BATCH]);
    await this.pool.query(this.sql.kv.sweep, [SWEEP_BATCH]);
    await this.pool.query(this.sql.sweepDedupe, [SWEEP_BATCH]);
  }

  private async refreshStats(): Promise<void> {
    const { rows } = await this.pool.query<{ topics: number; retained: string }>(this.sql.stats);
    this.cachedStats = { topics: rows[0]!.topics, retainedEvents: Number(rows[0]!.retained) };
  }
}

/** The namespace's kv table; expiry is checked against the database clock on every access. */
class PostgresKeyValueStore implements KeyValueStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly sql: PostgresStatements['kv'],
  ) {}

  setOnce(key: string, value: string, ttlMs: number): Promise<boolean> {
    return orUnavailable('postgres', async () => ((await this.pool.query(this.sql.setOnce, [key, value, ttlMs])).rowCount ?? 0) > 0);
  }

  take(key: string): Promise<string | null> {
    return orUnavailable('postgres', async () => {
      const { rows } = await this.pool.query<{ value: string; live: boolean }>(this.sql.take, [key]);
      return rows[0]?.live ? rows[0].value : null;
    });
  }

  get(key: string): Promise<string | null> {
    return orUnavailable('postgres', async () => (await this.pool.query<{ value: string }>(this.sql.get, [key])).rows[0]?.value ?? null);
  }

  set(key: string, value: string, ttlMs: number): Promise<void> {
    return orUnavailable('postgres', async () => void (await this.pool.query(this.sql.set, [key, value, ttlMs])));
  }

  delete(key: string): Promise<void> {
    return orUnavailable('postgres', async () => void (await this.pool.query(this.sql.delete, [key])));
  }

  increment(key: string, ttlMs: number): Promise<number> {
    return orUnavailable('postgres', async () => {
      const { rows } = await this.pool.query<{ value: string }>(this.sql.increment, [key, ttlMs]);
      return Number(rows[0]!.value);
    });
  }
}
