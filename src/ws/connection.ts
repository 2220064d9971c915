/**
 * One WebSocket connection: its principal, its subscriptions, and the messages it sends, taken one
 * at a time in the order they came (a publish after a subscribe is done after it; acks come back
 * in order). Nothing is accepted before the connection is authenticated: at the upgrade (a ticket,
 * the cookie, a bearer header) or by an `auth` message within the auth timeout.
 *
 * Every subscription opens through the stream route's answerStream (per-client slots, presence
 * membership, webhooks) onto a WebSocketSink, and every publish goes through publishEvents: grants,
 * rates and idempotency keys are those of HTTP, checked on every message.
 */
import type { WebSocket } from 'ws';
import type { Principal } from '../auth/principal.js';
import { TokenBucket } from '../auth/limits.js';
import { HubError, isHubError } from '../errors.js';
import type { NewEvent } from '../engines/engine.js';
import type { RequestHead, RouteContext } from '../http/context.js';
import { authenticate, clientKey } from '../http/authenticate.js';
import { checkedIdempotencyKey } from '../http/idempotency.js';
import { publishEvents } from '../http/publish.js';
import { answerStream } from '../http/subscribe.js';
import { checkSubscriptionGrant, subscriptionOf } from '../http/subscription.js';
import { WS_CLOSE, type WsServerMessage } from '../protocol/index.js';
import { parseClientMessage, refOf, type PublishMessage, type SubscribeMessage, type UnsubscribeMessage } from './messages.js';
import { WebSocketSink, type SinkSocket } from './sink.js';
import type { WsStats } from './stats.js';

export interface ConnectionSettings {
  /** How long a connection without a credential at the upgrade has to send its `auth` message. */
  authTimeoutMs: number;
  /** Invalid messages in a row after which the connection is closed (4000). */
  maxErrors: number;
  /** Ephemeral publishes per second per connection (its burst too). */
  ephemeralPerSecond: number;
  /** Messages received and not yet answered past which the connection is closed (4009): a client must wait for acks. */
  maxPending: number;
  /** How long a closing connection may take to say goodbye before it is cut. */
  closeGraceMs: number;
}

/** Why a subscription ended on the hub's side -> how the connection is closed. */
const CLOSE_FOR_END: Readonly<Record<string, { code: number; reason: string }>> = {
  shutdown: { code: WS_CLOSE.GOING_AWAY, reason: 'the hub is shutting down' },
  'token-expired': { code: WS_CLOSE.TOKEN_EXPIRED, reason: 'the credential expired' },
  revoked: { code: WS_CLOSE.REVOKED, reason: 'the credential was revoked' },
  'slow-consumer': { code: WS_CLOSE.SLOW_CONSUMER, reason: 'the client fell behind --max-buffer' },
  'history-gap': { code: WS_CLOSE.RESUME, reason: 'events were lost here: resume from your last id' },
  'history-unavailable': { code: WS_CLOSE.RESUME, reason: 'history could not be read: resume from your last id' },
};

/** setTimeout's longest delay; a later expiry is checked again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class WsConnection implements SinkSocket {
  private principal: Principal | undefined;
  private readonly subscriptions = new Map<string, WebSocketSink>();
  private nextName = 1;
  private errorsInARow = 0;
  private tail: Promise<void> = Promise.resolve();
  /** Messages received and not yet handled: what the tail holds, bounded by settings.maxPending. */
  private pending = 0;
  private closing = false;
  private authTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private readonly ephemeral: TokenBucket;
  private drainWaiters: Array<() => void> = [];
  /** Answered to the heartbeat's last ping (see door.ts). */
  alive = true;

  constructor(
    readonly socket: WebSocket,
    /** The upgrade request: its headers and peer, for authentication and the per-client keys. */
    private readonly request: RequestHead,
    private readonly context: RouteContext,
    private readonly settings: ConnectionSettings,
    private readonly stats: WsStats,
    principal: Principal | undefined,
  ) {
    // A second's worth of burst; no shared rate counts ephemeral publishes (they are many, small and
    // worthless a second later): the limit is the connection's, kept in its process.
    this.ephemeral = new TokenBucket(settings.ephemeralPerSecond, settings.ephemeralPerSecond, performance.now());
    socket.on('message', (data, isBinary) => this.received(data as Buffer | Buffer[] | ArrayBuffer, isBinary));
    socket.on('pong', () => (this.alive = true));
    socket.on('close', () => this.closed());
    socket.on('error', (error) => context.logger.debug({ err: error }, 'WebSocket error'));
    if (principal !== undefined) this.ready(principal);
    else {
      this.authTimer = setTimeout(() => this.close(WS_CLOSE.AUTH_TIMEOUT, 'no auth message in time'), settings.authTimeoutMs);
      this.authTimer.unref();
    }
  }

  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  sendFrame(message: Uint8Array): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    this.socket.send(message, { binary: false }, this.sent);
  }

  drained(): Promise<void> {
    if (this.socket.readyState !== this.socket.OPEN) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  subscriptionEnded(sink: WebSocketSink, reason: string | undefined): void {
    const close = CLOSE_FOR_END[reason ?? ''];
    if (reason === 'slow-consumer') this.stats.slowConsumers += 1;
    if (close === undefined) {
      sink.close();
      this.subscriptions.delete(sink.name);
      return;
    }
    // The client resumes each subscription from its last id on a new connection.
    this.close(close.code, close.reason, reason === 'slow-consumer');
  }

  /** Closes with a code; cut at once when the peer is not reading (`cut`), or after the grace period. */
  close(code: number, reason: string, cut = false): void {
    if (this.closing) return;
    this.closing = true;
    this.stats.closed(code);
    this.socket.close(code, reason);
    const timer = setTimeout(() => this.socket.terminate(), cut ? 0 : this.settings.closeGraceMs);
    timer.unref();
  }

  /** Each completed send: a subscriber waiting for room looks again. */
  private readonly sent = (): void => {
    if (this.drainWaiters.length === 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiters) resolve();
  };

  private ready(principal: Principal): void {
    this.principal = principal;
    if (this.authTimer !== undefined) clearTimeout(this.authTimer);
    this.watchExpiry();
    this.sendReady();
  }

  private sendReady(): void {
    const subject = this.principal?.subject;
    this.send({ type: 'ready', ...(subject === undefined ? {} : { subject }), heartbeatMs: this.context.config.heartbeatMs });
  }

  /** A connection whose credential expires is closed then, subscriptions or not (the hub ends theirs as well). */
  private watchExpiry(): void {
    const expiresAt = this.principal?.expiresAt;
    if (expiresAt === undefined) return;
    const wait = expiresAt - Date.now();
    this.expiryTimer = setTimeout(() => {
      if (Date.now() >= expiresAt) this.close(WS_CLOSE.TOKEN_EXPIRED, 'the credential expired');
      else this.watchExpiry();
    }, Math.max(0, Math.min(wait, MAX_TIMER_MS)));
    this.expiryTimer.unref();
  }

  private received(data: Buffer | Buffer[] | ArrayBuffer, isBinary: boolean): void {
    if (this.closing) return;
    // Messages are handled one after the other; what waits is the client's, and bounded here.
    if (++this.pending > this.settings.maxPending) return this.close(WS_CLOSE.TOO_MANY_PENDING, `more than ${this.settings.maxPending} messages waiting for an answer`);
    const text = isBinary ? undefined : (Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)).toString();
    this.tail = this.tail
      .then(() => this.handle(text))
      .catch((error: unknown) => this.context.logger.error({ err: error }, 'WebSocket message failed'))
      .finally(() => (this.pending -= 1));
  }

  private async handle(text: string | undefined): Promise<void> {
    if (this.closing) return;
    let ref: string | undefined;
    try {
      if (text === undefined) throw new HubError(400, 'invalid_message', 'Messages are JSON text frames, not binary ones.');
      const message = parseClientMessage(text);
      ref = refOf(message);
      if (this.principal === undefined) {
        // Nothing is accepted before the credential: no unauthenticated window.
        if (message.type !== 'auth') return this.close(WS_CLOSE.UNAUTHORIZED, 'send {"type":"auth"} first');
        return await this.authenticateWith(message.token);
      }
      // A disconnect may have revoked the credential since the upgrade: checked before every
      // subscribe and publish, as every HTTP request is (a connection with no stream has no other way to hear of it).
      if (message.type !== 'auth') await this.context.access.revocations.check(this.principal);
      switch (message.type) {
        case 'auth':
          // A client that sends `auth` after a credential at the upgrade is told it is ready (again).
          if (message.token === undefined) return this.sendReady();
          throw new HubError(400, 'already_authenticated', 'This connection is authenticated already; open a new one for another credential.');
        case 'subscribe':
          await this.subscribe(message, ref);
          break;
        case 'unsubscribe':
          this.unsubscribe(message);
          this.send({ type: 'ack', ...refField(ref) });
          break;
        case 'publish':
          this.send({ type: 'ack', ...refField(ref), ...(await this.publish(message)) });
          break;
      }
      this.errorsInARow = 0;
    } catch (error) {
      if (isHubError(error) && error.code === 'token_revoked') return this.close(WS_CLOSE.REVOKED, 'the credential was revoked');
      this.refuse(error, ref ?? refOfText(text));
    }
  }

  private refuse(error: unknown, ref: string | undefined): void {
    if (!isHubError(error)) this.context.logger.error({ err: error }, 'WebSocket message failed');
    const { code, message, status } = isHubError(error) ? error : { code: 'internal_error', message: 'The message could not be handled.', status: 500 };
    this.stats.errors += 1;
    this.send({ type: 'error', ...refField(ref), code, message, status });
    this.errorsInARow += 1;
    if (this.errorsInARow >= this.settings.maxErrors) this.close(WS_CLOSE.PROTOCOL_ERROR, `${this.errorsInARow} refused messages in a row`);
  }

  private async authenticateWith(token: string | undefined): Promise<void> {
    // The token as the HTTP routes take it: one way to verify, revoke-check and ask the app.
    const headers = { ...this.request.headers };
    delete headers.cookie; // the cookie was judged at the upgrade; a message-borne credential stands alone
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    else delete headers.authorization;
    try {
      this.ready(await authenticate({ ...this.request, method: 'GET', headers }, this.context, { action: 'subscribe', topics: [] }));
    } catch (error) {
      const detail = isHubError(error) ? `${error.code}: ${error.message}` : 'the credential could not be checked';
      this.close(WS_CLOSE.UNAUTHORIZED, detail.slice(0, 120));
    }
  }

  /** Opens a subscription, acknowledged (`acked`, with the ref) before anything of it is sent. */
  private async subscribe(message: SubscribeMessage, ref: string | undefined, acked = true): Promise<void> {
    const principal = this.principal!;
    let name = message.sub;
    // The hub's numbering skips names the client chose itself.
    while (name === undefined || (message.sub === undefined && this.subscriptions.has(name))) name = String(this.nextName++);
    if (this.subscriptions.has(name)) throw new HubError(409, 'already_subscribed', `A subscription named ${JSON.stringify(name)} is open on this connection.`);
    const subscription = subscriptionOf(message.topics, this.context);
    checkSubscriptionGrant(principal, subscription, this.context);
    const opening = { subscription, principal, lastEventId: message.lastEventId, rewind: message.rewind, watchPresence: message.presence === true };
    const answer = await answerStream(opening, { remote: this.context.clientAddress(this.request), gone: () => this.closing }, this.context);
    if (this.closing || this.subscriptions.has(name)) {
      answer.cancel();
      throw new HubError(409, 'already_subscribed', `A subscription named ${JSON.stringify(name)} is open on this connection.`);
    }
    const sink = new WebSocketSink(this, name, subscription.topics);
    this.subscriptions.set(name, sink);
    if (acked) this.send({ type: 'ack', ...refField(ref), sub: name });
    answer.open(sink);
  }

  /**
   * Ends the named subscription, or each that names one of the topics; one that named others too
   * is opened again for those, from the last id it sent, so nothing of them is missed.
   */
  private unsubscribe(message: UnsubscribeMessage): void {
    if (message.sub !== undefined && message.topics === undefined) {
      const sink = this.subscriptions.get(message.sub);
      if (sink === undefined) throw new HubError(404, 'not_subscribed', `No subscription named ${JSON.stringify(message.sub)} is open on this connection.`);
      this.subscriptions.delete(message.sub);
      sink.close();
      return;
    }
    const dropped = new Set(message.topics);
    const touched = [...this.subscriptions.values()].filter((sink) => sink.topics.some((topic) => dropped.has(topic)));
    if (touched.length === 0) throw new HubError(404, 'not_subscribed', 'None of these topics is subscribed to on this connection.');
    for (const sink of touched) {
      this.subscriptions.delete(sink.name);
      sink.close();
      const rest = sink.topics.filter((topic) => !dropped.has(topic));
      if (rest.length > 0) void this.subscribeRest(sink.name, rest, sink.lastId);
    }
  }

  private async subscribeRest(name: string, topics: string[], lastEventId: string | undefined): Promise<void> {
    try {
      await this.subscribe({ type: 'subscribe', sub: name, topics, ...(lastEventId === undefined ? {} : { lastEventId }) }, undefined, false);
    } catch (error) {
      this.refuse(error, undefined);
    }
  }

  private async publish(message: PublishMessage): Promise<{ id?: string; topic: string; replayed?: boolean }> {
    const principal = this.principal!;
    const ephemeral = message.ephemeral === true;
    const idempotencyKey = checkedIdempotencyKey(message.idempotencyKey);
    if (ephemeral && idempotencyKey !== undefined) throw new HubError(400, 'invalid_message', 'An ephemeral publish is never stored, so it takes no idempotencyKey.');
    if (ephemeral && !this.ephemeral.take(1, performance.now())) {
      throw new HubError(429, 'rate_limited', `At most ${this.settings.ephemeralPerSecond} ephemeral publishes per second on one connection (--ws-ephemeral-rate).`);
    }
    const event: NewEvent = { topic: message.topic, data: typeof message.data === 'string' ? message.data : JSON.stringify(message.data) };
    if (message.event !== undefined) event.event = message.event;
    const publisher = { principal, key: () => clientKey(this.request, principal, this.context) };
    const { stored, replayed } = await publishEvents([event], publisher, idempotencyKey, this.context, { ephemeral });
    if (ephemeral) return { topic: message.topic };
    return { id: stored[0]!.id, topic: message.topic, ...(replayed ? { replayed } : {}) };
  }

  private send(message: WsServerMessage): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(message));
  }

  private closed(): void {
    this.closing = true;
    if (this.authTimer !== undefined) clearTimeout(this.authTimer);
    if (this.expiryTimer !== undefined) clearTimeout(this.expiryTimer);
    for (const sink of this.subscriptions.values()) sink.close();
    this.subscriptions.clear();
    this.sent();
    this.stats.connectionClosed(this);
  }
}

function refField(ref: string | undefined): { ref?: string } {
  return ref === undefined ? {} : { ref };
}

/** The ref of a message that was refused before it was parsed, if its text is JSON with one. */
function refOfText(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  try {
    return refOf(JSON.parse(text));
  } catch {
    return undefined;
  }
}
