/** POST /tickets: trades a token (bearer or cookie) for a one-shot stream ticket for some topics. */
import { authorizeSubscribe } from '../auth/principal.js';
import { HubError } from '../errors.js';
import { parseSubscribeSelector } from '../topics/index.js';
import { authenticateWithBody } from './authenticate.js';
import { bodyTypeOf, parseJson } from './body.js';
import type { Handler, RouteContext } from './context.js';
import { jsonAnswer } from './respond.js';

export const issueTicket: Handler = async (request, context) => {
  const { principal, value: topics } = await authenticateWithBody(
    request,
    context,
    'ticket',
    async () => {
      bodyTypeOf(request, ['json']);
      return ticketTopics(parseJson(await request.readBody(context.config.maxBodyBytes)), context);
    },
    (topics) => topics,
  );
  const selectors = topics.map((topic) => parseSubscribeSelector(topic, { limits: context.hub.topicLimits }));
  authorizeSubscribe(principal, selectors, context.access.publicTopics);
  const { ticket, expiresInSeconds } = await context.access.tickets.issue(principal, selectors);
  return jsonAnswer(201, { ticket, expiresIn: expiresInSeconds, topics });
};

/** The topics a ticket request names: {"topics": ["topic or pattern", …]}. */
function ticketTopics(body: unknown, context: RouteContext): string[] {
  const topics = (body as { topics?: unknown } | null)?.topics;
  if (!Array.isArray(topics) || topics.length === 0 || !topics.every((topic) => typeof topic === 'string')) {
    throw new HubError(400, 'invalid_ticket_request', 'POST /tickets takes {"topics": ["topic or pattern", …]}.');
  }
  if (topics.length > context.config.maxTopicsPerSubscription) {
    throw new HubError(400, 'too_many_topics', `A ticket may name at most ${context.config.maxTopicsPerSubscription} topics or patterns.`);
  }
  return topics;
}
