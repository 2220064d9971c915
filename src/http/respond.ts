/**
 * Every answer the HTTP layer sends that is not an event stream is built here, so errors look the
 * same everywhere: `{ "error": { "code": "<stable code>", "message": "<text>" } }`. Answers are
 * values (Answer); each door writes them its own way (writeAnswer for node:http and HTTP/2).
 */
import { STATUS_CODES } from 'node:http';
import { constants as http2 } from 'node:http2';
import { HubError, isHubError } from '../errors.js';
import { isHttp2, type Answer, type HubResponse } from './context.js';

/**
 * The body of every JSON answer: the value's JSON and a newline, so that a terminal (curl) leaves
 * the prompt on a line of its own. JSON parsers take the trailing whitespace as it is.
 */
export function jsonText(body: unknown): string {
  return `${JSON.stringify(body)}\n`;
}

/** A JSON answer, with the headers every JSON answer carries and then `headers`. */
export function jsonAnswer(status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): Answer {
  const text = jsonText(body);
  return {
    status,
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', ...headers },
    body: text,
  };
}

/** The error's JSON answer. */
export function errorAnswer(error: HubError): Answer {
  return jsonAnswer(error.status, errorJson(error), { ...error.headers });
}

/** Writes an answer on a node:http or HTTP/2 response (node:http leaves the body out for HEAD). */
export function writeAnswer(res: HubResponse, answer: Answer): void {
  res.writeHead(answer.status, { ...answer.headers });
  if (answer.body === undefined) res.end();
  else res.end(answer.body);
}

export function errorJson(error: HubError): { error: { code: string; message: string } } {
  return { error: { code: error.code, message: error.message } };
}

/**
 * A whole HTTP/1.1 JSON response as raw bytes, for a socket that node:http does not serve (a broken
 * request, the publish fast path): the header lines a route's jsonAnswer sends through node:http, in
 * node:http's order (`first`, the CORS headers a route sets before its answer, then jsonAnswer's).
 */
export function rawJsonResponse(status: number, body: unknown, headers: Readonly<Record<string, string>>, keepAlive: boolean, first: Readonly<Record<string, string>> = {}): string {
  const text = jsonText(body);
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n`;
  for (const name in first) head += `${name}: ${first[name]}\r\n`;
  head += `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nCache-Control: no-store\r\n`;
  for (const name in headers) head += `${name}: ${headers[name]}\r\n`;
  head += `Date: ${httpDate()}\r\n`;
  head += keepAlive ? `Connection: keep-alive\r\nKeep-Alive: timeout=${KEEP_ALIVE_SECONDS}\r\n` : 'Connection: close\r\n';
  return `${head}\r\n${text}`;
}

/** The error's JSON answer, closing the connection. */
export function rawErrorResponse(error: HubError): string {
  return rawJsonResponse(error.status, errorJson(error), { ...error.headers }, false);
}

/** node:http's keep-alive timeout, which its answers announce and the fast path applies too. */
export const KEEP_ALIVE_MS = 5000;
const KEEP_ALIVE_SECONDS = KEEP_ALIVE_MS / 1000;

let dateSecond = -1;
let dateText = '';
/** The Date header's value, formatted once per second. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

/**
 * The error as the client is to see it. Anything that is not a HubError is a bug: the client sees a
 * generic 500 and the details go to onUnexpected (the log) only.
 */
export function asHubError(error: unknown, onUnexpected: (error: unknown) => void): HubError {
  if (isHubError(error)) return error;
  onUnexpected(error);
  return new HubError(500, 'internal_error', 'The hub failed to handle this request.');
}

/** Answers with the error (see asHubError). */
export function sendError(res: HubResponse, error: unknown, onUnexpected: (error: unknown) => void): void {
  const hubError = asHubError(error, onUnexpected);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string> = { ...hubError.headers };
  if (isHttp2(res)) {
    writeAnswer(res, jsonAnswer(hubError.status, errorJson(hubError), headers));
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
  writeAnswer(res, jsonAnswer(hubError.status, errorJson(hubError), headers));
}
