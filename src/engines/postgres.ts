/**
 * The PostgreSQL engine: several hub instances share one database (node-postgres).
 *
 * - Append (group commit): the appends an instance receives while its previous transaction is in
 *   flight are stored together, in one transaction, in the order they were called. The transaction
 *   first locks the meta row, which holds the id counter, and keeps it to the commit: appends from
 *   every instance are serialized by that one row lock (no advisory lock), so ids are gapless and
 *   become visible in id order: a reader tailing `id > cursor` can never skip a lower id that
 *   commits later. An append with a dedupe key looks it up and records it in that transaction, so a
 *   repeat within its window (from any instance) stores nothing and gets the first ids; two appends
 *   with one key never share a transaction (the second waits for the next one and finds the first).
 * - Delivery: each instance tails the events table from the last id it delivered, one read at a
 *   time, woken by NOTIFY (sent inside the append transaction, without payload: only a wake-up) and
 *   by a poll every second as a safety net. After a dropped connection it simply reads on from its
 *   cursor. The instance that committed a group delivers it from memory when its cursor stands
 *   right before the group (nothing from elsewhere in between), and ignores its own wake-ups.
 * - History: the same table, filtered by each topic's eviction record and the age limit, after the
 *   client's id and up to this instance's delivery position (postgres-schema.ts has the details).
 * - Failover: the engine speaks to whatever server its one address reaches (a virtual IP, PgBouncer,
 *   HAProxy in front of Patroni); its pool and LISTEN connection reconnect by themselves. Every tail
 *   read checks that the log is still the one this instance delivered from: same epoch, a counter
 *   not behind the cursor, and the event at the cursor the one delivered there. A promoted standby
 *   that lacks acknowledged events (asynchronous replication) fails the check: a new epoch is drawn
 *   (startOver), so no id ever names two events, and every stream here ends so that its client
 *   resumes and gets the reset signal. A server without the namespace's tables gets them again (a
 *   new epoch too). With synchronous replication (remote_apply) the check passes: nothing is reset.
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
import { charsOf, GroupCommit } from './group-commit.js';
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
/**
 * Most events, and characters of data, stored by one group commit; an append is never split, so a
 * larger one goes alone. The character bound keeps a group of large publishes under PostgreSQL's
 * 1 GB limit on one parameter (the group's data goes as one array).
 */
const GROUP_MAX_EVENTS = 5000;
const GROUP_MAX_CHARS = 16 * 1024 * 1024;
/**
 * Longest wait for the appends answered by the last group to come back before the next group
 * starts without them: half the last group's statement time, within these bounds. Publishers that
 * wait for each answer come back together; starting the moment the first of them is back would
 * alternate groups of one and of all the others, halving the rate. Waiting up to half a statement
 * costs a first append less than the next statement would.
 */
const GROUP_GATHER_MS = { least: 1, most: 10 };
const CLOSE_TIMEOUT_MS = 3000;

const NAMESPACE_PATTERN = /^[a-z_][a-z0-9_]{0,40}$/;

interface EventRow {
  id: string;
  topic: string;
  event: string | null;
  data: Buffer;
  time: string;
}

/** A row of the tail read: the meta row's epoch and counter, with an event or (none left) nulls. */
type TailRow = { epoch: string; last_id: string } & ({ id: null } | EventRow);

/** SQLSTATEs of a missing table or function: the server has no (or not all of) the namespace's schema. */
const MISSING_SCHEMA = new Set(['42P01', '42883']);

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

/** An append waiting for its group's transaction. */
interface PendingAppend {
  events: readonly NewEvent[];
  dedupeKey: string | undefined;
  dedupeWindowMs: number;
  /** Retried in a transaction of its own, after its group's statement was refused. */
  alone: boolean;
  resolve(stored: { base: number; count: number; time: number; epoch: string }): void;
  reject(error: unknown): void;
}

/**
 * The next group (removed from the queue): the waiting appends that fit one transaction, up to
 * GROUP_MAX_EVENTS events and GROUP_MAX_CHARS characters of data, in call order; the rest wait for
 * the next (so a smaller append may go before a larger one called earlier: concurrent appends have
 * no order of their own). An append retried alone, and a second append with a group's dedupe key, wait.
 */
export function takeTransactionGroup<T extends Pick<PendingAppend, 'events' | 'dedupeKey' | 'alone'>>(queue: T[]): T[] {
  const group: T[] = [];
  const later: T[] = [];
  const keys = new Set<string>();
  let size = 0;
  let chars = 0;
  for (const append of queue) {
    const appendChars = charsOf(append.events);
    const fits =
      group.length === 0 || (!append.alone && !group[0]!.alone && size + append.events.length <= GROUP_MAX_EVENTS && chars + appendChars <= GROUP_MAX_CHARS);
    // Two appends with one dedupe key: the second must find the first's record, so it waits for the next transaction.
    if (!fits || (append.dedupeKey !== undefined && keys.has(append.dedupeKey))) {
      later.push(append);
      continue;
    }
    group.push(append);
    size += append.events.length;
    chars += appendChars;
    if (append.dedupeKey !== undefined) keys.add(append.dedupeKey);
  }
  queue.length = 0;
  for (const append of later) queue.push(append);
  return group;
}

/**
 * True when PostgreSQL refused a statement (an error with a SQLSTATE), as opposed to a lost or
 * unusable connection (classes 08, 53 and 57), where retrying each append alone would only wait longer.
 */
function refusedStatement(error: unknown): boolean {
  return error instanceof pg.DatabaseError && typeof error.code === 'string' && !/^(08|53|57)/.test(error.code);
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

/** Whether a row of the log is the event delivered (its bytes as stored, not only its text). */
function sameEvent(delivered: StoredEvent, row: EventRow): boolean {
  return (
    delivered.topic === row.topic &&
    (delivered.event ?? null) === row.event &&
    delivered.time === Number(row.time) &&
    Buffer.from(delivered.data, 'utf8').equals(row.data)
  );
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
  /** The event at the cursor, as delivered here (undefined until known): what the log must still hold there. */
  private atCursor: StoredEvent | undefined;
  /** Events this instance stored and acknowledged ahead of its cursor, by id, until the tail read delivers them. */
  private readonly acknowledged = new Map<number, StoredEvent>();
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
  /** Appends waiting for the next group commit, in call order (group-commit.ts). */
  private readonly appends = new GroupCommit<PendingAppend>({
    take: takeTransactionGroup,
    store: (group, queue) => this.commitGroup(group, queue),
    gatherMs: () => (this.closed ? 0 : Math.min(GROUP_GATHER_MS.most, Math.max(GROUP_GATHER_MS.least, this.lastStatementMs / 2))),
  });
  private lastStatementMs = 0;
  /** Backend process ids of this instance's pool: their NOTIFYs are this instance's own appends. */
  private readonly ownBackends = new Set<number>();

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
    pool.on('connect', (client) => {
      const { processID } = client as unknown as { processID: number | null };
      if (processID !== null) this.ownBackends.add(processID);
    });
    pool.on('remove', (client) => this.ownBackends.delete((client as unknown as { processID: number }).processID));
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
      await this.createSchema();
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
    if (this.closed) throw new EngineUnavailableError('postgres', new Error('the engine is closed'));
    const { base, count, time, epoch } = await new Promise<{ base: number; count: number; time: number; epoch: string }>((resolve, reject) => {
      const { dedupeKey } = options;
      this.appends.add({ events, dedupeKey, dedupeWindowMs: dedupeKey === undefined ? 0 : dedupeWindowOf(options), alone: false, resolve, reject });
    });
    if (epoch !== this.epoch) this.requestRead(); // the tail read handles the change (startOver)
    const stored = storedEvents('postgres', events, Array.from({ length: count }, (_, i) => `${epoch}-${base + i + 1}`), time);
    // Delivered here before append() returns, like the memory engine: this instance's listeners and
    // position() already cover the batch. The events are stored either way, so a slow tail is not a failure.
    await this.deliveredUpTo(base + count).catch(() => {});
    return stored;
  }

  /** Stores a group of appends in one transaction, delivers it here when it can, and answers each append. */
  private async commitGroup(group: PendingAppend[], queue: PendingAppend[]): Promise<void> {
    const started = performance.now();
    type Found = { key: string; base: string; count: number; time: string; epoch: string };
    let outcome: { found: Map<string, Found>; fresh: PendingAppend[]; base: number; time: number; epoch: string };
    try {
      if (this.closed) throw new Error('the engine is closed');
      const keys = group.flatMap((append) => (append.dedupeKey === undefined ? [] : [append.dedupeKey]));
      if (keys.length === 0) {
        // One round trip, one implicit transaction: the append function takes the meta row lock itself.
        outcome = { found: new Map(), fresh: group, ...(await this.store(this.pool, group)) };
      } else {
        outcome = await this.transaction(this.sql.lockMeta, async (client) => {
          // Under the meta row lock: no append can store one of these keys between the lookup and the store.
          const found = new Map<string, Found>();
          for (const row of (await client.query<Found>(this.sql.findDedupe, [keys])).rows) found.set(row.key, row);
          const fresh = group.filter((append) => append.dedupeKey === undefined || !found.has(append.dedupeKey));
          return { found, fresh, ...(fresh.length === 0 ? { base: 0, time: 0, epoch: '' } : await this.store(client, fresh)) };
        });
      }
    } catch (error) {
      if (group.length > 1 && refusedStatement(error)) {
        // One append may hold what the server refused: each is retried alone, so the others still go through.
        queue.unshift(...group.map((append) => ({ ...append, alone: true })));
      } else {
        // The appends queued behind this group fail with it: they waited on a server that did not
        // answer, and starting them now would hold their publishers for a second deadline.
        const failure = error instanceof HubError ? error : new EngineUnavailableError('postgres', error);
        const waiting = refusedStatement(error) ? [] : queue.splice(0);
        for (const append of [...group, ...waiting]) append.reject(failure);
      }
      return;
    }
    this.lastStatementMs = performance.now() - started;
    const { found, fresh, base, time, epoch } = outcome;
    if (fresh.length > 0) this.deliverCommitted(base, epoch, time, fresh);
    let next = base;
    for (const append of group) {
      const first = append.dedupeKey === undefined ? undefined : found.get(append.dedupeKey);
      if (first) {
        append.resolve({ base: Number(first.base), count: first.count, time: Number(first.time), epoch: first.epoch });
      } else {
        append.resolve({ base: next, count: append.events.length, time, epoch });
        next += append.events.length;
      }
    }
  }

  /** Stores the appends' events (the append function: steps 1 and 2 of postgres-schema.ts) and applies count retention. */
  private async store(db: pg.Pool | pg.PoolClient, appends: PendingAppend[]): Promise<{ base: number; time: number; epoch: string }> {
    const events = appends.flatMap((append) => append.events);
    const data = events.map((event) => Buffer.from(event.data, 'utf8'));
    const deduped: { keys: string[]; firsts: number[]; counts: number[]; windows: number[] } = { keys: [], firsts: [], counts: [], windows: [] };
    let first = 0;
    for (const append of appends) {
      if (append.dedupeKey !== undefined) {
        deduped.keys.push(append.dedupeKey);
        deduped.firsts.push(first);
        deduped.counts.push(append.events.length);
        deduped.windows.push(append.dedupeWindowMs);
      }
      first += append.events.length;
    }
    const added = new Map<string, number>();
    for (const event of events) added.set(event.topic, (added.get(event.topic) ?? 0) + 1);
    const appendedTo = [...added.keys()];
    const limits = appendedTo.map((topic) => this.retention.limitsOf(topic));
    const { rows } = await db.query<{ base: string; time: string; epoch: string }>(this.sql.append, [
      events.length,
      events.map((event) => event.topic),
      events.map((event) => event.event ?? null),
      Buffer.concat(data),
      this.sql.channel,
      deduped.keys,
      deduped.firsts,
      deduped.counts,
      deduped.windows,
      appendedTo,
      [...added.values()],
      limits.map((limit) => limit.maxEvents),
      limits.map((limit) => limit.maxAgeMs),
      data.map((bytes) => bytes.length),
    ]);
    const stored = rows[0]!;
    return { base: Number(stored.base), time: Number(stored.time), epoch: stored.epoch };
  }

  /**
   * Delivers a group this instance just committed (ids base+1 on) without reading it back, when
   * every earlier id has been delivered here: the meta row lock committed those before this group,
   * so nothing can come between. Otherwise the tail read delivers it, after what comes first.
   */
  private deliverCommitted(base: number, epoch: string, time: number, appends: PendingAppend[]): void {
    if (this.closed || epoch !== this.epoch) {
      this.requestRead();
      return;
    }
    const direct = this.cursor === base;
    let id = base;
    for (const append of appends) {
      for (const input of append.events) {
        id += 1;
        const event: StoredEvent = { id: `${epoch}-${id}`, topic: input.topic, data: input.data, time };
        if (input.event !== undefined) event.event = input.event;
        if (!direct) {
          // Acknowledged, not yet delivered here: the log must still hold it when the tail read gets there (lostLog).
          this.acknowledged.set(id, event);
          continue;
        }
        this.cursor = id;
        this.atCursor = event;
        this.localDelivery.deliver(id, event);
      }
    }
    if (!direct) this.requestRead();
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
    this.appends.next(); // fails the appends still waiting to gather
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

  /** Creates the namespace's tables and append function where missing, under the namespace's advisory lock (concurrent CREATEs would race). */
  private async createSchema(): Promise<void> {
    await this.transaction(`SELECT pg_advisory_xact_lock(${this.lockKey})`, (client) => client.query(this.sql.schema));
  }

  /**
   * Runs work in a transaction that first takes `lock`: the meta row (lockMeta) for appends and
   * sweeps, which never interleave; the advisory lock for the schema, which creates the meta table.
   */
  private async transaction<T>(lock: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const ignore = () => {}; // a connection lost mid-transaction is reported by the query that fails
    client.on('error', ignore);
    try {
      await client.query(`BEGIN; ${lock}`);
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
    // This instance's own appends are delivered by commitGroup: only other instances' wake it.
    client.on('notification', (message) => {
      if (!this.ownBackends.has(message.processId)) this.requestRead();
    });
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
      let full: boolean;
      do {
        const from = this.cursor;
        const delivered = this.atCursor;
        // Captured before the read: the groups acknowledged by then were committed before its snapshot.
        const acknowledgedUpTo = Math.max(from, ...this.acknowledged.keys());
        const { rows } = await this.pool.query<TailRow>(this.sql.tail, [from, TAIL_BATCH + 1]);
        const lost = this.lostLog(from, delivered, acknowledgedUpTo, rows);
        if (lost !== undefined) return await this.startOver(lost);
        for (const row of rows) {
          if (row.id === null) continue;
          if (Number(row.id) > this.cursor) this.deliver(row); // commitGroup may have delivered it meanwhile
          else if (this.atCursor === undefined && Number(row.id) === this.cursor) this.atCursor = this.eventOf(row);
        }
        full = rows.length === TAIL_BATCH + 1;
      } while (full && !this.closed);
      this.tailFailures = 0;
    } catch (error) {
      if (error instanceof pg.DatabaseError && MISSING_SCHEMA.has(error.code ?? '') && !this.closed) {
        // A server without the namespace (a fresh one behind the address): its schema again, with a
        // new epoch, which the next read finds and handles like any other log that is not the one delivered from.
        this.logger.error({ err: error }, 'postgres engine: the server lacks the namespace\'s tables; creating them again');
        await this.createSchema().catch(() => {});
      }
      // The poll retries within a second, from the same cursor.
      if (this.tailFailures++ === 0 && !this.closed) {
        this.logger.warn({ err: error }, 'postgres engine: delivery interrupted; resuming from the last delivered event');
      }
    }
  }

  /**
   * Why the log the tail read saw is not the one this instance delivered from (undefined if it is):
   * its epoch changed, it ends before what this instance delivered or acknowledged, or holds
   * another event at the cursor or at an id this instance acknowledged. Ids commit in id order, so
   * a standby holds a prefix of the log: if the event at the cursor is intact, so is all before it.
   * `from`, `delivered` and `acknowledgedUpTo` are as they were when the read was sent.
   */
  private lostLog(from: number, delivered: StoredEvent | undefined, acknowledgedUpTo: number, rows: TailRow[]): string | undefined {
    const { epoch, last_id: lastId } = rows[0]!;
    if (epoch !== this.epoch) return `the namespace's epoch changed from ${this.epoch} to ${epoch} (another instance found the log replaced, or the tables were recreated)`;
    if (Number(lastId) < acknowledgedUpTo) {
      return `the log ends at ${lastId}, before ${acknowledgedUpTo}, the last event delivered or acknowledged here: the server that took over (a promoted standby?) lacks events that were acknowledged`;
    }
    for (const row of rows) {
      if (row.id === null) continue;
      const id = Number(row.id);
      // No row at the cursor while the counter is past it: pruned after the grace period (or its topic forgotten), not lost.
      const expected = id === from ? delivered : this.acknowledged.get(id);
      if (expected !== undefined && !sameEvent(expected, row)) {
        return `the event at ${id} in the log is not the one delivered or acknowledged here: the server that took over (a promoted standby?) lacked it and gave its id to another event`;
      }
    }
    return undefined;
  }

  /**
   * The log is not the one delivered from: ids must never name two events, so a new epoch is drawn
   * (unless another instance drew one first, or the namespace was recreated), which makes every id
   * handed out before unknown; history answers a resume from one with the reset signal. The gap ends
   * every stream here, so that each client resumes and hears it. Delivery goes on from the log's end.
   */
  private async startOver(detail: string): Promise<void> {
    const previous = this.epoch;
    const { rows } = await this.pool.query<{ epoch: string; last_id: string }>(this.sql.drawEpoch, [previous]);
    this.epoch = rows[0]!.epoch;
    this.cursor = Number(rows[0]!.last_id);
    this.atCursor = undefined;
    this.acknowledged.clear();
    this.localDelivery.gap({ previousEpoch: previous, epoch: this.epoch, position: this.cursor }, `${detail}; ids from before are unknown now (new epoch ${this.epoch}), and every client resumes with the reset signal`);
    this.localDelivery.passed(this.cursor);
    this.requestRead();
  }

  private deliver(row: EventRow): void {
    const id = Number(row.id);
    if (id !== this.cursor + 1) {
      // Ids are gapless: rows were pruned before this instance delivered them (it lagged past the grace period).
      this.localDelivery.gap({ from: this.cursor + 1, to: id - 1 }, 'events were deleted before this instance could deliver them');
    }
    const event = this.eventOf(row);
    this.cursor = id;
    this.atCursor = event;
    if (this.acknowledged.size > 0) for (const at of this.acknowledged.keys()) if (at <= id) this.acknowledged.delete(at);
    this.localDelivery.deliver(id, event);
  }

  private eventOf(row: EventRow): StoredEvent {
    const event: StoredEvent = { id: `${this.epoch}-${row.id}`, topic: row.topic, data: row.data.toString('utf8'), time: Number(row.time) };
    if (row.event !== null) event.event = row.event;
    return event;
  }

  /** Resolves once this instance has delivered the id, reading the table now rather than at the next wake-up. */
  private deliveredUpTo(target: number): Promise<void> {
    if (target <= this.cursor) return Promise.resolve(); // no read: an append delivered by commitGroup costs no query
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
    await this.transaction(this.sql.lockMeta, async (client) => {
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
