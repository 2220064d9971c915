/**
 * How a Mercure update lives in ssehub: one event on the reserved topic MERCURE_TOPIC, whose data is
 * the update's envelope `{topics, data, type?, retry?, private?, id?}` as JSON.
 *
 * Why one topic: a Mercure update names several topics (IRIs with `//`, `:`, `?`, none of them an
 * ssehub topic name), and a Mercure subscriber's selectors are URI templates that no ssehub
 * pattern can express. Stored once under one topic, an update costs one append whatever its number
 * of topics, keeps its place in the one id order (so Last-Event-ID resumes on every engine), and is
 * matched against each Mercure subscriber's selectors and claims at dispatch (format.ts). A native
 * topic name may not start with "$" (topics/topic.ts), so nothing published natively can land
 * there, and native subscribers cannot name it (only "$ssehub/…" may be subscribed to): they never
 * see Mercure updates, private ones included.
 */
import { HubError } from '../errors.js';
import { checkFieldValue } from '../protocol/index.js';
import { MAX_MERCURE_TOPIC_LENGTH } from './selectors.js';

/** The one ssehub topic that holds every Mercure update. */
export const MERCURE_TOPIC = '$mercure/updates';

/** A Mercure update, as published and as stored (the event's data). */
export interface MercureUpdate {
  topics: string[];
  data: string;
  /** The SSE `event` field. */
  type?: string;
  /** The SSE `retry` field, in ms. */
  retry?: number;
  private?: true;
  /** The publisher's own id: its idempotency key (publish.ts), never the stream's id. */
  id?: string;
}

/** Most topics one update may name. */
export const MAX_UPDATE_TOPICS = 64;

/**
 * The update of a form-encoded publish (`topic` repeatable, `data`, `id`, `type`, `retry`,
 * `private`). @throws HubError 400 for a body with neither topic nor data, and for fields that
 * would break the stream (CR/LF in `type` or `id`, a `retry` that is not digits).
 */
export function updateOfForm(form: URLSearchParams): MercureUpdate {
  const topics = form.getAll('topic');
  const data = form.get('data');
  if (topics.length === 0 && data === null) throw new HubError(400, 'missing_topic', 'A Mercure publish needs at least one "topic" field (and usually "data"); the body has neither.');
  if (topics.length === 0) throw new HubError(400, 'missing_topic', 'A Mercure publish needs at least one "topic" field.');
  if (topics.length > MAX_UPDATE_TOPICS) throw new HubError(400, 'too_many_topics', `An update may name at most ${MAX_UPDATE_TOPICS} topics, not ${topics.length}.`);
  for (const topic of topics) {
    if (topic === '') throw new HubError(400, 'invalid_topic', 'A "topic" field is empty.');
    if (topic.length > MAX_MERCURE_TOPIC_LENGTH) throw new HubError(400, 'invalid_topic', `A topic is ${topic.length} characters long; at most ${MAX_MERCURE_TOPIC_LENGTH} are taken.`);
  }
  const update: MercureUpdate = { topics, data: data ?? '' };
  const type = form.get('type');
  if (type !== null && type !== '') {
    // Written as the "event:" line: a CR or LF would let the publisher inject fields of its own.
    const problem = checkFieldValue('event', type);
    if (problem !== null) throw new HubError(400, 'invalid_event_name', `Invalid "type": ${problem}.`);
    update.type = type;
  }
  const retry = form.get('retry');
  if (retry !== null && retry !== '') {
    if (!/^\d{1,9}$/.test(retry)) throw new HubError(400, 'invalid_retry', `"retry" must be a number of milliseconds, not ${JSON.stringify(retry.slice(0, 40))}.`);
    update.retry = Number(retry);
  }
  // Mercure marks an update private by the field's presence, whatever its value ("on" by convention).
  if (form.has('private')) update.private = true;
  const id = form.get('id');
  if (id !== null && id !== '') {
    const problem = checkFieldValue('id', id);
    if (problem !== null) throw new HubError(400, 'invalid_id', `Invalid "id": ${problem}.`);
    update.id = id;
  }
  return update;
}

/** The stored event's data. */
export function envelopeOf(update: MercureUpdate): string {
  return JSON.stringify(update);
}

/**
 * The update stored in an event's data; undefined for data that is not one (only the hub writes
 * this topic, so that would be a bug, and such an event is then sent to no Mercure subscriber).
 */
export function readEnvelope(data: string): MercureUpdate | undefined {
  try {
    const value = JSON.parse(data) as MercureUpdate;
    if (typeof value !== 'object' || value === null || !Array.isArray(value.topics) || typeof value.data !== 'string') return undefined;
    return value;
  } catch {
    return undefined;
  }
}
