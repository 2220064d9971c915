/**
 * POST /topics/{topic}/cancel: asks the topic's producer to stop (hub/cancels.ts), on every
 * instance. Allowed to whoever may read the topic (a subscribe grant, checked where every read of a
 * topic is: subscription.ts), since the reader is who wants the stop. Answers 202 {topic} once the
 * engine has taken the signal, whether or not anyone produces for the topic now: a cancel of a
 * topic without a producer finds no listener and does nothing. One topic, never a pattern.
 */
import { HubError } from '../errors.js';
import type { Answer, RouteContext, RouteRequest } from './context.js';
import { jsonAnswer } from './respond.js';
import { authorizeSubscription, subscriptionOf } from './subscription.js';

const SUFFIX = '/cancel';

/** The topic of "…/cancel" in POST /topics/…, or undefined for a publish (a topic so named is published to with POST /publish). */
export function cancelledTopic(rest: string): string | undefined {
  return rest.length > SUFFIX.length && rest.endsWith(SUFFIX) ? rest.slice(0, -SUFFIX.length) : undefined;
}

export async function cancelTopic(request: RouteRequest, context: RouteContext, topic: string): Promise<Answer> {
  const subscription = subscriptionOf([topic], context);
  if (subscription.selectors[0]!.kind !== 'exact') throw new HubError(400, 'invalid_topic', 'A cancel names one topic, not a pattern.');
  await authorizeSubscription(request, context, subscription);
  await context.cancels.cancel(topic);
  return jsonAnswer(202, { topic });
}
