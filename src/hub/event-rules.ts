/**
 * What makes an event publishable. Checked in Hub.publish, so every way in (HTTP, the library API)
 * is held to the same rules before anything is stored.
 */
import { HubError } from '../errors.js';
import { checkFieldValue, isReservedEventName, RESERVED_EVENT_PREFIX } from '../protocol/index.js';
import { parseTopic, type TopicLimits } from '../topics/index.js';
import type { NewEvent } from '../engines/engine.js';

export const MAX_EVENT_NAME_LENGTH = 128;

/**
 * An event name with CR, LF or NUL is refused here: written to the stream it would end the
 * "event:" line and let the publisher inject fields of its own (a forged id, say).
 */
export function checkEventName(name: string): string {
  const problem = checkFieldValue('event', name);
  if (problem !== null) throw new HubError(400, 'invalid_event_name', `Invalid event name: ${problem}.`);
  if (name.length > MAX_EVENT_NAME_LENGTH) {
    throw new HubError(400, 'invalid_event_name', `Event names are at most ${MAX_EVENT_NAME_LENGTH} characters.`);
  }
  // A publisher's event in the hub's own range could pass for a control event (a forged reset).
  if (isReservedEventName(name)) {
    throw new HubError(400, 'reserved_event_name', `Event names starting with "${RESERVED_EVENT_PREFIX}" are reserved for the hub.`);
  }
  return name;
}

export interface EventRules {
  topicLimits: TopicLimits;
  /** System topics ("$…") may be published to only by the hub itself. */
  allowReservedTopics?: boolean;
}

export function checkNewEvent(input: NewEvent, rules: EventRules): NewEvent {
  const topic = parseTopic(input.topic, { limits: rules.topicLimits, allowReserved: rules.allowReservedTopics ?? false });
  if (typeof input.data !== 'string') throw new HubError(400, 'invalid_data', 'Event data must be a string.');
  const event: NewEvent = { topic, data: input.data };
  if (input.event !== undefined) event.event = checkEventName(input.event);
  return event;
}
