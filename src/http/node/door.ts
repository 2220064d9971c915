/**
 * The node:http door: requests over HTTP/1.1 (node:http) and HTTP/2 (node:http2's compatibility
 * API) turned into route calls, and route answers written back, streams included. The standalone
 * server (server.ts) and `hub.handle` inside an app's server (Express, Connect, a bare node:http
 * server) both come through here; they differ in two settings:
 * - `takeOverStreams`: the standalone server takes an HTTP/1.1 stream's socket over from node:http
 *   (stream-sink.ts), which an app's server must not see done to its sockets (its middleware may
 *   listen on them), so embedded streams stay on node:http's response;
 * - `basePath` and `next`: embedded, the hub serves the paths below where it is mounted (Express
 *   strips the mount path itself), and a path it has no route for goes to the app's `next()`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HubError, isHubError } from '../../errors.js';
import type { StreamSink } from '../../hub/sink.js';
import { readBody, readBodyStream } from '../body.js';
import { isHttp2, isStreamAnswer, type HubRequest, type HubResponse, type RouteContext, type RouteRequest, type StreamAnswer } from '../context.js';
import { http2Sink } from './http2-sink.js';
import { sendError, writeAnswer } from '../respond.js';
import { mountPath, resolveTarget, ROUTES, targetBelow, type ResolvedRoute, type Route } from '../routes.js';
import { openHttp1Stream, respondAsStream, respondWhileReading } from './stream-sink.js';
import { markStreamingBody } from './streaming-bodies.js';

export interface NodeDoorOptions {
  /** Take HTTP/1.1 stream sockets over from node:http (the standalone server only). */
  takeOverStreams: boolean;
  /** The path the hub is mounted at on a server it shares ("/realtime"); "" at the root. */
  basePath?: string;
  routes?: readonly Route[];
}

/** `(req, res, next?)`: the signature of node:http's 'request' event, and of Express and Connect middleware. */
export type NodeHandler = (req: IncomingMessage | HubRequest, res: ServerResponse | HubResponse, next?: (error?: unknown) => void) => void;

export function nodeDoor(context: RouteContext, options: NodeDoorOptions): NodeHandler {
  const basePath = mountPath(options.basePath);
  const routes = options.routes ?? ROUTES;
  return (req, res, next) => void serve(req as HubRequest, res as HubResponse, next, context, options.takeOverStreams, basePath, routes);
}

async function serve(
  req: HubRequest,
  res: HubResponse,
  next: ((error?: unknown) => void) | undefined,
  context: RouteContext,
  takeOverStreams: boolean,
  basePath: string,
  routes: readonly Route[],
): Promise<void> {
  const target = targetBelow(req.url ?? '/', basePath);
  let route: ResolvedRoute;
  try {
    if (target === undefined) throw new HubError(404, 'not_found', `No route for ${req.url}.`);
    route = resolveTarget(req.method ?? 'GET', target, context.config, routes);
  } catch (error) {
    // Embedded: what the hub has no route for is the app's.
    if (next !== undefined && isHubError(error) && error.status === 404) return next();
    return fail(req, res, error, context);
  }
  try {
    // CORS headers go on every answer to an allowed origin, errors and streams included.
    for (const [name, value] of Object.entries(context.access.cors.headersFor(req.headers.origin))) res.setHeader(name, value);
    const answer = await route.handler(routeRequest(req, res, route), context);
    if (isStreamAnswer(answer)) openStream(req, res, answer, context, takeOverStreams);
    else writeAnswer(res, answer);
  } catch (error) {
    fail(req, res, error, context);
  }
}

function fail(req: HubRequest, res: HubResponse, error: unknown, context: RouteContext): void {
  sendError(res, error, (unexpected) => context.logger.error({ err: unexpected, method: req.method }, 'request failed'));
}

function routeRequest(req: HubRequest, res: HubResponse, route: ResolvedRoute): RouteRequest {
  return {
    method: req.method ?? 'GET',
    url: req.url,
    headers: req.headers,
    socket: req.socket,
    query: route.query,
    rest: route.rest,
    path: route.path,
    readBody: (maxBytes) => readBody(req, maxBytes),
    readBodyStream: () => readBodyStream(req),
    gone: () => (isHttp2(res) ? res.stream.closed || res.stream.destroyed : req.socket.destroyed),
    original: req,
  };
}

/** Makes the sink for the request's transport and opens the stream on it. */
function openStream(req: HubRequest, res: HubResponse, answer: StreamAnswer, context: RouteContext, takeOverStreams: boolean): void {
  let sink: StreamSink;
  try {
    if (isHttp2(res)) {
      // The connection is shared by every stream of the session: Nagle is off for its socket from
      // the start (server.ts), and only this stream's own timeout is cleared here.
      res.stream.setTimeout(0);
      if (answer.readsBody) markStreamingBody(req);
      res.writeHead(200, answer.headers);
      sink = http2Sink(res.stream);
    } else {
      req.socket.setTimeout(0);
      const http1 = req as IncomingMessage;
      if (answer.readsBody) {
        markStreamingBody(req);
        sink = respondWhileReading(res, answer.headers);
      } else {
        sink = takeOverStreams ? openHttp1Stream(http1, res, answer.headers, { noDelay: context.config.tcpNoDelay }) : respondAsStream(res, answer.headers);
      }
    }
  } catch (error) {
    answer.cancel();
    throw error;
  }
  answer.open(sink);
}
