/** The library entry point: mount a hub in your app (createHub), run it as its own server (startHub), or use its parts. */
export { createHub, type CreateHubOptions, type EmbeddedHub, type InProcessPublishOptions, type PublishedEvent, type TopicPresence } from './create-hub.js';
export type { Member, MemberChange, TopicChange, PresenceChange, PresenceEventName, PresenceListener } from './presence/presence.js';
export type { AppAuthorize } from './auth/authorize.js';
export type { Grant } from './auth/grant.js';
export type { DisconnectCriterion } from './auth/revocation.js';
export type { DisconnectResult } from './hub/disconnects.js';
export type { NodeHandler } from './http/node/door.js';
export type { FetchHandler, FetchInfo } from './http/fetch/door.js';
export type { StreamSink, SinkOwner } from './hub/sink.js';
export type { Selector } from './topics/index.js';
export { parseSelector, parseSubscribeSelector } from './topics/index.js';
export { startHub, createLogger, type RunningHub, type StartOptions } from './start.js';
export { loadConfig, defaultConfig, type HubConfig } from './config.js';
export { Hub, type HubOptions, type HubStats } from './hub/hub.js';
export { RESET_EVENT, POSITION_EVENT, EXPIRED_EVENT, REVOKED_EVENT, PRESENCE_EVENT, JOIN_EVENT, LEAVE_EVENT, GAP_REASONS, type GapReason, type ResetDetail, type RevokedDetail, type PresenceDetail, type MemberDetail } from './protocol/index.js';
export { openEngine, MemoryEngine, type EngineSettings } from './engines/index.js';
export type { Engine, NewEvent, StoredEvent, HistoryResult, KeyValueStore } from './engines/engine.js';
export { HubError } from './errors.js';
