/**
 * What a subscription names (a stream, a read of history or presence), parsed once, and who may
 * read it: the one place where reading topics is authorized.
 */
import { authorizeSubscribe, type Principal } from '../auth/principal.js';
import { HubError } from '../errors.js';
import { parseSubscribeSelector, type Selector } from '../topics/index.js';
import { authenticate } from './authenticate.js';
import type { RouteContext, RouteRequest } from './context.js';

/** The topics and patterns a subscription (a stream, or a read of history) names, parsed once each. */
export interface Subscription {
  selectors: Selector[];
  /** The distinct sources, in the order named. */
  topics: string[];
}

/** Parses what a subscription names, within --max-topics; the same topic twice is one. */
export function subscriptionOf(sources: readonly string[], context: Pick<RouteContext, 'config' | 'hub'>): Subscription {
  const { config, hub } = context;
  if (sources.length > config.maxTopicsPerSubscription) {
    throw new HubError(400, 'too_many_topics', `A subscription may name at most ${config.maxTopicsPerSubscription} topics or patterns, not ${sources.length}.`);
  }
  const selectors: Selector[] = [];
  const seen = new Set<string>();
  for (const source of sources) {
    if (seen.has(source)) continue;
    seen.add(source);
    // System topics ($ssehub/…) may be subscribed to, never published to; other $ topics are refused.
    selectors.push(parseSubscribeSelector(source, { limits: hub.topicLimits }));
  }
  return { selectors, topics: [...seen] };
}

/**
 * Who may read the subscription, or the error: the credential (token, ticket, the app's session)
 * must grant every topic and pattern, and must not have expired. Streams and history reads alike.
 */
export async function authorizeSubscription(request: RouteRequest, context: RouteContext, subscription: Subscription): Promise<Principal> {
  const principal = await authenticate(request, context, { action: 'subscribe', topics: subscription.topics }, request.query.get('ticket'));
  checkSubscriptionGrant(principal, subscription, context);
  return principal;
}

/**
 * Whether a principal already known (a WebSocket's, authenticated when it connected) may read the
 * subscription: its grant covers every topic and pattern, and it has not expired.
 */
export function checkSubscriptionGrant(principal: Principal, subscription: Subscription, context: Pick<RouteContext, 'access'>): void {
  authorizeSubscribe(principal, subscription.selectors, context.access.publicTopics);
  if (principal.expiresAt !== undefined && principal.expiresAt <= Date.now()) {
    throw new HubError(401, 'token_expired', 'The credential has expired.');
  }
}
