/**
 * Reading history without a stream: GET /topics/{topic}/history and GET /history?topic=…&topic=…,
 * authorized exactly as a stream of those topics (subscribe.ts), answered by the hub's one
 * history read (hub/history.ts) as JSON `{events, next, complete, reason?, lastEventId?}`.
 */
import { HubError } from '../errors.js';
import { checkedCount, MAX_HISTORY_LIMIT, type HistoryQuery } from '../hub/history.js';
import type { Answer, Handler, RouteContext, RouteRequest } from './context.js';
import { jsonAnswer } from './respond.js';
import { authorizeSubscription, subscriptionOf } from './subscription.js';

export const historyEvents: Handler = (request, context) => {
  const topics = request.query.getAll('topic');
  if (topics.length === 0) throw new HubError(400, 'invalid_topic', 'Name at least one topic: GET /history?topic=a&topic=b/*.');
  return answerHistory(request, context, topics);
};

export async function answerHistory(request: RouteRequest, context: RouteContext, sources: string[]): Promise<Answer> {
  const subscription = subscriptionOf(sources, context);
  const query = historyQueryOf(request.query);
  await authorizeSubscription(request, context, subscription);
  return jsonAnswer(200, await context.hub.history(subscription.selectors, query));
}

/** ?after=, ?before= (an empty one is none) and ?limit= as the hub takes them. */
function historyQueryOf(params: URLSearchParams): HistoryQuery {
  const query: HistoryQuery = {};
  const after = params.get('after');
  const before = params.get('before');
  const limit = checkedCount(params.get('limit'), 'limit', 'invalid_limit', MAX_HISTORY_LIMIT);
  if (after !== null && after !== '') query.after = after;
  if (before !== null && before !== '') query.before = before;
  if (limit !== undefined) query.limit = limit;
  return query;
}
