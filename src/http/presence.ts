/**
 * Who is on a topic: GET /topics/{topic}/presence (its members, cluster-wide) and
 * GET /topics/{topic}/subscribers (how many streams, cluster-wide). Both are read with the right to
 * subscribe to the topic (a grant, a public topic, or an open hub): whoever may listen may know
 * who else does. The topic is exact: a pattern has no members of its own. GET /topics/{topic}/history
 * is the third read of a topic (history.ts).
 */
import { HubError } from '../errors.js';
import type { Answer, RouteContext, RouteRequest } from './context.js';
import { jsonAnswer } from './respond.js';
import { authorizeSubscription, subscriptionOf } from './subscription.js';

/** The last path segments of GET /topics/… that read about the topic instead of streaming it. */
export const TOPIC_READS = ['presence', 'subscribers', 'history'] as const;
export type TopicRead = (typeof TOPIC_READS)[number];

/** Splits "chat/room/presence" into the topic and what is read of it; undefined for a plain topic. */
export function topicRead(rest: string): { topic: string; read: TopicRead } | undefined {
  const slash = rest.lastIndexOf('/');
  if (slash <= 0) return undefined;
  const last = rest.slice(slash + 1);
  return (TOPIC_READS as readonly string[]).includes(last) ? { topic: rest.slice(0, slash), read: last as TopicRead } : undefined;
}

/** Presence and subscriber counts (history is read by history.ts). */
export async function readTopic(request: RouteRequest, context: RouteContext, topic: string, read: Exclude<TopicRead, 'history'>): Promise<Answer> {
  const subscription = subscriptionOf([topic], context);
  if (subscription.selectors[0]!.kind !== 'exact') throw new HubError(400, 'invalid_topic', `GET /topics/{topic}/${read} takes a topic, not the pattern "${topic}".`);
  await authorizeSubscription(request, context, subscription);
  const subscribers = context.presence.subscribers(topic);
  if (read === 'subscribers') return jsonAnswer(200, { topic, subscribers });
  return jsonAnswer(200, { topic, subscribers, members: context.presence.members(topic) });
}
