/**
 * Which topics have ended, as this instance knows it, without a round trip on the publish path.
 *
 * A topic ends with an END_EVENT stored in its own log (see protocol/control-events.ts), and every
 * instance sees every stored event: so each instance learns every end from delivery (learn()),
 * the moment the end reaches it. An end stays in force for `forMs` after it was stored (the topic's
 * retention age: after it the end has left the log too, and the topic is free again).
 *
 * What delivery cannot teach is an end stored before this instance started. So the instance that
 * publishes an end also records it in the engine's key-value store for `forMs` (record()), and
 * during its first `forMs` (after which every end still in force was stored while it was
 * running) an instance asks the store once per topic it has no answer for (lookup()). An engine
 * that starts empty with this hub (the memory engine) has no such ends: it never asks.
 *
 * Invariant: the end is enforced on an instance once it was delivered there (or looked up), which
 * is right after the publish that ended the topic; a publish racing the end on another instance,
 * before the end reaches it, may still be stored after the end (and is not delivered to the
 * streams that the end closed).
 */
import type { KeyValueStore, StoredEvent } from '../engines/engine.js';
import type { TopicRetention } from '../topics/index.js';

export interface TopicEnd {
  /** The id of the END_EVENT in the topic's log. */
  endId: string;
  /** When the engine stored it, ms since the epoch. */
  endedAt: number;
}

/** How long an end is kept at the least, whatever the retention age (a hub that keeps no history still answers a repeated end). */
const MIN_END_MS = 1000;

export class EndedTopics {
  private readonly ends = new Map<string, TopicEnd>();
  /** Answers of the key-value store during the startup window, per topic (the promise, so that concurrent publishes ask once). */
  private lookups: Map<string, Promise<TopicEnd | undefined>> | undefined;
  private readonly lookupsUntil: number;
  private lastSweep: number;
  /** The longest time any end stays in force (the largest retention age). */
  private readonly longestMs: number;

  /**
   * @param kv the engine's store, or undefined when the engine started empty with this hub (no end
   *   can predate it)
   * @param retention the retention rules: a topic's end stays in force for the topic's retention
   *   age (its rule's, else --history-max-age)
   */
  constructor(
    private readonly kv: KeyValueStore | undefined,
    private readonly retention: TopicRetention,
    private readonly now: () => number = Date.now,
  ) {
    this.longestMs = Math.max(MIN_END_MS, retention.largest.maxAgeMs);
    this.lastSweep = now();
    this.lookupsUntil = kv === undefined ? 0 : this.lastSweep + this.longestMs;
    if (kv !== undefined) this.lookups = new Map();
  }

  /** An END_EVENT was delivered to this instance. */
  learn(event: StoredEvent): void {
    this.ends.set(event.topic, { endId: event.id, endedAt: event.time });
    this.sweepNowAndThen();
  }

  /** No end known here: the publish path's check is one comparison. */
  get isEmpty(): boolean {
    return this.ends.size === 0;
  }

  /** Whether any topic may have ended: one known here, or one this instance may have to ask about. */
  get mayHaveEnds(): boolean {
    return this.ends.size > 0 || this.mayNeedLookups;
  }

  /** The topic's end while in force, as known here without a round trip (see needsLookup). */
  endOf(topic: string): TopicEnd | undefined {
    if (this.ends.size === 0) return undefined;
    const end = this.ends.get(topic);
    if (end === undefined) return undefined;
    if (end.endedAt + this.forMsOf(topic) > this.now()) return end;
    this.ends.delete(topic);
    return undefined;
  }

  /** True while an end stored before this instance started could still be in force: ask lookup() for topics endOf() does not know. */
  get mayNeedLookups(): boolean {
    if (this.lookups === undefined) return false;
    if (this.now() < this.lookupsUntil) return true;
    this.lookups = undefined; // every end still in force was delivered here
    return false;
  }

  /** The topic's end from the key-value store (asked once per topic, and only while mayNeedLookups). */
  async lookup(topic: string): Promise<TopicEnd | undefined> {
    const known = this.endOf(topic);
    if (known !== undefined || !this.mayNeedLookups) return known;
    let asked = this.lookups!.get(topic);
    if (asked === undefined) {
      asked = this.kv!.get(storeKey(topic)).then(parseEnd);
      this.lookups!.set(topic, asked);
      asked.catch(() => this.lookups?.delete(topic)); // a failed read is asked again next time
    }
    const end = await asked;
    if (end === undefined || end.endedAt + this.forMsOf(topic) <= this.now()) return undefined;
    if (!this.ends.has(topic)) this.ends.set(topic, end);
    return end;
  }

  /** Kept in the key-value store by the instance that stored the end, for instances that start while it is in force. */
  async record(topic: string, end: TopicEnd): Promise<void> {
    this.ends.set(topic, end);
    if (this.kv === undefined) return;
    const left = end.endedAt + this.forMsOf(topic) - this.now();
    if (left > 0) await this.kv.set(storeKey(topic), JSON.stringify(end), left);
  }

  /** Drops lapsed ends, at most once per end lifetime (or minute): the map holds only ends in force. */
  private sweepNowAndThen(): void {
    const now = this.now();
    if (now - this.lastSweep < Math.min(this.longestMs, 60_000)) return;
    this.lastSweep = now;
    for (const [topic, end] of this.ends) if (end.endedAt + this.forMsOf(topic) <= now) this.ends.delete(topic);
  }

  private forMsOf(topic: string): number {
    return Math.max(MIN_END_MS, this.retention.limitsOf(topic).maxAgeMs);
  }
}

function storeKey(topic: string): string {
  return `ended:${topic}`;
}

function parseEnd(value: string | null): TopicEnd | undefined {
  if (value === null) return undefined;
  try {
    const end = JSON.parse(value) as TopicEnd;
    return typeof end.endId === 'string' && typeof end.endedAt === 'number' ? end : undefined;
  } catch {
    return undefined;
  }
}
