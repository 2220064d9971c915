/**
 * The route table. A route is a path (exact, or a prefix whose remainder is a topic) and the
 * handler for each method; anything else is 404, a known path with another method 405. A route
 * with `when` exists only while the configuration says so (404 otherwise, whatever the method:
 * `not_found`, or the route's `off` error that says how to turn it on).
 */
import type { HubConfig } from '../config.js';
import { HubError } from '../errors.js';
import type { Handler } from './context.js';
import { joinChat, startChat, startJobs, startLogs } from './demos.js';
import { disconnectStreams } from './disconnect.js';
import { historyEvents } from './history.js';
import { adminOnly, healthz, livez, metrics, stats } from './observability.js';
import { publishBatch, publishToTopic } from './publish.js';
import { preflight } from './preflight.js';
import { streamEvents, streamTopic } from './subscribe.js';
import { page, PAGES, serveAsset } from './static.js';
import { issueTicket } from './tickets.js';
import { mercurePublish } from '../mercure/publish.js';
import { mercureSubscribe } from '../mercure/subscribe.js';
import { mercureSubscriptions, SUBSCRIPTIONS_PATH } from '../mercure/subscriptions.js';

export interface Route {
  path: string;
  /** The path is a prefix; what follows it is passed on, percent-decoded, as `rest`. */
  prefix?: boolean;
  /** Pass `rest` on as it is in the request, not percent-decoded. */
  raw?: boolean;
  when?: (config: HubConfig) => boolean;
  /** The answer while `when` says no, when "No route" would leave the user guessing (default: not_found). */
  off?: () => HubError;
  methods: Record<string, Handler>;
}

const dashboard = (config: HubConfig): boolean => config.dashboard;
const demos = (config: HubConfig): boolean => config.demos;
const mercure = (config: HubConfig): boolean => config.mercure;
const mercureOff = (): HubError => new HubError(404, 'mercure_disabled', 'The Mercure protocol is off on this hub: start it with --mercure (or SSEHUB_MERCURE=true, or createHub({ mercure: true })).');
const demosOff = (): HubError => new HubError(404, 'demos_disabled', 'The demo API is off on this hub: start it with --demos (or SSEHUB_DEMOS=true) to run the demos.');

const pageRoutes: Route[] = (Object.keys(PAGES) as Array<keyof typeof PAGES>).map((path) => {
  const handler = page(path);
  return { path, when: dashboard, methods: { GET: handler, HEAD: handler } };
});

export const ROUTES: readonly Route[] = [
  { path: '/topics/', prefix: true, methods: { GET: streamTopic, POST: publishToTopic } },
  { path: '/events', methods: { GET: streamEvents } },
  { path: '/history', methods: { GET: historyEvents } },
  { path: '/publish', methods: { POST: publishBatch } },
  { path: '/tickets', methods: { POST: issueTicket } },
  { path: '/livez', methods: { GET: livez } },
  { path: '/healthz', methods: { GET: healthz } },
  { path: '/stats', methods: { GET: adminOnly(stats) } },
  { path: '/metrics', methods: { GET: adminOnly(metrics) } },
  { path: '/admin/disconnect', methods: { POST: disconnectStreams } },
  ...pageRoutes,
  // Asset names never need percent-encoding; raw, an encoded "/" or "." cannot even look like one.
  { path: '/assets/', prefix: true, raw: true, when: dashboard, methods: { GET: serveAsset, HEAD: serveAsset } },
  // Raw: a topic in the path is percent-encoded, "/" included; the handler splits, then decodes.
  { path: SUBSCRIPTIONS_PATH, prefix: true, raw: true, when: mercure, off: mercureOff, methods: { GET: mercureSubscriptions } },
  { path: '/.well-known/mercure', when: mercure, off: mercureOff, methods: { GET: mercureSubscribe, POST: mercurePublish } },
  { path: '/demos/api/jobs', when: demos, off: demosOff, methods: { POST: startJobs } },
  { path: '/demos/api/logs', when: demos, off: demosOff, methods: { POST: startLogs } },
  { path: '/demos/api/chat', when: demos, off: demosOff, methods: { POST: startChat } },
  { path: '/demos/api/chat/join', when: demos, off: demosOff, methods: { POST: joinChat } },
];

/**
 * The operator listener's routes (--metrics-listen): health and the counters, without a token.
 * That listener is meant for an interface only the scraper and the health checks reach.
 */
export const OPERATOR_ROUTES: readonly Route[] = [
  { path: '/livez', methods: { GET: livez } },
  { path: '/healthz', methods: { GET: healthz } },
  { path: '/stats', methods: { GET: stats } },
  { path: '/metrics', methods: { GET: metrics } },
];

export interface ResolvedRoute {
  handler: Handler;
  /** The request's path, without its query. */
  path: string;
  rest: string;
  /** The query string's parameters. */
  query: URLSearchParams;
}

/** A mount point as the doors compare it: no trailing slash; "" for the root. */
export function mountPath(basePath: string | undefined): string {
  return (basePath ?? '').replace(/\/+$/, '');
}

/**
 * The request target (path and query) below the mount point, or undefined when it is not below
 * it: "/realtime/topics/a" below "/realtime" is "/topics/a", and "/realtimeX" is not below it.
 */
export function targetBelow(target: string, basePath: string): string | undefined {
  if (basePath === '') return target;
  if (!target.startsWith(basePath)) return undefined;
  const rest = target.slice(basePath.length);
  if (rest === '') return '/';
  if (rest.startsWith('?')) return `/${rest}`;
  return rest.startsWith('/') ? rest : undefined;
}

/** The route for a request target (path and query, or absolute form), with its rest and query. */
export function resolveTarget(method: string, target: string, config: HubConfig, routes: readonly Route[] = ROUTES): ResolvedRoute {
  const { path, query } = splitTarget(target);
  return resolveRoute(method, path, query, config, routes);
}

function resolveRoute(method: string, pathname: string, query: URLSearchParams, config: HubConfig, routes: readonly Route[]): ResolvedRoute {
  for (const route of routes) {
    const matches = route.prefix ? pathname.startsWith(route.path) : pathname === route.path;
    if (!matches) continue;
    if (route.when !== undefined && !route.when(config)) {
      if (route.off !== undefined) throw route.off();
      continue;
    }
    const handler = method === 'OPTIONS' ? preflight : route.methods[method];
    if (!handler) {
      const allow = Object.keys(route.methods).join(', ');
      throw new HubError(405, 'method_not_allowed', `${method} is not allowed on ${route.path}; use ${allow}.`, { Allow: allow });
    }
    const rest = route.prefix ? pathname.slice(route.path.length) : '';
    return { handler, path: pathname, rest: route.raw ? rest : decodePath(rest), query };
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

/**
 * Splits the request target into its raw path and its query. The path is deliberately not
 * normalised (no resolving of "." or ".."): "/topics/a/../b" must not quietly become topic "b".
 */
function splitTarget(target: string): { path: string; query: URLSearchParams } {
  let pathAndQuery = target;
  if (!target.startsWith('/')) {
    // Absolute form ("http://host/path"), as sent to proxies.
    try {
      const url = new URL(target);
      pathAndQuery = target.slice(target.indexOf(url.host) + url.host.length) || '/';
    } catch {
      throw new HubError(400, 'bad_request', 'The request target is not a valid path or URL.');
    }
    if (!pathAndQuery.startsWith('/')) throw new HubError(400, 'bad_request', 'The request target is not a valid path or URL.');
  }
  const mark = pathAndQuery.indexOf('?');
  const path = mark === -1 ? pathAndQuery : pathAndQuery.slice(0, mark);
  return { path, query: new URLSearchParams(mark === -1 ? '' : pathAndQuery.slice(mark + 1)) };
}
