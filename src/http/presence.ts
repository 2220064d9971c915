/**
 * Who is on a topic: GET /topics/{topic}/presence (its members, cluster-wide) and
 * GET /topics/{topic}/subscribers (how many streams, cluster-wide). Both are read with the right to
 * subscribe to the topic (a grant, a public topic, or an open hub): whoever may listen may know
 * who else does. The topic is exact: a pattern has no members of its own.
 */
import { HubError } from '../errors.js';
import type { Answer, RouteContext, RouteRequest } from './context.js';
import { jsonAnswer } from './respond.js';
import { authorizeSubscription, subscriptionOf } from './subscription.js';

/** Presence and subscriber counts (history is read by history.ts). */
export async function readTopic(request: RouteRequest, context: RouteContext, topic: string, read: 'presence' | 'subscribers'): Promise<Answer> {
  const subscription = subscriptionOf([topic], context);
  if (subscription.selectors[0]!.kind !== 'exact') throw new HubError(400, 'invalid_topic', `GET /topics/{topic}/${read} takes a topic, not the pattern "${topic}".`);
  await authorizeSubscription(request, context, subscription);
  const subscribers = context.presence.subscribers(topic);
  if (read === 'subscribers') return jsonAnswer(200, { topic, subscribers });
  return jsonAnswer(200, { topic, subscribers, members: context.presence.members(topic) });
}
