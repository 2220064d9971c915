/**
 * The streaming publish: POST /publish with `Content-Type: application/x-ndjson`, a body of any
 * length (chunked), one event a line in the batch's shape `{"topic", "data", "event"?, "end"?}`.
 * The answer is NDJSON too, written as the body is read: one line for each line that is not blank,
 * in the same order, `{"id","topic",...}` for an event stored, `{"error":{code,message},"status",
 * "line":N}` for a line refused (status: the HTTP status the same refusal has elsewhere).
 *
 * Invariants:
 * - Every event goes through publishEvents, the one publish path (authorization, rate limits); the
 *   lines that arrived together are one call, in order. The credential is checked once, at the start.
 * - A line is refused alone (not JSON, a bad shape, over --max-body, a topic not granted, a rate
 *   limit): its error line takes its place and the stream goes on. The stream ends with an error
 *   only when nothing after it could be published: the engine failing (5xx), the token expiring,
 *   the client silent for --request-timeout.
 * - A line is answered only once stored; a line read in full is published even if the client has
 *   gone meanwhile (only its answer is lost). A last line cut off by the client is not published.
 * - Backpressure: one publish at a time, and the body is not read while the answers waiting to be
 *   sent exceed MAX_UNSENT_ANSWER_BYTES.
 */
import { HubError, isHubError } from '../errors.js';
import type { EventToPublish, PublishedEvent } from '../hub/hub.js';
import type { SinkOwner, StreamSink } from '../hub/sink.js';
import { authenticate, clientKey } from './authenticate.js';
import { decodeUtf8, parseJson } from './body.js';
import type { BodyStream, RouteContext, RouteRequest, StreamAnswer } from './context.js';
import { idempotencyKeyOf } from './idempotency.js';
import { batchItem, publishedBody, publishEvents, type Publisher } from './publish.js';
import { asHubError, errorJson } from './respond.js';

/** Answer bytes not yet handed to the connection beyond which the body is not read further. */
const MAX_UNSENT_ANSWER_BYTES = 64 * 1024;
const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

export const NDJSON_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Type': 'application/x-ndjson',
  'Cache-Control': 'no-store',
  // Proxies that buffer answers (Nginx) pass each line on at once.
  'X-Accel-Buffering': 'no',
});

/** POST /publish with application/x-ndjson (publishBatch hands it over). */
export async function publishStream(request: RouteRequest, context: RouteContext): Promise<StreamAnswer> {
  if (idempotencyKeyOf(request) !== undefined) {
    throw new HubError(
      400,
      'idempotency_key_not_streamed',
      'A streaming publish takes no Idempotency-Key: each line is answered once stored; send again only the lines that got no answer.',
    );
  }
  // Once, before any line: the topics are checked per event against the principal's grants (the
  // app, if it authorizes, is asked with no topics: they are not known yet).
  const principal = await authenticate(request, context, { action: 'publish', topics: [] });
  let key: string | undefined;
  const publisher: Publisher = { principal, key: () => (key ??= clientKey(request, principal, context)) };
  return {
    status: 200,
    headers: NDJSON_HEADERS,
    readsBody: true,
    open: (sink) => void new PublishStream(request.readBodyStream(), sink, publisher, context).run(),
    cancel: () => {},
  };
}

/** A line read: its event, or why it is refused. */
type Entry = { line: number; event: EventToPublish; error?: undefined } | { line: number; event?: undefined; error: HubError };

/** What a line is answered: its stored event, or an error. */
type Outcome = PublishedEvent | HubError;

const IDLE = Symbol('idle');

class PublishStream implements SinkOwner {
  /** The number of the line being received (1-based, blank lines counted). */
  private line = 1;
  /** The start of the line being received, from earlier chunks. */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  /** The line being received is over the limit: its bytes are dropped up to its end. */
  private skipping = false;
  private gone = false;

  constructor(
    private readonly body: BodyStream,
    private readonly sink: StreamSink,
    private readonly publisher: Publisher,
    private readonly context: RouteContext,
  ) {
    sink.attach(this);
  }

  sinkDrained(): void {}

  sinkClosed(): void {
    this.gone = true;
  }

  async run(): Promise<void> {
    try {
      for (;;) {
        const chunk = await this.nextChunk();
        if (chunk === IDLE) {
          const idleMs = this.context.config.requestTimeoutMs;
          return this.fail(new HubError(408, 'stream_idle', `Nothing arrived for ${idleMs} ms (--request-timeout); send a blank line to keep a quiet stream open.`));
        }
        const entries: Entry[] = [];
        if (chunk === undefined) {
          // The body has ended: a last line without its newline is a line all the same.
          if (this.partialBytes > 0 && !this.skipping) this.addLine(Buffer.concat(this.partial), entries);
          if (entries.length > 0 && !(await this.publish(entries))) return;
          return this.sink.end();
        }
        this.split(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength), entries);
        if (entries.length > 0 && !(await this.publish(entries))) return;
        if (this.gone) return this.body.stop();
        if (this.sink.bufferedBytes > MAX_UNSENT_ANSWER_BYTES) await this.sink.drained();
      }
    } catch (error) {
      // The client cut its body off (or went away): what it sent in full is published already, and
      // the answers written so far still go out if it is there to read them.
      if (isHubError(error) && error.code === 'request_aborted') return this.sink.end();
      this.fail(asHubError(error, (unexpected) => this.context.logger.error({ err: unexpected }, 'streaming publish failed')));
    }
  }

  /** The next bytes of the body; IDLE when none came for --request-timeout. */
  private nextChunk(): Promise<Uint8Array | undefined | typeof IDLE> {
    const next = this.body.next();
    const idleMs = this.context.config.requestTimeoutMs;
    if (idleMs <= 0) return next;
    // Lost to the timer, a read that fails later must not be an unhandled rejection.
    next.catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<typeof IDLE>((resolve) => (timer = setTimeout(resolve, idleMs, IDLE)));
    return Promise.race([next, idle]).finally(() => clearTimeout(timer));
  }

  /** Cuts the chunk into lines: each complete one becomes an entry, the rest waits for the next chunk. */
  private split(chunk: Buffer, entries: Entry[]): void {
    const maxBytes = this.context.config.maxBodyBytes;
    let start = 0;
    for (;;) {
      const end = chunk.indexOf(NEWLINE, start);
      const piece = chunk.subarray(start, end === -1 ? chunk.length : end);
      if (!this.skipping && this.partialBytes + piece.length > maxBytes) {
        // Answered where the line stands; its bytes are dropped up to its newline.
        entries.push({ line: this.line, error: new HubError(413, 'line_too_large', `Line ${this.line} is longer than the limit of ${maxBytes} bytes (--max-body).`) });
        this.skipping = true;
        this.partial = [];
        this.partialBytes = 0;
      }
      if (end === -1) {
        if (!this.skipping && piece.length > 0) {
          this.partial.push(piece);
          this.partialBytes += piece.length;
        }
        return;
      }
      if (this.skipping) this.skipping = false;
      else if (this.partialBytes === 0) this.addLine(piece, entries);
      else {
        this.partial.push(piece);
        this.addLine(Buffer.concat(this.partial), entries);
        this.partial = [];
        this.partialBytes = 0;
      }
      this.line++;
      start = end + 1;
    }
  }

  /** A complete line, without its newline: blank lines (keep-alives) are not answered. */
  private addLine(bytes: Buffer, entries: Entry[]): void {
    let length = bytes.length;
    if (length > 0 && bytes[length - 1] === CARRIAGE_RETURN) length--;
    if (length === 0 || isBlank(bytes, length)) return;
    entries.push(this.entryOf(bytes.subarray(0, length)));
  }

  private entryOf(bytes: Buffer): Entry {
    const where = `line ${this.line}`;
    try {
      return { line: this.line, event: batchItem(parseJson(decodeUtf8(bytes, `Line ${this.line}`), `Line ${this.line}`), where) };
    } catch (error) {
      if (!isHubError(error)) throw error;
      return { line: this.line, error };
    }
  }

  /**
   * Publishes the entries' events and writes their answers in order; false when the stream has
   * ended (the engine failed, the token expired).
   */
  private async publish(entries: Entry[]): Promise<boolean> {
    const { maxBatchEvents } = this.context.config;
    for (let from = 0; from < entries.length; from += maxBatchEvents) {
      const group = entries.slice(from, from + maxBatchEvents);
      const { outcomes, fatal } = await this.publishGroup(group);
      this.answer(group, outcomes);
      if (fatal !== undefined) {
        this.endWith(fatal);
        return false;
      }
    }
    return true;
  }

  /**
   * One publishEvents call for the group's events. If it is refused (a 4xx: one event's topic, a
   * rate limit), nothing of it was stored, and each event is published alone so that only the
   * refused ones are. A failure that is not a refusal ends the stream.
   */
  private async publishGroup(group: Entry[]): Promise<{ outcomes: Outcome[]; fatal?: HubError }> {
    const outcomes: Outcome[] = group.map((entry) => entry.error ?? PENDING);
    const expiresAt = this.publisher.principal.expiresAt;
    if (expiresAt !== undefined && expiresAt <= Date.now()) return this.failRest(outcomes, new HubError(401, 'token_expired', 'The token has expired.'));
    const events: EventToPublish[] = [];
    for (const entry of group) if (entry.event !== undefined) events.push(entry.event);
    if (events.length === 0) return { outcomes };
    try {
      const { stored } = await publishEvents(events, this.publisher, undefined, this.context);
      let next = 0;
      for (let i = 0; i < outcomes.length; i++) if (outcomes[i] === PENDING) outcomes[i] = stored[next++]!;
      return { outcomes };
    } catch (error) {
      if (!isRefusal(error) || events.length === 1) {
        if (isRefusal(error)) return { outcomes: outcomes.map((outcome) => (outcome === PENDING ? error : outcome)) };
        return this.failRest(outcomes, this.asHubError(error));
      }
    }
    for (let i = 0; i < outcomes.length; i++) {
      const event = group[i]!.event;
      if (event === undefined) continue;
      try {
        outcomes[i] = (await publishEvents([event], this.publisher, undefined, this.context)).stored[0]!;
      } catch (error) {
        if (!isRefusal(error)) return this.failRest(outcomes, this.asHubError(error));
        outcomes[i] = error;
      }
    }
    return { outcomes };
  }

  /** Every line not yet published gets the error, which ends the stream. */
  private failRest(outcomes: Outcome[], error: HubError): { outcomes: Outcome[]; fatal: HubError } {
    return { outcomes: outcomes.map((outcome) => (outcome === PENDING ? error : outcome)), fatal: error };
  }

  private asHubError(error: unknown): HubError {
    return asHubError(error, (unexpected) => this.context.logger.error({ err: unexpected }, 'streaming publish failed'));
  }

  /** Writes the group's answers, one line each, in order (dropped if the client has gone). */
  private answer(group: Entry[], outcomes: Outcome[]): void {
    if (this.gone) return;
    let text = '';
    for (let i = 0; i < group.length; i++) {
      const outcome = outcomes[i]!;
      text += isHubError(outcome) ? JSON.stringify({ ...errorJson(outcome), status: outcome.status, line: group[i]!.line }) : JSON.stringify(publishedBody(outcome));
      text += '\n';
    }
    this.sink.write(Buffer.from(text));
  }

  /** Ends the stream with an error that concerns no single line. */
  private fail(error: HubError): void {
    if (!this.gone) this.sink.write(Buffer.from(`${JSON.stringify({ ...errorJson(error), status: error.status })}\n`));
    this.endWith(error);
  }

  /** Reads no more, and ends the answer after what it holds. */
  private endWith(error: HubError): void {
    this.context.logger.debug({ code: error.code }, 'streaming publish ended');
    this.body.stop();
    this.sink.end();
  }
}

/** Stands for an outcome not yet known. */
const PENDING = Object.freeze({ id: '', topic: '' }) as PublishedEvent;

/** A 4xx HubError: the hub refused the events before storing any. */
function isRefusal(error: unknown): error is HubError {
  return isHubError(error) && error.status < 500;
}

function isBlank(bytes: Buffer, length: number): boolean {
  for (let i = 0; i < length; i++) {
    const byte = bytes[i];
    if (byte !== 0x20 && byte !== 0x09 && byte !== CARRIAGE_RETURN) return false;
  }
  return true;
}
