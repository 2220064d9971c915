/**
 * What a client may send over the WebSocket (protocol/ws.ts), checked field by field: anything else
 * is a HubError with a stable code, answered with an error message, never a throw out of the socket.
 */
import { HubError } from '../errors.js';
import { MAX_REWIND } from '../hub/history.js';
import type { WsClientMessage } from '../protocol/index.js';

/** Longest ref or subscription name a client may give (they are echoed back). */
export const MAX_REF_LENGTH = 64;

/** Longest lastEventId taken into account, as on SSE streams. */
const MAX_LAST_EVENT_ID_LENGTH = 256;

export type AuthMessage = Extract<WsClientMessage, { type: 'auth' }>;
export type SubscribeMessage = Extract<WsClientMessage, { type: 'subscribe' }>;
export type UnsubscribeMessage = Extract<WsClientMessage, { type: 'unsubscribe' }> & { sub?: string };
export type PublishMessage = Extract<WsClientMessage, { type: 'publish' }>;

/** The ref of a message, if it has a usable one, so that even a refusal can name what it refuses. */
export function refOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const ref = (value as Record<string, unknown>).ref;
  return typeof ref === 'string' && ref.length <= MAX_REF_LENGTH ? ref : undefined;
}

/** One text frame as a client message; HubError invalid_json, invalid_message or unknown_type otherwise. */
export function parseClientMessage(text: string): WsClientMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HubError(400, 'invalid_json', 'A message must be one JSON object.');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HubError(400, 'invalid_message', 'A message must be a JSON object with a "type".');
  const message = value as Record<string, unknown>;
  optionalString(message, 'ref', MAX_REF_LENGTH);
  switch (message.type) {
    case 'auth':
      optionalString(message, 'token');
      return message as AuthMessage;
    case 'subscribe':
      topicList(message);
      optionalString(message, 'lastEventId', MAX_LAST_EVENT_ID_LENGTH);
      if (message.rewind !== undefined && !(Number.isSafeInteger(message.rewind) && (message.rewind as number) >= 0 && (message.rewind as number) <= MAX_REWIND)) {
        throw new HubError(400, 'invalid_rewind', `"rewind" must be a whole number from 0 to ${MAX_REWIND}.`);
      }
      optionalBoolean(message, 'presence');
      return message as SubscribeMessage;
    case 'unsubscribe':
      optionalString(message, 'sub', MAX_REF_LENGTH);
      if (message.sub === undefined || message.topics !== undefined) topicList(message);
      return message as UnsubscribeMessage;
    case 'publish':
      if (typeof message.topic !== 'string') throw new HubError(400, 'invalid_topic', '"topic" must be a string.');
      if (message.data === undefined) throw new HubError(400, 'invalid_message', '"data" is missing.');
      if (message.event !== undefined && typeof message.event !== 'string') throw new HubError(400, 'invalid_event_name', '"event" must be a string.');
      optionalBoolean(message, 'ephemeral');
      return message as PublishMessage;
    default:
      throw new HubError(400, 'unknown_type', `Unknown message type ${JSON.stringify(String(message.type).slice(0, 40))}: send auth, subscribe, unsubscribe or publish.`);
  }
}

function topicList(message: Record<string, unknown>): void {
  const { topics } = message;
  if (!Array.isArray(topics) || topics.length === 0 || !topics.every((topic) => typeof topic === 'string')) {
    throw new HubError(400, 'invalid_topic', '"topics" must be a non-empty array of topic names or patterns.');
  }
}

function optionalString(message: Record<string, unknown>, field: string, maxLength = Infinity): void {
  const value = message[field];
  if (value === undefined) return;
  if (typeof value !== 'string' || value.length > maxLength) {
    throw new HubError(400, 'invalid_message', `"${field}" must be a string${maxLength === Infinity ? '' : ` of at most ${maxLength} characters`}.`);
  }
}

function optionalBoolean(message: Record<string, unknown>, field: string): void {
  if (message[field] !== undefined && typeof message[field] !== 'boolean') throw new HubError(400, 'invalid_message', `"${field}" must be true or false.`);
}
