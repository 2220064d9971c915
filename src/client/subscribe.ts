/**
 * subscribe(): an event stream from the hub over `fetch`, for browsers and Node 20+.
 *
 * What it adds over the native EventSource: any headers (a bearer token), exponential backoff with
 * full jitter instead of a fixed delay, a clear error instead of silent retries when the hub says
 * no (401, 403, 404, any other 4xx, a response that is not an event stream, a stream ended with
 * ssehub.revoked), the hub's reset
 * signal as its own typed item, and connection state changes. Every reconnect sends the last
 * event id, so nothing is missed across drops. When every topic of the subscription has ended
 * (ssehub.end: exact topics only, a pattern never ends), the subscription closes with reason
 * 'done' and the iteration ends after the last event.
 */
import { HEARTBEAT_ANNOUNCEMENT } from '../protocol/announcements.js';
import { END_EVENT, isReservedEventName, RESET_EVENT, REVOKED_EVENT, type GapReason, type ResetDetail, type RevokedDetail } from '../protocol/control-events.js';
import { EventStreamParser, type ParsedEvent } from '../protocol/parse.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { sleep, systemClock, type Clock } from './clock.js';
import { ContentTypeError, DecodeError, HubResponseError, IdleTimeoutError, responseError, RevokedError } from './errors.js';
import { hubUrl, resolveToken, type TokenSource } from './http.js';

/** Event name -> type of its decoded data. */
export type EventMap = Record<string, unknown>;

/** Event name -> data as text: what arrives when nothing decodes it (`decode: 'text'`, the default). */
export type TextEventMap = Record<string, string>;

/** Turns an event's data into a value, given the event's name (`decode` as a function). */
export type Decoder = (data: string, type: string) => unknown;

/** An event published to a subscribed topic. `type` is the event name ("message" when none). */
export type HubEvent<M extends EventMap = TextEventMap> = {
  [K in keyof M & string]: {
    kind: 'event';
    type: K;
    data: M[K];
    /** The hub's id for this event: pass it as `lastEventId` to resume after it later. */
    id: string;
    /** The data as it arrived, before decoding. */
    raw: string;
  };
}[keyof M & string];

/**
 * The hub could not prove that nothing was missed since `lastEventId` (it is older than retained
 * history, or from a hub run whose history is gone). What history still holds follows; refetch
 * the state you derive from the stream.
 */
export interface ResetSignal {
  kind: 'reset';
  /** One of the hub's GapReasons; a newer hub may send others, and an unreadable reset gives 'unknown'. */
  reason: GapReason | (string & {});
  lastEventId: string;
}

export type SubscriptionItem<M extends EventMap = TextEventMap> = HubEvent<M> | ResetSignal;

/**
 * connecting: a request is on its way. open: the hub answered with a stream.
 * reconnecting: the stream failed or ended; waiting `delayMs` before the next attempt.
 * closed: for good: `close()`/the signal, the hub answered 204, or a fatal error.
 */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface StateChange {
  state: ConnectionState;
  /** reconnecting: how long until the next attempt, and how many failed in a row. */
  delayMs?: number;
  attempt?: number;
  /** reconnecting: what went wrong; closed: the fatal error, if any. */
  error?: unknown;
  /** closed: why. */
  reason?: 'closed' | 'done' | 'error';
}

export interface SubscribeOptions<M extends EventMap = TextEventMap> {
  /** The hub's base URL, e.g. "https://push.example.com" (a path prefix is kept). */
  url: string;
  /** Topics and patterns (`orders/*`, `logs/**`). */
  topics: string | readonly string[];
  /** Sent as `Authorization: Bearer …`; a function is called before every connection (token refresh). */
  token?: TokenSource;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Resume after this event id (the first request sends it as Last-Event-ID). */
  lastEventId?: string;
  /** Aborting closes the subscription, like `close()`. */
  signal?: AbortSignal;
  /**
   * How data is decoded: 'text' (default: the data as it arrived), 'json', or a function of
   * (data, type). It decides what `data` is typed as: see subscribe().
   */
  decode?: 'text' | 'json' | Decoder;
  /** Reconnect timing; see Backoff. */
  backoff?: BackoffOptions & {
    /** A stream that stayed open this long (ms) counts as healthy: the backoff starts over (default 5000). */
    healthyAfterMs?: number;
  };
  /** Browsers: send cookies cross-origin with 'include'. */
  credentials?: RequestCredentials;
  /** At most this many items wait in the async iterator before reading pauses (default 1000). */
  bufferSize?: number;
  /**
   * Receives every event as it arrives. Without it, events wait for the async iterator (from the
   * moment subscribe() returns; reading pauses while `bufferSize` items are waiting).
   */
  onEvent?: (event: HubEvent<M>) => void;
  onReset?: (signal: ResetSignal) => void;
  /** Told when a topic ended (its publisher's last event came before): each topic once, a pattern's topics included. */
  onEnd?: (topic: string) => void;
  onStateChange?: (change: StateChange) => void;
  /**
   * Reconnect (with Last-Event-ID) when nothing at all arrives for this long (ms), not even the
   * hub's heartbeat: a connection dropped silently by a NAT or a proxy otherwise looks open
   * forever. By default three of the heartbeat intervals the hub announces when a stream opens,
   * and 45 s until it has; 0 never times out.
   */
  idleTimeoutMs?: number;
  /** Injectable for tests and special runtimes. */
  fetch?: typeof globalThis.fetch;
  clock?: Clock;
}

export interface Subscription<M extends EventMap = TextEventMap> extends AsyncIterable<SubscriptionItem<M>> {
  readonly state: ConnectionState;
  /** The id to resume from: the last id the hub sent on this subscription. */
  readonly lastEventId: string;
  /** Settles when the subscription is closed: resolves on close()/abort/204, rejects with a fatal error. */
  readonly done: Promise<void>;
  close(): void;
}

/** The idle timeout before the hub has announced its heartbeat: three of its default 15 s. */
const DEFAULT_IDLE_TIMEOUT_MS = 45_000;
/** The longest delay a timer takes (about 24.8 days); a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Statuses worth retrying: the hub or a proxy in front of it is overloaded, restarting or unreachable. */
const RETRYABLE_STATUSES = new Set([408, 425, 429, 500, 502, 503, 504]);

/**
 * Without decoding (`decode` absent or 'text'), every event's `data` is the string that arrived. A
 * type argument may name the events (`subscribe<{ note: string; alert: string }>`), not give their
 * data another type: nothing would turn the text into it.
 */
export function subscribe<M extends TextEventMap = TextEventMap>(options: SubscribeOptions<M> & { decode?: 'text' }): Subscription<M>;
/**
 * Decoded (`decode: 'json'` or a function), `data` has the type the type argument gives its event
 * (`subscribe<{ created: Order }>`), and `unknown` without one. The type argument is the caller's
 * word on what the topics carry: the client decodes, it does not check the shape.
 */
export function subscribe<M extends EventMap = EventMap>(options: SubscribeOptions<M> & { decode: 'json' | Decoder }): Subscription<M>;
/** `decode` chosen at run time: `data` may be text or decoded, so it is `unknown`. */
export function subscribe(options: SubscribeOptions<EventMap>): Subscription<EventMap>;
export function subscribe(options: SubscribeOptions<EventMap>): Subscription<EventMap> {
  return new ClientSubscription(options);
}

class ClientSubscription<M extends EventMap> implements Subscription<M> {
  #state: ConnectionState = 'connecting';
  readonly #options: SubscribeOptions<M>;
  readonly #clock: Clock;
  readonly #fetch: typeof globalThis.fetch;
  readonly #backoff: Backoff;
  readonly #parser: EventStreamParser;
  readonly #stop = new AbortController();
  readonly #decode: (data: string, type: string) => unknown;
  /**
   * Items waiting for the async iterator. Without an onEvent callback they are queued from the
   * start, so nothing published between subscribe() and the first `for await` is missed; with
   * one, only once someone iterates (a callback-only subscription keeps no queue).
   */
  #queue: Array<Queued<M>> | undefined;
  #iterated = false;
  /** The id of the last item handed to the application: what `lastEventId` reports. */
  #deliveredId: string;
  #detach: (() => void) | undefined;
  #wakeReader: (() => void) | undefined;
  #wakeWriter: (() => void) | undefined;
  #failure: unknown;
  /** The heartbeat interval the hub announced on the current connection (0: none), once it has. */
  #heartbeatMs: number | undefined;
  /** When the current connection last received anything (clock time). */
  #lastReceivedAt = 0;
  /** Reading is paused for a slow iterator: silence is ours then, not the connection's. */
  #readingPaused = false;
  /** A 401 token_expired was answered since the last open stream (and retried once with a fresh token). */
  #expiredTokenRetried = false;
  /** The topics whose end (ssehub.end) arrived. */
  readonly #ended = new Set<string>();
  /** Re-checks the current connection's idle timer (when the hub has announced its heartbeat). */
  #recheckIdle: (() => void) | undefined;
  readonly done: Promise<void>;
  #settle!: (error?: unknown) => void;

  constructor(options: SubscribeOptions<M>) {
    this.#options = options;
    if (options.onEvent === undefined) this.#queue = [];
    this.#deliveredId = options.lastEventId ?? '';
    this.#clock = options.clock ?? systemClock;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#backoff = new Backoff(options.backoff);
    const decode = options.decode ?? 'text';
    this.#decode = decode === 'text' ? (data) => data : decode === 'json' ? (data) => JSON.parse(data) : decode;
    this.#parser = new EventStreamParser(
      {
        onEvent: (event) => this.#dispatch(event),
        onRetry: (ms) => this.#backoff.setBase(ms),
        onComment: (text) => {
          if (!text.startsWith(HEARTBEAT_ANNOUNCEMENT)) return;
          const ms = Number(text.slice(HEARTBEAT_ANNOUNCEMENT.length));
          if (!Number.isSafeInteger(ms) || ms < 0) return;
          this.#heartbeatMs = ms;
          this.#recheckIdle?.();
        },
      },
      options.lastEventId === undefined ? {} : { lastEventId: options.lastEventId },
    );
    this.done = new Promise<void>((resolve, reject) => {
      this.#settle = (error) => (error === undefined ? resolve() : reject(error));
    });
    // Callers that only iterate would otherwise see an unhandled rejection; they get the error from the iterator.
    this.done.catch(() => {});
    hubUrl(options.url, 'events'); // a URL that can never work throws here, not in a retry loop
    const signal = options.signal;
    if (signal?.aborted) this.close();
    else if (signal) {
      const onAbort = (): void => this.close();
      signal.addEventListener('abort', onAbort, { once: true });
      this.#detach = () => signal.removeEventListener('abort', onAbort);
    }
    // Started in a microtask, so callbacks never run before subscribe() has returned.
    if (!this.#stop.signal.aborted) queueMicrotask(() => this.#run().catch((error: unknown) => this.#finish('error', error)));
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /**
   * The id of the last event handed to the application (callback called, or item taken from the
   * iterator): resuming from it never skips an event that was received but not yet consumed.
   */
  get lastEventId(): string {
    return this.#deliveredId;
  }

  close(): void {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort();
    this.#finish('closed');
  }

  #finish(reason: 'closed' | 'done' | 'error', error?: unknown): void {
    if (this.#state === 'closed') return;
    if (!this.#stop.signal.aborted) this.#stop.abort();
    this.#failure = error;
    this.#detach?.();
    this.#state = 'closed';
    this.#settle(error);
    this.#wake();
    this.#setState({ state: 'closed', reason, ...(error === undefined ? {} : { error }) });
  }

  #setState(change: StateChange): void {
    this.#state = change.state;
    try {
      this.#options.onStateChange?.(change);
    } catch (error) {
      // An application callback that throws ends the subscription loudly rather than being swallowed.
      if (change.state !== 'closed') this.#finish('error', error);
    }
  }

  async #run(): Promise<void> {
    const healthyAfterMs = this.#options.backoff?.healthyAfterMs ?? 5000;
    while (!this.#stop.signal.aborted) {
      this.#setState({ state: 'connecting' });
      let openedAt: number | undefined;
      let failure: unknown;
      let retryAfterMs = 0;
      // One connection's own abort: the watchdog cuts a connection that went silent, and close()
      // cuts whichever connection is current.
      const connection = new AbortController();
      const forwardStop = (): void => connection.abort(this.#stop.signal.reason);
      this.#stop.signal.addEventListener('abort', forwardStop, { once: true });
      const stopWatching = this.#watchIdle(connection);
      try {
        const response = await this.#connect(connection.signal);
        if (response.status === 204) {
          // The hub's way of saying "nothing more, ever" (as for EventSource): not an error.
          await response.body?.cancel();
          this.#finish('done');
          return;
        }
        if (!response.ok) {
          const error = await responseError(response);
          if (this.#mayRetryExpiredToken(error)) this.#expiredTokenRetried = true;
          else if (!RETRYABLE_STATUSES.has(response.status)) throw new FatalError(error);
          retryAfterMs = (error.retryAfterSeconds ?? 0) * 1000;
          failure = error;
        } else {
          const type = response.headers.get('content-type') ?? '';
          if (!/^text\/event-stream\s*(;|$)/i.test(type)) {
            await response.body?.cancel();
            throw new FatalError(new ContentTypeError(type));
          }
          openedAt = this.#clock.now();
          this.#expiredTokenRetried = false;
          this.#setState({ state: 'open' });
          await this.#read(response, connection.signal);
          failure = connection.signal.aborted ? connection.signal.reason : new Error('The stream ended.');
        }
      } catch (error) {
        if (this.#stop.signal.aborted) return;
        if (error instanceof FatalError) {
          this.#finish('error', error.error);
          return;
        }
        // A fetch aborted by the watchdog rejects with an AbortError: report the reason itself.
        failure = connection.signal.aborted ? connection.signal.reason : error;
      } finally {
        stopWatching();
        this.#stop.signal.removeEventListener('abort', forwardStop);
      }
      if (this.#stop.signal.aborted) return;
      this.#parser.reset(); // a half-received block is discarded; the last event id is kept
      if (openedAt !== undefined && this.#clock.now() - openedAt >= healthyAfterMs) this.#backoff.reset();
      const attempt = this.#backoff.attempt + 1;
      const delayMs = this.#backoff.next(retryAfterMs);
      this.#setState({ state: 'reconnecting', delayMs, attempt, error: failure });
      try {
        await sleep(this.#clock, delayMs, this.#stop.signal);
      } catch {
        return; // closed while waiting
      }
    }
  }

  /**
   * Aborts `connection` with an IdleTimeoutError once nothing has been received for the idle
   * timeout, from the request on. One timer per connection, re-armed for the time left rather than
   * reset on every chunk. Returns what stops it.
   */
  #watchIdle(connection: AbortController): () => void {
    // Each connection may reach another instance, configured otherwise: it announces for itself.
    this.#heartbeatMs = undefined;
    this.#lastReceivedAt = this.#clock.now();
    let handle: unknown;
    const check = (): void => {
      const timeout = this.#idleTimeout();
      if (timeout === 0) return; // off (told so, or asked so): no timer at all
      const now = this.#clock.now();
      // A clock set back would make the wait longer by as much: count from now instead.
      if (now < this.#lastReceivedAt) this.#lastReceivedAt = now;
      const idle = now - this.#lastReceivedAt;
      if (this.#readingPaused) handle = this.#clock.setTimeout(check, Math.min(timeout, MAX_TIMER_MS));
      else if (idle >= timeout) connection.abort(new IdleTimeoutError(idle));
      else handle = this.#clock.setTimeout(check, Math.min(timeout - idle, MAX_TIMER_MS));
    };
    check();
    this.#recheckIdle = () => {
      this.#clock.clearTimeout(handle);
      check();
    };
    return () => {
      this.#recheckIdle = undefined;
      this.#clock.clearTimeout(handle);
    };
  }

  /**
   * How long the current connection may stay silent (ms), 0 for ever: idleTimeoutMs if given, else
   * three announced heartbeats, no limit if the hub announced none, and 45 s until it has said
   * (covering the request and the response's headers too).
   */
  #idleTimeout(): number {
    const chosen = this.#options.idleTimeoutMs ?? (this.#heartbeatMs === undefined ? DEFAULT_IDLE_TIMEOUT_MS : 3 * this.#heartbeatMs);
    return Number.isFinite(chosen) && chosen > 0 ? chosen : 0;
  }

  /**
   * A token function may have handed out a token that expired meanwhile (a cache about to refresh):
   * its next call is worth one more attempt. A string token, or a second expiry in a row, is final.
   */
  #mayRetryExpiredToken(error: HubResponseError): boolean {
    return error.status === 401 && error.code === 'token_expired' && typeof this.#options.token === 'function' && !this.#expiredTokenRetried;
  }

  async #connect(signal: AbortSignal): Promise<Response> {
    const { topics, headers, token, credentials } = this.#options;
    const list = typeof topics === 'string' ? [topics] : [...topics];
    if (list.length === 0) throw new FatalError(new HubResponseError(400, 'invalid_topic', 'Subscribe to at least one topic.'));
    const url = hubUrl(this.#options.url, 'events');
    for (const topic of list) url.searchParams.append('topic', topic);
    const requestHeaders: Record<string, string> = { Accept: 'text/event-stream', ...headers };
    const lastEventId = this.#parser.lastEventId;
    if (lastEventId !== '') requestHeaders['Last-Event-ID'] = lastEventId;
    const bearer = await resolveToken(token);
    if (bearer !== undefined) requestHeaders.Authorization = `Bearer ${bearer}`;
    return this.#fetch(url, {
      headers: requestHeaders,
      signal,
      cache: 'no-store',
      ...(credentials === undefined ? {} : { credentials }),
    });
  }

  async #read(response: Response, signal: AbortSignal): Promise<void> {
    if (!response.body) return;
    const reader = response.body.getReader();
    // An aborted connection (the idle watchdog) ends the read where it waits.
    const onAbort = (): void => void reader.cancel().catch(() => {});
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || signal.aborted) return;
        this.#lastReceivedAt = this.#clock.now();
        this.#parser.feed(value);
        if (this.#failure !== undefined || this.#stop.signal.aborted) return;
        // Backpressure: with a slow iterator, stop reading; TCP then slows the hub down for this stream.
        while (this.#queue !== undefined && this.#queue.length >= (this.#options.bufferSize ?? 1000) && !this.#stop.signal.aborted) {
          this.#readingPaused = true;
          await new Promise<void>((resolve) => (this.#wakeWriter = resolve));
          this.#readingPaused = false;
          this.#lastReceivedAt = this.#clock.now();
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      reader.cancel().catch(() => {});
    }
  }

  #dispatch(parsed: ParsedEvent): void {
    if (this.#state === 'closed') return;
    let item: SubscriptionItem<M>;
    if (parsed.type === RESET_EVENT) {
      let detail: { [K in keyof ResetDetail]?: unknown } = {};
      try {
        detail = JSON.parse(parsed.data) as typeof detail;
      } catch {
        // A reset is a reset even with an unreadable body.
      }
      item = {
        kind: 'reset',
        reason: typeof detail.reason === 'string' ? detail.reason : 'unknown',
        lastEventId: typeof detail.lastEventId === 'string' ? detail.lastEventId : '',
      };
    } else if (parsed.type === REVOKED_EVENT) {
      // Final, like a refusal: the hub was told to end this stream, so reconnecting would defy it.
      this.#finish('error', new RevokedError(revokedCriterion(parsed.data)));
      return;
    } else if (parsed.type === END_EVENT) {
      const topic = endedTopic(parsed.data);
      const first = !this.#ended.has(topic);
      this.#ended.add(topic);
      try {
        if (first) this.#options.onEnd?.(topic);
      } catch (error) {
        this.#finish('error', error);
        return;
      }
      this.#movePosition(parsed.lastEventId);
      // Nothing more can come once every topic has ended: done, after the events already queued.
      if (this.#allTopicsEnded()) this.#finish('done');
      return;
    } else if (isReservedEventName(parsed.type)) {
      // The hub's other control events carry no application data: their ids move the position only
      // (a position marker moves the resume point, but only past what the application has taken).
      this.#movePosition(parsed.lastEventId);
      return;
    } else {
      let data: unknown;
      try {
        data = this.#decode(parsed.data, parsed.type);
      } catch (error) {
        this.#finish('error', new DecodeError(parsed.lastEventId, parsed.type, error));
        return;
      }
      item = { kind: 'event', type: parsed.type, data, id: parsed.lastEventId, raw: parsed.data } as HubEvent<M>;
    }
    try {
      if (item.kind === 'reset') this.#options.onReset?.(item);
      else this.#options.onEvent?.(item);
    } catch (error) {
      // An application callback that throws ends the subscription loudly rather than being swallowed.
      this.#finish('error', error);
      return;
    }
    if (this.#queue !== undefined) {
      this.#queue.push({ item, id: parsed.lastEventId });
      this.#wakeReader?.();
    } else {
      this.#deliveredId = parsed.lastEventId;
    }
  }

  /** Moves the resume point to a control event's id, but only past what the application has taken. */
  #movePosition(id: string): void {
    if (this.#queue === undefined || this.#queue.length === 0) this.#deliveredId = id;
    else this.#queue.push({ id });
  }

  /** Every topic is an exact one (no `*`) and has ended. */
  #allTopicsEnded(): boolean {
    const { topics } = this.#options;
    const list = typeof topics === 'string' ? [topics] : topics;
    return list.length > 0 && list.every((topic) => !topic.includes('*') && this.#ended.has(topic));
  }

  #wake(): void {
    this.#wakeReader?.();
    this.#wakeWriter?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<SubscriptionItem<M>> {
    if (this.#iterated) throw new Error('A subscription can be iterated only once.');
    this.#iterated = true;
    const queue: Array<Queued<M>> = (this.#queue ??= []);
    return {
      next: async (): Promise<IteratorResult<SubscriptionItem<M>>> => {
        for (;;) {
          const entry = queue.shift();
          if (entry !== undefined) {
            this.#deliveredId = entry.id;
            if (queue.length < (this.#options.bufferSize ?? 1000)) this.#wakeWriter?.();
            if (entry.item === undefined) continue; // a position marker
            return { value: entry.item, done: false };
          }
          if (this.#state === 'closed') {
            if (this.#failure !== undefined) {
              const failure = this.#failure;
              this.#failure = undefined; // thrown once; later calls just end
              throw failure;
            }
            return { value: undefined, done: true };
          }
          await new Promise<void>((resolve) => (this.#wakeReader = resolve));
        }
      },
      return: async (): Promise<IteratorResult<SubscriptionItem<M>>> => {
        // `break` out of for-await: the caller is done with the stream.
        this.close();
        return { value: undefined, done: true };
      },
    };
  }
}

/** An item waiting for the iterator, with the id to resume from once it is taken (no item: a position marker). */
interface Queued<M extends EventMap> {
  item?: SubscriptionItem<M>;
  id: string;
}

/** The topic a ssehub.end event names; "" when it cannot be read. */
function endedTopic(data: string): string {
  try {
    const detail = JSON.parse(data) as { topic?: unknown };
    return typeof detail.topic === 'string' ? detail.topic : '';
  } catch {
    return '';
  }
}

/** The criterion of a ssehub.revoked event's data; {} when it cannot be read. */
export function revokedCriterion(data: string): RevokedError['criterion'] {
  let detail: { [K in keyof RevokedDetail]?: unknown } = {};
  try {
    detail = JSON.parse(data) as typeof detail;
  } catch {
    // Revoked is revoked even with an unreadable body.
  }
  const criterion: RevokedError['criterion'] = {};
  if (typeof detail.subject === 'string') criterion.subject = detail.subject;
  if (typeof detail.topic === 'string') criterion.topic = detail.topic;
  if (typeof detail.tokenId === 'string') criterion.tokenId = detail.tokenId;
  return criterion;
}

/** Marks an error that ends the subscription (no retry). */
class FatalError {
  constructor(readonly error: unknown) {}
}
