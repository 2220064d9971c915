/**
 * openPublishStream(): events to the hub over one long-lived request (POST /publish with
 * application/x-ndjson), for producers too fast for a request per event (LLM tokens, telemetry).
 *
 * Each publish() writes one line; the hub answers every line in order, so the k-th answer settles
 * the k-th publish(). Lines written in the same tick go out as one chunk. Needs a fetch that streams
 * a request body while it reads the answer: Node 18+ (undici, `duplex: 'half'`), Deno, Bun. Browsers
 * mostly cannot stream a request body over HTTP/1.1 (Chromium only over HTTP/2, and not reading the
 * answer meanwhile): use publish() there.
 *
 * Nothing is retried: a line the hub refused rejects its publish() with a HubResponseError, and
 * when the stream ends early (the connection failed, the hub ended it) every publish() not yet
 * answered rejects; whether those events were stored is unknown, as for any request whose answer
 * was lost.
 */
import { HubResponseError, responseError } from './errors.js';
import { hubUrl, resolveToken, type TokenSource } from './http.js';
import type { PublishEvent, PublishedEvent } from './publish.js';

export interface PublishStreamOptions {
  /** The hub's base URL. */
  url: string;
  /** Sent once, when the stream opens (the hub checks it then). */
  token?: TokenSource;
  headers?: Record<string, string>;
  /**
   * A blank line is sent after this long without a publish (default 10000 ms; 0: never), so the
   * hub does not end a quiet stream (it does after --request-timeout, 30 s by default, of silence).
   */
  keepAliveMs?: number;
  /** Aborting ends the stream at once; publishes not yet answered reject. */
  signal?: AbortSignal;
  fetch?: typeof globalThis.fetch;
}

export interface PublishStream {
  /** Sends the event; resolves with its id once the hub has stored it, rejects if it refused it. */
  publish(event: PublishEvent): Promise<PublishedEvent>;
  /** Publishes sent and not yet answered. */
  readonly pending: number;
  /** Ends the request; resolves once every publish is answered and the hub has ended its answer. */
  close(): Promise<void>;
  /** Resolves once the hub has ended its answer, whoever ended the stream (after that, publish() rejects). */
  readonly ended: Promise<void>;
}

interface Waiting {
  resolve(event: PublishedEvent): void;
  reject(error: unknown): void;
}

/** The stream ended before these publishes were answered. */
export class PublishStreamError extends Error {
  override readonly name = 'PublishStreamError';
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Opens the stream; resolves once the hub has accepted it (rejects with its HubResponseError otherwise). */
export async function openPublishStream(options: PublishStreamOptions): Promise<PublishStream> {
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  const encoder = new TextEncoder();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
  const waiting: Waiting[] = [];
  let unsent = '';
  let flushQueued = false;
  let bodyClosed = false;
  /** Why the stream ended early; every later publish() rejects with it. */
  let failure: Error | undefined;

  const fail = (error: Error): void => {
    failure ??= error;
    for (const waiter of waiting.splice(0)) waiter.reject(failure);
    closeBody();
  };
  const closeBody = (): void => {
    if (bodyClosed) return;
    bodyClosed = true;
    clearInterval(keepAlive);
    try {
      controller.close();
    } catch {
      // Already errored or cancelled by fetch: nothing to close.
    }
  };
  let lastWrite = Date.now();
  const write = (text: string): void => {
    if (bodyClosed) return;
    lastWrite = Date.now();
    controller.enqueue(encoder.encode(text));
  };
  const keepAliveMs = options.keepAliveMs ?? 10_000;
  const keepAlive =
    keepAliveMs > 0
      ? setInterval(() => {
          if (Date.now() - lastWrite >= keepAliveMs) write('\n');
        }, keepAliveMs)
      : undefined;
  // A Node process may exit while a stream waits for nothing but its keep-alive.
  (keepAlive as { unref?: () => void } | undefined)?.unref?.();

  // Node's fetch sends the request's head only with the body's first bytes: a blank line (which the
  // hub does not answer) makes it go now, so the hub's answer can say whether the stream is open.
  write('\n');
  const headers: Record<string, string> = { ...options.headers, 'Content-Type': 'application/x-ndjson' };
  const token = await resolveToken(options.token);
  if (token !== undefined) headers.Authorization = `Bearer ${token}`;
  let response: Response;
  try {
    response = await fetchImpl(hubUrl(options.url, 'publish'), {
      method: 'POST',
      headers,
      body,
      // Node's fetch (undici) streams a request body only when told so.
      duplex: 'half',
      signal: options.signal,
    } as RequestInit);
  } catch (error) {
    closeBody();
    throw error;
  }
  if (!response.ok || response.body === null) {
    closeBody();
    throw await responseError(response);
  }

  const answered = readAnswers(response.body, (answer) => {
    const waiter = waiting.shift();
    if (answer.error !== undefined && answer.line === undefined) {
      // An error for the stream, not for a line: it has ended.
      if (waiter !== undefined) waiting.unshift(waiter);
      return fail(new HubResponseError(answer.status ?? 0, answer.error.code, answer.error.message));
    }
    if (waiter === undefined) return;
    if (answer.error !== undefined) waiter.reject(new HubResponseError(answer.status ?? 0, answer.error.code, answer.error.message));
    else waiter.resolve({ id: answer.id!, topic: answer.topic!, ...(answer.event === undefined ? {} : { event: answer.event }), replayed: false, ...(answer.end === undefined ? {} : { end: answer.end }) });
  }).then(
    () => fail(new PublishStreamError('stream_ended', 'The hub ended the publish stream before answering every event.')),
    (error: unknown) => fail(new PublishStreamError('stream_failed', `The publish stream failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error })),
  );

  return {
    publish(event) {
      if (failure !== undefined) return Promise.reject(failure);
      if (bodyClosed) return Promise.reject(new PublishStreamError('stream_closed', 'The publish stream is closed.'));
      try {
        unsent += `${JSON.stringify(lineOf(event))}\n`;
      } catch (error) {
        return Promise.reject(error);
      }
      if (!flushQueued) {
        flushQueued = true;
        queueMicrotask(() => {
          flushQueued = false;
          const text = unsent;
          unsent = '';
          write(text);
        });
      }
      return new Promise<PublishedEvent>((resolve, reject) => waiting.push({ resolve, reject }));
    },
    get pending() {
      return waiting.length;
    },
    ended: answered,
    async close() {
      if (unsent !== '') {
        write(unsent);
        unsent = '';
      }
      closeBody();
      await answered;
      if (failure !== undefined && !(failure instanceof PublishStreamError && failure.code === 'stream_ended')) throw failure;
    },
  };
}

interface Answer {
  id?: string;
  topic?: string;
  event?: string;
  end?: string;
  error?: { code: string; message: string };
  status?: number;
  line?: number;
}

/** Calls onAnswer for each line of the hub's NDJSON answer, until it ends. */
async function readAnswers(body: ReadableStream<Uint8Array>, onAnswer: (answer: Answer) => void): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    text += decoder.decode(value, { stream: true });
    let start = 0;
    for (let end = text.indexOf('\n'); end !== -1; start = end + 1, end = text.indexOf('\n', start)) {
      if (end > start) onAnswer(JSON.parse(text.slice(start, end)) as Answer);
    }
    text = text.slice(start);
  }
}

/** The event as a line: the batch's shape ({topic, data, event?, end?}); data must be a string or a JSON value. */
function lineOf(event: PublishEvent): Record<string, unknown> {
  if (event.data === undefined || typeof event.data === 'function' || typeof event.data === 'symbol') {
    throw new TypeError('Event data must be a string or a JSON value.');
  }
  return {
    topic: event.topic,
    ...(event.event === undefined ? {} : { event: event.event }),
    data: event.data,
    ...(event.end === true ? { end: true } : {}),
  };
}
