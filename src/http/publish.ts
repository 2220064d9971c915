/**
 * The publish routes: POST /topics/{topic} (one event, the body is its data) and POST /publish (a
 * batch). Shapes and content types are checked here; what makes an event valid (topic syntax,
 * event name) is checked by the hub for every way in.
 */
import { authorizePublish, type Principal } from '../auth/principal.js';
import { HubError } from '../errors.js';
import type { NewEvent, StoredEvent } from '../engines/engine.js';
import type { PublishOptions } from '../hub/hub.js';
import { authenticate, clientKey, principalWithoutVerifying } from './authenticate.js';
import { bodyTypeOf, decodeBody, parseJson, type BodyType } from './body.js';
import type { Handler, RequestHead, RouteContext } from './context.js';
import { idempotencyKeyOf, publishOnce, type IdempotentResult } from './idempotency.js';
import { jsonAnswer } from './respond.js';

/**
 * The credential is checked before the body is read (a bad token costs no upload); topics are
 * authorized after the hub has validated them, then the publisher's rates are charged (events and
 * bytes), all before anything is stored.
 */
async function publishAs(req: RequestHead, context: RouteContext, read: () => Promise<NewEvent[]>): Promise<IdempotentResult> {
  const principal = await authenticate(req, context);
  const idempotencyKey = idempotencyKeyOf(req);
  const events = await read();
  const window = context.config.idempotencyWindowMs;
  const publish = (dedupeKey?: string) => context.hub.publish(events, publishOptions(req, context, principal, dedupeKey));
  if (idempotencyKey === undefined) return { stored: await publish(), replayed: false };
  return publishOnce(context.hub.engine.kv, clientKey(req, principal, context), idempotencyKey, window, events, publish);
}

/** What the hub is told of a publish: who may publish to the checked topics, whose rates it is charged to, and its dedupe key. */
function publishOptions(req: RequestHead, context: RouteContext, principal: Principal, dedupeKey?: string): PublishOptions {
  const options: PublishOptions = {
    authorize: (checked) => {
      authorizePublish(
        principal,
        checked.map((event) => event.topic),
      );
    },
  };
  // The key (the client's address, behind proxies read from X-Forwarded-For) only when it is used.
  // The hub charges it (events and bytes) once the events are valid and authorized, before storing.
  if (context.access.limits.chargesPublishes) options.chargeTo = clientKey(req, principal, context);
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
 * by the route and the publish fast path (fast-publish.ts), which reads the body its own way.
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
  const [stored] = context.hub.publishNow([event], publishOptions(req, context, principal));
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
