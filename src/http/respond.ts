/**
 * Every response body the HTTP layer sends that is not an event stream goes through here, so
 * errors look the same everywhere: `{ "error": { "code": "<stable code>", "message": "<text>" } }`.
 */
import { constants as http2 } from 'node:http2';
import { HubError, isHubError } from '../errors.js';
import { isHttp2, type HubResponse } from './context.js';

export function sendJson(res: HubResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(text);
}

function errorJson(error: HubError): { error: { code: string; message: string } } {
  return { error: { code: error.code, message: error.message } };
}

/** The JSON body of an error, for callers that write raw bytes (a socket with a broken request). */
export function errorBody(error: HubError): string {
  return JSON.stringify(errorJson(error));
}

/**
 * Answers with the error. Anything that is not a HubError is a bug: the client sees a generic 500
 * and the details go to the log only.
 */
export function sendError(res: HubResponse, error: unknown, onUnexpected: (error: unknown) => void): void {
  const hubError = isHubError(error) ? error : new HubError(500, 'internal_error', 'The hub failed to handle this request.');
  if (!isHubError(error)) onUnexpected(error);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string> = { ...hubError.headers };
  if (isHttp2(res)) {
    sendJson(res, hubError.status, errorJson(hubError), headers);
    // A request body may be left unread. HTTP/2 has no connection to close for it (and forbids the
    // Connection header): once the answer is out, RST_STREAM with NO_ERROR tells the client to stop
    // sending (RFC 9113, section 8.1), and the stream does not linger half-open.
    const stream = res.stream;
    if (!stream.endAfterHeaders && !res.req.complete) {
      stream.close(http2.NGHTTP2_NO_ERROR);
      // The body's reader may have stopped the stream's readable side; what is left of the body
      // is discarded, so that side can end and the stream be freed.
      stream.removeAllListeners('data');
      stream.resume();
    }
    return;
  }
  // A request body may be left unread; closing the connection keeps it from being parsed as the
  // next request.
  const req = res.req;
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  if (hasBody && !req.complete) headers.Connection = 'close';
  sendJson(res, hubError.status, errorJson(hubError), headers);
}
