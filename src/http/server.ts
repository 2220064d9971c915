/**
 * The node:http server: timeouts, the request entry point and the answer to requests so broken
 * that node:http rejects them before any route sees them.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { HubError } from '../errors.js';
import type { RouteContext } from './context.js';
import { errorBody, sendError } from './respond.js';
import { resolveRoute } from './routes.js';

export function createHttpServer(context: RouteContext): Server {
  const { config, logger } = context;
  const server = createServer({
    // Slow-loris guards apply to receiving a request; once a stream's request is in, nothing here
    // times it out (server.timeout stays 0 and stream sockets get setTimeout(0)). node:http only
    // checks these deadlines every connectionsCheckingInterval, so that interval follows them.
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: Math.max(config.requestTimeoutMs, config.headersTimeoutMs),
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(config.headersTimeoutMs / 4))),
    keepAliveTimeout: 5000,
    noDelay: true,
    // The hub never reads Host; node's own refusal would answer a bare 400 without our JSON body.
    requireHostHeader: false,
    maxHeaderSize: config.maxHeaderBytes,
  });
  server.timeout = 0;
  const onUnexpected = (error: unknown): void => logger.error({ err: error }, 'request failed');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void handle(req, res, context);
  });
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    sendError(res, new HubError(417, 'expectation_failed', 'Only "Expect: 100-continue" is supported.'), onUnexpected);
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    logger.debug({ code: error.code }, 'malformed request');
    // A response may be in flight on this connection for an earlier, valid request (pipelining).
    // Writing an error now would splice it into that response; close after it instead.
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (inFlight && (inFlight.headersSent || inFlight.req.complete)) {
      inFlight.shouldKeepAlive = false;
      if (inFlight.writableFinished) socket.destroy();
      else inFlight.once('finish', () => socket.end());
      return;
    }
    if (!socket.writable) return socket.destroy();
    const hubError = clientErrorOf(error);
    const body = errorBody(hubError);
    socket.end(
      `HTTP/1.1 ${hubError.status} ${statusText(hubError.status)}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  return server;
}

async function handle(req: IncomingMessage, res: ServerResponse, context: RouteContext): Promise<void> {
  try {
    // CORS headers go on every answer to an allowed origin, errors and streams included.
    for (const [name, value] of Object.entries(context.access.cors.headersFor(req.headers.origin))) res.setHeader(name, value);
    const { path, query } = splitTarget(req.url ?? '/');
    const { handler, rest } = resolveRoute(req.method ?? 'GET', path, context.config);
    await handler({ req, res, query, rest }, context);
  } catch (error) {
    sendError(res, error, (unexpected) => context.logger.error({ err: unexpected, method: req.method }, 'request failed'));
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

function statusText(status: number): string {
  return { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' }[status] ?? 'Error';
}
