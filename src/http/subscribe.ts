/**
 * The stream routes: GET /topics/{topic-or-pattern} and GET /events?topic=…&topic=…
 * The one place where a stream is authorized and opened, whichever door the request came through.
 * Order of checks: topics parse, the credential is verified, every topic is authorized, the
 * per-client stream limits are taken; only then is the stream answered, with headers that stop
 * proxies from buffering or transforming it (never compressed: the hub compresses nothing). The
 * door that carried the request makes the sink (node.ts: a taken-over socket, a response or an
 * HTTP/2 stream; fetch.ts: a ReadableStream) and opens the stream on it.
 */
import type { StreamLease } from '../auth/limits.js';
import type { Principal } from '../auth/principal.js';
import { HubError } from '../errors.js';
import type { StreamMembership } from '../presence/presence.js';
import { isReservedTopic, type Selector } from '../topics/index.js';
import { subscriptionWebhooks, type SubscriptionWebhooks } from '../webhooks/subscriptions.js';
import { readTopic } from './presence.js';
import { answerHistory } from './history.js';
import { authorizeSubscription, subscriptionOf, type Subscription } from './subscription.js';
import { checkedCount, MAX_REWIND } from '../hub/history.js';
import type { Subscriber, SubscriberClosedListener } from '../hub/subscriber.js';
import type { StreamView } from '../hub/hub.js';
import type { Handler, RouteContext, RouteRequest, StreamAnswer } from './context.js';

export const STREAM_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
} as const;

/** Longest Last-Event-ID taken into account; a longer one cannot be one of ours. */
const MAX_LAST_EVENT_ID_LENGTH = 256;

/** The last path segments of GET /topics/… that read about the topic instead of streaming it. */
const TOPIC_READS = ['presence', 'subscribers', 'history'] as const;
type TopicRead = (typeof TOPIC_READS)[number];

/** Splits "chat/room/presence" into the topic and what is read of it; undefined for a plain topic. */
function topicRead(rest: string): { topic: string; read: TopicRead } | undefined {
  const slash = rest.lastIndexOf('/');
  if (slash <= 0) return undefined;
  const last = rest.slice(slash + 1);
  return (TOPIC_READS as readonly string[]).includes(last) ? { topic: rest.slice(0, slash), read: last as TopicRead } : undefined;
}

export const streamTopic: Handler = (request, context) => {
  if (request.rest === '') throw new HubError(400, 'invalid_topic', 'Name a topic: GET /topics/{topic}.');
  // "…/presence", "…/subscribers" and "…/history" read about the topic (a topic ending so is streamed with /events?topic=).
  const read = topicRead(request.rest);
  if (read?.read === 'history') return answerHistory(request, context, [read.topic]);
  if (read !== undefined) return readTopic(request, context, read.topic, read.read);
  return openStream(request, context, [request.rest]);
};

export const streamEvents: Handler = (request, context) => {
  const topics = request.query.getAll('topic');
  if (topics.length === 0) throw new HubError(400, 'invalid_topic', 'Name at least one topic: GET /events?topic=a&topic=b/*.');
  return openStream(request, context, topics);
};

async function openStream(request: RouteRequest, context: RouteContext, sources: string[]): Promise<StreamAnswer> {
  const subscription = subscriptionOf(sources, context);
  const lastEventId = lastEventIdOf(request.headers['last-event-id'], request.query.get('lastEventId'));
  // Checked even when a Last-Event-ID makes it moot: a bad value is an error either way.
  const rewind = checkedCount(request.query.get('rewind'), 'rewind', 'invalid_rewind', MAX_REWIND);
  const principal = await authorizeSubscription(request, context, subscription);
  const opening = { subscription, principal, lastEventId, rewind, watchPresence: presenceWanted(request.query.get('presence')) };
  return answerStream(opening, streamClientOf(request, context), context);
}

/** Who asks for a stream, as answerStream needs to know it: its address, and whether it has gone. */
export interface StreamClient {
  remote: string;
  gone(): boolean;
}

/** An HTTP request's client. */
export function streamClientOf(request: RouteRequest, context: RouteContext): StreamClient {
  // On HTTP/2, the request's socket stands for the connection's socket: the address is the client's either way.
  return { remote: context.clientAddress(request), gone: () => request.gone() };
}

/** A stream about to be opened: what it reads, parsed, and who reads it, authorized. */
export interface StreamOpening {
  subscription: Subscription;
  principal: Principal;
  lastEventId?: string | undefined;
  rewind?: number | undefined;
  /** The stream asked to hear of its topics' presence (?presence=1). */
  watchPresence?: boolean;
  /** Which events it gets and how they are written, for another protocol's streams (Mercure). */
  view?: StreamView<any> | undefined;
  /** Headers of the answer besides STREAM_HEADERS. */
  headers?: Readonly<Record<string, string>>;
  /** Its presence membership, when its protocol names it (Mercure's subscriber ids); else its subject's on its exact topics. */
  membership?: StreamMembership | undefined;
}

/**
 * Opens an authorized stream, for every door and protocol (SSE, a WebSocket's subscription,
 * Mercure): the per-client stream slots are taken, presence and webhooks told, and the hub
 * subscribes it once the door has its sink (whose wire format the stream then speaks).
 */
export async function answerStream(opening: StreamOpening, client: StreamClient, context: RouteContext): Promise<StreamAnswer> {
  const { hub, logger, access } = context;
  const { subscription, principal, lastEventId, rewind, view } = opening;
  const { selectors } = subscription;
  const remote = client.remote;
  const membership = 'membership' in opening ? opening.membership : membershipOf(principal, selectors, context.presence);
  const watched = opening.watchPresence === true ? exactTopics(selectors) : undefined;
  const webhooks = subscriptionWebhooks(context.webhooks, principal.subject, subscription.topics, context.instance);
  const slots = new StreamSlots(await access.limits.openStream(remote, principal.subject), logger, context, membership, watched, webhooks);
  // The client may have gone while its credential was checked and its slots taken: then there is nothing to open.
  if (client.gone()) {
    slots.release();
    throw new HubError(400, 'request_aborted', 'The client went away before its stream opened.');
  }
  return {
    status: 200,
    headers: opening.headers === undefined ? STREAM_HEADERS : { ...STREAM_HEADERS, ...opening.headers },
    cancel: () => slots.release(),
    // The answer's head is out by now: a failure must not become an error answer on the same
    // connection. Cut the stream instead.
    open: (sink) => {
      try {
        const subscriber = hub.subscribe(selectors, sink, {
          ...(lastEventId === undefined ? {} : { lastEventId }),
          ...(rewind === undefined ? {} : { rewind }),
          ...(principal.expiresAt === undefined ? {} : { expiresAt: principal.expiresAt }),
          ...(view === undefined ? {} : { view }),
          whenClosed: slots,
          holder: principal, // referenced, not copied: a disconnect matches its subject and token id
        });
        slots.opened(subscriber);
        logger.info({ topics: subscription.topics, lastEventId, rewind, subject: principal.subject, remote, format: subscriber.format }, 'stream opened');
      } catch (error) {
        logger.error({ err: error }, 'could not open the stream');
        sink.destroy();
        slots.release();
      }
    },
  };
}

/**
 * The per-client stream slots (client IP, token subject) an open stream holds, given back once
 * when it closes. One small object per stream besides the lease (not the request's scope):
 * streams are many, and their memory is the hub's.
 */
class StreamSlots implements SubscriberClosedListener {
  constructor(
    private readonly lease: StreamLease,
    private readonly logger: RouteContext['logger'],
    private readonly context: Pick<RouteContext, 'presence' | 'presenceStreams'>,
    /** The subject's membership of the stream's presence topics, if it has any. */
    private readonly membership: StreamMembership | undefined,
    /** The topics whose presence the stream asked for (?presence=1). */
    private readonly watched: readonly string[] | undefined,
    /** subscription.opened and .closed, when a --webhook wants them. */
    private readonly webhooks: SubscriptionWebhooks | undefined,
  ) {}

  release(): void {
    this.lease.release();
  }

  /** The stream is open: it counts in presence, and hears of it if it asked. */
  opened(subscriber: Subscriber): void {
    this.context.presence.streamOpened(subscriber.selectors, this.membership);
    if (this.watched !== undefined) this.context.presenceStreams.watch(subscriber, this.watched);
    this.webhooks?.opened();
  }

  subscriberClosed(subscriber: Subscriber): void {
    this.lease.release();
    this.context.presence.streamClosed(subscriber.selectors, this.membership);
    if (this.watched !== undefined) this.context.presenceStreams.unwatch(subscriber, this.watched);
    this.logger.info({ topics: subscriber.selectors.map((selector) => selector.source), reason: subscriber.endReason }, 'stream closed');
    this.webhooks?.closed(subscriber.endReason);
  }
}

/** Most bytes of a grant's presence info, as JSON. */
export const MAX_PRESENCE_INFO_BYTES = 1024;

/**
 * The subject's membership of the stream's topics that have presence: --presence ones, or every
 * exact topic when its grant carries presence info. None without a subject (anonymous streams
 * only count as subscribers).
 */
function membershipOf(principal: Principal, selectors: readonly Selector[], presence: RouteContext['presence']): StreamMembership | undefined {
  if (principal.subject === undefined) return undefined;
  const info = principal.presence === undefined ? undefined : checkedPresenceInfo(principal.presence);
  const topics = exactTopics(selectors).filter((topic) => presence.tracks(topic, info !== undefined));
  return topics.length === 0 ? undefined : { subject: principal.subject, info, topics };
}

function checkedPresenceInfo(info: unknown): unknown {
  if (typeof info !== 'object' || info === null || Array.isArray(info)) {
    throw new HubError(400, 'invalid_presence_info', 'The grant\'s "presence" info must be a JSON object (a name, an avatar URL…).');
  }
  const bytes = Buffer.byteLength(JSON.stringify(info));
  if (bytes > MAX_PRESENCE_INFO_BYTES) {
    throw new HubError(400, 'presence_info_too_large', `The grant's "presence" info is ${bytes} bytes of JSON; at most ${MAX_PRESENCE_INFO_BYTES} are shown to others.`);
  }
  return info;
}

function exactTopics(selectors: readonly Selector[]): string[] {
  return selectors.filter((selector) => selector.kind === 'exact' && !isReservedTopic(selector.source)).map((selector) => selector.source);
}

/** `?presence=1` (or true, yes, on); anything else, or none, is no. */
function presenceWanted(value: string | null): boolean {
  return value !== null && ['1', 'true', 'yes', 'on'].includes(value.toLowerCase());
}

/**
 * The header wins over the query parameter: a browser's EventSource keeps its original URL (with a
 * stale ?lastEventId) when it reconnects, but sends the newest id in the header.
 */
export function lastEventIdOf(header: string | string[] | undefined, query: string | null): string | undefined {
  const value = (Array.isArray(header) ? header[0] : header) ?? query ?? undefined;
  if (value === undefined || value === '') return undefined;
  return value.slice(0, MAX_LAST_EVENT_ID_LENGTH);
}
