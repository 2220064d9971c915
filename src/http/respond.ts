/**
 * Every response body the HTTP layer sends that is not an event stream goes through here, so
 * errors look the same everywhere: `{ "error": { "code": "<stable code>", "message": "<text>" } }`.
 */
import type { ServerResponse } from 'node:http';
import { HubError, isHubError } from '../errors.js';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
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
export function sendError(res: ServerResponse, error: unknown, onUnexpected: (error: unknown) => void): void {
  const hubError = isHubError(error) ? error : new HubError(500, 'internal_error', 'The hub failed to handle this request.');
  if (!isHubError(error)) onUnexpected(error);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string> = { ...hubError.headers };
  // A request body may be left unread; closing the connection keeps it from being parsed as the
  // next request.
  const req = res.req;
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  if (hasBody && !req.complete) headers.Connection = 'close';
  sendJson(res, hubError.status, errorJson(hubError), headers);
}
