/**
 * The stream routes: GET /topics/{topic-or-pattern} and GET /events?topic=…&topic=…
 * Stream hygiene is enforced here: headers that stop proxies from buffering or transforming,
 * Nagle off, no socket timeout, never compressed (the hub compresses nothing at all).
 */
import { HubError } from '../errors.js';
import { parseSelector, type Selector } from '../topics/index.js';
import type { Handler, RouteContext, RouteRequest } from './context.js';
import { responseSink } from './stream-sink.js';

export const STREAM_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
  Connection: 'keep-alive',
} as const;

/** Longest Last-Event-ID taken into account; a longer one cannot be one of ours. */
const MAX_LAST_EVENT_ID_LENGTH = 256;

export const streamTopic: Handler = ({ req, res, query, rest }, context) => {
  if (rest === '') throw new HubError(400, 'invalid_topic', 'Name a topic: GET /topics/{topic}.');
  openStream({ req, res, query, rest }, context, [rest]);
};

export const streamEvents: Handler = (request, context) => {
  const topics = request.query.getAll('topic');
  if (topics.length === 0) throw new HubError(400, 'invalid_topic', 'Name at least one topic: GET /events?topic=a&topic=b/*.');
  openStream(request, context, topics);
};

function openStream({ req, res, query }: RouteRequest, context: RouteContext, sources: string[]): void {
  const { config, hub, logger } = context;
  if (sources.length > config.maxTopicsPerSubscription) {
    throw new HubError(400, 'too_many_topics', `A subscription may name at most ${config.maxTopicsPerSubscription} topics or patterns, not ${sources.length}.`);
  }
  const limits = { maxLength: config.maxTopicLength, maxSegments: 16 };
  const selectors: Selector[] = [];
  const seen = new Set<string>();
  for (const source of sources) {
    if (seen.has(source)) continue; // the same topic twice is one subscription
    seen.add(source);
    selectors.push(parseSelector(source, { limits }));
  }
  const lastEventId = lastEventIdOf(req.headers['last-event-id'], query.get('lastEventId'));

  req.socket.setNoDelay(true);
  req.socket.setTimeout(0);
  res.writeHead(200, STREAM_HEADERS);
  const subscriber = hub.subscribe(selectors, responseSink(res), lastEventId);
  logger.info({ topics: [...seen], lastEventId, remote: req.socket.remoteAddress }, 'stream opened');
  res.once('close', () => logger.info({ topics: [...seen], state: subscriber.state }, 'stream closed'));
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
