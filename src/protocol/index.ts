/**
 * The Server-Sent Events wire format: encoding for the server, streaming
 * parsing for clients and tests, and the hub's control events and announcements
 * that both sides read. Platform-neutral (no Node-only APIs).
 */
export {
  SseFieldError,
  checkFieldValue,
  encodeEvent,
  encodeComment,
  encodeRetry,
  encodeIdOnly,
} from './encode.js';
export type { SseField, EventFields } from './encode.js';
export { EventStreamParser } from './parse.js';
export { HEARTBEAT_ANNOUNCEMENT } from './announcements.js';
export {
  RESERVED_EVENT_PREFIX,
  isReservedEventName,
  RESET_EVENT,
  POSITION_EVENT,
  EXPIRED_EVENT,
  PRESENCE_EVENT,
  JOIN_EVENT,
  LEAVE_EVENT,
  GAP_REASONS,
  EXPIRED_REASON,
  REVOKED_EVENT,
  REVOKED_REASON,
  END_EVENT,
  CANCEL_EVENT,
} from './control-events.js';
export type { GapReason, ResetDetail, ExpiredDetail, RevokedDetail, PresenceMember, PresenceDetail, MemberDetail, EndDetail, CancelDetail } from './control-events.js';
export type { ParsedEvent, ParserCallbacks } from './parse.js';
export { WS_SUBPROTOCOL, WS_CLOSE, WS_FINAL_CLOSE_CODES, WS_EVENT_PREFIX, WS_EVENT_ID_PREFIX, encodeWsEvent } from './ws.js';
export type { WsClientMessage, WsServerMessage, WsEventMessage } from './ws.js';
