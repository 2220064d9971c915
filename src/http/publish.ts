/**
 * The publish routes: POST /topics/{topic} (one event, the body is its data) and POST /publish (a
 * batch). Shapes and content types are checked here; what makes an event valid (topic syntax,
 * event name) is checked by the hub for every way in.
 */
import { HubError } from '../errors.js';
import type { NewEvent } from '../engines/engine.js';
import { bodyTypeOf, parseJson, readBody } from './body.js';
import type { Handler } from './context.js';
import { sendJson } from './respond.js';

export const publishToTopic: Handler = async ({ req, res, query, rest }, { hub, config }) => {
  const type = bodyTypeOf(req, ['json', 'text']);
  const data = await readBody(req, config.maxBodyBytes);
  if (type === 'json') parseJson(data); // validated; the text is published as sent
  const event: NewEvent = { topic: rest, data };
  const name = query.get('event');
  if (name !== null) event.event = name;
  const [stored] = await hub.publish([event]);
  sendJson(res, 201, { id: stored!.id, topic: stored!.topic, ...(stored!.event ? { event: stored!.event } : {}) });
};

export const publishBatch: Handler = async ({ req, res }, { hub, config }) => {
  bodyTypeOf(req, ['json']);
  const body = parseJson(await readBody(req, config.maxBodyBytes));
  if (!Array.isArray(body)) throw new HubError(400, 'invalid_batch', 'POST /publish takes a JSON array of {topic, data, event?}.');
  if (body.length === 0) throw new HubError(400, 'invalid_batch', 'The batch is empty.');
  if (body.length > config.maxBatchEvents) {
    throw new HubError(413, 'batch_too_large', `A batch may hold at most ${config.maxBatchEvents} events, not ${body.length}.`);
  }
  const events = body.map((item: unknown, i) => batchItem(item, i));
  const stored = await hub.publish(events);
  sendJson(res, 201, { ids: stored.map((event) => event.id) });
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
