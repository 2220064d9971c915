/**
 * The NATS JetStream engine: several hub instances share one JetStream stream (nats.js, server 2.9+).
 *
 * - Subjects: one stream per namespace, named after it, on `<namespace>.t.>`; a topic is the subject
 *   `<namespace>.t.<base64url(topic)>` (topics may hold characters that subjects forbid).
 * - Ids: "<epoch>-<stream sequence>". JetStream numbers every stored message of the stream, so ids
 *   are strictly increasing across instances. The epoch is derived from the stream's creation time:
 *   an id from a deleted and recreated stream is recognised as unknown, not taken for a position.
 * - Delivery: each instance reads the whole stream in sequence order with an ordered consumer from
 *   the last sequence it delivered, which the consumer resumes from after a reconnect; sequences at
 *   or below the cursor are never delivered again.
 * - Retention: history keeps historyMaxEvents per topic and historyMaxAgeMs. The stream itself keeps
 *   DELIVERY_SLACK more messages per subject and AGE_SLACK_MS longer, and history() applies the
 *   exact limits when it reads; so an instance lagging behind the stream loses nothing unless it is
 *   more than historyMaxEvents + DELIVERY_SLACK events behind on one topic, or AGE_SLACK_MS past the
 *   age limit (it logs a warning when that happens). historyMaxEvents 0 therefore still stores up to
 *   DELIVERY_SLACK events per topic for delivery, but never answers them from history.
 * - Retention per topic (topics/retention.ts): JetStream has one per-subject limit and one age for
 *   the whole stream, and one stream is what keeps ids ordered across topics, so the stream is sized
 *   for the largest rule (count and age) and history() applies each topic's own limits when it reads.
 *   A topic whose rule keeps fewer events than the stream does per subject is trimmed on the server
 *   too: after an append to it, a purge of its subject that keeps its count plus DELIVERY_SLACK
 *   (TRIM_INTERVAL_MS later, once for all the appends meanwhile). A shorter age than the largest is
 *   applied only when history is read: those messages stay on the server up to the stream's age.
 *   Purging keeps the newest messages of the subject, and at least DELIVERY_SLACK of them, so what
 *   is retained of a topic stays a suffix and never vanishes by it (the gap detection relies on both).
 * - Gap detection: every message carries the sequence of its topic's previous message (PREV_HEADER),
 *   kept exact under concurrent publishers by publishing with the expected last subject sequence and
 *   retrying when another instance got there first. Retention removes a topic's oldest messages
 *   first, so what is retained of a topic is a suffix of it: if the first retained message after the
 *   client's id names a predecessor after that id, something in between was lost (history-exceeded).
 *   A topic the stream holds nothing of (all aged out, or never published) cannot say what it lost:
 *   for it, and for patterns (which may match such a topic), history-exceeded is reported whenever the
 *   stream's first message is past the client's id. That is conservative, never a silent skip.
 * - Key-value store: a KV bucket per namespace (nats-kv.ts).
 * - A JetStream cluster: the engine URL may name several seed servers (natsServers()); the stream and
 *   the KV bucket get settings.natsReplicas replicas. A publish is acknowledged (append() resolves)
 *   only after JetStream's PubAck, which a replicated stream sends once a majority of its replicas
 *   stored the message: an acknowledged event survives the loss of a minority of the servers. While
 *   the stream elects a new leader, a publish fails (JetStream's error, or REQUEST_TIMEOUT_MS without
 *   an answer) and the hub answers 503; the client's retry with its Idempotency-Key is deduplicated
 *   by the stream's message id when the first attempt was stored after all. Delivery's ordered
 *   consumer recreates itself from the cursor on the new leader, and deliver() drops what it repeats.
 */
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import {
  AckPolicy,
  connect,
  DeliverPolicy,
  DiscardPolicy,
  headers,
  nanos,
  RetentionPolicy,
  StorageType,
  type Consumer,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type MsgHdrs,
  type NatsConnection,
  type StreamConfig,
  type StreamInfo,
  type StreamState,
  type StoredMsg,
} from 'nats';
import { HubError } from '../errors.js';
import { selectorMatches, TopicRetention, type Selector } from '../topics/index.js';
import type { AppendOptions, DeliverListener, DeliveryGapListener, Engine, EngineHealth, EngineStats, HistoryResult, NewEvent, StoredEvent } from './engine.js';
import type { GapReason } from '../protocol/index.js';
import { HealthProbe } from './health.js';
import { isWrongSequence, KV_MAX_AGE_MS, NatsKeyValueStore } from './nats-kv.js';
import type { EngineLogger, EngineSettings } from './settings.js';
import { BackgroundTasks, LocalDelivery } from './local-delivery.js';
import { EngineUnavailableError, orUnavailable } from './unavailable.js';

const CONNECT_TIMEOUT_MS = 5000;
const REQUEST_TIMEOUT_MS = 5000;
const STATS_INTERVAL_MS = 5000;
/** How long a restart of delivery may take to start its consumer before it is given up and tried again. */
const RESTART_TIMEOUT_MS = 10_000;
/** Messages kept per subject beyond historyMaxEvents, so that a lagging instance still receives them. */
const DELIVERY_SLACK = 100;
/** Time the stream keeps messages beyond historyMaxAgeMs, for the same reason. */
const AGE_SLACK_MS = 60_000;
/** Publish attempts when other instances keep publishing on the same topic in between. */
const MAX_PUBLISH_ATTEMPTS = 50;
/** Topics whose last sequence is remembered for publishing (a miss costs one lookup). */
const MAX_REMEMBERED_SUBJECTS = 10_000;
/** Topics read in parallel by one history() call. */
const READ_CONCURRENCY = 16;
/** How often subjects whose rule keeps fewer events than the stream are trimmed (see the header). */
const TRIM_INTERVAL_MS = 1000;

const PREV_HEADER = 'Ssehub-Prev';
const EVENT_HEADER = 'Ssehub-Event';
const TIME_HEADER = 'Ssehub-Time';

const textDecoder = new TextDecoder();
const textEncoder = new TextEncoder();

/** A message of the stream, from a consumer or a direct get. */
interface StreamMessage {
  subject: string;
  seq: number;
  headers: MsgHdrs | undefined;
  data: Uint8Array;
  /** Server timestamp, in milliseconds: what the stream's age limit goes by. */
  storedAt: number;
}

/** Direct get (allow_direct streams): on every JetStreamManager of nats.js 2.29, though not in its public type. */
interface DirectGet {
  getMessage(stream: string, query: { seq: number; next_by_subj: string } | { last_by_subj: string }): Promise<StoredMsg>;
}

/** What one topic contributes to a history answer. */
interface TopicHistory {
  events: Array<{ seq: number; event: StoredEvent }>;
  gap: boolean;
  /** The stream holds no message of this topic at all (it may have aged out entirely). */
  vanished: boolean;
}

/** Stream names and subject tokens NATS accepts, which is also what a KV bucket name allows. */
function validateNamespace(namespace: string): void {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(namespace)) {
    throw new HubError(
      400,
      'invalid_config',
      `The namespace "${namespace}" cannot name a NATS stream: use at most 64 letters, digits, "_" or "-".`,
    );
  }
}

/**
 * The servers of an engine URL: `nats://h1:4222,nats://h2:4222` or `nats://h1:4222,h2:4222` (the
 * scheme on the first, or on each). nats.js tries them in turn and learns the rest of the cluster
 * from the server it reaches.
 */
export function natsServers(spec: string): string[] {
  const servers = spec.split(',').map((server) => server.trim());
  if (servers.some((server) => server === '')) {
    throw new HubError(400, 'invalid_config', `The engine URL "${spec}" has an empty server between its commas.`);
  }
  return servers.map((server) => (/^[a-z]+:\/\//i.test(server) ? server : `nats://${server}`));
}

/** The servers of the cluster as the one reached advertises them; 1 for a lone server; undefined if it does not say. */
function clusterSize(nc: NatsConnection): number | undefined {
  const info = nc.info;
  if (info === undefined) return undefined;
  if (info.cluster === undefined) return 1;
  return info.connect_urls?.length ? info.connect_urls.length : undefined;
}

function replicaCountError(replicas: number, servers: number | undefined): HubError {
  const has = servers === undefined ? 'fewer JetStream servers' : servers === 1 ? 'a single server, not a cluster' : `${servers} servers`;
  return new HubError(
    400,
    'invalid_config',
    `--nats-replicas ${replicas} asks for more replicas than the NATS deployment has servers: it has ${has}. Lower --nats-replicas, or add servers to the cluster.`,
  );
}

/** Refuses, before creating anything, a replica count above the cluster size the server advertises. */
function checkReplicas(replicas: number, nc: NatsConnection): void {
  const servers = clusterSize(nc);
  if (servers !== undefined && replicas > servers) throw replicaCountError(replicas, servers);
}

function jetStreamErrorCode(error: unknown): number | undefined {
  return (error as { api_error?: { err_code?: number } }).api_error?.err_code;
}

/**
 * A JetStream refusal to create the stream or bucket, said in the hub's terms: too many replicas for
 * the deployment (10074: replicas on a lone server; 10005: no suitable peers, when the cluster does
 * not advertise its size), or no room left in the server's store (10047). JetStream reserves each
 * stream's max_bytes (--history-max-bytes) against its store limit when the stream is made, so
 * streams of old namespaces can use the limit up with almost no data in them.
 */
function streamError(error: unknown, replicas: number, nc: NatsConnection, maxBytes?: number): unknown {
  const code = jetStreamErrorCode(error);
  if (code === 10074) return replicaCountError(replicas, 1);
  if (code === 10005) return replicaCountError(replicas, clusterSize(nc));
  if (code === 10047 || (error instanceof Error && /insufficient (storage )?resources/i.test(error.message))) {
    const reserved = maxBytes !== undefined && maxBytes > 0 ? `${maxBytes} bytes (--history-max-bytes)` : 'its size';
    return new HubError(
      503,
      'engine_storage_exhausted',
      `The NATS server refused to create the engine's stream: insufficient storage resources. JetStream reserves each stream's max_bytes, here ${reserved}, against its store limit (max_file_store): lower --history-max-bytes, raise the server's limit, or delete the streams of namespaces no longer used (nats stream ls).`,
      { 'Retry-After': '1' },
    );
  }
  return error;
}

function epochOf(created: string): string {
  return createHash('sha256').update(created).digest('hex').slice(0, 10);
}

function isNotFound(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === '404' || (error instanceof Error && /not found/i.test(error.message));
}

/** The sequence a wrong-sequence publish error reports as the subject's actual last one. */
function actualLastSequence(error: unknown): number | undefined {
  if (!isWrongSequence(error)) return undefined;
  const match = /wrong last sequence: (\d+)/i.exec(error instanceof Error ? error.message : '');
  return match ? Number(match[1]) : undefined;
}

function fromJsMsg(message: JsMsg): StreamMessage {
  return {
    subject: message.subject,
    seq: message.seq,
    headers: message.headers,
    data: message.data,
    storedAt: Math.floor(message.info.timestampNanos / 1e6),
  };
}

export class NatsEngine implements Engine {
  readonly name = 'nats';
  readonly kv: NatsKeyValueStore;
  private readonly stream: string;
  private readonly subjectPrefix: string;
  /** The last stream sequence delivered to this instance. */
  private cursor = 0;
  private epoch = '';
  private closed = false;
  private readonly localDelivery: LocalDelivery<number>;
  private readonly tasks: BackgroundTasks;
  private cachedStats: EngineStats = { topics: 0, retainedEvents: 0 };
  /** subject -> the newest sequence seen on it: the expected last subject sequence of the next publish. */
  private readonly lastSeqBySubject = new Map<string, number>();
  private delivery: { consumer: Consumer; messages: ConsumerMessages } | undefined;
  private deliveryDone: Promise<void> = Promise.resolve();
  /** A restart of delivery (a stalled consumer, a recreated stream) while one is under way: one at a time. */
  private restarting: Promise<void> | undefined;
  /** The cursor at the previous stats refresh: a cursor that stays put while the stream grows means delivery stalled. */
  private cursorAtLastCheck = 0;
  /** Which consumer's messages deliver() takes: bumped by every start, restart and close. */
  private deliveryGeneration = 0;
  private readonly direct: DirectGet;
  private readonly healthProbe: HealthProbe;
  private readonly retention: TopicRetention;
  /** Subjects appended to since the last trim whose rule keeps fewer than the stream does: subject -> messages to keep. */
  private readonly toTrim = new Map<string, number>();

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    kv: NatsKeyValueStore,
    private readonly settings: EngineSettings,
    private readonly logger: EngineLogger,
  ) {
    this.stream = settings.namespace;
    this.subjectPrefix = `${settings.namespace}.t.`;
    this.kv = kv;
    this.direct = (jsm as unknown as { direct: DirectGet }).direct;
    this.localDelivery = new LocalDelivery('nats', logger, (a, b) => a - b);
    this.tasks = new BackgroundTasks('nats', logger);
    this.healthProbe = new HealthProbe('nats', () => this.ping());
    this.retention = new TopicRetention(settings);
  }

  /** Connects, creates or updates the stream and the KV bucket, and starts delivery from the stream's end. */
  static async open(url: string, settings: EngineSettings, logger: EngineLogger): Promise<NatsEngine> {
    validateNamespace(settings.namespace);
    let nc: NatsConnection;
    try {
      // noAsyncTraces: nats.js otherwise builds an Error per request (and one per request's timer)
      // to add the caller's stack to a timeout: a seventh of the hub's CPU per publish in (c). The
      // engine reports its failures in its own terms (orUnavailable), without that stack.
      nc = await connect({ servers: natsServers(url), timeout: CONNECT_TIMEOUT_MS, maxReconnectAttempts: -1, reconnectTimeWait: 250, name: 'ssehub', noAsyncTraces: true });
    } catch (error) {
      throw new EngineUnavailableError('nats', error);
    }
    try {
      const replicas = settings.natsReplicas ?? 1;
      checkReplicas(replicas, nc);
      const jsm = await nc.jetstreamManager({ timeout: REQUEST_TIMEOUT_MS });
      const js = nc.jetstream({ timeout: REQUEST_TIMEOUT_MS });
      const bucket = await js.views
        .kv(`${settings.namespace}-kv`, { history: 1, ttl: KV_MAX_AGE_MS, storage: StorageType.File, replicas })
        .catch((error: unknown) => Promise.reject(streamError(error, replicas, nc)));
      const engine = new NatsEngine(nc, js, jsm, new NatsKeyValueStore(bucket), settings, logger);
      await engine.start();
      return engine;
    } catch (error) {
      await nc.close().catch(() => {});
      throw error instanceof HubError ? error : new EngineUnavailableError('nats', error);
    }
  }

  private async start(): Promise<void> {
    const info = await this.ensureStream();
    this.epoch = epochOf(info.created);
    this.cursor = info.state.last_seq;
    await this.startDelivery();
    this.tasks.every(STATS_INTERVAL_MS, () => this.refreshStats());
    this.tasks.every(TRIM_INTERVAL_MS, () => this.trim());
    void this.refreshStats().catch(() => {});
  }

  private streamConfig(): Partial<StreamConfig> & { name: string } {
    const maxAgeMs = this.retention.largest.maxAgeMs + AGE_SLACK_MS;
    return {
      name: this.stream,
      subjects: [`${this.subjectPrefix}>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_msgs_per_subject: this.retention.largest.maxEvents + DELIVERY_SLACK,
      max_age: nanos(maxAgeMs),
      // The byte budget of history: past it the server drops the stream's oldest messages, which
      // history() and delivery then report as gaps like any other retention (-1: no limit).
      max_bytes: (this.settings.historyMaxBytes ?? 0) > 0 ? this.settings.historyMaxBytes! : -1,
      // How long the server remembers message ids (an append's dedupe key, see append()), for the whole
      // stream: AppendOptions.dedupeWindowMs does not change it. It must fit in max_age; capped at 2
      // minutes it is shorter than the default idempotency window (10 minutes), so a retry after an
      // instance stored the events and died is deduplicated here only within 2 minutes (a retry comes
      // after publishOnce's 10 s pending claim lapses: usually well within). With an idempotency window
      // under 2 minutes it is the other way round: a key reused after that window, but within this one,
      // is answered with the first ids instead of being stored again.
      duplicate_window: nanos(Math.min(maxAgeMs, 120_000)),
      allow_direct: true,
      num_replicas: this.settings.natsReplicas ?? 1,
    };
  }

  /** Creates the stream, or updates its limits; instances starting together both succeed. */
  private async ensureStream(): Promise<StreamInfo> {
    const config = this.streamConfig();
    try {
      return await this.jsm.streams.add(config);
    } catch (error) {
      // 10058: the stream exists with another configuration (other limits): take this instance's.
      if (jetStreamErrorCode(error) !== 10058) throw streamError(error, config.num_replicas ?? 1, this.nc, config.max_bytes);
      const { name, ...update } = config;
      return await this.jsm.streams.update(name, update).catch((error: unknown) => Promise.reject(streamError(error, config.num_replicas ?? 1, this.nc, config.max_bytes)));
    }
  }

  async append(events: readonly NewEvent[], options: AppendOptions = {}): Promise<StoredEvent[]> {
    // A batch is not atomic on NATS: each event is its own publish, awaited before the next so that
    // sequences follow batch order. If one fails, the events before it stay stored (and are
    // delivered) while append() rejects; a retry with the dedupe key gets their first sequences back
    // and stores the rest. The dedupe key is remembered for the stream's duplicate window, whatever
    // options.dedupeWindowMs says (see streamConfig()).
    return orUnavailable('nats', async () => {
      const stored: StoredEvent[] = [];
      for (const [i, event] of events.entries()) {
        stored.push(await this.publish(event, options.dedupeKey === undefined ? undefined : `${options.dedupeKey}#${i}`));
      }
      return stored;
    });
  }

  /** `msgID`, when given, lets JetStream drop a repeat within its duplicate window and answer with the first sequence. */
  private async publish(event: NewEvent, msgID?: string): Promise<StoredEvent> {
    const subject = this.subjectOf(event.topic);
    const time = Date.now();
    const data = textEncoder.encode(event.data);
    let expected = this.lastSeqBySubject.get(subject) ?? (await this.lastSequenceOn(subject));
    for (let attempt = 1; ; attempt++) {
      const messageHeaders = headers();
      // The predecessor of an event on a topic the stream holds nothing of is unknown (it may have
      // aged out): name the newest sequence that could be it, which errs towards reporting a gap.
      messageHeaders.set(PREV_HEADER, String(expected > 0 ? expected : await this.newestRemovedSequence()));
      messageHeaders.set(TIME_HEADER, String(time));
      if (event.event !== undefined) messageHeaders.set(EVENT_HEADER, encodeURIComponent(event.event));
      try {
        // The expected last subject sequence keeps PREV_HEADER exact under concurrent publishers.
        const ack = await this.js.publish(subject, data, {
          headers: messageHeaders,
          expect: { lastSubjectSequence: expected, streamName: this.stream },
          ...(msgID === undefined ? {} : { msgID }),
        });
        if (!ack.duplicate) {
          this.rememberLastSequence(subject, ack.seq);
          const keep = this.retention.limitsOf(event.topic).maxEvents + DELIVERY_SLACK;
          if (keep < this.retention.largest.maxEvents + DELIVERY_SLACK) this.toTrim.set(subject, keep);
        }
        const stored: StoredEvent = { id: this.idOf(ack.seq), topic: event.topic, data: event.data, time };
        if (event.event !== undefined) stored.event = event.event;
        return stored;
      } catch (error) {
        const actual = actualLastSequence(error);
        if (attempt >= MAX_PUBLISH_ATTEMPTS || (actual === undefined && !isWrongSequence(error))) throw error;
        expected = actual ?? (await this.lastSequenceOn(subject));
      }
    }
  }

  async history(selectors: readonly Selector[], afterId: string): Promise<HistoryResult> {
    return orUnavailable('nats', async () => {
      // Catch up with the stream's end as of now first (appended by any instance), so that the
      // answer covers every acknowledged append, and an id another instance handed out a moment ago
      // is waited for rather than mistaken for unknown.
      const last = (await this.streamState()).last_seq;
      await this.localDelivery.until(last, this.cursor, 'this instance is behind the stream');
      // The id is read only now: the stream may have been found recreated (a new epoch) meanwhile.
      let after = this.sequenceOf(afterId);
      // Past everything delivered here, now that delivery has reached the stream's end: never handed out.
      if (after !== undefined && after > this.cursor) after = undefined;
      let reason: GapReason | undefined = after === undefined ? 'unknown-id' : undefined;
      const from = after ?? 0;
      // Only events up to the position are answered: live delivery continues after it.
      const position = this.cursor;
      const answer = (events: StoredEvent[]): HistoryResult => {
        const result: HistoryResult = { events, complete: reason === undefined, position: this.idOf(position) };
        if (reason !== undefined) result.reason = reason;
        return result;
      };
      if (from >= position) return answer([]);

      const { subjects, state } = await this.subjectsFor(selectors);
      const found: TopicHistory[] = [];
      for (let i = 0; i < subjects.length; i += READ_CONCURRENCY) {
        const slice = subjects.slice(i, i + READ_CONCURRENCY);
        found.push(...(await Promise.all(slice.map((subject) => this.readTopic(subject, from, position, state !== undefined)))));
      }
      let gap = found.some((topic) => topic.gap);
      // A topic the stream holds nothing of (named exactly, or any topic a pattern may match) lost its
      // messages to age, all of which are older than the stream's first message: if some could be after
      // `from`, be conservative.
      const mayHaveVanished = state !== undefined || found.some((topic) => topic.vanished);
      if (!gap && mayHaveVanished) gap = (state ?? (await this.streamState())).first_seq > from + 1;
      if (gap && reason === undefined) reason = 'history-exceeded';
      const events = found.flatMap((topic) => topic.events).sort((a, b) => a.seq - b.seq);
      return answer(events.map((entry) => entry.event));
    });
  }

  /** The subjects to read, and for patterns the stream state that listed them. */
  private async subjectsFor(selectors: readonly Selector[]): Promise<{ subjects: string[]; state?: StreamState }> {
    const subjects = new Set<string>();
    for (const selector of selectors) if (selector.kind === 'exact') subjects.add(this.subjectOf(selector.topic));
    if (!selectors.some((selector) => selector.kind === 'pattern')) return { subjects: [...subjects] };
    const info = await this.jsm.streams.info(this.stream, { subjects_filter: `${this.subjectPrefix}>` });
    for (const subject of Object.keys(info.state.subjects ?? {})) {
      const topic = this.topicOf(subject);
      if (selectors.some((selector) => selectorMatches(selector, topic))) subjects.add(subject);
    }
    return { subjects: [...subjects], state: info.state };
  }

  /** One topic's retained events in (from, position], applying the exact retention limits. */
  private async readTopic(subject: string, from: number, position: number, listed: boolean): Promise<TopicHistory> {
    const messages = await this.readAfter(subject, from, position);
    const first = messages[0];
    if (first === undefined) {
      // Nothing of this topic after `from`. If it still has an older message (as every topic the
      // stream listed has), nothing after `from` was lost: retention removes the oldest first. If it
      // has none, the caller decides.
      return { events: [], gap: false, vanished: !listed && (await this.lastSequenceOn(subject)) === 0 };
    }
    // The predecessor of the first retained message is after `from`: it (and maybe more) was lost.
    let gap = this.previousOf(first) > from;
    const upToPosition = messages.filter((message) => message.seq <= position);
    // Retention, exactly: events past the age limit and all but the newest historyMaxEvents up to
    // the position are no longer history (the stream keeps some longer for delivery's sake).
    const { maxEvents, maxAgeMs } = this.retention.limitsOf(this.topicOf(subject));
    const cutoff = Date.now() - maxAgeMs;
    let kept = upToPosition.filter((message) => message.storedAt > cutoff);
    if (kept.length > maxEvents) kept = kept.slice(kept.length - maxEvents);
    if (kept.length < upToPosition.length) gap = true;
    return { events: kept.map((message) => ({ seq: message.seq, event: this.eventOf(message) })), gap, vanished: false };
  }

  /**
   * The topic's messages after `from`, through a short-lived consumer: those up to the position,
   * and the first one after it if there is no earlier one (its predecessor tells about a gap).
   */
  private async readAfter(subject: string, from: number, position: number): Promise<StreamMessage[]> {
    const info = await this.jsm.consumers.add(this.stream, {
      filter_subject: subject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: from + 1,
      ack_policy: AckPolicy.None,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(30_000),
    });
    const messages: StreamMessage[] = [];
    try {
      if (info.num_pending === 0) return messages;
      const consumer = this.js.consumers.getPullConsumerFor(info);
      // num_pending counts what the consumer will get, unless retention removes some meanwhile:
      // then the last one received says nothing is pending.
      const batch = await consumer.fetch({ max_messages: info.num_pending, expires: REQUEST_TIMEOUT_MS });
      for await (const message of batch) {
        messages.push(fromJsMsg(message));
        if (message.seq >= position || message.info.pending === 0) break;
      }
      return messages;
    } finally {
      this.jsm.consumers.delete(this.stream, info.name).catch(() => {}); // else removed when inactive
    }
  }

  async position(): Promise<string> {
    return this.idOf(this.cursor);
  }

  compareIds(a: string, b: string): number {
    // The epoch is left out, as for the other engines; an id that does not parse sorts first.
    return (parseSequence(a) ?? -1) - (parseSequence(b) ?? -1);
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
   * A round trip to the server (rtt() fails at once while disconnected, where a request would wait
   * for the reconnect), then one to JetStream itself: a server up without JetStream cannot store.
   */
  private async ping(): Promise<void> {
    if (this.closed || this.nc.isClosed()) throw new Error('the engine is closed');
    await this.nc.rtt();
    await this.jsm.getAccountInfo();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.tasks.stop();
    // A restart of delivery under way (a recreated stream) finishes first, so that what it started is stopped here.
    await this.restarting;
    this.deliveryGeneration += 1;
    this.delivery?.messages.stop();
    // Bounded: a consumer stuck in nats.js's recovery may never end its loop.
    await Promise.race([this.deliveryDone, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    this.localDelivery.close();
    // The server would drop the consumer once inactive; removing it now is a courtesy, bounded in time.
    const removal = this.delivery?.consumer.delete().catch(() => false);
    await Promise.race([removal, new Promise((resolve) => setTimeout(resolve, 500).unref())]);
    // close() does not wait for the server, so it cannot hang when the server is gone.
    await this.nc.close().catch(() => {});
  }

  /** Reads the whole stream after the cursor, in order, for as long as the engine is open. */
  private async startDelivery(): Promise<void> {
    const generation = ++this.deliveryGeneration;
    const consumer = await this.js.consumers.get(this.stream, {
      filterSubjects: `${this.subjectPrefix}>`,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: this.cursor + 1,
    });
    const messages = await consumer.consume({ max_messages: 1000, expires: 10_000 });
    // A restart given up on (RESTART_TIMEOUT_MS) or replaced while it was starting: not ours any more.
    if (generation !== this.deliveryGeneration) {
      messages.stop();
      return;
    }
    this.delivery = { consumer, messages };
    this.deliveryDone = (async () => {
      try {
        for await (const message of messages) {
          // A consumer replaced by restartDelivery() may still hand over what it held: no longer ours.
          if (generation !== this.deliveryGeneration) break;
          this.deliver(fromJsMsg(message));
        }
      } catch (error) {
        // Restarted from the cursor by the next stats refresh (refreshStats()), which sees it stalled.
        if (!this.closed) this.logger.error({ err: error }, 'nats engine: delivery stopped');
      }
    })();
  }

  private deliver(message: StreamMessage): void {
    // Exactly once: a consumer that was recreated never hands this instance a sequence twice.
    if (message.seq <= this.cursor) return;
    if (message.seq > this.cursor + 1) {
      // Every sequence of the stream is an event: these left the stream before this instance read them.
      this.localDelivery.gap({ from: this.cursor + 1, to: message.seq - 1 }, 'events were removed by retention before delivery here');
    }
    this.cursor = message.seq;
    this.rememberLastSequence(message.subject, message.seq);
    const event = this.eventOf(message);
    this.localDelivery.deliver(message.seq, event);
  }

  private eventOf(message: StreamMessage): StoredEvent {
    const time = Number(message.headers?.get(TIME_HEADER));
    const event: StoredEvent = {
      id: this.idOf(message.seq),
      topic: this.topicOf(message.subject),
      data: textDecoder.decode(message.data),
      time: Number.isFinite(time) && time > 0 ? time : message.storedAt,
    };
    const name = message.headers?.get(EVENT_HEADER);
    if (name) event.event = decodeURIComponent(name);
    return event;
  }

  private previousOf(message: StreamMessage): number {
    const previous = Number(message.headers?.get(PREV_HEADER));
    // A message without the header is not this engine's: assume the worst.
    return Number.isSafeInteger(previous) ? previous : message.seq - 1;
  }

  /** The newest sequence on the subject, 0 when the stream holds none of it. */
  private async lastSequenceOn(subject: string): Promise<number> {
    try {
      return (await this.direct.getMessage(this.stream, { last_by_subj: subject })).seq;
    } catch (error) {
      if (isNotFound(error)) return 0;
      throw error;
    }
  }

  /** Every sequence up to this one may have left the stream (by age); none after it did by age. */
  private async newestRemovedSequence(): Promise<number> {
    return Math.max(0, (await this.streamState()).first_seq - 1);
  }

  private async streamState(): Promise<StreamState> {
    const info = await this.jsm.streams.info(this.stream);
    this.noteEpoch(info);
    return info.state;
  }

  private rememberLastSequence(subject: string, seq: number): void {
    const known = this.lastSeqBySubject.get(subject);
    if (known !== undefined && known >= seq) return;
    this.lastSeqBySubject.delete(subject); // re-inserted last: the map drops the least recently used
    this.lastSeqBySubject.set(subject, seq);
    if (this.lastSeqBySubject.size > MAX_REMEMBERED_SUBJECTS) this.lastSeqBySubject.delete(this.lastSeqBySubject.keys().next().value!);
  }

  /** Notices a stream that was deleted and recreated: its ids start over under a new epoch. */
  private noteEpoch(info: StreamInfo): void {
    const epoch = epochOf(info.created);
    if (epoch === this.epoch || this.closed) return;
    const previous = this.epoch;
    this.epoch = epoch;
    // Whatever the old stream held that was not yet delivered here is gone with it.
    this.localDelivery.gap({ previous, epoch }, 'the stream was recreated: earlier history is gone, and events appended before may never arrive here');
    this.lastSeqBySubject.clear();
    this.cursor = 0;
    this.restartDelivery();
  }

  /**
   * Stops the consumer and starts another from the cursor (deliver() drops anything repeated); one
   * restart at a time, so that two consumers never run side by side.
   */
  private restartDelivery(): void {
    if (this.restarting !== undefined) return;
    this.cursorAtLastCheck = -1; // the next stats refresh gives the new consumer a whole interval
    this.deliveryGeneration += 1; // what the old consumer still hands over is dropped from now on
    this.delivery?.messages.stop();
    if (this.closed) return;
    // Not waiting for the old consumer's loop to end: stuck in nats.js's own recovery, it may never end.
    // Nor for ever for the new one to start: creating it can hang while the stream elects a leader,
    // and a restart that never settles would block every later one (delivery stalled for good). Given
    // up after RESTART_TIMEOUT_MS, the next stats refresh that finds delivery stalled starts another.
    let timer: NodeJS.Timeout | undefined;
    const givenUp = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the consumer did not start within ${RESTART_TIMEOUT_MS} ms`)), RESTART_TIMEOUT_MS);
      timer.unref();
    });
    this.restarting = Promise.race([this.startDelivery(), givenUp])
      .catch((error: unknown) => {
        this.logger.error({ err: error }, 'nats engine: delivery could not restart');
      })
      .finally(() => {
        clearTimeout(timer);
        this.restarting = undefined;
      });
  }

  private async refreshStats(): Promise<void> {
    let info: StreamInfo;
    try {
      info = await this.jsm.streams.info(this.stream);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      info = await this.ensureStream(); // deleted behind the hub's back: recreate it
    }
    this.noteEpoch(info);
    // On a cluster, the consumer lives on one server: when that server dies, nats.js recreates it on
    // another, but can give up (its retries end while the stream elects a leader) and then waits for
    // ever. A stream past the cursor while the cursor stayed put for a whole interval means delivery
    // stalled: start it again from the cursor.
    const stalled = info.state.last_seq > this.cursor && this.cursor === this.cursorAtLastCheck;
    this.cursorAtLastCheck = this.cursor;
    if (stalled && !this.closed) {
      this.logger.warn({ cursor: this.cursor, last: info.state.last_seq }, 'nats engine: delivery stalled behind the stream, restarting it');
      this.restartDelivery();
    }
    // The stream keeps DELIVERY_SLACK more per topic than history answers: count at most what history keeps.
    const { messages, num_subjects: topics = 0 } = info.state;
    this.cachedStats = { topics, retainedEvents: Math.min(messages, topics * this.retention.largest.maxEvents) };
  }

  /** Trims the subjects appended to since the last pass to what their rule keeps (see the header). */
  private async trim(): Promise<void> {
    const subjects = [...this.toTrim];
    this.toTrim.clear();
    for (let i = 0; i < subjects.length && !this.closed; i += READ_CONCURRENCY) {
      await Promise.all(subjects.slice(i, i + READ_CONCURRENCY).map(([filter, keep]) => this.jsm.streams.purge(this.stream, { filter, keep })));
    }
  }

  private subjectOf(topic: string): string {
    return this.subjectPrefix + Buffer.from(topic, 'utf8').toString('base64url');
  }

  private topicOf(subject: string): string {
    return Buffer.from(subject.slice(this.subjectPrefix.length), 'base64url').toString('utf8');
  }

  private idOf(seq: number): string {
    return `${this.epoch}-${seq}`;
  }

  /** The sequence inside one of this stream's ids, or undefined if it is not one. */
  private sequenceOf(id: string): number | undefined {
    const dash = id.indexOf('-');
    if (dash <= 0 || id.slice(0, dash) !== this.epoch) return undefined;
    return parseSequence(id);
  }
}

function parseSequence(id: string): number | undefined {
  const match = /^[0-9a-f]+-(\d{1,15})$/.exec(id);
  return match ? Number(match[1]) : undefined;
}
