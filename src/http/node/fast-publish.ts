/**
 * The publish fast path, for plain HTTP/1.1. A single-event publish (POST /topics/<topic>) is the
 * hub's busiest request, and node:http's per-request objects (IncomingMessage, ServerResponse,
 * their streams) cost more than the publish itself. This module sits in front of node:http: it
 * reads the first bytes of every connection and, while they hold complete and strictly simple
 * publish requests, answers them straight from the socket with the same code the route runs
 * (publishOneEvent) and the same answers, header lines in the same order (test/http/fast-publish.test.ts
 * compares them). One difference on purpose: an error answer keeps the connection open, where
 * node:http closes it because the refused request's body is still unread; here it has been read.
 *
 * Invariants:
 * - Anything else (another route, a partial request, chunked bodies, Expect, Upgrade, a duplicate
 *   header, HTTP/1.0, a head or body over the limits...) hands the connection to node:http for good,
 *   with every byte not yet answered put back in front of the socket's stream: node:http then
 *   parses, limits and times it out as it does any connection. The fast path never refuses a
 *   request for its syntax; node:http does. (After the client's FIN nothing is handed over: node:http
 *   would answer nothing more either, so the connection ends.)
 * - Requests on one connection are served one at a time and answered in order; a connection is not
 *   read while 64 KiB wait behind a running publish, nor while an answer waits for the client to read.
 * - A publish that needs nothing waited for (the memory engine, no token to verify, no
 *   Idempotency-Key: publishOneEventNow) is stored, delivered and answered before the next request
 *   is looked at, in one loop over the pending bytes; the others wait for their promise.
 * - Accepted events are never lost to a closed socket: the publish completes, only its answer is
 *   dropped (as node:http does).
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { HubError } from '../../errors.js';
import { decodeBody } from '../body.js';
import type { RequestHead, RouteContext } from '../context.js';
import { cancelledTopic } from '../cancel.js';
import { publishOneEvent, publishOneEventNow, publishToTopic, type PublishAnswer } from '../publish.js';
import { asHubError, errorJson, KEEP_ALIVE_MS, rawErrorResponse, rawJsonResponse } from '../respond.js';
import { resolveTarget, type ResolvedRoute } from '../routes.js';
import { TimeoutSweep } from './timeout-sweep.js';

/** A publish request read whole from the start of a buffer. */
export interface SimplePublish {
  /** The request target, e.g. "/topics/orders?event=created". */
  target: string;
  /** Header names in lower case; each appears once. */
  headers: Record<string, string>;
  body: Buffer;
  /** The request asks for the connection to be closed after its answer. */
  close: boolean;
  /** Bytes the request takes, head and body. */
  size: number;
}

export interface SimplePublishLimits {
  maxHeaderBytes: number;
  maxBodyBytes: number;
}

const PUBLISH_PREFIX = 'POST /topics/';
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const REQUEST_LINE = /^POST (\/topics\/[\x21-\x7e]*) HTTP\/1\.1$/;
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Visible ASCII, obs-text, spaces and tabs: what node:http accepts in a header value (no CR, no LF). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const CONTENT_LENGTH = /^[0-9]{1,15}$/;
/** Headers that change how the request is read or answered: node:http handles those. */
const NOT_SIMPLE = new Set(['transfer-encoding', 'expect', 'upgrade', 'http2-settings']);
/** More header lines than any publisher sends: node:http's own counting applies beyond. */
const MAX_HEADER_LINES = 64;
/** Bytes a connection may have waiting behind a running publish before it is no longer read. */
const MAX_PENDING_BYTES = 64 * 1024;
const SPACE = 0x20;
const TAB = 0x09;

/** Whether the bytes start with "POST /topics/"; a byte comparison, no parsing. */
function mayBePublish(bytes: Buffer): boolean {
  if (bytes.length < PUBLISH_PREFIX.length) return false;
  for (let i = 0; i < PUBLISH_PREFIX.length; i++) if (bytes[i] !== PUBLISH_PREFIX.charCodeAt(i)) return false;
  return true;
}

/**
 * The publish request at the start of `bytes` when it is complete and strictly simple; undefined
 * when it is anything else, which is node:http's to read. (Every request the benchmark's (c) sends
 * is parsed here: scanning with indexOf, no split, no regular expression per line but the checks.)
 */
export function parseSimplePublish(bytes: Buffer, limits: SimplePublishLimits): SimplePublish | undefined {
  if (!mayBePublish(bytes)) return undefined;
  const headEnd = bytes.indexOf(HEAD_END);
  // A head at the limit is node:http's to refuse (431), or to accept: the fast path takes less.
  if (headEnd === -1 || headEnd + HEAD_END.length >= limits.maxHeaderBytes) return undefined;
  const head = bytes.toString('latin1', 0, headEnd);
  const requestLineEnd = head.indexOf('\r\n');
  const requestLine = REQUEST_LINE.exec(requestLineEnd === -1 ? head : head.slice(0, requestLineEnd));
  if (!requestLine) return undefined;
  // No prototype: a header named "__proto__" is a header like any other.
  const headers = Object.create(null) as Record<string, string>;
  let lines = 1;
  for (let start = requestLineEnd + 2; requestLineEnd !== -1 && start <= head.length; lines++) {
    if (lines > MAX_HEADER_LINES) return undefined;
    let end = head.indexOf('\r\n', start);
    if (end === -1) end = head.length;
    const colon = head.indexOf(':', start);
    // Also a folded line, which starts with a space, and a line without a colon.
    if (colon <= start || colon > end) return undefined;
    const name = head.slice(start, colon);
    let valueStart = colon + 1;
    let valueEnd = end;
    while (valueStart < valueEnd && isOptionalWhitespace(head.charCodeAt(valueStart))) valueStart++;
    while (valueEnd > valueStart && isOptionalWhitespace(head.charCodeAt(valueEnd - 1))) valueEnd--;
    const value = head.slice(valueStart, valueEnd);
    if (!FIELD_NAME.test(name) || !FIELD_VALUE.test(value)) return undefined;
    const key = name.toLowerCase();
    // node:http joins some repeated headers and drops others; the fast path takes neither.
    if (key in headers || NOT_SIMPLE.has(key)) return undefined;
    headers[key] = value;
    start = end + 2;
  }
  const connection = headers.connection?.toLowerCase();
  if (connection !== undefined && connection !== 'keep-alive' && connection !== 'close') return undefined;
  const declared = headers['content-length'];
  if (declared !== undefined && !CONTENT_LENGTH.test(declared)) return undefined;
  const length = declared === undefined ? 0 : Number(declared);
  // Over the limit is a 413 that leaves the body unread: node:http answers it and closes.
  if (length > limits.maxBodyBytes) return undefined;
  const bodyStart = headEnd + HEAD_END.length;
  const size = bodyStart + length;
  if (bytes.length < size) return undefined;
  return { target: requestLine[1]!, headers, body: bytes.subarray(bodyStart, size), close: connection === 'close', size };
}

function isOptionalWhitespace(code: number): boolean {
  return code === SPACE || code === TAB;
}

/** A refusal as the route would answer it; anything but a HubError is logged, and a 500. */
function errorAnswer(error: unknown, context: RouteContext): PublishAnswer {
  const hubError = asHubError(error, (unexpected) => context.logger.error({ err: unexpected, method: 'POST' }, 'request failed'));
  return { status: hubError.status, body: errorJson(hubError), headers: { ...hubError.headers } };
}

/** The fast path's part in a listener's shutdown. */
export interface FastPublishConnections {
  /** From now on every answer closes its connection; connections between requests close now. */
  closing(): void;
  /** Closes the connections that are between requests. */
  closeIdleConnections(): void;
  /** Cuts every connection the fast path still serves. */
  closeAllConnections(): void;
}

/**
 * Puts the fast path in front of node:http on `server`. Returns undefined, and leaves the server as
 * it is, if node:http does not serve connections the way this module expects (one 'connection'
 * listener of its own).
 */
export function serveSimplePublishes(server: Server, context: RouteContext): FastPublishConnections | undefined {
  const listeners = server.listeners('connection');
  if (listeners.length !== 1) return undefined;
  const nodeHttp = listeners[0] as (socket: Socket) => void;
  server.removeListener('connection', nodeHttp);
  const firstRequestTimeoutMs = context.config.headersTimeoutMs || context.config.requestTimeoutMs;
  const front: Front = {
    context,
    limits: { maxHeaderBytes: context.config.maxHeaderBytes, maxBodyBytes: context.config.maxBodyBytes },
    open: new Set(),
    closing: false,
    handToNodeHttp: (socket) => nodeHttp.call(server, socket),
    firstRequestTimeoutMs,
    timeouts: new TimeoutSweep([firstRequestTimeoutMs, KEEP_ALIVE_MS]),
  };
  server.on('connection', (socket: Socket) => {
    new FastConnection(socket, front);
    front.timeouts.keepChecking(front.open);
  });
  return {
    closing: () => {
      front.closing = true;
      for (const connection of front.open) connection.closeIfIdle();
    },
    closeIdleConnections: () => {
      for (const connection of front.open) connection.closeIfIdle();
    },
    closeAllConnections: () => {
      for (const connection of front.open) connection.socket.destroy();
    },
  };
}

interface Front {
  context: RouteContext;
  limits: SimplePublishLimits;
  /** Connections the fast path serves (not yet handed to node:http). */
  open: Set<FastConnection>;
  closing: boolean;
  handToNodeHttp(socket: Socket): void;
  /** Time a connection has to send its first request (what node:http gives it for its headers). */
  firstRequestTimeoutMs: number;
  /** Checks the connections' deadlines. */
  timeouts: TimeoutSweep;
}

class FastConnection {
  /** Bytes received and not yet answered. */
  private pending: Buffer | undefined;
  /** A publish is under way; what arrives meanwhile waits in `pending`. */
  private busy = false;
  /** Reading is paused: `pending` holds more than MAX_PENDING_BYTES, or an answer waits for 'drain'. */
  private paused = false;
  /** An answer was written: the connection is past its first request. */
  private answeredOnce = false;
  /** The client has sent its last byte (half-close). */
  private ended = false;
  /** node:http serves the connection now; nothing here touches it again. */
  private handedOver = false;
  /** The last answer is written; the connection closes once it is out. */
  private finishing = false;
  /**
   * When the connection times out, in ms since the epoch (0: never): the headers timeout until its
   * first request, then node:http's keep-alive timeout after each answer.
   */
  deadline = 0;

  constructor(
    readonly socket: Socket,
    private readonly front: Front,
  ) {
    front.open.add(this);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    // Until its first request, a connection has what node:http gives it to send its headers (node:http
    // restarts that clock when it takes the connection over: a client that sends part of a head
    // just in time gets up to twice the time, and the sweep's lateness).
    const { firstRequestTimeoutMs } = front;
    if (firstRequestTimeoutMs > 0) this.deadline = Date.now() + firstRequestTimeoutMs;
  }

  /** Closes the connection if it is between requests, with nothing left to send. */
  closeIfIdle(): void {
    if (!this.busy && this.socket.writableLength === 0) this.socket.destroy();
  }

  /** Sends the last bytes and closes: ends, then destroys once they are out (as node:http does). */
  private finish(last?: string): void {
    this.finishing = true;
    this.pending = undefined;
    const { socket } = this;
    socket.once('finish', () => socket.destroy());
    if (last === undefined) socket.end();
    else socket.end(last);
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.finishing) return;
    this.pending = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    if (!this.busy) this.serveNext();
    // A client pipelining faster than its publishes are stored is not read any further for now.
    else if (this.pending.length > MAX_PENDING_BYTES) this.pause();
  };

  private pause(): void {
    this.paused = true;
    this.socket.pause();
  }

  private readonly onEnd = (): void => {
    this.ended = true;
    if (!this.busy && !this.finishing) this.finish();
  };

  /** The deadline has passed. */
  expire(): void {
    // While a publish runs, its own deadline applies; its answer sets the next one.
    if (this.busy || this.finishing) return;
    // A connection that never sent a request gets node:http's answer to one that came too late.
    if (!this.answeredOnce) this.finish(rawErrorResponse(new HubError(408, 'request_timeout', 'The request was not received in time.')));
    else this.socket.destroy();
  }

  private readonly onError = (error: NodeJS.ErrnoException): void => {
    this.front.context.logger.debug({ code: error.code }, 'publish connection failed');
    this.socket.destroy();
  };

  private readonly onClose = (): void => {
    this.front.open.delete(this);
    this.pending = undefined;
  };

  /**
   * Serves the pending requests in order, until one must wait (an engine's round trip, a token to
   * verify), an answer waits for 'drain', or the connection is handed over or closing; then, with
   * nothing left in the way, reads on or ends. Answers known at once are written in this loop, not
   * by recursion, so a long pipeline stays flat on the stack.
   */
  private readonly serveNext = (): void => {
    while (!this.mustWait()) {
      if (this.pending === undefined) {
        // Nothing left in the way: read on, or end.
        if (this.ended || this.front.closing) this.finish();
        else if (this.paused) {
          this.paused = false;
          this.socket.resume();
        }
        return;
      }
      this.serveOne(this.pending);
    }
  };

  /** A publish is under way, an answer waits for 'drain', or the connection is no longer served here. */
  private mustWait(): boolean {
    const { socket } = this;
    return this.busy || this.handedOver || this.finishing || socket.destroyed || socket.writableNeedDrain;
  }

  private serveOne(bytes: Buffer): void {
    const request = parseSimplePublish(bytes, this.front.limits);
    if (request === undefined) return this.handToNodeHttp();
    const { context } = this.front;
    let route: ResolvedRoute;
    try {
      route = resolveTarget('POST', request.target, context.config);
    } catch (error) {
      // The route's own refusals (a topic that is not valid percent-encoding).
      return this.answerHere(request, bytes, errorAnswer(error, context));
    }
    if (route.handler !== publishToTopic || cancelledTopic(route.rest) !== undefined) return this.handToNodeHttp();
    const { rest, query } = route;
    let answerNow: PublishAnswer | undefined;
    try {
      answerNow = publishOneEventNow(this.headOf(request), rest, query, request.body, context);
    } catch (error) {
      answerNow = errorAnswer(error, context);
    }
    if (answerNow !== undefined) return this.answerHere(request, bytes, answerNow);
    // The publish must wait for the engine, or for the credential's verification.
    this.takeOffPending(request, bytes);
    this.busy = true;
    const maxBodyBytes = this.front.limits.maxBodyBytes;
    void publishOneEvent(this.headOf(request), rest, query, async () => decodeBody(request.body, maxBodyBytes), context)
      .catch((error: unknown) => errorAnswer(error, context))
      .then((settled) => {
        this.busy = false;
        this.answer(request, settled);
        this.serveNext();
      });
  }

  /** The request is answered here: it leaves the pending bytes. */
  private takeOffPending(request: SimplePublish, bytes: Buffer): void {
    this.pending = request.size === bytes.length ? undefined : bytes.subarray(request.size);
  }

  private answerHere(request: SimplePublish, bytes: Buffer, answer: PublishAnswer): void {
    this.takeOffPending(request, bytes);
    this.answer(request, answer);
  }

  private headOf(request: SimplePublish): RequestHead {
    return { method: 'POST', headers: request.headers, socket: this.socket };
  }

  /** Writes a request's answer; serveNext() goes on with what follows. */
  private answer(request: SimplePublish, { status, body, headers }: PublishAnswer): void {
    const { socket } = this;
    if (socket.destroyed) return;
    const keepAlive = !request.close && !this.front.closing;
    // CORS headers go first, as the route sets them before its answer.
    const cors = this.front.context.access.cors.headersFor(request.headers.origin);
    const response = rawJsonResponse(status, body, headers, keepAlive, cors);
    // Nothing after a closing request is read (node:http does the same).
    if (!keepAlive) return this.finish(response);
    const flushed = socket.write(response);
    // Between requests, node:http's keep-alive timeout (its answers announce it).
    this.answeredOnce = true;
    this.deadline = Date.now() + KEEP_ALIVE_MS;
    if (flushed) return;
    // The client is not reading its answers: read nothing more from it until it does.
    this.pause();
    socket.once('drain', this.serveNext);
  }

  /**
   * node:http serves this connection from here on: every byte not yet answered goes back in front
   * of the socket's stream, which stays paused until node:http listens to it.
   */
  private handToNodeHttp(): void {
    // After the client's FIN, node:http answers nothing more (it ends the connection at once), so
    // what is left would go unanswered there too: the connection ends here instead.
    if (this.ended) return this.finish();
    const { socket } = this;
    this.handedOver = true;
    socket.off('data', this.onData);
    socket.off('end', this.onEnd);
    socket.off('error', this.onError);
    socket.off('close', this.onClose);
    this.front.open.delete(this);
    socket.pause();
    if (this.pending !== undefined) socket.unshift(this.pending);
    this.pending = undefined;
    this.front.handToNodeHttp(socket);
    process.nextTick(() => socket.resume());
  }
}
