/**
 * The Redis engine: several hub instances share one Redis server (ioredis).
 *
 * - Append: one Lua script per batch (redis-scripts.ts; the appends made while one is in flight go
 *   together as one batch, see append()) adds each event to the shared log stream
 *   and to its topic's history stream under the same id, applying retention. Redis runs scripts
 *   one at a time, so ids ("<epoch>-<ms>-<seq>", from Redis's own stream ids) are strictly
 *   increasing across every instance. An append with a dedupe key checks and records it in the same
 *   script, so a repeat within its window (from any instance) stores nothing and gets the first ids.
 * - Delivery: each instance tails the shared log with a blocking XREAD from the last id it
 *   delivered. After a dropped connection or a Redis restart it simply continues from that id, so
 *   nothing appended meanwhile is skipped and nothing is delivered twice.
 * - History: the topic streams, after the client's id and up to this instance's delivery position.
 * - Retention: each topic's limits (topics/retention.ts) travel with its events to the append script,
 *   which trims the topic's stream by count and age as it appends; a sweep trims quiet topics by age.
 *
 * - Redis Sentinel (`redis-sentinel://s1:26379,s2:26379/mymaster`, redisConnection()): ioredis asks
 *   the sentinels for the master, and asks again after a failover. Redis replicates asynchronously,
 *   so a failover may lose what the old master acknowledged but had not yet sent to the promoted
 *   replica; with settings.redisWaitReplicas, append() answers only after WAIT saw that many replicas
 *   hold the write, and fails (503) when they did not within the deadline. Without it, the loss is
 *   detected (redis-scripts.ts, EPOCH_HELPERS): each instance checks, in every append, after each
 *   reconnect and every few seconds, that the newest log entry it has seen is still there; when it
 *   is not, a new epoch begins, every instance ends its streams when its reader meets the new epoch,
 *   and a client resuming from an id of before is reset (ssehub.reset, unknown-id), never silently
 *   left without the lost events. New ids are raised above every id the instance has seen.
 *
 * The command connection has no offline queue and never retries a command: a publish while Redis
 * is unreachable fails at once with 503, and an append is never silently sent twice.
 */
import { randomBytes } from 'node:crypto';
import { HubError } from '../errors.js';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
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
import type { EngineLogger, EngineSettings } from './settings.js';
import { APPEND_SCRIPT, CHECK_SCRIPT, INCREMENT_SCRIPT, SWEEP_SCRIPT } from './redis-scripts.js';
import { charsOf, GroupCommit } from './group-commit.js';
import { HealthProbe } from './health.js';
import { BackgroundTasks, LocalDelivery } from './local-delivery.js';
import { EngineUnavailableError, orUnavailable } from './unavailable.js';

/** Entries kept in the shared log: how far an instance cut off from Redis can still catch up. */
const LOG_MAX_LENGTH = 100_000;
const STATS_INTERVAL_MS = 5000;
/**
 * At most this many events, and this many characters of data, in one run of the append script (a
 * group of appends, see append()); an append larger than that goes alone. The character bound keeps
 * a group of large publishes from growing into one command past Redis's query buffer limit (1 GiB:
 * Redis closes the connection), which each publish alone would have stayed far under.
 */
const GROUP_MAX_EVENTS = 512;
const GROUP_MAX_CHARS = 4 * 1024 * 1024;
/** How long WAIT waits for replicas (under the command timeout of 5 s). */
const WAIT_TIMEOUT_MS = 4000;

type StreamEntry = [id: string, fields: string[]];

/** An append waiting for its group (see append()). */
interface QueuedAppend {
  events: readonly NewEvent[];
  options: AppendOptions;
  resolve(stored: StoredEvent[]): void;
  reject(error: unknown): void;
}

/**
 * The next group of appends (removed from the queue): the leading appends without a dedupe key, up
 * to GROUP_MAX_EVENTS events and GROUP_MAX_CHARS characters of data; or one with a key, alone.
 */
export function takeAppendGroup<T extends { events: readonly NewEvent[]; options: AppendOptions }>(queue: T[]): T[] {
  let count = 1;
  let events = queue[0]!.events.length;
  let chars = charsOf(queue[0]!.events);
  if (queue[0]!.options.dedupeKey === undefined) {
    for (; count < queue.length; count++) {
      const next = queue[count]!;
      if (next.options.dedupeKey !== undefined || events + next.events.length > GROUP_MAX_EVENTS) break;
      const nextChars = charsOf(next.events);
      if (chars + nextChars > GROUP_MAX_CHARS) break;
      events += next.events.length;
      chars += nextChars;
    }
  }
  return queue.splice(0, count);
}

interface StreamId {
  ms: number;
  seq: number;
}

function parseStreamId(id: string): StreamId | undefined {
  const match = /^(\d{1,16})-(\d{1,16})$/.exec(id);
  return match ? { ms: Number(match[1]), seq: Number(match[2]) } : undefined;
}

function compareStreamIds(a: StreamId, b: StreamId): number {
  return a.ms - b.ms || a.seq - b.seq;
}

/**
 * What ioredis connects to: the URL of one server, or for `redis-sentinel://[:password@]s1:26379,
 * s2:26379/mymaster` the sentinels and the master's name (the password is the master's).
 */
export function redisConnection(spec: string): string | RedisOptions {
  const match = /^redis-sentinel:\/\/(?:([^@/]*)@)?([^/]+)\/([^/?#]+)$/i.exec(spec);
  if (!/^redis-sentinel:/i.test(spec)) return spec;
  if (!match) {
    throw new HubError(400, 'invalid_config', `The engine URL "${spec}" is not redis-sentinel://host:26379,host:26379/master-name.`);
  }
  const [, auth, hosts, name] = match;
  const password = auth === undefined ? undefined : decodeURIComponent(auth.slice(auth.indexOf(':') + 1));
  return {
    sentinels: hostsOf(hosts!, spec, 26379, 'sentinel'),
    name: decodeURIComponent(name!),
    ...(password ? { password } : {}),
    sentinelCommandTimeout: 5000,
    // ioredis asks the sentinels again and again while none answers (a null here would end the
    // connection for good): open() bounds the first connection itself, and meanwhile commands fail
    // at once (no offline queue), as with a Redis that is down.
  };
}

/**
 * The nodes ioredis's Cluster client starts from, for `redis-cluster://[:password@]h1:7000,h2:7001`
 * (any of the cluster's nodes: it asks one for the rest), and the password of every node.
 */
export function redisClusterNodes(spec: string): { nodes: Array<{ host: string; port: number }>; password?: string } {
  const match = /^redis-cluster:\/\/(?:([^@/]*)@)?([^/?#]+)\/?$/i.exec(spec);
  if (!match) throw new HubError(400, 'invalid_config', `The engine URL "${spec}" is not redis-cluster://host:6379,host:6379.`);
  const [, auth, hosts] = match;
  const password = auth === undefined ? undefined : decodeURIComponent(auth.slice(auth.indexOf(':') + 1));
  return { nodes: hostsOf(hosts!, spec, 6379, 'node'), ...(password ? { password } : {}) };
}

function hostsOf(hosts: string, spec: string, defaultPort: number, what: string): Array<{ host: string; port: number }> {
  return hosts.split(',').map((entry) => {
    const hostPort = /^\s*([^:\s]+)(?::(\d{1,5}))?\s*$/.exec(entry);
    if (!hostPort) throw new HubError(400, 'invalid_config', `The ${what} "${entry}" in "${spec}" is not host:port.`);
    return { host: hostPort[1]!, port: Number(hostPort[2] ?? defaultPort) };
  });
}

/** A connection to one server (directly or through Sentinel) or to a Redis Cluster: the engine speaks to both alike. */
export type RedisConnection = Redis | Cluster;

/**
 * Makes the engine's connections for an engine URL, each with the options given. On a Redis Cluster
 * the options apply to every node's connection, but for those the Cluster client keeps itself (the
 * offline queue, the scripts, the retry strategy when no node answers).
 */
export function connectorFor(spec: string): (options: RedisOptions) => RedisConnection {
  if (/^redis-cluster:/i.test(spec)) {
    const { nodes, password } = redisClusterNodes(spec);
    return ({ lazyConnect, enableOfflineQueue, scripts, retryStrategy, ...nodeOptions }) => {
      // The Cluster client sends a command again after its connection closed or the cluster was
      // down (a failover): harmless for the reader's XREAD, but an append whose reply was lost
      // would be stored twice. The command connection (no resend) turns that off; MOVED, ASK and
      // TRYAGAIN answers, which say the command did not run, are still followed.
      const resend = nodeOptions.autoResendUnfulfilledCommands !== false;
      return new Cluster(nodes, {
        lazyConnect,
        enableOfflineQueue,
        scripts,
        clusterRetryStrategy: retryStrategy,
        ...(resend ? {} : { retryDelayOnFailover: 0, retryDelayOnClusterDown: 0 }),
        redisOptions: { ...nodeOptions, ...(password ? { password } : {}) },
      });
    };
  }
  const target = redisConnection(spec);
  return (options) => (typeof target === 'string' ? new Redis(target, options) : new Redis({ ...target, ...options }));
}

/**
 * The engine's Lua scripts, given to every connection as commands (ioredis's `scripts` option):
 * ioredis runs each by its SHA1 (EVALSHA), so its 1 to 4 KB of source cross to Redis, and are
 * hashed there, only when Redis does not hold it yet (the first run, after a restart or a
 * failover). A NOSCRIPT answer means the script did not run, so sending it whole then cannot
 * apply it twice.
 */
const SCRIPTS = { ssehubAppend: APPEND_SCRIPT, ssehubCheck: CHECK_SCRIPT, ssehubSweep: SWEEP_SCRIPT, ssehubIncrement: INCREMENT_SCRIPT };
type ScriptName = keyof typeof SCRIPTS;
const SCRIPT_OPTIONS: RedisOptions['scripts'] = Object.fromEntries(Object.entries(SCRIPTS).map(([name, lua]) => [name, { lua }]));

/** Runs one of SCRIPTS on a connection made with SCRIPT_OPTIONS (the key count first, as EVAL takes it). */
function runScript(connection: RedisConnection, name: ScriptName, keys: readonly string[], args: readonly string[]): Promise<unknown> {
  const command = (connection as unknown as Record<ScriptName, (...values: Array<string | number>) => Promise<unknown>>)[name];
  return command.call(connection, keys.length, ...keys, ...args);
}

/**
 * Whether a command failed because Redis did not answer (ioredis's command timeout, or a connection
 * that is not up), not because it answered with an error (a script's error, out of memory, too few
 * replicas for WAIT): only then would the commands behind it meet the same silence.
 */
function redisSilent(error: unknown, connection: RedisConnection): boolean {
  return error instanceof EngineUnavailableError && (connection.status !== 'ready' || /Command timed out/.test(error.message));
}

function fieldsOf(fields: string[]): Record<string, string> {
  const record: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) record[fields[i]!] = fields[i + 1]!;
  return record;
}

export class RedisEngine implements Engine {
  readonly name = 'redis';
  readonly kv: KeyValueStore;
  private readonly keys: { log: string; logged: string; topics: string; evicted: string; forgotten: string; epoch: string; epochs: string };
  /** The last stream id delivered to this instance. */
  private cursor = '0-0';
  /** The number (field n) of the last log entry delivered here, if it had one: the next must be one more. */
  private lastNumber: number | undefined;
  /** The epoch of the log where this instance's reader is: the epoch of the ids it hands out and accepts. */
  private epoch = '';
  /** A check found another epoch: the reader (it alone moves the cursor) is to follow it. */
  private epochMayHaveChanged = false;
  /**
   * The newest log entry this instance has seen, delivered to it or appended by it (the greatest
   * id, whichever its epoch): what a failover must not lose without the clients being told.
   */
  private newest: { epoch: string; id: StreamId; n: string } | undefined;
  private closed = false;
  private readonly localDelivery: LocalDelivery<StreamId>;
  private readonly tasks: BackgroundTasks;
  private cachedStats: EngineStats = { topics: 0, retainedEvents: 0 };
  private readerDone: Promise<void> = Promise.resolve();
  private readonly healthProbe: HealthProbe;
  private readonly retention: TopicRetention;

  private constructor(
    private readonly commands: RedisConnection,
    private readonly reader: RedisConnection,
    private readonly settings: EngineSettings,
    private readonly logger: EngineLogger,
  ) {
    const prefix = settings.namespace;
    this.keys = {
      log: `${prefix}:log`,
      logged: `${prefix}:logged`,
      topics: `${prefix}:topics`,
      evicted: `${prefix}:evicted`,
      forgotten: `${prefix}:forgotten`,
      epoch: `${prefix}:epoch`,
      epochs: `${prefix}:epochs`,
    };
    this.kv = new RedisKeyValueStore(commands, `${prefix}:kv:`);
    this.localDelivery = new LocalDelivery('redis', logger, compareStreamIds);
    this.tasks = new BackgroundTasks('redis', logger);
    this.healthProbe = new HealthProbe('redis', () => this.ping());
    this.retention = new TopicRetention(settings);
  }

  /** Connects both connections and starts delivery from the log's current end. */
  static async open(url: string, settings: EngineSettings, logger: EngineLogger): Promise<RedisEngine> {
    const options = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: 5000,
      connectTimeout: 5000,
      retryStrategy: (attempt: number) => Math.min(100 * attempt, 2000),
      scripts: SCRIPT_OPTIONS,
    };
    const connect = connectorFor(url);
    const commands = connect(options);
    // The reader blocks in XREAD (1 s at a time) and waits out reconnects. Re-sending an XREAD cut
    // off by a dropped connection is harmless (it reads from the same cursor); without it, ioredis
    // would leave that call pending forever.
    const reader = connect({
      ...options,
      commandTimeout: 10_000,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      autoResendUnfulfilledCommands: true,
    });
    let lastError: unknown;
    for (const connection of [commands, reader]) connection.on('error', (error) => (lastError = error)); // reported by the calls that fail
    try {
      // Bounded: with sentinels that never answer, connect() would wait for ever.
      const deadline = (connection: RedisConnection) =>
        Promise.race([
          connection.connect(),
          new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5000).unref()),
        ]);
      await deadline(commands);
      await deadline(reader);
    } catch (error) {
      commands.disconnect();
      reader.disconnect();
      throw new EngineUnavailableError('redis', lastError ?? error);
    }
    const engine = new RedisEngine(commands, reader, settings, logger);
    await engine.start();
    return engine;
  }

  private async start(): Promise<void> {
    await orUnavailable('redis', async () => {
      this.epoch = (await this.checkLog())!;
      const last = (await this.commands.xrevrange(this.keys.log, '+', '-', 'COUNT', 1)) as StreamEntry[];
      this.cursor = last[0]?.[0] ?? '0-0';
      const number = last[0] === undefined ? undefined : fieldsOf(last[0][1]).n;
      this.lastNumber = number === undefined ? undefined : Number(number);
    });
    this.readerDone = this.readLoop();
    const sweepMs = Math.min(60_000, Math.max(1000, Math.floor(this.retention.shortestAgeMs / 2)));
    this.tasks.every(sweepMs, () => this.sweep());
    this.tasks.every(STATS_INTERVAL_MS, () => this.refreshStats());
    this.tasks.every(STATS_INTERVAL_MS, async () => void (await this.checkLog()));
    // After a reconnect (a failover: another server may answer now), at once rather than on the timer.
    this.commands.on('ready', () => void this.checkLog().catch(() => {})); // the timer tries again
    void this.refreshStats().catch(() => {}); // the timer tries again
  }

  /**
   * Runs the epoch check (redis-scripts.ts, EPOCH_HELPERS) with the newest entry this instance has
   * seen: logs the range a loss took, and hands a new epoch to the reader. Answers the current epoch.
   */
  private async checkLog(connection: RedisConnection = this.commands): Promise<string | undefined> {
    if (this.closed) return undefined;
    const known = this.newest;
    const [epoch, lostAfter] = (await runScript(connection, 'ssehubCheck', [this.keys.log, this.keys.epoch, this.keys.epochs], this.knownArgs(known))) as [string, string];
    this.noteCheck(epoch, lostAfter, known);
    return epoch;
  }

  private knownArgs(known = this.newest): string[] {
    return [randomBytes(4).toString('hex'), known?.epoch ?? '', known ? `${known.id.ms}-${known.id.seq}` : '', known?.n ?? ''];
  }

  private noteCheck(epoch: string, lostAfter: string, known: RedisEngine['newest']): void {
    if (lostAfter !== '' && known) {
      const lost = { after: `${known.epoch}-${lostAfter}`, upTo: `${known.epoch}-${known.id.ms}-${known.id.seq}` };
      this.logger.warn(
        { lost, epoch },
        `redis engine: the log lost the events after ${lost.after} up to ${lost.upTo} that this instance had seen (a failover to a replica that lacked them, or a restart without them); a new epoch ${epoch} begins, and clients resuming from an id of before are reset`,
      );
    }
    if (this.epoch !== '' && epoch !== this.epoch) this.epochMayHaveChanged = true;
  }

  /** Remembers a log entry seen here if it is the newest yet. */
  private saw(epoch: string, id: StreamId, n: string | undefined): void {
    if (n === undefined) return;
    if (this.newest === undefined || compareStreamIds(id, this.newest.id) > 0) this.newest = { epoch, id, n };
  }

  /**
   * Group commit (group-commit.ts): the appends made while one group is in flight go together, in
   * call order, as one run of the append script (one command, one write, one script call on the
   * server instead of one each). An append with a dedupe key goes alone, its key checked with its events.
   */
  async append(events: readonly NewEvent[], options: AppendOptions = {}): Promise<StoredEvent[]> {
    if (events.length === 0) return [];
    return new Promise((resolve, reject) => this.appends.add({ events, options, resolve, reject }));
  }

  private readonly appends = new GroupCommit<QueuedAppend>({
    take: takeAppendGroup,
    store: async (group, queue) => {
      try {
        const stored = await this.appendGroup(group.length === 1 ? group[0]!.events : group.flatMap((append) => append.events), group[0]!.options);
        let offset = 0;
        for (const append of group) {
          append.resolve(stored.slice(offset, offset + append.events.length));
          offset += append.events.length;
        }
      } catch (error) {
        // Each append of the group shares its outcome, as the events of one append always did.
        for (const append of group) append.reject(error);
        // Redis did not answer (in time, or at all): the appends that waited meanwhile were never
        // sent, so they are refused now rather than after one more command timeout each, behind
        // the same silent server. A publish is answered within the engine's deadline either way.
        if (redisSilent(error, this.commands)) for (const append of queue.splice(0)) append.reject(error);
      }
    },
  });

  private async appendGroup(events: readonly NewEvent[], options: AppendOptions): Promise<StoredEvent[]> {
    const { dedupeKey } = options;
    const known = this.newest;
    const [newEpoch, ...knownArgs] = this.knownArgs(known);
    const args: string[] = [
      this.settings.namespace,
      String(LOG_MAX_LENGTH),
      newEpoch!,
      dedupeKey === undefined ? '0' : String(dedupeWindowOf(options)),
      ...knownArgs,
    ];
    for (const event of events) {
      const { maxEvents, maxAgeMs } = this.retention.limitsOf(event.topic);
      args.push(event.topic, event.event ?? '', event.data, String(maxEvents), String(maxAgeMs));
    }
    const { log, topics, evicted, epoch, logged, epochs } = this.keys;
    const keys = [log, topics, evicted, epoch, logged, epochs];
    if (dedupeKey !== undefined) keys.push(`${this.settings.namespace}:dedupe:${dedupeKey}`);
    const result = (await orUnavailable('redis', () => runScript(this.commands, 'ssehubAppend', keys, args))) as [string, number, string, number, ...string[]];
    const [epochThen, replayed, lostAfter, lastNumber, ...ids] = result;
    // A replayed append answers the epoch it was stored under, which says nothing about the current one.
    if (replayed !== 1) {
      this.noteCheck(epochThen, lostAfter, known);
      this.saw(epochThen, parseStreamId(ids.at(-1)!)!, String(lastNumber));
    }
    await this.waitForReplicas();
    return storedEvents('redis', events, ids.map((id) => `${epochThen}-${id}`), (i) => parseStreamId(ids[i]!)!.ms);
  }

  /**
   * With settings.redisWaitReplicas, the append is acknowledged only once that many replicas hold
   * it (WAIT, on the connection that wrote it). Fewer within WAIT_TIMEOUT_MS: 503; the events are
   * stored on the master, and the client's retry with its Idempotency-Key is answered with their ids.
   */
  private async waitForReplicas(): Promise<void> {
    const wanted = this.settings.redisWaitReplicas ?? 0;
    if (wanted === 0) return;
    const acknowledged = await orUnavailable('redis', () => this.commands.wait(wanted, WAIT_TIMEOUT_MS));
    if (acknowledged < wanted) {
      throw new EngineUnavailableError('redis', new Error(`${acknowledged} of the ${wanted} replicas --redis-wait-replicas asks for acknowledged the write`));
    }
  }

  async history(selectors: readonly Selector[], afterId: string): Promise<HistoryResult> {
    // Catch up with the shared log's newest event first (appended by any instance), so that the
    // answer covers every acknowledged append, and an id another instance handed out a moment ago
    // is waited for rather than mistaken for unknown.
    const last = (await orUnavailable('redis', () => this.commands.xrevrange(this.keys.log, '+', '-', 'COUNT', 1))) as StreamEntry[];
    const newest = last[0] ? parseStreamId(last[0][0]) : undefined;
    if (newest) await this.localDelivery.until(newest, parseStreamId(this.cursor)!, 'this instance is behind the shared log');
    // The id is read only now: the reader may have moved to a new epoch during the wait.
    let after = this.streamIdOf(afterId);
    const idEpoch = afterId.slice(0, Math.max(0, afterId.indexOf('-')));
    if (after === undefined && idEpoch !== '' && idEpoch !== this.epoch) {
      // An id of the namespace's current epoch, which this instance's reader has not reached yet:
      // the client is to come back in a moment (503), not be told its id is unknown.
      const current = await orUnavailable('redis', () => this.commands.get(this.keys.epoch));
      if (current === idEpoch) throw new EngineUnavailableError('redis', new Error('this instance has not yet read up to the epoch of the id'));
    }
    let reason: GapReason | undefined;
    // Past everything delivered here, now that delivery has reached the log's newest: never handed out.
    if (after !== undefined && compareStreamIds(after, parseStreamId(this.cursor)!) > 0) after = undefined;
    if (after === undefined) reason = 'unknown-id';
    const from = after ?? { ms: 0, seq: 0 };
    const positionId = this.cursor;
    const topics = await this.topicsFor(selectors);
    const now = Date.now();
    const { found, evictions, forgotten } = await orUnavailable('redis', async () => {
      const pipeline = this.commands.pipeline();
      for (const topic of topics) pipeline.xrange(`${this.settings.namespace}:topic:${topic}`, `(${from.ms}-${from.seq}`, positionId);
      pipeline.hmget(this.keys.evicted, ...(topics.length > 0 ? topics : ['']));
      pipeline.get(this.keys.forgotten);
      const replies = (await pipeline.exec())!;
      for (const [error] of replies) if (error) throw error;
      return {
        found: replies.slice(0, topics.length).map(([, entries]) => entries as StreamEntry[]),
        evictions: replies[topics.length]![1] as Array<string | null>,
        forgotten: replies[topics.length + 1]![1] as string | null,
      };
    });
    const exceeded = (id: string | null | undefined) => {
      const parsed = id ? parseStreamId(id) : undefined;
      return parsed !== undefined && compareStreamIds(parsed, from) > 0;
    };
    const hasPattern = selectors.some((selector) => selector.kind === 'pattern');
    const events: Array<{ at: StreamId; event: StoredEvent }> = [];
    topics.forEach((topic, t) => {
      if (reason === undefined && exceeded(evictions[t])) reason = 'history-exceeded';
      const cutoff = now - this.retention.limitsOf(topic).maxAgeMs;
      for (const [id, fields] of found[t]!) {
        const at = parseStreamId(id)!;
        if (at.ms <= cutoff) {
          // Past the age limit but not yet swept: it is gone as far as a client can tell.
          if (reason === undefined) reason = 'history-exceeded';
          continue;
        }
        const { e, d } = fieldsOf(fields);
        const event: StoredEvent = { id: `${this.epoch}-${id}`, topic, data: d ?? '', time: at.ms };
        if (e) event.event = e;
        events.push({ at, event });
      }
    });
    // A topic whose records were forgotten may be one of these (or match a pattern): be conservative.
    const mayBeForgotten = hasPattern || topics.some((_, t) => evictions[t] === null && found[t]!.length === 0);
    if (reason === undefined && mayBeForgotten && exceeded(forgotten)) reason = 'history-exceeded';
    events.sort((a, b) => compareStreamIds(a.at, b.at));
    const result: HistoryResult = { events: events.map((entry) => entry.event), complete: reason === undefined, position: `${this.epoch}-${positionId}` };
    if (reason !== undefined) result.reason = reason;
    return result;
  }

  async position(): Promise<string> {
    return `${this.epoch}-${this.cursor}`;
  }

  /**
   * A setting every instance must share (the sharded engine's shard count): stored at `key` by the
   * first instance, for good; answers what the key holds, this value or an earlier instance's.
   */
  sharedSetting(key: string, value: string): Promise<string> {
    return orUnavailable('redis', async () => {
      await this.commands.set(key, value, 'NX');
      return (await this.commands.get(key)) ?? value;
    });
  }

  compareIds(a: string, b: string): number {
    // The epoch is left out: after Redis lost its data, new ids (time-based) still sort after old ones.
    const x = parseStreamId(a.slice(a.indexOf('-') + 1));
    const y = parseStreamId(b.slice(b.indexOf('-') + 1));
    if (!x || !y) return (x ? 1 : 0) - (y ? 1 : 0);
    return compareStreamIds(x, y);
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
   * A read of the log's key on the command connection (which has no offline queue: while Redis is
   * unreachable it fails at once), so that on a Redis Cluster it asks the master that holds this
   * engine's keys, not any node; and the delivery connection must be up too: without it this
   * instance publishes but its streams receive nothing.
   */
  private async ping(): Promise<void> {
    if (this.closed) throw new Error('the engine is closed');
    if (this.reader.status !== 'ready') throw new Error(`the delivery connection is ${this.reader.status}`);
    await this.commands.exists(this.keys.log);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.tasks.stop();
    this.reader.disconnect();
    await this.readerDone;
    this.localDelivery.close();
    this.commands.disconnect();
  }

  /** The stream id inside one of this namespace's ids, or undefined if it is not one. */
  private streamIdOf(id: string): StreamId | undefined {
    const dash = id.indexOf('-');
    if (dash <= 0 || id.slice(0, dash) !== this.epoch) return undefined;
    return parseStreamId(id.slice(dash + 1));
  }

  /** Tails the shared log and delivers every entry, in order, exactly once. */
  private async readLoop(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      try {
        if (this.epochMayHaveChanged) {
          await this.followEpoch();
          this.epochMayHaveChanged = false;
        }
        const reply = (await this.reader.xread('COUNT', 1000, 'BLOCK', 1000, 'STREAMS', this.keys.log, this.cursor)) as Array<[string, StreamEntry[]]> | null;
        failures = 0;
        if (!reply) continue;
        for (const [id, entry] of reply[0]![1]) {
          const fields = fieldsOf(entry);
          // Numbering went back: the entries read here last are gone from the log (a failover), and
          // another instance appended over them. The check finds the loss and draws a new epoch.
          if (this.startsOver(fields)) await this.checkLog(this.reader);
          // An entry of another epoch: if the log moved to a new one, read again from where it began.
          if (fields.p !== undefined && fields.p !== this.epoch && (await this.followEpoch())) break;
          this.deliver(id, fields);
        }
      } catch (error) {
        if (this.closed) break;
        if (failures++ === 0) this.logger.warn({ err: error }, 'redis engine: delivery interrupted; resuming from the last delivered event');
        await new Promise((resolve) => setTimeout(resolve, Math.min(50 * failures, 1000)));
      }
    }
  }

  /** Whether this entry's number is not above the last one read here (within one epoch it only grows). */
  private startsOver(fields: Record<string, string>): boolean {
    return fields.n !== undefined && this.lastNumber !== undefined && Number(fields.n) <= this.lastNumber;
  }

  /**
   * Moves the reader to the namespace's current epoch if it is another: back to the log's id where
   * that epoch began when the cursor is past it (another instance raised the ids less far than this
   * one had read), so that no entry of the new epoch is skipped. Every stream here is ended first
   * (a delivery gap): its client resumes with an id of the old epoch, and is reset. Whether it moved.
   */
  private async followEpoch(): Promise<boolean> {
    const epoch = await this.reader.get(this.keys.epoch);
    if (!epoch || epoch === this.epoch) return false;
    const start = await this.reader.hget(this.keys.epochs, epoch);
    const from = this.cursor;
    const began = start ? parseStreamId(start) : undefined;
    if (began && compareStreamIds(began, parseStreamId(this.cursor)!) < 0) this.cursor = start!;
    const previous = this.epoch;
    this.epoch = epoch;
    this.lastNumber = undefined;
    this.localDelivery.gap(
      { previous, epoch, readUpTo: `${previous}-${from}`, epochBegan: start },
      'the shared log lost events and started over in a new epoch (a failover to a replica that lacked them, or Redis restarted without them); ids from before are unknown now',
    );
    return true;
  }

  private deliver(id: string, fields: Record<string, string>): void {
    const number = fields.n === undefined ? undefined : Number(fields.n);
    if (number !== undefined && this.lastNumber !== undefined && number > this.lastNumber + 1) {
      // The log's length is capped (LOG_MAX_LENGTH): these left it before this instance read them.
      this.localDelivery.gap({ after: this.cursor, missed: number - this.lastNumber - 1 }, 'events left the shared log before delivery here');
    }
    this.lastNumber = number;
    this.cursor = id;
    this.saw(fields.p ?? this.epoch, parseStreamId(id)!, fields.n);
    const event: StoredEvent = { id: `${this.epoch}-${id}`, topic: fields.t ?? '', data: fields.d ?? '', time: parseStreamId(id)!.ms };
    if (fields.e) event.event = fields.e;
    this.localDelivery.deliver(parseStreamId(id)!, event);
  }

  private async topicsFor(selectors: readonly Selector[]): Promise<string[]> {
    const exact = new Set<string>();
    for (const selector of selectors) if (selector.kind === 'exact') exact.add(selector.topic);
    if (!selectors.some((selector) => selector.kind === 'pattern')) return [...exact];
    const all = await orUnavailable('redis', () => this.commands.smembers(this.keys.topics));
    for (const topic of all) if (selectors.some((selector) => selectorMatches(selector, topic))) exact.add(topic);
    return [...exact];
  }

  /** Age retention for topics nobody publishes to, in batches; each instance helps. */
  private async sweep(): Promise<void> {
    let cursor = '0';
    do {
      const [next, batch] = await this.commands.sscan(this.keys.topics, cursor, 'COUNT', 500);
      cursor = next;
      if (batch.length > 0) {
        const { topics, evicted, forgotten } = this.keys;
        const ages = batch.flatMap((topic) => [topic, String(this.retention.limitsOf(topic).maxAgeMs)]);
        await runScript(this.commands, 'ssehubSweep', [topics, evicted, forgotten], [this.settings.namespace, ...ages]);
      }
    } while (cursor !== '0' && !this.closed);
  }

  private async refreshStats(): Promise<void> {
    const [topics, retained] = await Promise.all([this.commands.scard(this.keys.topics), this.commands.xlen(this.keys.log)]);
    // retainedEvents counts the shared log, which bounds what history holds; counting every topic would cost a round trip each.
    this.cachedStats = { topics, retainedEvents: retained };
  }
}

/** Keys under the namespace's kv prefix, with Redis's own expiry. */
class RedisKeyValueStore implements KeyValueStore {
  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
  ) {}

  setOnce(key: string, value: string, ttlMs: number): Promise<boolean> {
    return orUnavailable('redis', async () => (await this.redis.set(this.prefix + key, value, 'PX', ttlMs, 'NX')) === 'OK');
  }

  take(key: string): Promise<string | null> {
    return orUnavailable('redis', () => this.redis.getdel(this.prefix + key));
  }

  get(key: string): Promise<string | null> {
    return orUnavailable('redis', () => this.redis.get(this.prefix + key));
  }

  set(key: string, value: string, ttlMs: number): Promise<void> {
    return orUnavailable('redis', async () => void (await this.redis.set(this.prefix + key, value, 'PX', ttlMs)));
  }

  delete(key: string): Promise<void> {
    return orUnavailable('redis', async () => void (await this.redis.del(this.prefix + key)));
  }

  increment(key: string, ttlMs: number): Promise<number> {
    return orUnavailable('redis', async () => Number(await runScript(this.redis, 'ssehubIncrement', [this.prefix + key], [String(ttlMs)])));
  }
}
