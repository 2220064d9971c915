/**
 * Slow-client guards for HTTP/2, over TLS and cleartext (h2c). node:http's --headers-timeout and
 * --request-timeout apply to its own HTTP/1.1 connections only, and node:http2's timeouts measure
 * inactivity, which a client trickling bytes keeps at bay. Every deadline here runs from a fixed
 * start, whatever the client sends meanwhile, and one TimeoutSweep checks them all:
 * - a stream's request (headers, then body) is complete within --request-timeout of the stream's
 *   start, or it is answered 408 `request_timeout` (if nothing was answered yet) and reset;
 * - a session sends its first request within --headers-timeout, and completes a header block it has
 *   begun within about that long, or it is destroyed;
 * - a session without an open stream for --h2-idle-timeout is told GOAWAY, then closed.
 * An event stream is never cut by any of them: its request is complete when it opens, and a session
 * with a stream open is not idle.
 */
import { constants, type Http2SecureServer, type Http2Server, type Http2ServerResponse, type Http2Session, type ServerHttp2Stream } from 'node:http2';
import { HubError } from '../../errors.js';
import { isHttp2, type HubRequest, type HubResponse, type RouteContext } from '../context.js';
import { sendError } from '../respond.js';
import { TimeoutSweep, type Expiring } from './timeout-sweep.js';
import { isStreamingBody } from './streaming-bodies.js';

/**
 * Between the GOAWAY to an idle session and its end. The session goes on reading meanwhile (nghttp2
 * ignores new streams after a GOAWAY), so a request the client sent at the same moment meets the
 * GOAWAY, which tells the client to retry it elsewhere, rather than a reset connection.
 */
const GOAWAY_GRACE_MS = 1000;

interface Guard {
  readonly context: RouteContext;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** The sessions, and the requests not yet complete, of every HTTP/2 connection on the server. */
  readonly watched: Set<Expiring>;
  readonly sweep: TimeoutSweep;
}

/**
 * Guards every HTTP/2 session and request of `server`. Call it before the request handler is added:
 * a request is then watched from its first moment.
 */
export function guardHttp2(server: Http2SecureServer | Http2Server, context: RouteContext): void {
  const { headersTimeoutMs, requestTimeoutMs, h2IdleTimeoutMs: idleTimeoutMs } = context.config;
  const guard: Guard = {
    context,
    headersTimeoutMs,
    requestTimeoutMs,
    idleTimeoutMs,
    watched: new Set(),
    // (The GOAWAY grace may run a sweep's interval long: it sets no pace of its own.)
    sweep: new TimeoutSweep([headersTimeoutMs, requestTimeoutMs, idleTimeoutMs]),
  };
  const watch = (entry: Expiring): void => {
    guard.watched.add(entry);
    guard.sweep.keepChecking(guard.watched);
  };
  server.on('session', (session: Http2Session) => watch(new GuardedSession(session, guard)));
  // HTTP/1.1 requests on the TLS server have node:http's own guards.
  server.on('request', (_req: HubRequest, res: HubResponse) => {
    if (!isHttp2(res) || requestTimeoutMs <= 0) return;
    // An event stream's request (a GET, END_STREAM on its HEADERS) is complete when the stream
    // opens: it is never watched, so an open stream is never timed out.
    if (res.stream.endAfterHeaders) return;
    watch(new PendingRequest(res, guard));
  });
}

/** A request whose body may still be on its way. */
class PendingRequest implements Expiring {
  deadline: number;

  constructor(
    private readonly res: Http2ServerResponse,
    private readonly guard: Guard,
  ) {
    this.deadline = Date.now() + guard.requestTimeoutMs;
    res.stream.once('close', () => guard.watched.delete(this));
  }

  expire(): void {
    this.guard.watched.delete(this);
    const { stream } = this.res;
    // END_STREAM received: the request is complete, whether its handler has read it all or not.
    if (stream.destroyed || stream.state.remoteClose === 1) return;
    // A streaming publish's body is never complete in time: its own idle timeout applies.
    if (isStreamingBody(this.res.req)) return;
    // The usual error path: 408 when nothing was answered yet, and the stream is reset either way,
    // which frees what it holds of the body.
    sendError(this.res, new HubError(408, 'request_timeout', 'The request was not received in time.'), (unexpected) =>
      this.guard.context.logger.error({ err: unexpected }, 'request failed'),
    );
  }
}

/** One HTTP/2 session: its first request, its header blocks, its idleness. */
class GuardedSession implements Expiring {
  deadline = 0;
  private readonly startedAt = Date.now();
  private openStreams = 0;
  /** The highest id of the streams the session has given the hub (0: none yet). */
  private highestStreamId = 0;
  /** Since when the session has had no open stream. */
  private idleSince = this.startedAt;
  /** A header block seen begun and not ended: its stream's id (0: none), and since when. */
  private partialBlockId = 0;
  private partialBlockSince = 0;
  /** When the idle session was told GOAWAY (0: not yet). */
  private goneAwayAt = 0;

  constructor(
    private readonly session: Http2Session,
    private readonly guard: Guard,
  ) {
    session.on('stream', this.onStream);
    session.once('close', () => guard.watched.delete(this));
    this.plan(this.startedAt);
  }

  private readonly onStream = (stream: ServerHttp2Stream): void => {
    this.openStreams++;
    this.highestStreamId = Math.max(this.highestStreamId, stream.id ?? 0);
    stream.once('close', () => {
      if (--this.openStreams > 0) return;
      this.idleSince = Date.now();
      const idleAt = this.idleSince + this.guard.idleTimeoutMs;
      if (this.guard.idleTimeoutMs > 0 && (this.deadline === 0 || idleAt < this.deadline)) this.deadline = idleAt;
    });
  };

  expire(now: number): void {
    const { session, guard } = this;
    if (session.destroyed) return void guard.watched.delete(this);
    if (this.goneAwayAt !== 0) return this.destroy('idle, after GOAWAY');
    if (guard.headersTimeoutMs > 0) {
      if (this.highestStreamId === 0 && now - this.startedAt >= guard.headersTimeoutMs) return this.destroy('no request in time');
      if (this.headerBlockStalled(now)) return this.destroy('header block not completed in time');
    }
    // A session closing already (the hub's shutdown) ends once its streams have.
    if (guard.idleTimeoutMs > 0 && this.openStreams === 0 && !session.closed && now - this.idleSince >= guard.idleTimeoutMs) {
      // GOAWAY names the last stream the hub took: the client retries anything later elsewhere.
      session.goaway(constants.NGHTTP2_NO_ERROR);
      this.goneAwayAt = now;
      this.deadline = now + GOAWAY_GRACE_MS;
      return;
    }
    this.plan(now);
  }

  /**
   * Whether a header block has stayed begun and not ended for --headers-timeout. nghttp2 gives the
   * hub a stream only once its block is complete (END_HEADERS), and the client may send no other
   * frame meanwhile; but lastProcStreamID already names the stream of a block begun. (It also names
   * a stream nghttp2 refused as malformed, until the client's next request: a client that sends a
   * malformed request and nothing more for that long loses its session too.)
   */
  private headerBlockStalled(now: number): boolean {
    const begun = this.session.state.lastProcStreamID ?? 0;
    if (begun <= this.highestStreamId) {
      this.partialBlockId = 0;
      return false;
    }
    if (begun !== this.partialBlockId) {
      this.partialBlockId = begun;
      this.partialBlockSince = now;
      return false;
    }
    return now - this.partialBlockSince >= this.guard.headersTimeoutMs;
  }

  /**
   * The next look: the first request's deadline, a stalled header block's, the idle deadline, and
   * at least every half --headers-timeout for a header block begun (so one is cut between 1 and
   * 1.5 times --headers-timeout after it began, plus the sweep's lateness).
   */
  private plan(now: number): void {
    const { headersTimeoutMs, idleTimeoutMs } = this.guard;
    let next = Infinity;
    if (headersTimeoutMs > 0) {
      if (this.highestStreamId === 0) next = this.startedAt + headersTimeoutMs;
      next = Math.min(next, this.partialBlockId !== 0 ? this.partialBlockSince + headersTimeoutMs : now + Math.ceil(headersTimeoutMs / 2));
    }
    if (idleTimeoutMs > 0 && this.openStreams === 0) next = Math.min(next, this.idleSince + idleTimeoutMs);
    this.deadline = next === Infinity ? 0 : next;
  }

  /** Ends the session (GOAWAY, then the connection closes once that is written). */
  private destroy(reason: string): void {
    this.guard.watched.delete(this);
    this.guard.context.logger.debug({ reason }, 'HTTP/2 session closed');
    this.session.destroy();
  }
}
