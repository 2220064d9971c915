/**
 * Presence changes as webhooks: topic.occupied, topic.vacated, presence.join, presence.leave,
 * keyed by topic. Every instance sees each change; only the one whose message caused it
 * (causedHere, true on exactly one) emits it, so each is sent once per cluster.
 */
import type { Presence, PresenceEventName } from '../presence/presence.js';
import type { WebhookType } from './events.js';
import type { Webhooks } from './webhooks.js';

const TYPES: ReadonlyArray<[PresenceEventName, WebhookType]> = [
  ['occupied', 'topic.occupied'],
  ['vacated', 'topic.vacated'],
  ['join', 'presence.join'],
  ['leave', 'presence.leave'],
];

export function forwardPresence(presence: Presence, webhooks: Webhooks): void {
  for (const [event, type] of TYPES) {
    if (!webhooks.wants(type)) continue; // no listener: no cost per change
    presence.on(event, ({ topic, member, causedHere }) => {
      if (causedHere) void webhooks.emit(type, member === undefined ? { topic } : { topic, member }, { key: topic });
    });
  }
}
