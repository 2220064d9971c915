/**
 * The route table. A route is a path (exact, or a prefix whose remainder is a topic) and the
 * handler for each method; anything else is 404, a known path with another method 405.
 */
import { HubError } from '../errors.js';
import type { Handler } from './context.js';
import { healthz, metrics, stats } from './observability.js';
import { publishBatch, publishToTopic } from './publish.js';
import { preflight } from './preflight.js';
import { streamEvents, streamTopic } from './subscribe.js';
import { issueTicket } from './tickets.js';

interface Route {
  path: string;
  /** The path is a prefix; what follows it is passed on, percent-decoded, as `rest`. */
  prefix?: boolean;
  methods: Record<string, Handler>;
}

export const ROUTES: readonly Route[] = [
  { path: '/topics/', prefix: true, methods: { GET: streamTopic, POST: publishToTopic } },
  { path: '/events', methods: { GET: streamEvents } },
  { path: '/publish', methods: { POST: publishBatch } },
  { path: '/tickets', methods: { POST: issueTicket } },
  { path: '/healthz', methods: { GET: healthz } },
  { path: '/stats', methods: { GET: stats } },
  { path: '/metrics', methods: { GET: metrics } },
];

export interface ResolvedRoute {
  handler: Handler;
  rest: string;
}

export function resolveRoute(method: string, pathname: string): ResolvedRoute {
  for (const route of ROUTES) {
    const matches = route.prefix ? pathname.startsWith(route.path) : pathname === route.path;
    if (!matches) continue;
    const handler = method === 'OPTIONS' ? preflight : route.methods[method];
    if (!handler) {
      const allow = Object.keys(route.methods).join(', ');
      throw new HubError(405, 'method_not_allowed', `${method} is not allowed on ${route.path}; use ${allow}.`, { Allow: allow });
    }
    return { handler, rest: route.prefix ? decodePath(pathname.slice(route.path.length)) : '' };
  }
  throw new HubError(404, 'not_found', `No route for ${pathname}.`);
}

function decodePath(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HubError(400, 'invalid_topic', 'The topic in the path is not valid percent-encoding.');
  }
}
