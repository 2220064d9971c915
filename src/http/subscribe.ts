/**
 * The stream routes: GET /topics/{topic-or-pattern} and GET /events?topic=…&topic=…
 * Order of checks: topics parse, the credential is verified, every topic is authorized, the
 * per-client stream limits are taken (from the primary process under --workers); only then does
 * the stream open. Stream hygiene is enforced
 * here: headers that stop proxies from buffering or transforming, Nagle off (unless
 * --tcp-nodelay false), no socket timeout, never compressed (the hub compresses nothing at all). An HTTP/1.1 stream owns its connection; an
 * HTTP/2 stream is one of many on a connection and gets a sink of its own (http2-sink.ts).
 */
import type { IncomingMessage } from 'node:http';
import type { StreamLease } from '../auth/limits.js';
import { authorizeSubscribe } from '../auth/principal.js';
import { HubError } from '../errors.js';
import { parseSubscribeSelector, type Selector } from '../topics/index.js';
import { authenticate } from './authenticate.js';
import type { StreamSink } from '../hub/sink.js';
import type { Subscriber, SubscriberClosedListener } from '../hub/subscriber.js';
import { isHttp2, type Handler, type RouteContext, type RouteRequest } from './context.js';
import { http2Sink } from './http2-sink.js';
import { openHttp1Stream } from './stream-sink.js';

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

async function openStream({ req, res, query }: RouteRequest, context: RouteContext, sources: string[]): Promise<void> {
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
  const lastEventId = lastEventIdOf(req.headers['last-event-id'], query.get('lastEventId'));

  const principal = await authenticate(req, context, query.get('ticket'));
  authorizeSubscribe(principal, selectors, access.publicTopics);
  if (principal.expiresAt !== undefined && principal.expiresAt <= Date.now()) {
    throw new HubError(401, 'token_expired', 'The credential has expired.');
  }
  // On HTTP/2, req.socket stands for the connection's socket: the address is the client's either way.
  const remote = context.clientAddress(req);
  const slots = new StreamSlots(await access.limits.openStream(remote, principal.subject), logger);
  // The client may have gone while its credential was checked and its slots taken: then there is nothing to open.
  if (isHttp2(res) ? res.stream.closed || res.stream.destroyed : req.socket.destroyed) {
    slots.release();
    return;
  }

  let sink: StreamSink;
  try {
    if (isHttp2(res)) {
      // The connection is shared by every stream of the session: Nagle is off for its socket from
      // the start (server.ts), and only this stream's own timeout is cleared here.
      res.stream.setTimeout(0);
      res.writeHead(200, STREAM_HEADERS);
      sink = http2Sink(res.stream);
    } else {
      req.socket.setTimeout(0);
      sink = openHttp1Stream(req as IncomingMessage, res, STREAM_HEADERS, { noDelay: config.tcpNoDelay });
    }
  } catch (error) {
    slots.release();
    throw error;
  }
  // From here on the response's head is out (on HTTP/1.1 the socket is no longer node:http's): a
  // failure must not become an error answer on the same connection. Cut the stream instead.
  try {
    hub.subscribe(selectors, sink, {
      ...(lastEventId === undefined ? {} : { lastEventId }),
      ...(principal.expiresAt === undefined ? {} : { expiresAt: principal.expiresAt }),
      whenClosed: slots,
    });
    logger.info({ topics: [...seen], lastEventId, subject: principal.subject, remote }, 'stream opened');
  } catch (error) {
    logger.error({ err: error }, 'could not open the stream');
    sink.destroy();
    slots.release();
  }
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
