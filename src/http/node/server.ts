/**
 * The HTTP server: timeouts, the request entry point and the answer to requests so broken that
 * node:http rejects them before any route sees them. Three ways to listen, one set of routes:
 * - plain node:http (HTTP/1.1), the default;
 * - TLS (--tls-cert, --tls-key) with node:http2: ALPN picks HTTP/2 or HTTP/1.1 per connection on
 *   the same port, and the HTTP/1.1 connections keep every node:http guard below;
 * - cleartext HTTP/2 with prior knowledge (--h2c), for a proxy that speaks it: HTTP/2 only.
 * Routes see node:http2's compatibility API on HTTP/2, so they run unchanged on either protocol.
 * A fourth, the operator listener (--metrics-listen), is plain HTTP/1.1 serving only the
 * operator routes (health, /stats, /metrics).
 * The slow-client guards: node:http's own for HTTP/1.1 (below), http2-timeouts.ts for HTTP/2, and
 * a deadline for the TLS handshake.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  createSecureServer,
  createServer as createH2cServer,
  type Http2SecureServer,
  type Http2Server,
  type Http2Session,
  type SecureServerOptions,
} from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { HubConfig } from '../../config.js';
import { HubError } from '../../errors.js';
import type { HubRequest, HubResponse, RouteContext } from '../context.js';
import { KEEP_ALIVE_MS, rawErrorResponse, sendError } from '../respond.js';
import { nodeDoor } from './door.js';
import { OPERATOR_ROUTES, ROUTES, type Route } from '../routes.js';
import { serveSimplePublishes } from './fast-publish.js';
import { guardHttp2 } from './http2-timeouts.js';
import { destroyTakenOverSockets } from './stream-sink.js';
import { isStreamingBody } from './streaming-bodies.js';
import type { UpgradeListener } from '../../ws/door.js';

/** PEM text of the certificate (chain) and its private key. */
export interface TlsCredentials {
  cert: string;
  key: string;
}

/** A listening-ready server, whatever the protocol, with what a graceful shutdown needs. */
export interface HttpListener {
  readonly server: Server | Http2SecureServer | Http2Server;
  /** "https" with TLS; "http" otherwise (h2c included). */
  readonly scheme: 'http' | 'https';
  /** What the port speaks, for people: "HTTP/1.1", "HTTP/2 and HTTP/1.1 over TLS", "cleartext HTTP/2 (h2c)". */
  readonly protocols: string;
  /**
   * Stops accepting connections, and new streams on HTTP/2 sessions (GOAWAY; each session closes
   * once its open streams have ended). Resolves once every connection is gone.
   */
  close(): Promise<void>;
  /** Closes the HTTP/1.1 connections that are waiting for a next request. */
  closeIdleConnections(): void;
  /** Cuts every connection still open. */
  closeAllConnections(): void;
}

/**
 * The node:http settings node:http2 applies to the HTTP/1.1 connections it accepts with
 * allowHTTP1 (it serves them with node:http's own connection handling, reading these from the
 * server object), but that its types do not declare.
 */
interface Http1Settings {
  headersTimeout: number;
  requestTimeout: number;
  connectionsCheckingInterval: number;
  keepAliveTimeout: number;
  requireHostHeader: boolean;
  maxHeaderSize: number;
}

/**
 * `upgrade`: the WebSocket door's listener (ws/door.ts), on the HTTP/1.1 connections of the port
 * (plain or TLS; HTTP/2 has no upgrade, and h2c serves no WebSocket). An upgrade it does not take
 * is answered 404.
 */
export function createHttpServer(context: RouteContext, tls?: TlsCredentials, upgrade?: UpgradeListener): HttpListener {
  const { config } = context;
  const http1 = http1Settings(config);
  if (tls !== undefined) return withUpgrades(secureListener(context, tls, http1), upgrade);
  if (config.h2c) return h2cListener(context);
  return withUpgrades(plainListener(context, http1, ROUTES, config.fastPublish), upgrade);
}

function withUpgrades(listener: HttpListener, upgrade: UpgradeListener | undefined): HttpListener {
  if (upgrade === undefined) return listener;
  listener.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (upgrade(req, socket, head)) return;
    // node:http has let go of the socket, its error listener too: a reset by the client would
    // otherwise be an unhandled 'error' event, which ends the process.
    socket.on('error', () => socket.destroy());
    socket.end(rawErrorResponse(new HubError(404, 'not_found', `No WebSocket at ${(req.url ?? '/').split('?')[0]}.`)));
  });
  return listener;
}

/**
 * The operator listener (--metrics-listen): plain HTTP/1.1 with the same guards as the main port,
 * serving only the operator routes, without a token, and never the publish fast path.
 */
export function createOperatorServer(context: RouteContext): HttpListener {
  return plainListener(context, http1Settings(context.config), OPERATOR_ROUTES, false);
}

function http1Settings(config: HubConfig): Http1Settings {
  return {
    // Slow-loris guards apply to receiving a request; once a stream's request is in, nothing here
    // times it out (server.timeout stays 0 and stream sockets get setTimeout(0)). node:http only
    // checks these deadlines every connectionsCheckingInterval, so that interval follows them.
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: Math.max(config.requestTimeoutMs, config.headersTimeoutMs),
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(config.headersTimeoutMs / 4))),
    keepAliveTimeout: KEEP_ALIVE_MS,
    // The hub never reads Host; node's own refusal would answer a bare 400 without our JSON body.
    requireHostHeader: false,
    maxHeaderSize: config.maxHeaderBytes,
  };
}

function plainListener(context: RouteContext, http1: Http1Settings, routes: readonly Route[], fastPublish: boolean): HttpListener {
  const server = createServer({ ...http1, noDelay: true });
  server.timeout = 0;
  serveHttp1(server, context, routes);
  const fast = fastPublish ? serveSimplePublishes(server, context) : undefined;
  if (fastPublish && !fast) context.logger.warn('publish fast path off: this Node version serves connections in a way it does not know');
  return {
    server,
    scheme: 'http',
    protocols: 'HTTP/1.1',
    close: () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      fast?.closing();
      return closed;
    },
    closeIdleConnections: () => {
      server.closeIdleConnections();
      fast?.closeIdleConnections();
    },
    closeAllConnections: () => {
      server.closeAllConnections();
      destroyTakenOverSockets(server);
      fast?.closeAllConnections();
    },
  };
}

function secureListener(context: RouteContext, tls: TlsCredentials, http1: Http1Settings): HttpListener {
  let server: Http2SecureServer;
  try {
    server = createSecureServer({
      ...http2Options(context),
      cert: tls.cert,
      key: tls.key,
      allowHTTP1: true,
      // A deadline for the handshake, from the connection's start: bytes trickled in do not extend
      // it. (node reads 0 as its own default, 120 s; loadConfig refuses 0.)
      handshakeTimeout: context.config.tlsHandshakeTimeoutMs,
    });
  } catch (error) {
    throw new HubError(400, 'invalid_config', `The TLS certificate and key cannot be used: ${(error as Error).message}`);
  }
  Object.assign(server, http1);
  server.setTimeout(0);
  guardHttp2(server, context);
  serveHttp1(server, context, ROUTES);
  const connections = trackConnections(server, context);
  // HTTP/1.1 connections (ALPN http/1.1, or no ALPN at all), for closing the idle ones.
  const http1Sockets = new Set<TLSSocket>();
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.alpnProtocol === 'h2') return;
    http1Sockets.add(socket);
    socket.once('close', () => http1Sockets.delete(socket));
  });
  // A handshake that failed or ran out of time. node:http2 reports it as a 'clientError' too, after
  // this listener, which the HTTP/1.1 handler would try to answer: the connection is closed first
  // (left to that handler, one that never sent its ClientHello would stay open).
  server.prependListener('tlsClientError', (error: NodeJS.ErrnoException, socket: TLSSocket) => {
    context.logger.debug({ code: error.code }, 'TLS handshake failed');
    socket.destroy();
  });
  return {
    server,
    scheme: 'https',
    protocols: 'HTTP/2 and HTTP/1.1 over TLS',
    close: connections.close,
    closeIdleConnections: () => {
      // Idle as node:http means it: no response on the connection, or only one that has ended
      // (a stream the hub just ended may still be flushing: the connection closes after it).
      for (const socket of http1Sockets) {
        const inFlight = (socket as TLSSocket & { _httpMessage?: ServerResponse | null })._httpMessage;
        if (!inFlight) socket.destroy();
        else if (inFlight.writableEnded) socket.end();
      }
    },
    closeAllConnections: connections.closeAll,
  };
}

function h2cListener(context: RouteContext): HttpListener {
  const server = createH2cServer(http2Options(context));
  server.setTimeout(0);
  guardHttp2(server, context);
  server.on('request', requestListener(context, ROUTES));
  server.on('checkExpectation', expectationListener(context));
  const connections = trackConnections(server, context);
  return {
    server,
    scheme: 'http',
    protocols: 'cleartext HTTP/2 (h2c)',
    close: connections.close,
    closeIdleConnections: () => {},
    closeAllConnections: connections.closeAll,
  };
}

/** HTTP/2 settings shared by TLS and h2c. */
function http2Options(context: RouteContext): SecureServerOptions {
  const { config } = context;
  return {
    settings: {
      // Advertised to the client, which must not open more; nghttp2 refuses a stream over it.
      maxConcurrentStreams: config.h2MaxStreams,
      maxHeaderListSize: config.maxHeaderBytes,
    },
    // node:http2 refuses new streams on a session whose buffers exceed this (in MB). The hub already
    // bounds every stream's buffer (--max-buffer, slow consumers are cut off), so the session may
    // hold that much for each of its streams before node steps in.
    maxSessionMemory: Math.ceil((config.h2MaxStreams * config.maxBufferBytes) / 1e6) + 10,
  };
}

/**
 * HTTP/2 sessions and raw connections, for the shutdown: GOAWAY on close, and cutting what is
 * left when the shutdown timeout runs out.
 */
function trackConnections(server: Http2SecureServer | Http2Server, context: RouteContext): { close(): Promise<void>; closeAll(): void } {
  const sessions = new Set<Http2Session>();
  const sockets = new Set<Socket>();
  let closing = false;
  server.on('connection', (socket: Socket) => {
    // Nagle off for the whole connection: every HTTP/2 stream on it is latency-sensitive.
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    // A session accepted while closing (its handshake was under way) is told to go away at once.
    if (closing) session.close();
  });
  server.on('sessionError', (error: NodeJS.ErrnoException) => context.logger.debug({ code: error.code }, 'HTTP/2 session error'));
  return {
    close: () => {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.close();
      return closed;
    },
    closeAll: () => {
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
    },
  };
}

/** Requests (either protocol), expectations and malformed HTTP/1.1 on a server that speaks HTTP/1.1. */
function serveHttp1(server: Server | Http2SecureServer, context: RouteContext, routes: readonly Route[]): void {
  const { logger } = context;
  server.on('request', requestListener(context, routes));
  server.on('checkExpectation', expectationListener(context));
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    logger.debug({ code: error.code }, 'malformed request');
    // A response may be in flight on this connection for an earlier, valid request (pipelining).
    // Writing an error now would splice it into that response; close after it instead.
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    // A streaming publish is never a whole request received: its own idle timeout applies. (node:http
    // reports a connection's request timeout once; the connection goes on as before.)
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT' && isStreamingBody(inFlight?.req)) return;
    if (inFlight && (inFlight.headersSent || inFlight.req.complete)) {
      inFlight.shouldKeepAlive = false;
      if (inFlight.writableFinished) socket.destroy();
      else inFlight.once('finish', () => socket.end());
      return;
    }
    if (!socket.writable) return socket.destroy();
    socket.end(rawErrorResponse(clientErrorOf(error)));
  });
}

function requestListener(context: RouteContext, routes: readonly Route[]): (req: HubRequest, res: HubResponse) => void {
  return nodeDoor(context, { takeOverStreams: true, routes });
}

function expectationListener(context: RouteContext): (req: HubRequest, res: HubResponse) => void {
  const onUnexpected = (error: unknown): void => context.logger.error({ err: error }, 'request failed');
  return (_req, res) => sendError(res, new HubError(417, 'expectation_failed', 'Only "Expect: 100-continue" is supported.'), onUnexpected);
}

function clientErrorOf(error: NodeJS.ErrnoException): HubError {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return new HubError(431, 'headers_too_large', 'The request headers are too large.');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new HubError(408, 'request_timeout', 'The request was not received in time.');
    default:
      return new HubError(400, 'bad_request', 'The request is not valid HTTP.');
  }
}
