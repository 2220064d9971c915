/**
 * publish(): events to the hub over HTTP, for services (Node 20+, also works in browsers).
 *
 * Retries after network errors, timeouts and answers that mean "not now" (503, 502, 504, 429, 408,
 * and 409 while the first attempt is still in flight), with backoff. Every attempt of one call
 * carries the same Idempotency-Key, and the hub stores a key's events once within its
 * idempotency window, so a retry never publishes an event twice, even when the first attempt was
 * stored but its answer was lost.
 */
import { Backoff, type BackoffOptions } from './backoff.js';
import { sleep, systemClock, type Clock } from './clock.js';
import { HubResponseError, responseError } from './errors.js';
import { hubUrl, resolveToken, topicPath, type TokenSource } from './http.js';

export interface PublishEvent {
  topic: string;
  /** A string is sent as is; any other value as its JSON text. */
  data: unknown;
  /** The event name subscribers see (`addEventListener(name, …)`); "message" when absent. */
  event?: string;
  /** The topic's last event: the hub ends the topic after it (ssehub.end; see docs/http-api.md, "Ending a topic"). */
  end?: boolean;
}

export interface PublishOptions {
  /** The hub's base URL. */
  url: string;
  token?: TokenSource;
  headers?: Record<string, string>;
  /** Defaults to a random UUID per publish() call. Give your own to make retries across restarts of your process safe too. */
  idempotencyKey?: string;
  /** Retries after the first attempt (default 5). 0 disables retrying. */
  retries?: number;
  /** Wait between attempts (default: first up to 250 ms, doubling, at most 10 s, full jitter). */
  backoff?: BackoffOptions;
  /** One attempt's time limit in ms (default 10000); a timed-out attempt is retried. */
  timeoutMs?: number;
  /** Aborting stops publishing (and retrying) at once. */
  signal?: AbortSignal;
  /** Called before each retry, with what went wrong. */
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
  fetch?: typeof globalThis.fetch;
  clock?: Clock;
}

export interface PublishedEvent {
  id: string;
  topic: string;
  event?: string;
  /** True when the hub answered from an earlier attempt of the same key (nothing stored again). */
  replayed: boolean;
  /** With `end`: the id of the topic's ssehub.end. */
  end?: string;
}

export interface PublishedBatch {
  ids: string[];
  replayed: boolean;
  /** The topics the batch ended, with the ids of their ssehub.end. */
  ends?: Record<string, string>;
}

const RETRYABLE_STATUSES = new Set([408, 425, 429, 502, 503, 504]);

/** Publishes one event; resolves with its id once the hub has stored it. */
export function publish(event: PublishEvent, options: PublishOptions): Promise<PublishedEvent>;
/** Publishes a batch, stored in order, all or nothing; resolves with the ids in order. */
export function publish(events: readonly PublishEvent[], options: PublishOptions): Promise<PublishedBatch>;
export async function publish(input: PublishEvent | readonly PublishEvent[], options: PublishOptions): Promise<PublishedEvent | PublishedBatch> {
  const request = isBatch(input) ? batchRequest(input, options.url) : singleRequest(input, options.url);
  const clock = options.clock ?? systemClock;
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  const backoff = new Backoff({ initialDelayMs: 250, maxDelayMs: 10_000, ...options.backoff });
  const retries = options.retries ?? 5;
  const idempotencyKey = options.idempotencyKey ?? globalThis.crypto.randomUUID();
  // A token function may have handed out a token that expired meanwhile: one more attempt asks it again.
  let expiredTokenRetried = false;
  for (let attempt = 0; ; attempt++) {
    options.signal?.throwIfAborted();
    let error: unknown;
    let floorMs = 0;
    // One controller per attempt, aborted by the timeout or the caller's signal (linked by hand:
    // AbortSignal.any is missing in older browsers and keeps its inputs alive).
    const attemptAbort = new AbortController();
    const timeout = new AbortController();
    const timer = clock.setTimeout(() => {
      timeout.abort(new TimeoutError(options.timeoutMs ?? 10_000));
      attemptAbort.abort(timeout.signal.reason);
    }, options.timeoutMs ?? 10_000);
    const onCallerAbort = (): void => attemptAbort.abort(options.signal!.reason);
    options.signal?.addEventListener('abort', onCallerAbort, { once: true });
    const signal = attemptAbort.signal;
    try {
      const headers: Record<string, string> = { ...options.headers, 'Content-Type': request.contentType, 'Idempotency-Key': idempotencyKey };
      const token = await resolveToken(options.token);
      if (token !== undefined) headers.Authorization = `Bearer ${token}`;
      const response = await fetchImpl(request.url, { method: 'POST', headers, body: request.body, signal });
      if (response.ok) {
        const body = (await response.json()) as { id?: string; topic?: string; event?: string; end?: string; ids?: string[]; ends?: Record<string, string> };
        const replayed = response.headers.get('idempotent-replayed') === 'true';
        if (isBatch(input)) return { ids: body.ids ?? [], replayed, ...(body.ends === undefined ? {} : { ends: body.ends }) };
        return { id: body.id!, topic: body.topic!, ...(body.event === undefined ? {} : { event: body.event }), replayed, ...(body.end === undefined ? {} : { end: body.end }) };
      }
      const failure = await responseError(response);
      const expiredToken = response.status === 401 && failure.code === 'token_expired' && typeof options.token === 'function' && !expiredTokenRetried;
      if (expiredToken) expiredTokenRetried = true;
      const retryable =
        expiredToken || RETRYABLE_STATUSES.has(response.status) || (response.status === 409 && failure.code === 'idempotency_in_progress');
      if (!retryable) throw failure;
      error = failure;
      floorMs = (failure.retryAfterSeconds ?? 0) * 1000;
    } catch (caught) {
      if (caught instanceof HubResponseError && error === undefined) throw caught;
      if (options.signal?.aborted) throw options.signal.reason;
      error = timeout.signal.aborted ? timeout.signal.reason : caught; // network error or timeout
    } finally {
      clock.clearTimeout(timer);
      options.signal?.removeEventListener('abort', onCallerAbort);
    }
    if (attempt >= retries) throw error;
    const delayMs = backoff.next(floorMs);
    options.onRetry?.({ attempt: attempt + 1, delayMs, error });
    await sleep(clock, delayMs, options.signal);
  }
}

export class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
  readonly code = 'timeout';
  constructor(ms: number) {
    super(`The hub did not answer within ${ms} ms.`);
  }
}

interface PreparedRequest {
  url: URL;
  contentType: string;
  body: string;
}

function isBatch(input: PublishEvent | readonly PublishEvent[]): input is readonly PublishEvent[] {
  return Array.isArray(input);
}

function dataText(data: unknown): string {
  if (typeof data === 'string') return data;
  const text = JSON.stringify(data);
  if (text === undefined) throw new TypeError('Event data must be a string or a JSON value.');
  return text;
}

function singleRequest(event: PublishEvent, base: string): PreparedRequest {
  const url = hubUrl(base, topicPath(event.topic));
  if (event.event !== undefined) url.searchParams.set('event', event.event);
  if (event.end === true) url.searchParams.set('end', 'true');
  const isText = typeof event.data === 'string';
  return { url, contentType: isText ? 'text/plain; charset=utf-8' : 'application/json', body: dataText(event.data) };
}

function batchRequest(events: readonly PublishEvent[], base: string): PreparedRequest {
  const body = events.map((event) => {
    dataText(event.data); // rejects undefined, functions and the like before anything is sent
    return {
      topic: event.topic,
      ...(event.event === undefined ? {} : { event: event.event }),
      data: event.data,
      ...(event.end === true ? { end: true } : {}),
    };
  });
  return { url: hubUrl(base, 'publish'), contentType: 'application/json', body: JSON.stringify(body) };
}
