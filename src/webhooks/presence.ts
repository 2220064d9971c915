/**
 * Presence changes as webhooks: topic.occupied, topic.vacated, presence.join, presence.leave,
 * keyed by topic. Every instance sees each change; only the one whose message caused it
 * (causedHere, true on exactly one) emits it, so each is sent once per cluster.
 */
import type { MemberChange, Presence, TopicChange } from '../presence/presence.js';
import { isReservedTopic } from '../topics/index.js';
import type { WebhookType } from './events.js';
import type { Webhooks } from './webhooks.js';

export function forwardPresence(presence: Presence, webhooks: Webhooks): void {
  // Reserved topics' presence is the hub's own (Mercure's subscribers, $mercure/…): not the app's.
  const topicChange = (type: WebhookType) => ({ topic, causedHere }: TopicChange) => {
    if (causedHere && !isReservedTopic(topic)) void webhooks.emit(type, { topic }, { key: topic });
  };
  const memberChange = (type: WebhookType) => ({ topic, member, causedHere }: MemberChange) => {
    if (causedHere && !isReservedTopic(topic)) void webhooks.emit(type, { topic, member }, { key: topic });
  };
  // A type no --webhook wants gets no listener: no cost per change.
  if (webhooks.wants('topic.occupied')) presence.on('occupied', topicChange('topic.occupied'));
  if (webhooks.wants('topic.vacated')) presence.on('vacated', topicChange('topic.vacated'));
  if (webhooks.wants('presence.join')) presence.on('join', memberChange('presence.join'));
  if (webhooks.wants('presence.leave')) presence.on('leave', memberChange('presence.leave'));
}
