/**
 * The WebSocket protocol `ssehub.v1`: every message, either way, is one JSON object in one text
 * frame, whose `type` names it. Shared by the hub (src/ws/) and the client (src/client/connect.ts)
 * so that they cannot drift apart. Pure: no I/O, runs in browsers.
 *
 * Events carry the same ids as on an SSE stream of the same hub, so a client may switch transports
 * with its last id. The hub's control events (ssehub.reset, ssehub.position, ssehub.presence,
 * ssehub.join, ssehub.leave, ssehub.expired, ssehub.revoked) come in the same `event` shape.
 */

/** The subprotocol a client asks for (Sec-WebSocket-Protocol); the version of this protocol. */
export const WS_SUBPROTOCOL = 'ssehub.v1';

/** What a client sends. */
export type WsClientMessage =
  | { type: 'auth'; token?: string; ref?: string }
  /** `sub` names the subscription (the hub numbers it when absent); its events carry the name. */
  | { type: 'subscribe'; topics: string[]; sub?: string; lastEventId?: string; rewind?: number; presence?: boolean; ref?: string }
  /** Ends the subscription named `sub`, or every one that names one of `topics`. */
  | { type: 'unsubscribe'; topics?: string[]; sub?: string; ref?: string }
  | { type: 'publish'; topic: string; event?: string; data: unknown; ephemeral?: boolean; idempotencyKey?: string; ref?: string };

/** An event, or a control event of the hub: the same fields an SSE stream carries, plus its topic. */
export interface WsEventMessage {
  type: 'event';
  /** The subscription that matched (one message per matching subscription of the connection). */
  sub?: string;
  /** Absent on control events without a position and on ephemeral events (never stored, never resumed from). */
  id?: string;
  /** Absent on control events. */
  topic?: string;
  /** Absent for the default "message", as on SSE. */
  event?: string;
  data: string;
  /** Set on an ephemeral event (typing indicators, cursors): not in history, no id. */
  ephemeral?: true;
}

/** What the hub sends. */
export type WsServerMessage =
  /** Authenticated: messages are accepted from now on. `heartbeatMs` is the ping interval. */
  | { type: 'ready'; subject?: string; heartbeatMs: number }
  /** A subscribe (then `sub`) or unsubscribe was done, or a publish stored (then `id`, absent when ephemeral). */
  | { type: 'ack'; ref?: string; sub?: string; id?: string; topic?: string; replayed?: boolean }
  /** A message was refused: the same stable codes (and HTTP status) as the HTTP API's errors. */
  | { type: 'error'; ref?: string; code: string; message: string; status?: number }
  | WsEventMessage;

/**
 * Close codes the hub uses (RFC 6455 leaves 4000-4999 to applications). A client reconnects after
 * any of them except 4001, 4003 and 4005, which a new attempt with the same credential would meet
 * again (after 4004 it reconnects with a fresh credential, if it has a way to get one).
 */
export const WS_CLOSE = {
  /** Too many invalid messages in a row: the peer does not speak this protocol. */
  PROTOCOL_ERROR: 4000,
  /** The credential was refused (missing, invalid), in the first message. */
  UNAUTHORIZED: 4001,
  /** No credential arrived within the auth timeout (5 s). */
  AUTH_TIMEOUT: 4002,
  /** The credential was revoked (a disconnect named its subject or token id). */
  REVOKED: 4003,
  /** The credential expired: connect again with a fresh one. */
  TOKEN_EXPIRED: 4004,
  /** The subprotocol is not one this hub speaks. */
  UNSUPPORTED_PROTOCOL: 4005,
  /** The client read too slowly: more than --max-buffer was waiting for it. */
  SLOW_CONSUMER: 4008,
  /** The client sent faster than the hub answers: too many of its messages were waiting. */
  TOO_MANY_PENDING: 4009,
  /** The hub lost events for this connection or could not read history: reconnect and resume with the last id. */
  RESUME: 4010,
  /** The hub is shutting down: reconnect (to another instance). */
  GOING_AWAY: 1001,
} as const;

/** Close codes after which reconnecting with the same credential is pointless. */
export const WS_FINAL_CLOSE_CODES: readonly number[] = [WS_CLOSE.UNAUTHORIZED, WS_CLOSE.REVOKED, WS_CLOSE.UNSUPPORTED_PROTOCOL];

/**
 * One event as a message, newline-terminated: the hub joins a turn's messages for a connection into
 * one chunk, and the WebSocket sink sends each line as its own frame. JSON.stringify never writes a
 * raw line feed (it escapes one inside a string), so a line is always one whole message.
 */
export function encodeWsEvent(message: Omit<WsEventMessage, 'type' | 'sub'>): string {
  // The id comes first after the type (WS_EVENT_ID_PREFIX): the hub's sink reads it from there.
  let out = message.id === undefined ? WS_EVENT_PREFIX : `${WS_EVENT_ID_PREFIX}${JSON.stringify(message.id).slice(1)}`;
  if (message.topic !== undefined) out += `,"topic":${JSON.stringify(message.topic)}`;
  if (message.event !== undefined) out += `,"event":${JSON.stringify(message.event)}`;
  out += `,"data":${JSON.stringify(message.data)}`;
  if (message.ephemeral) out += ',"ephemeral":true';
  return out + '}\n';
}

/** How every encoded event begins. */
export const WS_EVENT_PREFIX = '{"type":"event"';
/** How an encoded event with an id begins; the id's JSON string follows, without its opening quote. */
export const WS_EVENT_ID_PREFIX = '{"type":"event","id":"';
