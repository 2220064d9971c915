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
import { authorizeSubscribe } from '../auth/principal.js';
import { HubError } from '../errors.js';
import { parseSubscribeSelector, type Selector } from '../topics/index.js';
import { authenticate } from './authenticate.js';
import type { Subscriber, SubscriberClosedListener } from '../hub/subscriber.js';
import type { Handler, RouteContext, RouteRequest, StreamAnswer } from './context.js';

export const STREAM_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
} as const;

/** Longest Last-Event-ID taken into account; a longer one cannot be one of ours. */
const MAX_LAST_EVENT_ID_LENGTH = 256;

export const streamTopic: Handler = (request, context) => {
  if (request.rest === '') throw new HubError(400, 'invalid_topic', 'Name a topic: GET /topics/{topic}.');
  return openStream(request, context, [request.rest]);
};

export const streamEvents: Handler = (request, context) => {
  const topics = request.query.getAll('topic');
  if (topics.length === 0) throw new HubError(400, 'invalid_topic', 'Name at least one topic: GET /events?topic=a&topic=b/*.');
  return openStream(request, context, topics);
};

async function openStream(request: RouteRequest, context: RouteContext, sources: string[]): Promise<StreamAnswer> {
  const { config, hub, logger, access } = context;
  if (sources.length > config.maxTopicsPerSubscription) {
    throw new HubError(400, 'too_many_topics', `A subscription may name at most ${config.maxTopicsPerSubscription} topics or patterns, not ${sources.length}.`);
  }
  const selectors: Selector[] = [];
  const seen = new Set<string>();
  for (const source of sources) {
    if (seen.has(source)) continue; // the same topic twice is one subscription
    seen.add(source);
    // System topics ($ssehub/…) may be subscribed to, never published to; other $ topics are refused.
    selectors.push(parseSubscribeSelector(source, { limits: hub.topicLimits }));
  }
  const lastEventId = lastEventIdOf(request.headers['last-event-id'], request.query.get('lastEventId'));

  const principal = await authenticate(request, context, { action: 'subscribe', topics: [...seen] }, request.query.get('ticket'));
  authorizeSubscribe(principal, selectors, access.publicTopics);
  if (principal.expiresAt !== undefined && principal.expiresAt <= Date.now()) {
    throw new HubError(401, 'token_expired', 'The credential has expired.');
  }
  // On HTTP/2, the request's socket stands for the connection's socket: the address is the client's either way.
  const remote = context.clientAddress(request);
  const slots = new StreamSlots(await access.limits.openStream(remote, principal.subject), logger);
  // The client may have gone while its credential was checked and its slots taken: then there is nothing to open.
  if (request.gone()) {
    slots.release();
    throw new HubError(400, 'request_aborted', 'The client went away before its stream opened.');
  }
  return {
    status: 200,
    headers: STREAM_HEADERS,
    cancel: () => slots.release(),
    // The answer's head is out by now: a failure must not become an error answer on the same
    // connection. Cut the stream instead.
    open: (sink) => {
      try {
        hub.subscribe(selectors, sink, {
          ...(lastEventId === undefined ? {} : { lastEventId }),
          ...(principal.expiresAt === undefined ? {} : { expiresAt: principal.expiresAt }),
          whenClosed: slots,
          holder: principal, // referenced, not copied: a disconnect matches its subject and token id
        });
        logger.info({ topics: [...seen], lastEventId, subject: principal.subject, remote }, 'stream opened');
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
  ) {}

  release(): void {
    this.lease.release();
  }

  subscriberClosed(subscriber: Subscriber): void {
    this.lease.release();
    this.logger.info({ topics: subscriber.selectors.map((selector) => selector.source) }, 'stream closed');
  }
}

/**
 * The header wins over the query parameter: a browser's EventSource keeps its original URL (with a
 * stale ?lastEventId) when it reconnects, but sends the newest id in the header.
 */
function lastEventIdOf(header: string | string[] | undefined, query: string | null): string | undefined {
  const value = (Array.isArray(header) ? header[0] : header) ?? query ?? undefined;
  if (value === undefined || value === '') return undefined;
  return value.slice(0, MAX_LAST_EVENT_ID_LENGTH);
}
