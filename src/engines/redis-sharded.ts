/**
 * The sharded Redis engine (`redis-cluster://h1:7000,h2:7001`): topics spread over K logs, the
 * shards, on a Redis Cluster, so that no one Redis server carries every append and every hub's read
 * of every event (docs/scaling.md: the single shared log is the first wall).
 *
 * - A topic's shard is the hash of its first segment (its namespace: `tenant-42/orders/7` →
 *   `tenant-42`) modulo K (--redis-shards). Shard k is a whole RedisEngine of its own under a hash
 *   tag (shardTag: `{<namespace>.<k>.<n>}`, in the k-th K-th of the slots, so the shards spread
 *   over the masters): every key of its log, topics, epoch and dedupe records hashes to one slot,
 *   so its append script runs on one master, with every guarantee the Redis engine gives within
 *   it (order, gapless ids, retention, idempotency, epoch checks after a failover).
 * - Order holds within a shard, not across shards. So an id is a vector: the position this
 *   instance had delivered in every shard when it delivered the event, `k~c0.c1.c2` for an event of
 *   shard k (a position alone has no `k~`). A stream spanning shards resumes from its last id in
 *   each shard at once: history is read per shard after that shard's component and merged by time.
 *   Ids grow with K: about 27 characters a shard, hence at most MAX_REDIS_SHARDS, which keeps an id well
 *   under a Last-Event-ID's 256 characters (longer ones are cut, and a cut id would resume wrong).
 * - A batch whose topics fall on several shards is an append per shard, in parallel: not atomic.
 *   With a dedupe key (an Idempotency-Key), each shard records it with its part, so a retry of the
 *   whole batch stores exactly what is missing and answers the first ids for the rest.
 * - The key-value store (tickets, idempotency records, rate counters) is shard 0's.
 *
 * Each hub reads every shard (a reader each); reading only the shards of its subscribers, with the
 * load balancer placing subscribers by topic namespace, is what would cut the hubs' read cost too.
 */
import { HubError } from '../errors.js';
import type { Selector } from '../topics/index.js';
import {
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
} from './engine.js';
import type { GapReason } from '../protocol/index.js';
import { LocalDelivery } from './local-delivery.js';
import { RedisEngine } from './redis.js';
import { checkRedisClusterSettings, DEFAULT_REDIS_SHARDS, type EngineLogger, type EngineSettings } from './settings.js';

/** The shard of a topic: FNV-1a of its first segment, modulo the shard count. */
export function shardOf(topic: string, shards: number): number {
  const slash = topic.indexOf('/');
  const end = slash === -1 ? topic.length : slash;
  let hash = 0x811c9dc5;
  for (let i = 0; i < end; i++) {
    hash ^= topic.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % shards;
}

/** Redis Cluster's hash slot of a hash tag: CRC16-XMODEM modulo 16384 (the Redis Cluster specification). */
export function hashSlot(tag: string): number {
  let crc = 0;
  for (const byte of Buffer.from(tag, 'utf8')) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

/**
 * The hash tag of shard k of K: `<namespace>.<k>.<n>` with the first n that puts it in the k-th
 * K-th of the slots. A cluster spreads its slots over its masters in equal ranges (`redis-cli
 * --cluster create` does), so the shards spread over the masters instead of where hashing alone
 * would drop them. Every instance computes the same tags.
 */
export function shardTag(namespace: string, k: number, shards: number): string {
  const from = Math.floor((k * 16384) / shards);
  const to = Math.floor(((k + 1) * 16384) / shards);
  for (let n = 0; ; n++) {
    const tag = `${namespace}.${k}.${n}`;
    const slot = hashSlot(tag);
    if (slot >= from && slot < to) return tag;
  }
}

/** The shard whose topics a selector can match when it is one (its first segment is literal); undefined: every shard. */
function shardOfSelector(selector: Selector, shards: number): number | undefined {
  if (selector.kind === 'exact') return shardOf(selector.topic, shards);
  const first = selector.segments[0]!;
  return first === '*' || first === '**' ? undefined : shardOf(first, shards);
}

/** An id of this engine: the component of every shard, and the shard of the event it names (none for a position). */
interface VectorId {
  own: number | undefined;
  components: string[];
}

export class ShardedRedisEngine implements Engine {
  readonly name = 'redis-cluster';
  readonly kv: KeyValueStore;
  /** The last id of each shard delivered here (the shard's position when it opened): the vector of the next event. */
  private readonly cursors: string[];
  private readonly localDelivery: LocalDelivery<string>;
  private closed = false;

  private constructor(
    private readonly shards: readonly RedisEngine[],
    /** Each shard's key prefix on the cluster, its hash tag in braces. */
    readonly shardNamespaces: readonly string[],
    logger: EngineLogger,
  ) {
    this.cursors = shards.map(() => '');
    this.kv = shards[0]!.kv;
    // Hands each event to the hub's listeners (history() waits on the shards themselves, not here).
    this.localDelivery = new LocalDelivery('redis-cluster', logger, (a, b) => this.compareIds(a, b));
  }

  /** Opens a RedisEngine per shard on the cluster (all or none). */
  static async open(url: string, settings: EngineSettings, logger: EngineLogger): Promise<ShardedRedisEngine> {
    const count = settings.redisShards ?? DEFAULT_REDIS_SHARDS;
    checkRedisClusterSettings(count, settings.redisWaitReplicas ?? 0);
    const namespaces = Array.from({ length: count }, (_, k) => `{${shardTag(settings.namespace, k, count)}}`);
    const opened = await Promise.allSettled(namespaces.map((namespace) => RedisEngine.open(url, { ...settings, namespace }, logger)));
    const shards = opened.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const failed = opened.find((result) => result.status === 'rejected');
    try {
      if (failed) throw failed.reason;
      // The count decides every shard's keys (and shard 0's holds the tickets, idempotency records,
      // revocations): instances with two counts would be two clusters that do not see each other.
      const recorded = await shards[0]!.sharedSetting(`{${settings.namespace}}:shards`, String(count));
      if (recorded !== String(count)) {
        throw new HubError(
          400,
          'invalid_config',
          `The namespace "${settings.namespace}" on this Redis Cluster runs with --redis-shards ${recorded}, not ${count}: every instance needs the same count. A new count needs a new --namespace (clients resuming from an id of before are reset).`,
        );
      }
    } catch (error) {
      await Promise.allSettled(shards.map((shard) => shard.close()));
      throw error;
    }
    // Listening before reading where each shard stands: an event delivered in between moves its
    // shard's cursor past the position read, which then stays unused.
    const engine = new ShardedRedisEngine(shards, namespaces, logger);
    shards.forEach((shard, k) => shard.onDeliver((event) => engine.delivered(k, event)));
    const positions = await Promise.all(shards.map((shard) => shard.position()));
    positions.forEach((position, k) => {
      if (engine.cursors[k] === '') engine.cursors[k] = position;
    });
    return engine;
  }

  /** The shard of a topic (for tests and tools). */
  shardOf(topic: string): number {
    return shardOf(topic, this.shards.length);
  }

  /** A shard delivered an event: its component moves, and the event goes on with the whole vector as its id. */
  private delivered(k: number, event: StoredEvent): void {
    this.cursors[k] = event.id;
    const id = `${k}~${this.cursors.join('.')}`;
    this.localDelivery.deliver(id, { ...event, id });
  }

  async append(events: readonly NewEvent[], options: AppendOptions = {}): Promise<StoredEvent[]> {
    if (events.length === 0) return [];
    // The events of each shard, by their index in the batch.
    const parts = new Map<number, number[]>();
    events.forEach((event, i) => {
      const shard = this.shardOf(event.topic);
      const part = parts.get(shard);
      if (part) part.push(i);
      else parts.set(shard, [i]);
    });
    if (parts.size === 1) {
      const [k] = parts.keys();
      return this.withVector(k!, await this.shards[k!]!.append(events, options));
    }
    // A batch over shards: a part per shard, each with the dedupe key (recorded per shard), answered in the caller's order.
    const stored: StoredEvent[] = new Array(events.length);
    await Promise.all(
      [...parts].map(async ([shard, indexes]) => {
        const part = this.withVector(shard, await this.shards[shard]!.append(indexes.map((i) => events[i]!), options));
        indexes.forEach((index, j) => (stored[index] = part[j]!));
      }),
    );
    return stored;
  }

  /**
   * An append's answer as ids of this engine: the event's own component, and this instance's
   * position in the other shards (an append answers before its delivery here).
   */
  private withVector(k: number, events: StoredEvent[]): StoredEvent[] {
    return events.map((event) => {
      const components = [...this.cursors];
      components[k] = event.id;
      return { ...event, id: `${k}~${components.join('.')}` };
    });
  }

  async history(selectors: readonly Selector[], afterId: string): Promise<HistoryResult> {
    const after = this.parse(afterId);
    const perShard = this.selectorsPerShard(selectors);
    // A shard not read stands where it had delivered here when the read began.
    const snapshot = [...this.cursors];
    const results = await Promise.all(
      this.shards.map((shard, k) => (perShard[k]!.length > 0 ? shard.history(perShard[k]!, after?.components[k] ?? afterId) : undefined)),
    );
    return this.merged(results, snapshot, after);
  }

  /**
   * The shards' answers as one: their events merged by time, each id the vector so far. The seam is
   * each read shard's own position: it caught up with its log before reading (so the answer covers
   * every acknowledged append, and a client's id in it), and its deliveries reach this engine
   * synchronously, so every event of the shard after that position is still to be delivered here.
   */
  private merged(results: ReadonlyArray<HistoryResult | undefined>, snapshot: readonly string[], after: VectorId | undefined): HistoryResult {
    const position = snapshot.map((at, k) => results[k]?.position ?? at);
    const found: Array<{ k: number; event: StoredEvent }> = [];
    let reason: GapReason | undefined;
    results.forEach((result, k) => {
      if (result === undefined) return;
      reason ??= result.reason;
      for (const event of result.events) found.push({ k, event });
    });
    // Stable: within a shard, ids and times only grow, so each shard's order stays.
    found.sort((a, b) => a.event.time - b.event.time);
    // Where the client stood: its id's components, but "0" (before everything) in a shard that did not know its component.
    const components = this.shards.map((_, k) => (after === undefined || results[k]?.reason === 'unknown-id' ? '0' : after.components[k]!));
    const events = found.map(({ k, event }) => {
      components[k] = event.id;
      return { ...event, id: `${k}~${components.join('.')}` };
    });
    const result: HistoryResult = { events, complete: reason === undefined, position: position.join('.') };
    if (reason !== undefined) result.reason = reason;
    return result;
  }

  /** The selectors each shard is read with: those that can match its topics (none: it is not read). */
  private selectorsPerShard(selectors: readonly Selector[]): Selector[][] {
    const perShard: Selector[][] = this.shards.map(() => []);
    for (const selector of selectors) {
      const k = shardOfSelector(selector, this.shards.length);
      if (k === undefined) for (const own of perShard) own.push(selector);
      else perShard[k]!.push(selector);
    }
    return perShard;
  }

  async position(): Promise<string> {
    return this.cursors.join('.');
  }

  /**
   * An event against an id: by the event's own shard, where ids are ordered (an event is before
   * an event of another shard whose component in its shard has reached it, and equal to a position
   * that stands at it). Two positions: before when every component is at or before the other's.
   * Anything not an id of this engine sorts before every id.
   */
  compareIds(a: string, b: string): number {
    const x = this.parse(a);
    const y = this.parse(b);
    if (!x || !y) return (x ? 1 : 0) - (y ? 1 : 0);
    if (x.own !== undefined) {
      const order = this.shards[x.own]!.compareIds(x.components[x.own]!, y.components[x.own]!);
      // An event of another shard that has reached this one came after it; a position may stand exactly at it.
      return y.own === undefined || y.own === x.own ? order : order <= 0 ? -1 : 1;
    }
    if (y.own !== undefined) {
      const order = this.compareIds(b, a);
      return order === 0 ? 0 : -order;
    }
    let before = false;
    for (let k = 0; k < this.shards.length; k++) {
      const order = this.shards[k]!.compareIds(x.components[k]!, y.components[k]!);
      if (order > 0) return 1;
      if (order < 0) before = true;
    }
    return before ? -1 : 0;
  }

  /** An id of this engine, or undefined: `k~c0.c1…` or `c0.c1…`, one component per shard. */
  private parse(id: string): VectorId | undefined {
    const match = /^(?:(\d)~)?([^~]*)$/.exec(id);
    if (!match) return undefined;
    const own = match[1] === undefined ? undefined : Number(match[1]);
    const components = match[2]!.split('.');
    if (components.length !== this.shards.length || (own !== undefined && own >= this.shards.length)) return undefined;
    return { own, components };
  }

  onDeliver(listener: DeliverListener): void {
    this.localDelivery.onDeliver(listener);
  }

  onDeliveryGap(listener: DeliveryGapListener): void {
    for (const shard of this.shards) shard.onDeliveryGap(listener);
  }

  stats(): EngineStats {
    const all = this.shards.map((shard) => shard.stats());
    return { topics: all.reduce((sum, stats) => sum + stats.topics, 0), retainedEvents: all.reduce((sum, stats) => sum + stats.retainedEvents, 0) };
  }

  /** Ok when every shard is: a shard down is a part of the topics unable to publish or deliver. */
  async health(timeoutMs?: number): Promise<EngineHealth> {
    const all = await Promise.all(this.shards.map((shard) => shard.health(timeoutMs)));
    const failing = all.flatMap((health, k) => (health.ok ? [] : [`shard ${k}: ${health.detail ?? 'not ok'}`]));
    if (failing.length > 0) return { ok: false, detail: failing.join('; ') };
    return { ok: true, latencyMs: Math.max(...all.map((health) => health.latencyMs ?? 0)) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.shards.map((shard) => shard.close()));
    this.localDelivery.close();
  }
}
