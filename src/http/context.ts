/**
 * The contract between the routes and the doors. A route is given the hub's context and a
 * RouteRequest (whichever door carried it: node:http, HTTP/2, a Fetch Request), and answers with a
 * value: an Answer to write, or a StreamAnswer that the door opens on a sink of its transport.
 * The node:http types (HubRequest, HubResponse) are the node door's (node/door.ts).
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Http2ServerResponse, type Http2ServerRequest } from 'node:http2';
import type { Logger } from 'pino';
import type { Access } from '../auth/access.js';
import type { HubConfig } from '../config.js';
import type { DemoRunner } from '../demos/runner.js';
import type { Hub } from '../hub/hub.js';
import type { StreamSink } from '../hub/sink.js';
import type { Cancels } from '../hub/cancels.js';
import type { SystemBus } from '../hub/system-bus.js';
import type { Presence } from '../presence/presence.js';
import type { PresenceWatchers } from '../presence/watchers.js';
import type { Webhooks } from '../webhooks/webhooks.js';
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
  /** Messages between the instances of a cluster (this one included), over the engine. */
  bus: SystemBus;
  /** Cancels of topics' producers, cluster-wide (POST /topics/{t}/cancel, hub.onCancel). */
  cancels: Cancels;
  /** Who is subscribed where, cluster-wide. */
  presence: Presence;
  /** The streams opened with ?presence=1. */
  presenceStreams: PresenceWatchers;
  /** The client's address for a request: the peer's, or X-Forwarded-For's behind trusted proxies. */
  clientAddress: ClientAddressOf;
  /** Webhooks to the app; undefined when no --webhook is configured. */
  webhooks?: Webhooks | undefined;
  /** The demos' background work; undefined when the demo API is off. */
  demos?: DemoRunner | undefined;
}

/** A request over HTTP/1.1 or over HTTP/2. */
export type HubRequest = IncomingMessage | Http2ServerRequest;
/**
 * What the credential, rate-limit and body checks read of a request: its method, its headers
 * (names in lower case) and its peer. Either protocol's request is one, and so is the publish fast
 * path's.
 */
export interface RequestHead {
  /** "POST", "GET"…; left out, the request is taken to be one that changes something. */
  method?: string | undefined;
  /** The request target (path and query), as the client sent it. */
  url?: string | undefined;
  headers: IncomingHttpHeaders;
  /** The peer; `encrypted` on a TLS connection. */
  socket: { remoteAddress?: string | undefined; encrypted?: boolean | undefined };
  /** The request object of the server or framework that carried it, as the app's authorize() sees it. */
  readonly original?: unknown;
}

/** The client address of a request (see client-address.ts). */
export type ClientAddressOf = (req: RequestHead) => string;

/** The response to a HubRequest, of the same protocol. */
export type HubResponse = ServerResponse | Http2ServerResponse;

export function isHttp2(res: HubResponse): res is Http2ServerResponse {
  return res instanceof Http2ServerResponse;
}

/**
 * A request as every route reads it, whichever door it came through: node:http, HTTP/2, a Fetch
 * Request, or the publish fast path's own reading of a socket (which builds a RequestHead only).
 */
export interface RouteRequest extends RequestHead {
  method: string;
  /** The query string's parameters. */
  query: URLSearchParams;
  /** The rest of the path after a route's prefix, percent-decoded (e.g. the topic). */
  rest: string;
  /** The route's path, for messages (below the mount point when embedded). */
  path: string;
  /** Reads the whole body as UTF-8 text: 413 past maxBytes, 400 when it is not UTF-8 or was cut off. */
  readBody(maxBytes: number): Promise<string>;
  /** Reads the body as it arrives, for a route that answers while it reads (a streaming publish). */
  readBodyStream(): BodyStream;
  /** Whether the client has already gone: a stream is then not opened. */
  gone(): boolean;
}

/**
 * A body read as it arrives. One next() at a time: nothing more is read from the client until it
 * is called again (that is the backpressure on the client).
 */
export interface BodyStream {
  /** The bytes received since the last call (at least one), or undefined once the body has ended; 400 request_aborted when it was cut off. */
  next(): Promise<Uint8Array | undefined>;
  /** Reads no more: what else the client sends is dropped. */
  stop(): void;
}

/** A whole answer: status, headers and body (none for HEAD, which the door that writes it knows). */
export interface Answer {
  status: number;
  headers: Readonly<Record<string, string | number>>;
  body?: string | Uint8Array;
}

/**
 * An answer that is an event stream: the door makes the sink for its transport (a socket, a
 * response, an HTTP/2 stream, a ReadableStream) and opens the stream on it, or cancels when it
 * cannot make one, which gives back what the stream held (its per-client slots).
 */
export interface StreamAnswer {
  status: 200;
  headers: Readonly<Record<string, string>>;
  /**
   * The stream is written while the request's body is still being read (a streaming publish): the
   * door keeps the request readable (no takeover of the connection), and the connection's timeout
   * for receiving a whole request does not apply to it (see streaming-bodies.ts).
   */
  readsBody?: true;
  open(sink: StreamSink): void;
  cancel(): void;
}

export type RouteAnswer = Answer | StreamAnswer;

export function isStreamAnswer(answer: RouteAnswer): answer is StreamAnswer {
  return 'open' in answer;
}

export type Handler = (request: RouteRequest, context: RouteContext) => RouteAnswer | Promise<RouteAnswer>;
