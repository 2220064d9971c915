/**
 * The Server-Sent Events wire format: encoding for the server, streaming
 * parsing for clients and tests. Platform-neutral (no Node-only APIs).
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
export type { ParsedEvent, ParserCallbacks } from './parse.js';
