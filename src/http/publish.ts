/**
 * The publish routes: POST /topics/{topic} (one event, the body is its data) and POST /publish (a
 * batch). Shapes and content types are checked here; what makes an event valid (topic syntax,
 * event name) is checked by the hub for every way in.
 */
import { authorizePublish, type Principal } from '../auth/principal.js';
import { HubError } from '../errors.js';
import type { NewEvent, StoredEvent } from '../engines/engine.js';
import type { PublishOptions } from '../hub/hub.js';
import { authenticateWithBody, clientKey, principalWithoutVerifying } from './authenticate.js';
import { bodyTypeOf, decodeBody, parseJson, type BodyType } from './body.js';
import type { Handler, RequestHead, RouteContext } from './context.js';
import { idempotencyKeyOf, publishOnce, type IdempotentResult } from './idempotency.js';
import { jsonAnswer } from './respond.js';

/**
 * An HTTP publish: the credential (before the body is read, unless the app must be told the
 * topics: see authenticateWithBody), the events, then publishEvents.
 */
async function publishAs(req: RequestHead, context: RouteContext, read: () => Promise<NewEvent[]>): Promise<IdempotentResult> {
  const { principal, value } = await authenticateWithBody(
    req,
    context,
    'publish',
    async () => ({ idempotencyKey: idempotencyKeyOf(req), events: await read() }),
    ({ events }) => events.map((event) => event.topic),
  );
  return publishEvents(value.events, { principal, key: () => clientKey(req, principal, context) }, value.idempotencyKey, context);
}

/** Who publishes: the principal its topics are authorized against, and the key its rates and idempotency keys are kept under. */
export interface Publisher {
  principal: Principal;
  /** Called only when the key is used (behind proxies the client's address is read from X-Forwarded-For). */
  key(): string;
}

/**
 * The one way events are published, from every door (HTTP, the fast path, in process): topics
 * authorized after the hub has validated them, then the publisher's rates charged (events and
 * bytes), then stored, once per Idempotency-Key when one is given, all before anything is stored.
 */
export async function publishEvents(
  events: readonly NewEvent[],
  publisher: Publisher,
  idempotencyKey: string | undefined,
  context: RouteContext,
  how: Pick<PublishOptions, 'ephemeral'> = {},
): Promise<IdempotentResult> {
  const publish = (dedupeKey?: string) => context.hub.publish(events, { ...publishOptions(context, publisher, dedupeKey), ...how });
  if (idempotencyKey === undefined) return { stored: await publish(), replayed: false };
  return publishOnce(context.hub.engine.kv, publisher.key(), idempotencyKey, context.config.idempotencyWindowMs, events, publish);
}

/** What the hub is told of a publish: who may publish to the checked topics, whose rates it is charged to, and its dedupe key. */
function publishOptions(context: RouteContext, publisher: Publisher, dedupeKey?: string): PublishOptions {
  const options: PublishOptions = {
    authorize: (checked) => {
      authorizePublish(
        publisher.principal,
        checked.map((event) => event.topic),
      );
    },
  };
  // The hub charges the key (events and bytes) once the events are valid and authorized, before
  // storing; a publisher with a subject only with --rate-limit-subjects (in process too: 'app').
  if (context.access.limits.chargesPublisher(publisher.principal.subject)) options.chargeTo = publisher.key();
  if (dedupeKey !== undefined) {
    // The engine remembers the key as long as publishOnce's record lasts, in case that record never says done.
    options.dedupeKey = dedupeKey;
    options.dedupeWindowMs = context.config.idempotencyWindowMs;
  }
  return options;
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});
const REPLAYED_HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'Idempotent-Replayed': 'true' });
const replayHeaders = (replayed: boolean): Readonly<Record<string, string>> => (replayed ? REPLAYED_HEADERS : NO_HEADERS);

export const publishToTopic: Handler = async (request, context) => {
  const { status, body, headers } = await publishOneEvent(request, request.rest, request.query, () => request.readBody(context.config.maxBodyBytes), context);
  return jsonAnswer(status, body, headers);
};

/** A publish's answer, for a caller that writes it itself. */
export interface PublishAnswer {
  status: number;
  body: unknown;
  headers: Readonly<Record<string, string>>;
}

/**
 * POST /topics/{topic}: one event, the body is its data (JSON validated, published as sent). Shared
 * by the route and the publish fast path (node/fast-publish.ts), which reads the body its own way.
 */
export async function publishOneEvent(
  req: RequestHead,
  topic: string,
  query: URLSearchParams,
  readData: () => Promise<string>,
  context: RouteContext,
): Promise<PublishAnswer> {
  const type = bodyTypeOf(req, ['json', 'text']);
  const { stored: [stored], replayed } = await publishAs(req, context, async () => [topicEvent(topic, query, await readData(), type)]);
  return publishedAnswer(stored!, replayed);
}

/**
 * publishOneEvent() for a body already read, answered without a promise when nothing needs
 * waiting for: the engine stores in this process (the memory engine), no credential needs
 * verifying, no Idempotency-Key is sent. Otherwise undefined, with nothing stored or charged, and
 * publishOneEvent() is the way. Refusals are thrown in publishOneEvent()'s order.
 */
export function publishOneEventNow(req: RequestHead, topic: string, query: URLSearchParams, body: Buffer, context: RouteContext): PublishAnswer | undefined {
  if (!context.hub.publishesWithoutWaiting) return undefined;
  const type = bodyTypeOf(req, ['json', 'text']);
  const principal = principalWithoutVerifying(req, context);
  if (principal === undefined || idempotencyKeyOf(req) !== undefined) return undefined;
  const event = topicEvent(topic, query, decodeBody(body, context.config.maxBodyBytes), type);
  const [stored] = context.hub.publishNow([event], publishOptions(context, { principal, key: () => clientKey(req, principal, context) }));
  return publishedAnswer(stored!, false);
}

/** The event of POST /topics/{topic}: JSON data is validated and published as sent. */
function topicEvent(topic: string, query: URLSearchParams, data: string, type: BodyType): NewEvent {
  if (type === 'json') parseJson(data);
  const event: NewEvent = { topic, data };
  const name = query.get('event');
  if (name !== null) event.event = name;
  return event;
}

function publishedAnswer(stored: StoredEvent, replayed: boolean): PublishAnswer {
  const body: { id: string; topic: string; event?: string } = { id: stored.id, topic: stored.topic };
  if (stored.event) body.event = stored.event;
  return { status: 201, body, headers: replayHeaders(replayed) };
}

export const publishBatch: Handler = async (request, context) => {
  const { config } = context;
  bodyTypeOf(request, ['json']);
  const { stored, replayed } = await publishAs(request, context, async () => {
    const body = parseJson(await request.readBody(config.maxBodyBytes));
    if (!Array.isArray(body)) throw new HubError(400, 'invalid_batch', 'POST /publish takes a JSON array of {topic, data, event?}.');
    if (body.length === 0) throw new HubError(400, 'invalid_batch', 'The batch is empty.');
    if (body.length > config.maxBatchEvents) {
      throw new HubError(413, 'batch_too_large', `A batch may hold at most ${config.maxBatchEvents} events, not ${body.length}.`);
    }
    return body.map((item: unknown, i) => batchItem(item, i));
  });
  return jsonAnswer(201, { ids: stored.map((event) => event.id) }, replayHeaders(replayed));
};

/** A string is published as is; any other JSON value as its JSON text. */
function batchItem(item: unknown, i: number): NewEvent {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    throw new HubError(400, 'invalid_batch', `events[${i}] must be an object {topic, data, event?}.`);
  }
  const { topic, data, event } = item as Record<string, unknown>;
  if (typeof topic !== 'string') throw new HubError(400, 'invalid_topic', `events[${i}].topic must be a string.`);
  if (data === undefined) throw new HubError(400, 'invalid_batch', `events[${i}].data is missing.`);
  if (event !== undefined && typeof event !== 'string') throw new HubError(400, 'invalid_event_name', `events[${i}].event must be a string.`);
  const result: NewEvent = { topic, data: typeof data === 'string' ? data : JSON.stringify(data) };
  if (event !== undefined) result.event = event;
  return result;
}
