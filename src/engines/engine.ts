/**
 * The boundary between the hub and where events live. The hub never touches storage directly: it
 * appends through an Engine, learns of new events (from this or any other instance) through
 * onDeliver, and reads history after a client's Last-Event-ID through history().
 *
 * Invariants every engine must keep (the hub's no-loss, no-duplicate resume relies on them):
 * - ids are strictly increasing in append order across all topics (compareIds orders them), so one
 *   Last-Event-ID is a position in the whole stream, not in one topic;
 * - onDeliver listeners see every appended event exactly once, in id order, except events lost
 *   before this instance read them (removed by retention, or gone with the server's data): those
 *   are reported to onDeliveryGap listeners, before the next event is delivered;
 * - history() is consistent with delivery: an event delivered before history() was called with an
 *   id at or below the returned position is part of the result (unless evicted, which makes the
 *   result incomplete), and every event after the position is still to be delivered;
 * - history() never silently skips: if it cannot prove that every matching event after `afterId`
 *   is in its answer, it says so with complete=false and a reason;
 * - history() reads its own writes: its answer covers every event appended (by any instance) and
 *   acknowledged before it was called, so a ?rewind=N or a history read just after a publish
 *   includes that event (the distributed engines first wait for this instance's delivery to reach
 *   the newest event their server holds).
 */
import type { GapReason } from '../protocol/index.js';
import type { Selector } from '../topics/index.js';

export interface NewEvent {
  topic: string;
  /** SSE event name; absent means the default "message". */
  event?: string;
  data: string;
}

export interface StoredEvent extends NewEvent {
  id: string;
  /** Milliseconds since the epoch at which the engine accepted the event. */
  time: number;
}

export interface HistoryResult {
  /** The retained events matching the selectors with ids after afterId, in id order. */
  events: StoredEvent[];
  /** False when events after afterId may be missing (evicted, or the id is unknown to this engine). */
  complete: boolean;
  /** Set whenever complete is false: the hub sends it to the client in its reset event. */
  reason?: GapReason;
  /** The newest id the engine had assigned when it answered: live delivery takes over after it. */
  position: string;
}

export interface EngineStats {
  topics: number;
  retainedEvents: number;
  /** What retained events count against the byte budget (the memory engine; see retainedSize). */
  retainedBytes?: number;
  /** Events evicted, oldest first, because retained events went past the byte budget. */
  evictedForBudget?: number;
}

export type DeliverListener = (event: StoredEvent) => void;

/** Told that delivery to this instance skipped events it can no longer get; `detail` says why, for the log. */
export type DeliveryGapListener = (detail: string) => void;

/** What a health check found (see Engine.health). */
export interface EngineHealth {
  /** The engine's server answered a round trip in time (always true for the embedded engine). */
  ok: boolean;
  /** How long the round trip took, in milliseconds, when it succeeded. */
  latencyMs?: number;
  /** Why the engine is not ok: the driver's error, or the deadline that passed. */
  detail?: string;
}

/**
 * Small values shared by every hub instance on the engine: stream tickets, idempotency keys, rate
 * counters. Every key expires on its own; an expired key behaves exactly like an absent one.
 */
export interface KeyValueStore {
  /** Stores the value unless the key exists; true if it was stored (exactly one of racing callers wins). */
  setOnce(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Returns the value and deletes the key, atomically: of racing takers, one gets the value. */
  take(key: string): Promise<string | null>;
  get(key: string): Promise<string | null>;
  /** Stores the value whether or not the key exists, with a fresh expiry. */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  delete(key: string): Promise<void>;
  /** Adds one and returns the new count; a key created by this call expires after ttlMs. */
  increment(key: string, ttlMs: number): Promise<number>;
}

/**
 * Distributed engines deliver through their server, so delivery to this instance lags a little
 * behind append(). position() is therefore the newest id delivered to *this* instance: history()
 * answers up to it and live delivery continues after it, which keeps the resume seam exact.
 * Operations that fail because the engine's server cannot be reached reject with a HubError 503
 * `engine_unavailable` (see unavailable.ts); append() never reports success for an event it did not store.
 */
export interface AppendOptions {
  /**
   * Set when the publisher sent an Idempotency-Key (publishOnce passes its store key). If an append
   * with the same key was stored within the window, by this or any instance, append() stores and
   * delivers nothing and answers with that append's events: the same ids, topics and event names.
   * Data is taken from this call (publishOnce's fingerprint check guarantees it matches) and `time`
   * may be 0 or the original. The check is part of the append itself, so it also covers what the
   * idempotency record cannot: the server stored the events, then the reply was lost or the instance
   * died before recording the key as done, and a retry came after its pending claim lapsed.
   */
  dedupeKey?: string;
  /**
   * How long the engine remembers dedupeKey, in milliseconds (DEFAULT_DEDUPE_WINDOW_MS if absent).
   * NATS keeps its stream's duplicate window instead (see nats.ts).
   */
  dedupeWindowMs?: number;
  /**
   * What the events cost their publisher, for an engine that checks publish rates where it stores
   * (Engine.checksPublishCharges): it refuses the append, storing nothing, with the HubError of an
   * exceeded rate. Given to no other engine: the hub charges before appending.
   */
  charge?: PublishCharge;
}

/** What one publish costs its publisher against the publish rates (see auth/limits.ts). */
export interface PublishCharge {
  /** The publisher the rates are kept for. */
  key: string;
  events: number;
  /** UTF-8 bytes of the events' data and event names. */
  bytes: number;
}

/** How long an append's dedupeKey is remembered when the caller names no window (config's default idempotency window). */
export const DEFAULT_DEDUPE_WINDOW_MS = 10 * 60_000;

/** The window to remember a dedupe key for: whole milliseconds, at least 1 (Redis PX and SQL bigint take integers). */
export function dedupeWindowOf(options: AppendOptions): number {
  return Math.max(1, Math.ceil(options.dedupeWindowMs ?? DEFAULT_DEDUPE_WINDOW_MS));
}

export interface Engine {
  readonly name: string;
  /** Stores the events in order, assigns their ids, applies retention, then delivers them. */
  append(events: readonly NewEvent[], options?: AppendOptions): Promise<StoredEvent[]>;
  /**
   * append() without a promise, for an engine that stores in this process (the memory engine):
   * the events are stored and delivered when it returns. Absent on engines that must wait for a
   * server; the hub then uses append().
   */
  appendNow?(events: readonly NewEvent[], options?: AppendOptions): StoredEvent[];
  /**
   * True when the engine stores in the process that keeps the hub's publish rates, and checks
   * AppendOptions.charge there with the append: one round trip for both (the IPC engine of
   * --workers, whose primary keeps the rates of every worker). Absent: the hub charges first.
   */
  readonly checksPublishCharges?: boolean;
  history(selectors: readonly Selector[], afterId: string): Promise<HistoryResult>;
  /** The newest id assigned so far (an id that sorts before every future one). */
  position(): Promise<string>;
  /** Negative, zero or positive as a is before, equal to or after b. Both must be ids of this engine. */
  compareIds(a: string, b: string): number;
  onDeliver(listener: DeliverListener): void;
  /**
   * Listens for breaks in delivery: events appended (here or by another instance) that this instance
   * will never deliver, because retention removed them from the server before this instance read
   * them (it was cut off or fell far behind), or the server lost its data. The listeners are called
   * synchronously before the first event after the break is delivered, so no client's Last-Event-ID
   * can be past the break. Open streams may lack those events; the hub ends them so that clients
   * come back with their Last-Event-ID and history replays what it still holds, or says what it
   * lost. A break is noticed when the engine next reads its log (an event after it, or a recreated
   * stream); the memory engine and the workers' IPC engine cannot lose an event and never call it.
   */
  onDeliveryGap(listener: DeliveryGapListener): void;
  readonly kv: KeyValueStore;
  /** Cheap and synchronous: distributed engines answer with figures refreshed in the background. */
  stats(): EngineStats;
  /**
   * A cheap round trip to the engine's server (Redis EXISTS on its log, a JetStream request, PostgreSQL
   * `select 1`) for health checks. Resolves within timeoutMs (default 2 s) and never rejects: a
   * server that cannot be reached, or does not answer in time, is `ok: false` with a detail. A
   * closed engine is not ok.
   */
  health(timeoutMs?: number): Promise<EngineHealth>;
  close(): Promise<void>;
}

/**
 * The StoredEvents of an append: the caller's events with the ids the engine assigned (or, for a
 * deduplicated append, the ids the first append got). A count that differs means the dedupe key
 * was reused for another batch, which publishOnce's fingerprint check rules out.
 */
export function storedEvents(engine: string, events: readonly NewEvent[], ids: readonly string[], time: number | ((i: number) => number)): StoredEvent[] {
  if (ids.length !== events.length) throw new Error(`${engine} engine: the dedupe key answered ${ids.length} ids for ${events.length} events`);
  return events.map((input, i) => {
    const event: StoredEvent = { id: ids[i]!, topic: input.topic, data: input.data, time: typeof time === 'number' ? time : time(i) };
    if (input.event !== undefined) event.event = input.event;
    return event;
  });
}
