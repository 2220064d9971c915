/**
 * GET /.well-known/mercure?topic=…: a Mercure stream. Its selectors (`topic=`, and the 1.0 draft's
 * exact `match=`) and the token's claims make its view (format.ts); the stream itself is opened
 * where every stream is (http/subscribe.ts answerStream), on MERCURE_TOPIC, with the hub's
 * per-client limits, heartbeats, resume seam and credential expiry.
 *
 * Resume: the `Last-Event-ID` header, else the `lastEventID` query parameter; `earliest` replays
 * every retained update. The answer's `Last-Event-ID` header is the hub's newest id when the stream
 * opened (`earliest` when nothing was ever published), as Mercure answers.
 */
import { tokenRequired } from '../auth/principal.js';
import { HubError } from '../errors.js';
import type { Handler } from '../http/context.js';
import { answerStream, streamClientOf, lastEventIdOf } from '../http/subscribe.js';
import { EVERY_RETAINED_EVENT } from '../hub/hub.js';
import { parseSelector } from '../topics/index.js';
import { mercureCredential } from './credential.js';
import { MercureView } from './format.js';
import { MAX_MERCURE_TOPIC_LENGTH, parseMercureSelector, type MercureSelector } from './selectors.js';
import { subscriberMembership } from './subscriptions.js';
import { MERCURE_TOPIC } from './update.js';

/** The one ssehub selector of every Mercure stream. */
const MERCURE_STREAM = [parseSelector(MERCURE_TOPIC, { allowReserved: true })];

/** Mercure's Last-Event-ID for "from the oldest retained update". */
export const EARLIEST = 'earliest';

export const mercureSubscribe: Handler = async (request, context) => {
  const { config, access } = context;
  const selectors = selectorsOf(request.query, config.maxTopicsPerSubscription);
  const credential = await mercureCredential(request, context);
  if (!credential.authenticated && access.enabled && !config.mercureAnonymous) {
    throw tokenRequired('Subscribing to the Mercure hub needs a token (the mercureAuthorization cookie or Authorization: Bearer), unless the hub runs with --mercure-anonymous.');
  }
  const { principal } = credential;
  if (principal.expiresAt !== undefined && principal.expiresAt <= Date.now()) throw new HubError(401, 'token_expired', 'The token has expired.');
  const requested = lastEventIdOf(request.headers['last-event-id'], request.query.get('lastEventID') ?? request.query.get('lastEventId'));
  const earliest = requested === EARLIEST;
  const position = await context.hub.engine.position();
  const opening = {
    subscription: { selectors: MERCURE_STREAM, topics: selectors.map((selector) => selector.source) },
    principal,
    lastEventId: earliest ? undefined : requested,
    rewind: earliest ? EVERY_RETAINED_EVENT : undefined,
    view: new MercureView(selectors, credential.subscribe),
    headers: { 'Last-Event-ID': position === '' ? EARLIEST : position },
    // Mercure streams are presence members (each its own subscriber id) only for the subscriptions API.
    membership: config.mercureSubscriptions ? subscriberMembership(selectors, credential.payload) : undefined,
  };
  return answerStream(opening, streamClientOf(request, context), context);
};

/** The stream's selectors: `topic=` (exact, URI template or `*`) and `match=` (exact, 1.0 draft). */
function selectorsOf(query: URLSearchParams, max: number): MercureSelector[] {
  const topics = query.getAll('topic');
  const exact = query.getAll('match');
  if (topics.length + exact.length === 0) throw new HubError(400, 'missing_topic', 'Name at least one topic selector: GET /.well-known/mercure?topic=https://example.com/books/{id}.');
  if (topics.length + exact.length > max) throw new HubError(400, 'too_many_topics', `A subscription may name at most ${max} topic selectors, not ${topics.length + exact.length}.`);
  const selectors = topics.map(parseMercureSelector);
  for (const source of exact) {
    if (source === '' || source.length > MAX_MERCURE_TOPIC_LENGTH) throw new HubError(400, 'invalid_topic_selector', `A "match" parameter must be 1 to ${MAX_MERCURE_TOPIC_LENGTH} characters.`);
    selectors.push(Object.freeze({ kind: 'exact', source }));
  }
  return selectors;
}
