/**
 * connect(): one WebSocket to the hub (`GET /ws`, protocol `ssehub.v1`), carrying any number of
 * subscriptions and publishes with acks. The same semantics as subscribe(): exponential backoff
 * with full jitter between attempts, every subscription resumed after a drop from the last id it
 * handed to the application (so nothing is missed), the hub's reset signal as its own item, and a
 * clear error instead of retries when the hub says no (a refused credential, a revocation).
 *
 * The WebSocket is the global one (browsers, Node 22+), a constructor given as `WebSocket`, or the
 * `ws` package, imported on demand (Node 20).
 */
import { isReservedEventName, RESET_EVENT, REVOKED_EVENT } from '../protocol/control-events.js';
import { WS_CLOSE, WS_FINAL_CLOSE_CODES, WS_SUBPROTOCOL, type WsClientMessage, type WsEventMessage, type WsServerMessage } from '../protocol/ws.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { sleep, systemClock, type Clock } from './clock.js';
import { HubResponseError, RevokedError } from './errors.js';
import { hubUrl, resolveToken, type TokenSource } from './http.js';
import { revokedCriterion, type ConnectionState, type EventMap, type HubEvent, type ResetSignal, type StateChange, type SubscriptionItem, type TextEventMap } from './subscribe.js';

/** What connect() needs of a WebSocket: the browser's API, which the `ws` package also has. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string, protocols: string | string[]) => WebSocketLike;

export interface ConnectOptions {
  /** The hub's base URL, http(s):// or ws(s):// (a path prefix is kept). */
  url: string;
  /** Sent in the first message; a function is called before every connection (token refresh). */
  token?: TokenSource;
  /** A one-shot ticket per connection (POST /tickets), for pages that hold no token: called before every connection. */
  ticket?: () => string | Promise<string>;
  /** The WebSocket class: by default the global one, else the `ws` package. */
  WebSocket?: WebSocketConstructor;
  backoff?: BackoffOptions & { healthyAfterMs?: number };
  onStateChange?: (change: StateChange) => void;
  /** How long a publish or a subscribe waits for its answer, connection included (default 10 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
  clock?: Clock;
}

export interface WsSubscribeOptions<M extends EventMap = TextEventMap> {
  /** Resume after this id (an SSE stream's last id works too). */
  lastEventId?: string;
  /** Replay the newest N retained events first (ignored once the subscription has an id to resume from). */
  rewind?: number;
  /** Also receive who is on the topics (ssehub.presence, .join, .leave) through `onControl`. */
  presence?: boolean;
  decode?: 'text' | 'json';
  onEvent?: (event: HubEvent<M> & { topic: string; ephemeral: boolean }) => void;
  onReset?: (signal: ResetSignal) => void;
  /** The hub's other control events (presence): name and data (parsed JSON). */
  onControl?: (name: string, data: unknown) => void;
}

export interface WsSubscription<M extends EventMap = TextEventMap> extends AsyncIterable<SubscriptionItem<M>> {
  /** The id to resume from: the last one the hub sent on this subscription. */
  readonly lastEventId: string;
  close(): void;
}

export interface WsPublishOptions {
  event?: string;
  /** Delivered to the streams open now, never stored: no id comes back. */
  ephemeral?: boolean;
  idempotencyKey?: string;
}

export interface WsPublished {
  id?: string;
  topic: string;
  replayed?: boolean;
}

export interface Connection {
  readonly state: ConnectionState;
  subscribe<M extends EventMap = TextEventMap>(topics: string | readonly string[], options?: WsSubscribeOptions<M>): WsSubscription<M>;
  /** Resolves with the hub's ack (the id), rejects with a HubResponseError from its error message. */
  publish(topic: string, data: unknown, options?: WsPublishOptions): Promise<WsPublished>;
  /** Settles when the connection is closed for good: resolves on close(), rejects with a fatal error. */
  readonly done: Promise<void>;
  close(): void;
}

export function connect(options: ConnectOptions): Connection {
  return new HubConnection(options);
}

const OPEN = 1;

interface Pending {
  resolve(message: WsServerMessage): void;
  reject(error: unknown): void;
}

class HubConnection implements Connection {
  #state: ConnectionState = 'connecting';
  readonly #options: ConnectOptions;
  readonly #clock: Clock;
  readonly #backoff: Backoff;
  readonly #subscriptions = new Map<string, ClientWsSubscription<any>>();
  readonly #pending = new Map<string, Pending>();
  #socket: WebSocketLike | undefined;
  #nextRef = 1;
  #nextSub = 1;
  #stopped = false;
  #waitingForOpen: Array<() => void> = [];
  readonly done: Promise<void>;
  #settle!: (error?: unknown) => void;
  #wakeRun: (() => void) | undefined;

  constructor(options: ConnectOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#backoff = new Backoff(options.backoff);
    this.done = new Promise((resolve, reject) => (this.#settle = (error) => (error === undefined ? resolve() : reject(error))));
    this.done.catch(() => {});
    wsUrl(options.url); // a URL that can never work throws here
    if (options.signal?.aborted) this.close();
    else options.signal?.addEventListener('abort', () => this.close(), { once: true });
    if (!this.#stopped) queueMicrotask(() => void this.#run().catch((error: unknown) => this.#finish(error)));
  }

  get state(): ConnectionState {
    return this.#state;
  }

  subscribe<M extends EventMap = TextEventMap>(topics: string | readonly string[], options: WsSubscribeOptions<M> = {}): WsSubscription<M> {
    const list = typeof topics === 'string' ? [topics] : [...topics];
    const subscription = new ClientWsSubscription<M>(String(this.#nextSub++), list, options, (sub) => this.#unsubscribe(sub));
    this.#subscriptions.set(subscription.name, subscription);
    if (this.#state === 'open') this.#sendSubscribe(subscription);
    return subscription;
  }

  async publish(topic: string, data: unknown, options: WsPublishOptions = {}): Promise<WsPublished> {
    const message: WsClientMessage = { type: 'publish', topic, data };
    if (options.event !== undefined) message.event = options.event;
    if (options.ephemeral) message.ephemeral = true;
    if (options.idempotencyKey !== undefined) message.idempotencyKey = options.idempotencyKey;
    const ack = await this.#request(message);
    const published: WsPublished = { topic };
    if (ack.type === 'ack' && ack.id !== undefined) published.id = ack.id;
    if (ack.type === 'ack' && ack.replayed) published.replayed = true;
    return published;
  }

  close(): void {
    if (this.#stopped) return;
    this.#finish();
  }

  #finish(error?: unknown): void {
    if (this.#state === 'closed') return;
    this.#stopped = true;
    this.#socket?.close(1000, 'closed by the client');
    for (const pending of this.#pending.values()) pending.reject(error ?? new Error('The connection was closed.'));
    this.#pending.clear();
    for (const subscription of this.#subscriptions.values()) subscription.end(error);
    this.#wakeRun?.();
    for (const wake of this.#waitingForOpen.splice(0)) wake();
    this.#setState({ state: 'closed', reason: error === undefined ? 'closed' : 'error', ...(error === undefined ? {} : { error }) });
    this.#settle(error);
  }

  #setState(change: StateChange): void {
    this.#state = change.state;
    this.#options.onStateChange?.(change);
  }

  /** Sends a message with a ref once the connection is open, and resolves with its ack (or rejects with its error). */
  async #request(message: WsClientMessage): Promise<WsServerMessage> {
    const timeoutMs = this.#options.timeoutMs ?? 10_000;
    const deadline = this.#clock.now() + timeoutMs;
    while (this.#state !== 'open') {
      if (this.#stopped) throw new Error('The connection is closed.');
      if (this.#clock.now() >= deadline) throw new Error(`No connection to the hub within ${timeoutMs} ms.`);
      // One waiter per wait, taken out again when its time runs out: requests that keep timing out
      // while the hub is away leave nothing behind.
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.#clock.clearTimeout(handle);
          resolve();
        };
        const handle = this.#clock.setTimeout(() => {
          this.#waitingForOpen = this.#waitingForOpen.filter((waiter) => waiter !== wake);
          resolve();
        }, deadline - this.#clock.now());
        this.#waitingForOpen.push(wake);
      });
    }
    const ref = `r${this.#nextRef++}`;
    return new Promise<WsServerMessage>((resolve, reject) => {
      const handle = this.#clock.setTimeout(() => {
        this.#pending.delete(ref);
        reject(new Error(`No answer from the hub within ${timeoutMs} ms.`));
      }, timeoutMs);
      this.#pending.set(ref, {
        resolve: (answer) => {
          this.#clock.clearTimeout(handle);
          resolve(answer);
        },
        reject: (error) => {
          this.#clock.clearTimeout(handle);
          reject(error);
        },
      });
      this.#send({ ...message, ref });
    });
  }

  #send(message: WsClientMessage): void {
    if (this.#socket?.readyState === OPEN) this.#socket.send(JSON.stringify(message));
  }

  #sendSubscribe(subscription: ClientWsSubscription<any>): void {
    const message: WsClientMessage = { type: 'subscribe', topics: subscription.topics, sub: subscription.name };
    const resume = subscription.lastEventId;
    if (resume !== '') message.lastEventId = resume;
    else if (subscription.options.rewind !== undefined) message.rewind = subscription.options.rewind;
    if (subscription.options.presence) message.presence = true;
    this.#send(message);
  }

  #unsubscribe(subscription: ClientWsSubscription<any>): void {
    this.#subscriptions.delete(subscription.name);
    if (this.#state === 'open') this.#send({ type: 'unsubscribe', sub: subscription.name });
  }

  async #run(): Promise<void> {
    const healthyAfterMs = this.#options.backoff?.healthyAfterMs ?? 5000;
    const Socket = await webSocketClass(this.#options.WebSocket);
    while (!this.#stopped) {
      this.#setState({ state: 'connecting' });
      let openedAt: number | undefined;
      const closed = await new Promise<{ code: number; reason: string }>((resolve) => {
        void (async () => {
          const url = wsUrl(this.#options.url);
          if (this.#options.ticket !== undefined) url.searchParams.set('ticket', await this.#options.ticket());
          const token = await resolveToken(this.#options.token);
          if (this.#stopped) return resolve({ code: 1000, reason: '' });
          const socket = new Socket(url.toString(), [WS_SUBPROTOCOL]);
          this.#socket = socket;
          socket.onopen = () => socket.send(JSON.stringify(token === undefined ? { type: 'auth' } : { type: 'auth', token }));
          socket.onmessage = (event) => {
            const message = parse(event.data);
            if (message === undefined) return;
            if (message.type === 'ready') {
              if (this.#state === 'open') return; // the answer to our auth, after a credential at the upgrade
              openedAt = this.#clock.now();
              this.#setState({ state: 'open' });
              for (const subscription of this.#subscriptions.values()) this.#sendSubscribe(subscription);
              for (const wake of this.#waitingForOpen.splice(0)) wake();
            } else if (message.type === 'event') this.#event(message);
            else this.#answer(message);
          };
          socket.onerror = () => {};
          socket.onclose = (event) => resolve({ code: event.code, reason: event.reason });
        })().catch(() => resolve({ code: 1006, reason: 'could not connect' }));
      });
      this.#socket = undefined;
      for (const pending of this.#pending.values()) pending.reject(new Error(`The connection closed (${closed.code}) before the hub answered.`));
      this.#pending.clear();
      if (this.#stopped) return;
      if (WS_FINAL_CLOSE_CODES.includes(closed.code)) {
        const error = closed.code === WS_CLOSE.REVOKED ? new RevokedError({}) : new HubResponseError(closed.code === WS_CLOSE.UNAUTHORIZED ? 401 : 400, closeCodeName(closed.code), closed.reason || `closed with ${closed.code}`);
        this.#finish(error);
        return;
      }
      if (openedAt !== undefined && this.#clock.now() - openedAt >= healthyAfterMs) this.#backoff.reset();
      const attempt = this.#backoff.attempt + 1;
      const delayMs = this.#backoff.next();
      this.#setState({ state: 'reconnecting', delayMs, attempt, error: new Error(`closed with ${closed.code}${closed.reason ? `: ${closed.reason}` : ''}`) });
      const stop = new AbortController();
      this.#wakeRun = () => stop.abort();
      try {
        await sleep(this.#clock, delayMs, stop.signal);
      } catch {
        return;
      } finally {
        this.#wakeRun = undefined;
      }
    }
  }

  #event(message: WsEventMessage): void {
    const subscription = message.sub === undefined ? undefined : this.#subscriptions.get(message.sub);
    if (subscription === undefined) return;
    if (message.event === REVOKED_EVENT) {
      this.#finish(new RevokedError(revokedCriterion(message.data)));
      return;
    }
    try {
      subscription.receive(message);
    } catch (error) {
      // An application callback that throws ends the connection loudly rather than being swallowed.
      this.#finish(error);
    }
  }

  #answer(message: WsServerMessage): void {
    if (message.type !== 'ack' && message.type !== 'error') return;
    const pending = message.ref === undefined ? undefined : this.#pending.get(message.ref);
    if (pending === undefined) return;
    this.#pending.delete(message.ref!);
    if (message.type === 'ack') pending.resolve(message);
    else pending.reject(new HubResponseError(message.status ?? 400, message.code, message.message));
  }
}

class ClientWsSubscription<M extends EventMap> implements WsSubscription<M> {
  #deliveredId: string;
  #queue: Array<{ item?: SubscriptionItem<M>; id: string }> | undefined;
  #wake: (() => void) | undefined;
  #ended = false;
  #failure: unknown;

  constructor(
    readonly name: string,
    readonly topics: string[],
    readonly options: WsSubscribeOptions<M>,
    private readonly onClose: (subscription: ClientWsSubscription<M>) => void,
  ) {
    this.#deliveredId = options.lastEventId ?? '';
    if (options.onEvent === undefined) this.#queue = [];
  }

  /** The last id handed to the application: where a new connection resumes (nothing received but unread is skipped). */
  get lastEventId(): string {
    return this.#deliveredId;
  }

  receive(message: WsEventMessage): void {
    if (this.#ended) return;
    const name = message.event ?? 'message';
    let item: SubscriptionItem<M>;
    if (name === RESET_EVENT) {
      const detail = parseJson(message.data) as { reason?: unknown; lastEventId?: unknown } | undefined;
      item = { kind: 'reset', reason: typeof detail?.reason === 'string' ? detail.reason : 'unknown', lastEventId: typeof detail?.lastEventId === 'string' ? detail.lastEventId : '' };
      this.options.onReset?.(item);
    } else if (isReservedEventName(name)) {
      if (message.id === undefined) this.options.onControl?.(name, parseJson(message.data));
      else this.#advance(message.id);
      return;
    } else {
      const data = this.options.decode === 'json' ? JSON.parse(message.data) : message.data;
      const event = { kind: 'event', type: name, data, id: message.id ?? '', raw: message.data, topic: message.topic ?? '', ephemeral: message.ephemeral === true } as HubEvent<M> & { topic: string; ephemeral: boolean };
      this.options.onEvent?.(event);
      item = event;
    }
    const id = message.id;
    if (this.#queue !== undefined) {
      this.#queue.push({ item, id: id ?? '' });
      this.#wake?.();
    } else if (id !== undefined) this.#deliveredId = id;
  }

  /** A position: moves the resume point, past what the application has taken only. */
  #advance(id: string): void {
    if (this.#queue === undefined || this.#queue.length === 0) this.#deliveredId = id;
    else this.#queue.push({ id });
  }

  close(): void {
    if (this.#ended) return;
    this.onClose(this);
    this.end();
  }

  end(error?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#failure = error;
    this.#wake?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<SubscriptionItem<M>> {
    const queue = (this.#queue ??= []);
    return {
      next: async () => {
        for (;;) {
          const entry = queue.shift();
          if (entry !== undefined) {
            if (entry.id !== '') this.#deliveredId = entry.id;
            if (entry.item === undefined) continue;
            return { value: entry.item, done: false };
          }
          if (this.#ended) {
            if (this.#failure !== undefined) {
              const failure = this.#failure;
              this.#failure = undefined;
              throw failure;
            }
            return { value: undefined, done: true };
          }
          await new Promise<void>((resolve) => (this.#wake = resolve));
        }
      },
      return: async () => {
        this.close();
        return { value: undefined, done: true };
      },
    };
  }
}

/** The WebSocket class to use: the one given, the global one, or the `ws` package's (Node 20). */
async function webSocketClass(given: WebSocketConstructor | undefined): Promise<WebSocketConstructor> {
  if (given !== undefined) return given;
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (global !== undefined) return global;
  // A name in a variable: bundlers for browsers leave it alone (browsers have the global one).
  const name = 'ws';
  try {
    const module = (await import(/* @vite-ignore */ name)) as { WebSocket: WebSocketConstructor };
    return module.WebSocket;
  } catch {
    throw new Error('No WebSocket here: this runtime has no global WebSocket (Node 20); install the "ws" package or pass `WebSocket`.');
  }
}

function wsUrl(base: string): URL {
  const url = hubUrl(base.replace(/^ws/, 'http'), 'ws');
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url;
}

function parse(data: unknown): WsServerMessage | undefined {
  const value = parseJson(typeof data === 'string' ? data : String(data));
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string' ? (value as WsServerMessage) : undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function closeCodeName(code: number): string {
  if (code === WS_CLOSE.UNAUTHORIZED) return 'unauthorized';
  if (code === WS_CLOSE.UNSUPPORTED_PROTOCOL) return 'unsupported_protocol';
  return `closed_${code}`;
}

