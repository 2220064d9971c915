/**
 * The hub: accepts events, fans them out to the streams whose selectors match, and stitches history
 * to live delivery when a client resumes.
 *
 * Fan-out path (hot): the engine delivers an event once -> it is encoded to bytes once -> the
 * topic index yields the matching subscribers -> each gets the same bytes queued -> at the end of
 * the turn every dirty subscriber is written once, with the frames of that turn joined (and the
 * join itself shared between subscribers whose queues hold the same frames, as in a broadcast).
 * An event that reaches only a few streams with nothing queued is written to them at once.
 * No per-subscriber timers: one hub-wide heartbeat tick serves every idle stream.
 */
import { HubError } from '../errors.js';
import {
  encodeComment,
  encodeRetry,
  END_EVENT,
  EXPIRED_EVENT,
  EXPIRED_REASON,
  HEARTBEAT_ANNOUNCEMENT,
  POSITION_EVENT,
  RESET_EVENT,
  type EndDetail,
  type ExpiredDetail,
} from '../protocol/index.js';
import { SYSTEM_TOPIC_PREFIX, TopicIndex, TopicRetention, type Selector, type TopicLimits } from '../topics/index.js';
import type { AppendOptions, Engine, NewEvent, PublishCharge, StoredEvent } from '../engines/engine.js';
import type { StreamSink } from './sink.js';
import { Subscriber, type StreamHolder, type SubscriberClosedListener, type SubscriberHooks } from './subscriber.js';
import { checkNewEvent } from './event-rules.js';
import { createDeliveryLatency } from './latency.js';
import { newestEvents, readHistory, type HistoryPage, type HistoryQuery } from './history.js';
import { EndedTopics, type TopicEnd } from './ended-topics.js';

/** An event to publish. `end: true` makes it its topic's last: the hub stores the topic's END_EVENT right after it. */
export interface EventToPublish extends NewEvent {
  end?: boolean;
}

/**
 * A published event as publish() answers it. For an event published with `end`: `endId`, the id of
 * its topic's END_EVENT; and `alreadyEnded` when the topic had ended before (a repeated end, which
 * stores nothing: the answer then stands for the end itself, its id the END_EVENT's).
 */
export interface PublishedEvent extends StoredEvent {
  endId?: string;
  alreadyEnded?: boolean;
}
import { ControlFrames, controlFrame, eventFrame, type ControlMessage } from './wire-format.js';

/**
 * Where ephemeral events travel: `$ssehub/ephemeral/<topic>`. A reserved topic, so no history read
 * of a user's topics or patterns ever returns one (patterns never match `$…` topics), and no
 * publisher may write there directly; the hub delivers each to the subscribers of `<topic>`.
 */
export const EPHEMERAL_TOPIC_PREFIX = '$ssehub/ephemeral/';

export interface PublishOptions {
  /** System topics ("$…") may be published to only by the hub itself. */
  allowReservedTopics?: boolean;
  /** Called with the validated events before anything is stored; throwing refuses them all. */
  authorize?: (events: readonly NewEvent[]) => void;
  /**
   * The publisher whose rates the events are charged to (HubOptions.publishLimits), once they are
   * valid and authorized and before anything is stored. Absent: not charged (the hub's own events).
   */
  chargeTo?: string;
  /** The publisher's idempotency key (scoped to the publisher), passed to the engine. */
  dedupeKey?: string;
  /** How long the engine remembers dedupeKey (the idempotency window). */
  dedupeWindowMs?: number;
  /**
   * Deliver to the streams open now on every instance, never to a later reader: the events go over
   * the engine (which is what reaches the other instances) under EPHEMERAL_TOPIC_PREFIX, which no
   * engine keeps (topics/retention.ts), and arrive without an id. For typing indicators, cursors.
   */
  ephemeral?: boolean;
}

export interface SubscribeOptions {
  lastEventId?: string;
  /** When the subscriber's credential expires (ms since the epoch): the stream is ended then. */
  expiresAt?: number;
  /** Told once when the stream closes, for any reason. */
  whenClosed?: SubscriberClosedListener;
  /** Who holds the stream, for endStreams() to match by subject or token id. */
  holder?: StreamHolder;
  /** Replay the newest N retained events first (?rewind=N; EVERY_RETAINED_EVENT: all of them); ignored when lastEventId is given. */
  rewind?: number;
  /** Which events the stream gets and how they are written, when not every matching event as is (see StreamView). */
  view?: StreamView<any>;
}

/** A rewind that replays every retained event of the stream's selectors (Mercure's lastEventID=earliest). */
export const EVERY_RETAINED_EVENT = Number.POSITIVE_INFINITY;

/**
 * How one kind of stream reads and writes events, for a protocol whose events are not ssehub's
 * own (Mercure's updates, stored as envelopes: src/mercure/). An event is read and encoded once
 * per format per dispatch, whatever the number of streams of that format, as native frames are.
 */
export interface StreamFormat<T> {
  /** What the streams of this format need of the event (parsed once per dispatch). */
  read(event: StoredEvent): T;
  /** The event's frame on these streams. */
  encode(event: StoredEvent, read: T): Uint8Array;
}

/** A stream's view: its format, and which events (already matched by its selectors) it gets. */
export interface StreamView<T> {
  readonly format: StreamFormat<T>;
  accepts(read: T): boolean;
}

/** Which streams endStreams() ends: those of a subject, of a token id, or reading a topic. */
export type StreamMatch = { subject: string } | { tokenId: string } | { topic: string };

/** Most streams an event may newly dirty and still be written at once (see dispatch). */
const WRITE_THROUGH_FAN_OUT = 16;

/** How often streams are checked for an expired credential (one hub-wide timer). */
const EXPIRY_SWEEP_MS = 1000;

export interface HubOptions {
  heartbeatMs: number;
  retryMs: number;
  maxBufferBytes: number;
  topicLimits: TopicLimits;
  /** Where publishes with PublishOptions.chargeTo are charged; absent: nowhere. */
  publishLimits?: PublishLimits;
  /**
   * The retention rules: an ended topic stays ended (refusing publishes, answering streams with its
   * end) for its retention age. Default: 1 h for every topic.
   */
  retention?: TopicRetention;
}

/** Charges publishes to their publishers' rates (auth/limits.ts's ClientLimits is one). */
export interface PublishLimits {
  /** Throws (or rejects) with the HubError of an exceeded rate; a promise only when another process keeps the rates. */
  chargePublish(charge: PublishCharge): void | Promise<void>;
}

/** A publish once every check has passed: what to store, how, and the rate charge still under way (kept in another process). */
interface CheckedPublish {
  events: NewEvent[];
  append: AppendOptions;
  charging: Promise<void> | undefined;
  /** For each published event, its index in `events` (followed there by its topic's END_EVENT when it ends the topic); undefined when no event ends a topic (each is at its own index). */
  places: number[] | undefined;
  /** Set (and nothing to store) when every event was the end of a topic that had already ended: the answer. */
  repeatedEnds?: PublishedEvent[];
}

export interface HubLogger {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

export interface HubStats {
  connections: number;
  subscribedSelectors: number;
  topics: number;
  retainedEvents: number;
  /** What retained events count against --history-max-bytes (memory engine only). */
  retainedBytes?: number;
  /** Events evicted because history went past --history-max-bytes (memory engine only). */
  evictedForBudget?: number;
  eventsPublished: number;
  eventsDelivered: number;
  slowConsumersDropped: number;
  streamsExpired: number;
  /** Streams ended by a disconnect (POST /admin/disconnect, hub.disconnect()). */
  streamsRevoked: number;
  /** Streams ended because the engine lost events before this instance could deliver them. */
  streamsEndedByGap: number;
}

/** The subscriptions of this instance, as the dashboard shows them (see Hub.topicSummary). */
export interface TopicSummary {
  /** Distinct topics and patterns subscribed to on this instance. */
  total: number;
  /** The most subscribed, most first, ties by name. */
  top: Array<{ topic: string; subscribers: number }>;
}

/**
 * Events on system topics ($ssehub/…, published by the hub itself, e.g. its stats every second)
 * are left out of eventsPublished and eventsDelivered, so that the counters, /stats, /metrics and
 * the dashboard's events per second describe the users' traffic only. Other reserved topics carry
 * users' events (Mercure's updates, $mercure/…) and count.
 */
function countsAsTraffic(event: NewEvent): boolean {
  return !event.topic.startsWith(SYSTEM_TOPIC_PREFIX);
}

/** An event as one format writes it, made once per dispatch (see Hub.dispatch). */
interface FormattedEvent {
  read: unknown;
  frame: Uint8Array;
}


const silentLogger: HubLogger = { info() {}, warn() {}, error() {} };

export class Hub {
  private readonly index = new TopicIndex<Subscriber>();
  private readonly subscribers = new Set<Subscriber>();
  private dirty: Subscriber[] = [];
  private flushScheduled = false;
  private dispatchCounter = 0;
  private readonly heartbeatTimer: NodeJS.Timeout | undefined;
  private readonly preamble: Uint8Array;
  private readonly heartbeatFrame = Buffer.from(encodeComment(''));
  private readonly expiredFrames = new ControlFrames({ event: EXPIRED_EVENT, data: JSON.stringify({ reason: EXPIRED_REASON } satisfies ExpiredDetail) });
  private closing = false;
  private readonly replaySliceBytes: number;
  private readonly counters = { eventsPublished: 0, eventsDelivered: 0, slowConsumersDropped: 0, streamsExpired: 0, streamsRevoked: 0, streamsEndedByGap: 0 };
  /** Streams that must end when their credential expires, with that time. */
  private readonly expiring = new Map<Subscriber, number>();
  private expiryTimer: NodeJS.Timeout | undefined;
  /** Publish-to-delivery latency of the users' events handed to streams here (see latency.ts). */
  readonly deliveryLatency = createDeliveryLatency();
  /** The topics that have ended, learned from delivery: publish checks them without a round trip. */
  readonly ended: EndedTopics;

  private readonly hooks: SubscriberHooks = {
    markDirty: (subscriber) => this.markDirty(subscriber),
    overflowed: (subscriber) => {
      this.counters.slowConsumersDropped += 1;
      this.logger.warn({ selectors: subscriber.selectors.map((s) => s.source) }, 'slow consumer disconnected');
    },
    closed: (subscriber) => {
      if (!this.subscribers.delete(subscriber)) return;
      this.expiring.delete(subscriber);
      for (const selector of subscriber.selectors) this.index.remove(selector, subscriber);
    },
  };

  /** The topic rules every way in (publish, subscribe, tickets) is held to. */
  get topicLimits(): TopicLimits {
    return this.options.topicLimits;
  }

  constructor(
    readonly engine: Engine,
    private readonly options: HubOptions,
    private readonly logger: HubLogger = silentLogger,
  ) {
    this.replaySliceBytes = Math.min(65536, Math.floor(options.maxBufferBytes / 4));
    // The heartbeat interval (0: none) is announced in the opening comment: a client that hears
    // nothing for well over two intervals (the longest a live stream stays silent) may take the
    // connection for dead, and one told 0 knows that silence means nothing.
    const greeting = `ok\n${HEARTBEAT_ANNOUNCEMENT}${Math.max(0, options.heartbeatMs)}`;
    this.preamble = Buffer.from(encodeComment(greeting) + encodeRetry(options.retryMs));
    // An engine that stores in this process started empty with this hub: no end can predate it.
    this.ended = new EndedTopics(engine.appendNow === undefined ? engine.kv : undefined, options.retention ?? new TopicRetention({ historyMaxEvents: 1000, historyMaxAgeMs: 3_600_000 }));
    engine.onDeliver((event) => this.dispatch(event));
    engine.onDeliveryGap((detail) => this.endStreamsAfterGap(detail));
    if (options.heartbeatMs > 0) {
      this.heartbeatTimer = setInterval(() => this.heartbeat(), options.heartbeatMs);
      this.heartbeatTimer.unref();
    }
  }

  /**
   * Checks every event, then stores them all (ids assigned in order) and delivers them everywhere.
   * One invalid event refuses the whole batch: nothing of it is stored.
   */
  async publish(events: readonly EventToPublish[], options: PublishOptions = {}): Promise<PublishedEvent[]> {
    // Only in an instance's first retention age, on a shared engine: ends stored before it started (see ended-topics.ts).
    if (this.ended.mayNeedLookups) await this.lookUpEnds(events);
    const checked = this.checkForPublish(events, options);
    if (checked.repeatedEnds !== undefined) return checked.repeatedEnds;
    if (checked.charging !== undefined) await checked.charging;
    const stored = await this.engine.append(checked.events, checked.append);
    const published = this.publishedOf(stored, checked);
    for (const event of published) {
      if (event.endId !== undefined) await this.ended.record(event.topic, { endId: event.endId, endedAt: endTimeOf(stored, event) });
    }
    return published;
  }

  /**
   * publish() without a promise, for an engine that stores in this process (Engine.appendNow; see
   * publishesWithoutWaiting): the events are stored and delivered when it returns.
   * @throws Error when the engine must wait for a server; use publish() then.
   */
  publishNow(events: readonly EventToPublish[], options: PublishOptions = {}): PublishedEvent[] {
    const engine = this.engine;
    if (engine.appendNow === undefined) throw new Error(`the ${engine.name} engine cannot store without waiting; use publish()`);
    const checked = this.checkForPublish(events, options);
    if (checked.repeatedEnds !== undefined) return checked.repeatedEnds;
    if (checked.charging !== undefined) {
      checked.charging.catch(() => {});
      throw new Error('the publish rates are kept in another process; use publish()');
    }
    const stored = engine.appendNow(checked.events, checked.append);
    const published = this.publishedOf(stored, checked);
    for (const event of published) {
      // The engine stores in this process: the end is recorded here, at once (no store to write to).
      if (event.endId !== undefined) void this.ended.record(event.topic, { endId: event.endId, endedAt: endTimeOf(stored, event) });
    }
    return published;
  }

  /** The topic's end while it is in force (asking the engine's store only in this instance's first retention age). */
  endOf(topic: string): Promise<TopicEnd | undefined> {
    return this.ended.lookup(topic);
  }

  /**
   * Asks the engine's store about the topics this instance has no answer for (see EndedTopics.lookup).
   * Not about the hub's own topics ($ssehub/…: only the hub publishes there, and never ends one): a
   * starting instance's first presence and bus messages go out without that round trip.
   */
  private async lookUpEnds(events: readonly EventToPublish[]): Promise<void> {
    const topics = new Set<string>();
    for (const { topic } of events) {
      if (typeof topic === 'string' && topic.length <= this.options.topicLimits.maxLength && !topic.startsWith(SYSTEM_TOPIC_PREFIX)) topics.add(topic);
    }
    await Promise.all([...topics].map((topic) => this.ended.lookup(topic)));
  }

  /** The published events, one per event given, with the ids of the ends they stored. */
  private publishedOf(stored: readonly StoredEvent[], checked: CheckedPublish): PublishedEvent[] {
    this.countPublished(stored);
    if (checked.places === undefined) return stored as PublishedEvent[]; // no end among them
    return checked.places.map((place) => {
      const event: PublishedEvent = stored[place]!;
      const next = stored[place + 1];
      if (next !== undefined && next.event === END_EVENT && next.topic === event.topic) return { ...event, endId: next.id };
      return event;
    });
  }

  /** Whether publishNow() can store: the engine stores in this process. */
  get publishesWithoutWaiting(): boolean {
    return this.engine.appendNow !== undefined;
  }

  /**
   * The events as the engine is to store them, once every rule and the caller's authorize() passed,
   * charged to their publisher: here, or by the engine with the append (checksPublishCharges).
   */
  private checkForPublish(events: readonly EventToPublish[], options: PublishOptions): CheckedPublish {
    const rules = { topicLimits: this.options.topicLimits, allowReservedTopics: options.allowReservedTopics ?? false };
    const checked = events.map((event, i) => {
      try {
        return checkNewEvent(event, rules);
      } catch (error) {
        if (events.length > 1 && error instanceof HubError) throw new HubError(error.status, error.code, `events[${i}]: ${error.message}`);
        throw error;
      }
    });
    // Every event's size is measured once, for the stream buffer's bound and for the byte rate.
    let bytes = 0;
    let frameBytes = 0;
    for (const event of checked) {
      const size = payloadBytes(event);
      bytes += size;
      frameBytes += frameSizeBound(event, size);
    }
    if (frameBytes > this.options.maxBufferBytes) {
      // No subscriber could take these events within its buffer: every one would be cut off.
      throw new HubError(
        413,
        'publish_too_large',
        `These events encode to about ${frameBytes} bytes on a stream, more than the ${this.options.maxBufferBytes}-byte stream buffer (--max-buffer); publish them in smaller batches.`,
      );
    }
    options.authorize?.(checked);
    if (options.ephemeral === true) {
      // Checked and authorized under their own topics above; kept by no engine, read by no history.
      for (const event of checked) event.topic = EPHEMERAL_TOPIC_PREFIX + event.topic;
    }
    const { toStore, places, repeatedEnds } = this.withEnds(events, checked);
    const append = appendOptionsOf(options);
    if (repeatedEnds !== undefined) return { events: [], append, charging: undefined, places, repeatedEnds };
    const limits = this.options.publishLimits;
    if (options.chargeTo === undefined || limits === undefined) return { events: toStore, append, charging: undefined, places };
    const charge: PublishCharge = { key: options.chargeTo, events: checked.length, bytes };
    if (this.engine.checksPublishCharges === true) return { events: toStore, append: { ...append, charge }, charging: undefined, places };
    return { events: toStore, append, charging: limits.chargePublish(charge) ?? undefined, places };
  }

  /**
   * The events to store: each event published with `end` followed by its topic's END_EVENT. 409
   * topic_ended for an event to a topic that has ended (here, or earlier in the batch); a publish
   * made only of ends of topics that had already ended is a repeat: nothing is stored, and the
   * answer is their ends (ending twice is idempotent).
   */
  private withEnds(inputs: readonly EventToPublish[], checked: NewEvent[]): { toStore: NewEvent[]; places: number[] | undefined; repeatedEnds?: PublishedEvent[] } {
    let ends = false;
    for (const input of inputs) if (input.end === true) ends = true;
    // Almost every publish: no end in it, and no ended topic known on this instance.
    if (!ends && !this.anyEnded(checked)) {
      return { toStore: checked, places: undefined };
    }
    const repeats: PublishedEvent[] = [];
    for (let i = 0; i < checked.length; i++) {
      const end = this.ended.endOf(checked[i]!.topic);
      if (end === undefined) continue;
      if (inputs[i]!.end !== true) throw topicEnded(checked[i]!.topic, checked.length > 1 ? i : undefined);
      repeats.push(endAnswer(checked[i]!.topic, end));
    }
    if (repeats.length === checked.length) return { toStore: [], places: undefined, repeatedEnds: repeats };
    if (repeats.length > 0) {
      const i = inputs.findIndex((input, j) => input.end === true && this.ended.endOf(checked[j]!.topic) !== undefined);
      throw topicEnded(checked[i]!.topic, i);
    }
    const toStore: NewEvent[] = [];
    const places: number[] = [];
    const endedHere = new Set<string>();
    for (let i = 0; i < checked.length; i++) {
      const event = checked[i]!;
      if (endedHere.has(event.topic)) throw topicEnded(event.topic, i);
      places.push(toStore.length);
      toStore.push(event);
      if (inputs[i]!.end !== true) continue;
      endedHere.add(event.topic);
      toStore.push({ topic: event.topic, event: END_EVENT, data: JSON.stringify({ topic: event.topic } satisfies EndDetail) });
    }
    return { toStore, places };
  }

  private anyEnded(events: readonly NewEvent[]): boolean {
    if (this.ended.isEmpty) return false;
    for (const event of events) if (this.ended.endOf(event.topic) !== undefined) return true;
    return false;
  }

  private countPublished(stored: readonly StoredEvent[]): readonly StoredEvent[] {
    for (const event of stored) if (countsAsTraffic(event)) this.counters.eventsPublished += 1;
    return stored;
  }

  /**
   * Opens a stream. The subscriber is registered for live events before history is read, so an
   * event published during the read is either in the history (id <= position) or held as live
   * (id > position) and never both: that is what makes the seam free of gaps and duplicates.
   */
  subscribe(selectors: readonly Selector[], sink: StreamSink, options: SubscribeOptions = {}): Subscriber {
    // An exact-size copy: the caller's array may have grown with spare room, and this one lives as long as the stream.
    const subscriber = new Subscriber(selectors.slice(), sink, this.options.maxBufferBytes, this.hooks, options.whenClosed, options.holder, options.view);
    this.subscribers.add(subscriber);
    for (const selector of selectors) this.index.add(selector, subscriber);
    if (options.expiresAt !== undefined) this.watchExpiry(subscriber, options.expiresAt);
    // The SSE greeting (heartbeat announcement, retry); a WebSocket has its own (src/ws/).
    if (subscriber.format === 'sse') subscriber.writeNow(this.preamble);
    void this.catchUp(subscriber, options.lastEventId, options.rewind);
    return subscriber;
  }

  /** One page of the selectors' retained events, without a stream (see history.ts). */
  history(selectors: readonly Selector[], query: HistoryQuery = {}): Promise<HistoryPage> {
    return readHistory(this.engine, selectors, query);
  }

  stats(): HubStats {
    const engineStats = this.engine.stats();
    return {
      connections: this.subscribers.size,
      subscribedSelectors: this.index.selectorCount,
      topics: engineStats.topics,
      retainedEvents: engineStats.retainedEvents,
      retainedBytes: engineStats.retainedBytes,
      evictedForBudget: engineStats.evictedForBudget,
      ...this.counters,
    };
  }

  /**
   * How many topics and patterns this instance's streams subscribe to, and the `limit` most
   * subscribed. Costs one pass over the distinct selectors, nothing per subscriber.
   */
  topicSummary(limit: number): TopicSummary {
    return {
      total: this.index.selectorCount,
      top: this.index.topSelectors(limit).map(({ selector, values }) => ({ topic: selector, subscribers: values })),
    };
  }

  /**
   * Ends this instance's streams that match: by the holder's subject or token id, or by a selector
   * that matches the topic (the topic itself, or a pattern over it). `lastFrame` is written on
   * each just before its end (`last`, encoded for each stream's format). Returns how many were ended. A pass over every stream for a subject
   * or token id (disconnects are rare; nothing is indexed per stream for them).
   */
  endStreams(match: StreamMatch, last: ControlMessage): number {
    const lastFrames = new ControlFrames(last);
    const ended: Subscriber[] = [];
    if ('topic' in match) {
      this.index.match(match.topic, (subscriber) => void ended.push(subscriber));
    } else if ('subject' in match) {
      for (const subscriber of this.subscribers) if (subscriber.holder.subject === match.subject) ended.push(subscriber);
    } else {
      for (const subscriber of this.subscribers) if (subscriber.holder.token?.id === match.tokenId) ended.push(subscriber);
    }
    let count = 0;
    for (const subscriber of new Set(ended)) {
      if (subscriber.state === 'closed') continue;
      subscriber.enqueue(lastFrames.for(subscriber.format));
      subscriber.end('revoked');
      count += 1;
    }
    this.counters.streamsRevoked += count;
    return count;
  }

  /**
   * Writes a control event (no id: not an event of the log) to this instance's streams whose
   * selectors match the topic, in each stream's format; returns how many. Collected first: a write
   * may cut a slow stream off, which would change the index under its walk.
   */
  signalStreams(topic: string, message: ControlMessage): number {
    const frames = new ControlFrames(message);
    const streams = new Set<Subscriber>();
    this.index.match(topic, (subscriber) => void streams.add(subscriber));
    for (const subscriber of streams) subscriber.enqueue(frames.for(subscriber.format));
    return streams.size;
  }

  /** Ends every open stream (clients reconnect elsewhere) and stops the heartbeat. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    for (const subscriber of [...this.subscribers]) subscriber.end('shutdown');
  }

  private async catchUp(subscriber: Subscriber, lastEventId: string | undefined, rewind: number | undefined): Promise<void> {
    let position: string;
    let replay: StoredEvent[] = [];
    try {
      if (lastEventId === undefined && rewind !== undefined) {
        // A rewind is a resume from just before the newest N events: the same replay and seam.
        ({ events: replay, position } = await newestEvents(this.engine, subscriber.selectors, rewind));
      } else if (lastEventId === undefined) {
        position = await this.engine.position();
      } else {
        const history = await this.engine.history(subscriber.selectors, lastEventId);
        position = history.position;
        replay = history.events;
        if (!history.complete) {
          subscriber.writeNow(controlFrame(subscriber.format, { event: RESET_EVENT, data: JSON.stringify({ reason: history.reason, lastEventId }) }));
        }
      }
    } catch (error) {
      this.logger.error({ err: error }, 'could not read history; ending the stream so the client retries');
      subscriber.end('history-unavailable');
      return;
    }
    // The id of the last event written: a view may leave replayed events out, and their ids unsent.
    let lastSent = lastEventId;
    for (let i = 0; i < replay.length; ) {
      await subscriber.roomAvailable();
      if (subscriber.state === 'closed') return;
      // A bounded slice of history per write: few syscalls, and never more than a quarter of the
      // stream's buffer, so live events held meanwhile still fit within the bound.
      const batch: Uint8Array[] = [];
      let bytes = 0;
      let traffic = 0;
      let done = false;
      while (i < replay.length && (bytes === 0 || bytes < this.replaySliceBytes) && !done) {
        const event = replay[i]!;
        i += 1;
        const frame = viewedFrame(subscriber, event);
        if (frame === undefined) continue;
        batch.push(frame);
        bytes += frame.byteLength;
        if (countsAsTraffic(event)) traffic += 1;
        lastSent = event.id;
        if (event.event === END_EVENT) done = subscriber.topicEnded(event.topic);
      }
      if (batch.length > 0) subscriber.writeNow(batch.length === 1 ? batch[0]! : Buffer.concat(batch));
      this.counters.eventsDelivered += traffic;
      if (done) return subscriber.end('topics-ended'); // every topic of the stream ended: nothing more can come
    }
    if (subscriber.state === 'closed') return;
    // (A stream closed meanwhile takes no more writes: what follows does nothing to it.)
    if (this.ended.mayHaveEnds && (await this.sendEnds(subscriber, position))) return subscriber.end('topics-ended');
    // Tell the client where it stands even if nothing was sent, so that a reconnect resumes here.
    if (lastSent !== position) subscriber.writeNow(controlFrame(subscriber.format, { id: position, event: POSITION_EVENT, data: '' }));
    let released = 0;
    let done = false;
    subscriber.goLive((event) => {
      if (done) return false;
      let after = this.engine.compareIds(event.id, position) > 0;
      if (after && event.event === END_EVENT) {
        if (subscriber.hadEndOf(event.topic)) after = false; // already sent by sendEnds()
        else done = subscriber.topicEnded(event.topic);
      }
      if (after && countsAsTraffic(event)) released += 1;
      return after;
    });
    this.counters.eventsDelivered += released;
    if (done) subscriber.end('topics-ended');
  }

  /**
   * Sends the end of each exact topic of the stream that has ended, unless the replay carried it:
   * a stream opened on an ended topic, without a Last-Event-ID or with one from after the end, or
   * one whose history lost the end, learns it at once instead of waiting for events that cannot
   * come. No id: it stands for an event of the log, and must not move the client's Last-Event-ID.
   * Only ends at or before `position`: a later one is among the live events held meanwhile, and
   * comes after the events before it. True when every topic of the stream has ended.
   */
  private async sendEnds(subscriber: Subscriber, position: string): Promise<boolean> {
    let done = false;
    for (const selector of subscriber.selectors) {
      if (selector.kind !== 'exact' || subscriber.hadEndOf(selector.topic)) continue;
      let end: TopicEnd | undefined;
      try {
        end = await this.ended.lookup(selector.topic);
      } catch (error) {
        this.logger.warn({ err: error, topic: selector.topic }, 'could not tell whether a topic has ended; the stream goes on');
      }
      if (end === undefined || subscriber.state === 'closed' || this.engine.compareIds(end.endId, position) > 0) continue;
      subscriber.writeNow(controlFrame(subscriber.format, { event: END_EVENT, data: JSON.stringify({ topic: selector.topic } satisfies EndDetail) }));
      done = subscriber.topicEnded(selector.topic);
    }
    return done;
  }

  /**
   * Events were lost to this instance before it could deliver them, so any open stream may lack
   * some. Ending every stream sends each client back with its Last-Event-ID: history then replays
   * what it still holds, or tells the client what is gone (ssehub.reset). Never a silent hole.
   */
  private endStreamsAfterGap(detail: string): void {
    this.counters.streamsEndedByGap += this.subscribers.size;
    this.logger.warn({ streams: this.subscribers.size, detail }, 'events were lost before delivery here; ending every stream so that clients resume from history');
    for (const subscriber of [...this.subscribers]) subscriber.end('history-gap');
  }

  private dispatch(event: StoredEvent): void {
    // Only the hub stores END_EVENTs (publishers may not use the name): every instance learns each end here.
    const end = event.event === END_EVENT;
    if (end) this.ended.learn(event);
    if (this.subscribers.size === 0 || this.closing) return;
    const ephemeral = event.topic.startsWith(EPHEMERAL_TOPIC_PREFIX);
    const topic = ephemeral ? event.topic.slice(EPHEMERAL_TOPIC_PREFIX.length) : event.topic;
    // Encoded once here per wire format in use (SSE, WebSocket JSON), for every subscriber of that
    // format; once per view format (Mercure's) for the streams with a view.
    let sse: Uint8Array | undefined;
    let json: Uint8Array | undefined;
    let formatted: Map<StreamFormat<unknown>, FormattedEvent> | undefined;
    const stamp = ++this.dispatchCounter;
    let delivered = 0;
    let done: Subscriber[] | undefined;
    const dirtyBefore = this.dirty.length;
    this.index.match(topic, (subscriber) => {
      if (subscriber.lastDispatch === stamp) return; // matched by two of its selectors: once is enough
      subscriber.lastDispatch = stamp;
      if (end && subscriber.hadEndOf(event.topic)) return;
      const view = subscriber.view;
      if (view === undefined) {
        const frame = subscriber.format === 'sse' ? (sse ??= eventFrame('sse', event, topic, ephemeral)) : (json ??= eventFrame('json', event, topic, ephemeral));
        subscriber.deliver(event, frame);
      } else {
        formatted ??= new Map();
        let form = formatted.get(view.format);
        if (form === undefined) {
          const read = view.format.read(event);
          form = { read, frame: view.format.encode(event, read) };
          formatted.set(view.format, form);
        }
        if (!view.accepts(form.read)) return;
        subscriber.deliver(event, form.frame);
      }
      if (subscriber.state === 'live') {
        delivered += 1; // not if this very event cut it off
        // Ended after the index's walk, which a closing stream would change under it.
        if (end && subscriber.topicEnded(event.topic)) (done ??= []).push(subscriber);
      }
    });
    if (countsAsTraffic(event) && delivered > 0) {
      this.counters.eventsDelivered += delivered;
      // Once per event, whatever its fan-out. The clamp covers clocks of instances (or of the engine's server) that disagree.
      this.deliveryLatency.observe(Math.max(0, Date.now() - event.time) / 1000);
    }
    // A small fan-out (a user's own topic, a small room) is written now rather than at the end of
    // the turn: these streams hold this event alone, so there is nothing to coalesce it with yet,
    // and it need not wait for the rest of the turn's work. They stay on the dirty list, so a
    // further event for them in this turn is queued behind it and leaves with the turn's others in
    // one write. A large fan-out waits for the end of the turn, where each stream's events of the
    // turn leave in one write.
    const fresh = this.dirty.length - dirtyBefore;
    if (fresh > 0 && fresh <= WRITE_THROUGH_FAN_OUT) {
      for (let i = dirtyBefore; i < this.dirty.length; i++) this.dirty[i]!.flush();
    }
    // Every topic of these streams has ended: each is closed after the end (end() writes what is queued first).
    if (done !== undefined) for (const subscriber of done) subscriber.end('topics-ended');
  }

  private markDirty(subscriber: Subscriber): void {
    if (subscriber.dirty) return;
    subscriber.dirty = true;
    this.dirty.push(subscriber);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Writes every dirty subscriber once. Queues made of the very same frames share one join. */
  private flush(): void {
    this.flushScheduled = false;
    const dirty = this.dirty;
    this.dirty = [];
    let sharedFrames: readonly Uint8Array[] | undefined;
    let sharedJoin: Uint8Array | undefined;
    for (const subscriber of dirty) {
      subscriber.dirty = false;
      const queue = subscriber.queue;
      if (queue.length > 1) {
        if (!sharedFrames || !sameFrames(sharedFrames, queue)) {
          sharedFrames = queue;
          sharedJoin = Buffer.concat(queue);
        }
        subscriber.flush(sharedJoin);
      } else {
        subscriber.flush();
      }
    }
  }

  private watchExpiry(subscriber: Subscriber, expiresAt: number): void {
    this.expiring.set(subscriber, expiresAt);
    if (this.expiryTimer) return;
    this.expiryTimer = setInterval(() => this.endExpired(), EXPIRY_SWEEP_MS);
    this.expiryTimer.unref();
  }

  /** Ends the streams whose credential has expired; the client may reconnect with a fresh one. */
  private endExpired(): void {
    const now = Date.now();
    for (const [subscriber, expiresAt] of this.expiring) {
      if (expiresAt > now) continue;
      this.counters.streamsExpired += 1;
      subscriber.enqueue(this.expiredFrames.for(subscriber.format));
      subscriber.end('token-expired');
    }
    if (this.expiring.size === 0 && this.expiryTimer) {
      clearInterval(this.expiryTimer);
      this.expiryTimer = undefined;
    }
  }

  private heartbeat(): void {
    for (const subscriber of this.subscribers) {
      // WebSocket connections keep alive with ping frames of their own (src/ws/door.ts).
      if (subscriber.format === 'sse' && subscriber.state === 'live' && !subscriber.active) subscriber.enqueue(this.heartbeatFrame);
      subscriber.active = false;
    }
  }
}

const NO_APPEND_OPTIONS: AppendOptions = Object.freeze({});

/** 409 topic_ended: the topic's last event was published (see END_EVENT); `index` names the event of a batch. */
function topicEnded(topic: string, index: number | undefined): HubError {
  const where = index === undefined ? '' : `events[${index}]: `;
  return new HubError(409, 'topic_ended', `${where}Topic "${topic}" has ended: its last event was published with end. It takes events again once its history has expired.`);
}

/** The answer to a repeated end: the topic's END_EVENT, nothing stored. */
function endAnswer(topic: string, end: TopicEnd): PublishedEvent {
  return { id: end.endId, topic, event: END_EVENT, data: JSON.stringify({ topic } satisfies EndDetail), time: end.endedAt, endId: end.endId, alreadyEnded: true };
}

/** When the engine stored the END_EVENT that follows `event` (now, for a deduplicated append that reports no time). */
function endTimeOf(stored: readonly StoredEvent[], event: PublishedEvent): number {
  const end = stored.find((e) => e.id === event.endId);
  return end !== undefined && end.time > 0 ? end.time : Date.now();
}

function appendOptionsOf({ dedupeKey, dedupeWindowMs }: PublishOptions): AppendOptions {
  if (dedupeKey === undefined) return NO_APPEND_OPTIONS; // almost every publish
  return { dedupeKey, dedupeWindowMs };
}

/** The event's frame for this subscriber, or undefined when its view leaves the event out (a replay: read per stream). */
function viewedFrame(subscriber: Subscriber, event: StoredEvent): Uint8Array | undefined {
  const view = subscriber.view;
  // Frames are not kept for replays: a cache would hold a second copy of every retained event,
  // while a replay re-encodes only what a reconnecting client missed.
  if (view === undefined) return eventFrame(subscriber.format, event);
  const read = view.format.read(event);
  return view.accepts(read) ? view.format.encode(event, read) : undefined;
}

function sameFrames(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The UTF-8 bytes of an event's data and event name: what the byte rate charges. */
function payloadBytes(event: NewEvent): number {
  return Buffer.byteLength(event.data) + (event.event === undefined ? 0 : Buffer.byteLength(event.event));
}

/** An upper bound of an event's encoded size on the wire (the id is not known yet), from its payloadBytes(). */
function frameSizeBound(event: NewEvent, payload: number): number {
  let lines = 1;
  for (let i = event.data.indexOf('\n'); i !== -1; i = event.data.indexOf('\n', i + 1)) lines += 1;
  for (let i = event.data.indexOf('\r'); i !== -1; i = event.data.indexOf('\r', i + 1)) lines += 1;
  const eventLine = event.event === undefined ? 0 : 8;
  return payload + lines * 7 + eventLine + 64;
}
