/**
 * The ssehub client, for browsers and Node 20+ (no Node-only APIs; only fetch, streams,
 * TextDecoder, AbortController and crypto.randomUUID).
 *
 *   import { subscribe, publish } from 'ssehub/client';
 */
export { subscribe } from './subscribe.js';
export type {
  ConnectionState,
  Decoder,
  EventMap,
  HubEvent,
  ResetSignal,
  StateChange,
  SubscribeOptions,
  Subscription,
  SubscriptionItem,
  TextEventMap,
} from './subscribe.js';
export { publish, TimeoutError } from './publish.js';
export type { PublishEvent, PublishOptions, PublishedBatch, PublishedEvent } from './publish.js';
export { openPublishStream, PublishStreamError } from './publish-stream.js';
export type { PublishStream, PublishStreamOptions } from './publish-stream.js';
export { ContentTypeError, DecodeError, HubResponseError, IdleTimeoutError, RevokedError } from './errors.js';
export type { BackoffOptions } from './backoff.js';
export type { Clock } from './clock.js';
export type { TokenSource } from './http.js';
export type { GapReason } from '../protocol/control-events.js';
export { connect } from './connect.js';
export type { Connection, ConnectOptions, WebSocketConstructor, WebSocketLike, WsPublished, WsPublishOptions, WsSubscribeOptions, WsSubscription } from './connect.js';
