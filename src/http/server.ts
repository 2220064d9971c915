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
    // times it out (server.timeout stays 0 and stream sockets get setTimeout(0)).
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: Math.max(config.requestTimeoutMs, config.headersTimeoutMs),
    keepAliveTimeout: 5000,
    noDelay: true,
  });
  server.timeout = 0;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void handle(req, res, context);
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    logger.debug({ code: error.code }, 'malformed request');
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
    const url = new URL(req.url ?? '/', 'http://hub.invalid');
    const { handler, rest } = resolveRoute(req.method ?? 'GET', url.pathname);
    await handler({ req, res, url, rest }, context);
  } catch (error) {
    sendError(res, error, (unexpected) => context.logger.error({ err: unexpected, url: req.url }, 'request failed'));
  }
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
