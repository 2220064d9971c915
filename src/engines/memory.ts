/**
 * The embedded engine: history in this process's memory, delivery to this process only. The
 * default, and the reference the distributed engines are held to.
 *
 * Ids are "<epoch>-<sequence>". The sequence is a counter incremented once per appended event, so
 * ids are strictly increasing in acceptance order across every topic. The epoch is drawn when the
 * engine starts, so an id from before a restart (whose history is gone) is recognised as unknown
 * instead of being mistaken for a position in the new sequence.
 *
 * Retention: each topic's limits (its retention rule, else historyMaxEvents and historyMaxAgeMs,
 * fixed when its log is made: see topics/retention.ts), and a byte budget for the whole engine
 * (historyMaxBytes): past it, the engine's oldest events are evicted, whatever their topic, until
 * what is retained takes BUDGET_LOW_WATER of it. Every eviction is remembered per topic
 * (evictedUpTo), so a client whose resume needs an evicted event is told (history-exceeded).
 */
import { randomBytes } from 'node:crypto';
import { TopicRetention, TopicTree, type RetentionLimits, type RetentionRule, type Selector } from '../topics/index.js';
import {
  dedupeWindowOf,
  type AppendOptions,
  type DeliverListener,
  type DeliveryGapListener,
  type Engine,
  type EngineHealth,
  type EngineStats,
  type HistoryResult,
  type NewEvent,
  type StoredEvent,
  storedEvents,
} from './engine.js';
import type { GapReason } from '../protocol/index.js';
import { compareMemoryIds, memoryId, memoryIdSequence } from './memory-ids.js';
import { MemoryKeyValueStore } from './memory-kv.js';
import { MinHeap } from './min-heap.js';

export interface MemoryEngineOptions {
  /** Events kept per topic; 0 keeps none. */
  historyMaxEvents: number;
  /** Age after which an event leaves history, in milliseconds. */
  historyMaxAgeMs: number;
  /** Retention per topic, first match wins (topics/retention.ts). */
  retention?: readonly RetentionRule[];
  /** Bytes all retained events may take (estimated: see retainedSize); 0 or absent: no budget. */
  historyMaxBytes?: number;
  /** Topics whose history emptied that are still remembered (to answer resumes exactly). */
  maxForgottenTopics?: number;
  /** Clock, for tests of age-based retention. */
  now?: () => number;
}

/**
 * What a retained event is counted as against the byte budget: its text in UTF-16 code units (the
 * bytes V8 takes for Latin-1 text; other text takes up to twice that) and the objects around it.
 * Computed again on eviction, so nothing per event is stored for it.
 */
export function retainedSize(event: StoredEvent): number {
  return event.data.length + (event.event === undefined ? 0 : event.event.length) + RETAINED_EVENT_OVERHEAD;
}

/** Heap taken by a retained event besides its text: the event object, its id, two array slots (measured). */
const RETAINED_EVENT_OVERHEAD = 200;

/** Past the byte budget, the oldest events are evicted until retained events take this share of it. */
const BUDGET_LOW_WATER = 0.9;

/** Topics a pattern resume reads in one turn of the event loop, before it lets other work run. */
const HISTORY_TOPICS_PER_TURN = 1000;

/** One topic's retained events, oldest first, from index `head` on. */
class TopicLog {
  seqs: number[] = [];
  events: StoredEvent[] = [];
  head = 0;
  /** What the retained events count against the byte budget. */
  bytes = 0;
  /** The sequence of the newest event that left this topic's history (0: none ever did). */
  evictedUpTo: number;

  /** `topic` is the one string every event of the log refers to (not a copy per retained event). */
  constructor(
    readonly topic: string,
    readonly limits: RetentionLimits,
    evictedUpTo: number,
  ) {
    this.evictedUpTo = evictedUpTo;
  }

  get size(): number {
    return this.seqs.length - this.head;
  }

  /** The sequence of the oldest retained event; Infinity when empty. */
  get oldestSeq(): number {
    return this.head < this.seqs.length ? this.seqs[this.head]! : Infinity;
  }

  push(seq: number, event: StoredEvent, size: number): void {
    this.seqs.push(seq);
    this.events.push(event);
    this.bytes += size;
  }

  /** Evicts the oldest event; returns what it counted against the budget. */
  evictOldest(): number {
    const size = retainedSize(this.events[this.head]!);
    this.bytes -= size;
    this.evictedUpTo = this.seqs[this.head]!;
    this.events[this.head] = undefined as unknown as StoredEvent; // let it be collected now
    this.head += 1;
    if (this.head === this.seqs.length) {
      // Empty: an emptied log may be kept a long time (see markEmptied); it keeps no arrays.
      this.seqs = [];
      this.events = [];
      this.head = 0;
    } else if (this.head > 64 && this.head * 2 > this.seqs.length) {
      // Compact once the dead prefix dominates, so eviction stays O(1) amortised.
      this.seqs = this.seqs.slice(this.head);
      this.events = this.events.slice(this.head);
      this.head = 0;
    }
    return size;
  }

  oldestTime(): number | undefined {
    return this.size > 0 ? this.events[this.head]!.time : undefined;
  }

  /** Events with a sequence in (afterSeq, upToSeq], oldest first. */
  after(afterSeq: number, upToSeq: number, into: Array<[number, StoredEvent]>): void {
    let low = this.head;
    let high = this.seqs.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.seqs[mid]! <= afterSeq) low = mid + 1;
      else high = mid;
    }
    for (let i = low; i < this.seqs.length && this.seqs[i]! <= upToSeq; i++) into.push([this.seqs[i]!, this.events[i]!]);
  }
}

const SWEEP_INTERVAL_MS = 1000;

/** An append made with a dedupe key, remembered until expiresAt. */
interface DedupeRecord {
  ids: string[];
  time: number;
  expiresAt: number;
}

export class MemoryEngine implements Engine {
  readonly name = 'memory';
  /** Drawn at start: the first part of every id (see memory-ids.ts). */
  readonly epoch = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  private sequence = 0;
  /** Every topic with a log, by name (exact lookups) and by segment (pattern resumes). */
  private readonly logs = new Map<string, TopicLog>();
  private readonly tree = new TopicTree<TopicLog>();
  /** Topics whose log is empty, in the order they emptied; forgotten oldest first past the limit. */
  private readonly emptied = new Set<string>();
  /** Highest sequence evicted from a topic that is no longer remembered at all. */
  private forgottenUpTo = 0;
  private retained = 0;
  private retainedBytes = 0;
  private readonly maxBytes: number;
  private evictedForBudget = 0;
  /**
   * No retained event expires before this (a lower bound on time + its topic's maxAgeMs, made exact
   * by each age sweep): lets the sweep skip the scan of every topic until then.
   */
  private nextExpiry = Infinity;
  private readonly retention: TopicRetention;
  private readonly listeners: DeliverListener[] = [];
  /** dedupe key -> the append that stored it, oldest first; expired records are dropped by the sweep (or replaced). */
  private readonly deduped = new Map<string, DedupeRecord>();
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly now: () => number;
  private readonly maxForgottenTopics: number;
  private closed = false;
  readonly kv: MemoryKeyValueStore;

  constructor(options: MemoryEngineOptions) {
    this.now = options.now ?? Date.now;
    this.maxForgottenTopics = options.maxForgottenTopics ?? 10_000;
    this.maxBytes = options.historyMaxBytes ?? 0;
    this.retention = new TopicRetention(options);
    this.kv = new MemoryKeyValueStore(this.now);
    this.sweepTimer = setInterval(() => this.sweep(), Math.min(SWEEP_INTERVAL_MS, Math.max(this.retention.shortestAgeMs, 10)));
    this.sweepTimer.unref();
  }

  async append(events: readonly NewEvent[], options: AppendOptions = {}): Promise<StoredEvent[]> {
    return this.appendNow(events, options);
  }

  appendNow(events: readonly NewEvent[], options: AppendOptions = {}): StoredEvent[] {
    const time = this.now();
    const { dedupeKey } = options;
    // Looked up and recorded in one synchronous call: no other append can run meanwhile.
    const first = dedupeKey === undefined ? undefined : this.deduped.get(dedupeKey);
    if (first !== undefined && first.expiresAt > time) {
      return storedEvents('memory', events, first.ids, first.time);
    }
    const stored: StoredEvent[] = [];
    for (const input of events) {
      const seq = ++this.sequence;
      const log = this.logOf(input.topic);
      const event: StoredEvent = { id: memoryId(this.epoch, seq), topic: log.topic, data: input.data, time };
      if (input.event !== undefined) event.event = input.event;
      this.retain(log, seq, event);
      stored.push(event);
    }
    if (this.maxBytes > 0 && this.retainedBytes > this.maxBytes) this.evictForBudget();
    if (dedupeKey !== undefined) {
      this.deduped.delete(dedupeKey); // an expired record of the key: the new one goes last, in expiry order
      this.deduped.set(dedupeKey, { ids: stored.map((event) => event.id), time, expiresAt: time + dedupeWindowOf(options) });
    }
    for (const event of stored) for (const listener of this.listeners) listener(event);
    return stored;
  }

  async history(selectors: readonly Selector[], afterId: string): Promise<HistoryResult> {
    this.evictExpired();
    const positionSeq = this.sequence;
    const position = this.currentId();
    const afterSeq = this.sequenceOf(afterId);
    let reason: GapReason | undefined;
    let from = afterSeq;
    if (afterSeq === undefined) {
      reason = 'unknown-id';
      from = 0; // replay all that is retained: it is everything this engine still knows
    }
    const found: Array<[number, StoredEvent]> = [];
    // Events appended while a pattern resume lets other work run are after the position: live
    // delivery brings them, so they are left out here (or the client would get them twice).
    const visit = (log: TopicLog): void => {
      if (reason === undefined && log.evictedUpTo > from!) reason = 'history-exceeded';
      log.after(from!, positionSeq, found);
    };
    let mayMissForgotten = false;
    const hasPattern = selectors.some((s) => s.kind === 'pattern');
    if (hasPattern) {
      // Only the topics the selectors match are read (through the tree), a bounded number per turn.
      let read = 0;
      for (const selector of selectors) {
        for (const log of this.tree.matching(selector)) {
          visit(log);
          if (++read % HISTORY_TOPICS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
        }
      }
      mayMissForgotten = true;
    } else {
      for (const selector of selectors) {
        if (selector.kind !== 'exact') continue;
        const log = this.logs.get(selector.topic);
        if (log) visit(log);
        else mayMissForgotten = true;
      }
    }
    if (reason === undefined && mayMissForgotten && this.forgottenUpTo > from!) reason = 'history-exceeded';
    // Selectors matching one topic twice must not replay it twice.
    found.sort((a, b) => a[0] - b[0]);
    const events: StoredEvent[] = [];
    let previous = -1;
    for (const [seq, event] of found) {
      if (seq !== previous) events.push(event);
      previous = seq;
    }
    return reason === undefined ? { events, complete: true, position } : { events, complete: false, reason, position };
  }

  async position(): Promise<string> {
    return this.currentId();
  }

  compareIds(a: string, b: string): number {
    return compareMemoryIds(a, b, this.epoch, this.sequence);
  }

  onDeliver(listener: DeliverListener): void {
    this.listeners.push(listener);
  }

  /** Never called: an event is delivered in the very call that stores it, so none can be missed. */
  onDeliveryGap(_listener: DeliveryGapListener): void {}

  stats(): EngineStats {
    return { topics: this.logs.size - this.emptied.size, retainedEvents: this.retained, retainedBytes: this.retainedBytes, evictedForBudget: this.evictedForBudget };
  }

  /** Trie nodes entered by pattern resumes so far: the work they cost (for tests). */
  get historyNodesVisited(): number {
    return this.tree.nodesVisited;
  }

  /** Nothing to reach: healthy for as long as it is open. */
  async health(): Promise<EngineHealth> {
    return this.closed ? { ok: false, detail: 'the engine is closed' } : { ok: true, latencyMs: 0 };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweepTimer);
    this.listeners.length = 0;
  }

  private currentId(): string {
    return memoryId(this.epoch, this.sequence);
  }

  /** The sequence of an id of this engine's epoch at or before the current position, else undefined. */
  private sequenceOf(id: string): number | undefined {
    return memoryIdSequence(id, this.epoch, this.sequence);
  }

  /** The topic's log, created if it has none; an emptied log is no longer counted as empty. */
  private logOf(topic: string): TopicLog {
    let log = this.logs.get(topic);
    if (!log) {
      // It may be a forgotten topic coming back, whose evictions must still show in a resume.
      log = new TopicLog(topic, this.retention.limitsOf(topic), this.forgottenUpTo);
      this.logs.set(topic, log);
      this.tree.set(topic, log);
    } else if (log.size === 0) {
      this.emptied.delete(topic);
    }
    return log;
  }

  private retain(log: TopicLog, seq: number, event: StoredEvent): void {
    const size = retainedSize(event);
    log.push(seq, event, size);
    this.retained += 1;
    this.retainedBytes += size;
    const expiry = event.time + log.limits.maxAgeMs;
    if (expiry < this.nextExpiry) this.nextExpiry = expiry;
    while (log.size > log.limits.maxEvents) this.evict(log);
  }

  private evict(log: TopicLog): void {
    this.retainedBytes -= log.evictOldest();
    this.retained -= 1;
    // Times follow the wall clock, which may have stepped back: the next oldest can be older still.
    const next = log.oldestTime();
    if (next !== undefined && next + log.limits.maxAgeMs < this.nextExpiry) this.nextExpiry = next + log.limits.maxAgeMs;
    if (log.size === 0) this.markEmptied(log.topic);
  }

  /**
   * Retained events take more than the byte budget: evicts the engine's oldest events, whatever
   * their topic, down to the low-water mark. One pass builds a heap of the topics by their oldest
   * event (linear in the topics), then each eviction costs a logarithm; the low-water mark leaves
   * a tenth of the budget to fill before the next pass, so the passes cost little per append.
   */
  private evictForBudget(): void {
    const lowWater = Math.floor(this.maxBytes * BUDGET_LOW_WATER);
    const nonEmpty: TopicLog[] = [];
    for (const log of this.logs.values()) if (log.size > 0) nonEmpty.push(log);
    const oldestFirst = new MinHeap(nonEmpty, (log) => log.oldestSeq);
    while (this.retainedBytes > lowWater) {
      const log = oldestFirst.peek();
      if (log === undefined) break;
      this.evict(log);
      this.evictedForBudget += 1;
      if (log.size > 0) oldestFirst.rootKeyIncreased();
      else oldestFirst.pop();
    }
  }

  /** An empty log is kept (it remembers what it evicted) until too many are kept. */
  private markEmptied(topic: string): void {
    this.emptied.add(topic);
    if (this.emptied.size <= this.maxForgottenTopics) return;
    const oldest = this.emptied.values().next().value as string;
    this.emptied.delete(oldest);
    const log = this.logs.get(oldest)!;
    this.forgottenUpTo = Math.max(this.forgottenUpTo, log.evictedUpTo);
    this.logs.delete(oldest);
    this.tree.delete(oldest);
  }

  private sweep(): void {
    this.evictExpired();
    // Oldest first is expiry order when every append uses one window (the hub's): stop at the first live
    // record. A longer window only delays dropping later records, and a lookup ignores an expired one.
    const now = this.now();
    for (const [key, record] of this.deduped) {
      if (record.expiresAt > now) break;
      this.deduped.delete(key);
    }
  }

  /** Evicts what is past its topic's age limit: a scan of every topic, only when some event may have expired. */
  private evictExpired(): void {
    const now = this.now();
    if (this.nextExpiry > now) return;
    let next = Infinity;
    for (const log of this.logs.values()) {
      const cutoff = now - log.limits.maxAgeMs;
      let oldest = log.oldestTime();
      while (oldest !== undefined && oldest <= cutoff) {
        this.evict(log);
        oldest = log.oldestTime();
      }
      if (oldest !== undefined && oldest + log.limits.maxAgeMs < next) next = oldest + log.limits.maxAgeMs;
    }
    this.nextExpiry = next;
  }
}
