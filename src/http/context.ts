/**
 * What every route handler is given: the hub, the configuration and the logger, and the request
 * and response. A request arrives over HTTP/1.1 (node:http) or HTTP/2 (node:http2's compatibility
 * API); handlers use what the two have in common and ask isHttp2() where they differ.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Http2ServerResponse, type Http2ServerRequest } from 'node:http2';
import type { Logger } from 'pino';
import type { Access } from '../auth/access.js';
import type { HubConfig } from '../config.js';
import type { DemoRunner } from '../demos/runner.js';
import type { Hub } from '../hub/hub.js';
import type { Metrics } from './metrics.js';

export interface RouteContext {
  hub: Hub;
  config: HubConfig;
  logger: Logger;
  metrics: Metrics;
  access: Access;
  startedAt: number;
  /** This hub instance's id, as its $ssehub/stats events carry it (drawn at start). */
  instance: string;
  /** The client's address for a request: the peer's, or X-Forwarded-For's behind trusted proxies. */
  clientAddress: ClientAddressOf;
  /** The demos' background work; undefined when the demo API is off. */
  demos?: DemoRunner | undefined;
}

/** A request over HTTP/1.1 or over HTTP/2. */
export type HubRequest = IncomingMessage | Http2ServerRequest;
/**
 * What the credential, rate-limit and body checks read of a request: its headers (names in lower
 * case) and its peer. Either protocol's request is one, and so is the publish fast path's.
 */
export interface RequestHead {
  headers: IncomingHttpHeaders;
  socket: { remoteAddress?: string | undefined };
}

/** The client address of a request (see client-address.ts). */
export type ClientAddressOf = (req: RequestHead) => string;

/** The response to a HubRequest, of the same protocol. */
export type HubResponse = ServerResponse | Http2ServerResponse;

export function isHttp2(res: HubResponse): res is Http2ServerResponse {
  return res instanceof Http2ServerResponse;
}

export interface RouteRequest {
  req: HubRequest;
  res: HubResponse;
  /** The query string's parameters. */
  query: URLSearchParams;
  /** The rest of the path after a route's prefix, percent-decoded (e.g. the topic). */
  rest: string;
}

export type Handler = (request: RouteRequest, context: RouteContext) => void | Promise<void>;
