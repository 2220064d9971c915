/**
 * The publish routes: POST /topics/{topic} (one event, the body is its data) and POST /publish (a
 * batch). Shapes and content types are checked here; what makes an event valid (topic syntax,
 * event name) is checked by the hub for every way in.
 */
import { authorizePublish, type Principal } from '../auth/principal.js';
import { HubError } from '../errors.js';
import type { NewEvent } from '../engines/engine.js';
import type { EventToPublish, PublishedEvent, PublishOptions } from '../hub/hub.js';
import { cancelledTopic, cancelTopic } from './cancel.js';
import { authenticateWithBody, clientKey, principalWithoutVerifying } from './authenticate.js';
import { bodyTypeOf, decodeBody, parseJson, type BodyType } from './body.js';
import type { Handler, RequestHead, RouteContext } from './context.js';
import { idempotencyKeyOf, publishOnce, type IdempotentResult } from './idempotency.js';
import { jsonAnswer } from './respond.js';
import { publishStream } from './publish-stream.js';

/**
 * An HTTP publish: the credential (before the body is read, unless the app must be told the
 * topics: see authenticateWithBody), the events, then publishEvents.
 */
async function publishAs(req: RequestHead, context: RouteContext, read: () => Promise<EventToPublish[]>): Promise<IdempotentResult> {
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
  /**
   * A door that stores its events under a reserved topic of its own (Mercure: $mercure/…, which no
   * grant names) and authorizes them by its own rules instead of the principal's publish grants.
   */
  door?: PublishingDoor;
}

export interface PublishingDoor {
  /** Throws the HubError (403…) of events the publisher may not publish; called once they are valid. */
  authorize(events: readonly NewEvent[]): void;
}

/**
 * The one way events are published, from every door (HTTP, the fast path, in process): topics
 * authorized after the hub has validated them, then the publisher's rates charged (events and
 * bytes), then stored, once per Idempotency-Key when one is given, all before anything is stored.
 */
export async function publishEvents(
  events: readonly EventToPublish[],
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
  const door = publisher.door;
  const options: PublishOptions =
    door === undefined
      ? {
          authorize: (checked) => {
            authorizePublish(
              publisher.principal,
              checked.map((event) => event.topic),
            );
          },
        }
      : { authorize: (checked) => door.authorize(checked), allowReservedTopics: true };
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

/** POST /topics/{topic}: a publish; POST /topics/{topic}/cancel: a cancel (cancel.ts). */
export const publishToTopic: Handler = async (request, context) => {
  const cancelled = cancelledTopic(request.rest);
  if (cancelled !== undefined) return cancelTopic(request, context, cancelled);
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
function topicEvent(topic: string, query: URLSearchParams, data: string, type: BodyType): EventToPublish {
  if (type === 'json') parseJson(data);
  const event: EventToPublish = { topic, data };
  const name = query.get('event');
  if (name !== null) event.event = name;
  if (endOf(query.get('end'), 'end')) event.end = true;
  return event;
}

/** `end` as given (?end=true, a batch item's "end"): true, false or absent, else 400 invalid_end. */
function endOf(value: unknown, where: string): boolean {
  if (value === null || value === undefined || value === false || value === 'false') return false;
  if (value === true || value === 'true') return true;
  throw new HubError(400, 'invalid_end', `${where} must be true or false.`);
}

/**
 * 201 {id, topic, event?}, with `end` (the id of the topic's END_EVENT) for a publish that ended
 * the topic; a repeated end stores nothing and answers 200 with the end: {id, topic, event: "ssehub.end", end}.
 */
function publishedAnswer(stored: PublishedEvent, replayed: boolean): PublishAnswer {
  return { status: stored.alreadyEnded === true ? 200 : 201, body: publishedBody(stored), headers: replayHeaders(replayed) };
}

/** What a publisher is told of one stored event: {id, topic, event?, end?} (a streaming publish's line answer too). */
export function publishedBody(stored: PublishedEvent): { id: string; topic: string; event?: string; end?: string } {
  const body: { id: string; topic: string; event?: string; end?: string } = { id: stored.id, topic: stored.topic };
  if (stored.event) body.event = stored.event;
  if (stored.endId !== undefined) body.end = stored.endId;
  return body;
}

/** POST /publish: a JSON batch, or with Content-Type application/x-ndjson a streaming publish (publish-stream.ts). */
export const publishBatch: Handler = async (request, context) => {
  const { config } = context;
  if (bodyTypeOf(request, ['json', 'ndjson']) === 'ndjson') return publishStream(request, context);
  const { stored, replayed } = await publishAs(request, context, async () => {
    const body = parseJson(await request.readBody(config.maxBodyBytes));
    if (!Array.isArray(body)) throw new HubError(400, 'invalid_batch', 'POST /publish takes a JSON array of {topic, data, event?}.');
    if (body.length === 0) throw new HubError(400, 'invalid_batch', 'The batch is empty.');
    if (body.length > config.maxBatchEvents) {
      throw new HubError(413, 'batch_too_large', `A batch may hold at most ${config.maxBatchEvents} events, not ${body.length}.`);
    }
    return body.map((item: unknown, i) => batchItem(item, `events[${i}]`));
  });
  // "ends": each topic the batch ended, with the id of its END_EVENT. A batch made only of repeated ends stores nothing: 200.
  const answer: { ids: string[]; ends?: Record<string, string> } = { ids: stored.map((event) => event.id) };
  for (const event of stored) if (event.endId !== undefined) (answer.ends ??= {})[event.topic] = event.endId;
  return jsonAnswer(stored.every((event) => event.alreadyEnded === true) ? 200 : 201, answer, replayHeaders(replayed));
};

/**
 * One event of a batch (`where`: "events[3]") or of a streaming publish's line ("line 7"), checked
 * for its shape. A string is published as is; any other JSON value as its JSON text.
 */
export function batchItem(item: unknown, where: string): EventToPublish {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    throw new HubError(400, 'invalid_batch', `${where} must be an object {topic, data, event?}.`);
  }
  const { topic, data, event, end } = item as Record<string, unknown>;
  if (typeof topic !== 'string') throw new HubError(400, 'invalid_topic', `${where}.topic must be a string.`);
  if (data === undefined) throw new HubError(400, 'invalid_batch', `${where}.data is missing.`);
  if (event !== undefined && typeof event !== 'string') throw new HubError(400, 'invalid_event_name', `${where}.event must be a string.`);
  const result: EventToPublish = { topic, data: typeof data === 'string' ? data : JSON.stringify(data) };
  if (event !== undefined) result.event = event;
  if (endOf(end, `${where}.end`)) result.end = true;
  return result;
}
