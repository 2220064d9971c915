/**
 * Delivers the cluster's webhooks: one instance at a time, the one holding the dispatcher lease in
 * the engine's key-value store (renewed by its holder; another instance takes it when it lapses,
 * or at once when its holder closes). The queue is the `webhooks` channel of the system bus, kept
 * in the engine's history of `$ssehub/webhooks/<instance>`: a new dispatcher reads it after the cursor (the
 * last message every receiver is done with, kept in the store) and then takes live messages.
 *
 * Invariants:
 * - per receiver and ordering key, a message is sent only once the one before it is done
 *   (delivered, or dropped); different keys go in parallel, at most PARALLEL_PER_RECEIVER at once;
 * - the cursor only moves past messages every receiver is done with, so a takeover resends at most
 *   what was in flight, with the same webhook-id (at least once, never silently skipped);
 * - the queue in memory holds at most `maxQueued` messages (what the engine retains of the topic):
 *   past it the oldest is dropped, logged and counted.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Engine } from '../engines/engine.js';
import type { HubLogger } from '../hub/hub.js';
import type { SystemBus, SystemMessage } from '../hub/system-bus.js';
import { attemptDelivery, retryWait } from './delivery.js';
import type { WebhookEndpoint } from './endpoints.js';
import type { WebhookMetrics } from './metrics.js';

export interface DispatcherSettings {
  endpoints: readonly WebhookEndpoint[];
  keys: readonly Buffer[];
  retryForMs: number;
  retryMs: number;
  timeoutMs: number;
  /** The queue's bound: --history-max-events, what the engine keeps of each instance's webhooks topic. */
  maxQueued: number;
  /** How long the lease lasts unless renewed (its holder renews it every third of it). */
  leaseMs?: number;
  /** How often an instance without the lease tries to take it. */
  pollMs?: number;
}

/** What a webhook message on the bus carries (Webhooks.emit sends it). */
export interface WebhookMessageData {
  key: string;
  data: unknown;
}

const LEASE_KEY = 'webhooks:dispatcher';
const CURSOR_KEY = 'webhooks:cursor';
/** The cursor outlives any retention a hub would set; every save renews it. */
const CURSOR_TTL_MS = 30 * 86_400_000;
const PARALLEL_PER_RECEIVER = 16;

interface Queued {
  id: string;
  key: string;
  type: string;
  /** When the event happened: retries stop --webhook-retry-for after it. */
  time: number;
  body: string;
  /** Receivers not yet done with it. */
  remaining: number;
  /** Aborted when the message is dropped from a full queue: no request for it starts after that. */
  abort: AbortController;
}

/** One key's messages for one receiver, sent one after the other. */
interface Lane {
  key: string;
  items: Queued[];
  /** Running, or waiting for a turn. */
  scheduled: boolean;
}

/** One holding of the lease: everything in it is dropped when the lease is lost or given back. */
class Term {
  readonly abort = new AbortController();
  /** Messages not yet done by every receiver, in id order; the front one is the oldest unfinished. */
  readonly pending: Queued[] = [];
  /** Per receiver: its lanes by key, how many run, and those waiting for a turn. */
  readonly lanes: Array<Map<string, Lane>>;
  readonly running: number[];
  readonly waiting: Array<Lane[]>;
  /** Live messages that came while the queue was read from history; undefined once it has been. */
  buffer: SystemMessage[] | undefined = [];
  lastId: string | undefined;
  cursor: string | undefined;
  saving: Promise<void> | undefined;
  saveAgain = false;
  renewedAt = Date.now();
  /** Set while the queue is full; cleared once it has room again (one log line per episode). */
  full = false;

  constructor(receivers: number) {
    this.lanes = Array.from({ length: receivers }, () => new Map());
    this.running = new Array<number>(receivers).fill(0);
    this.waiting = Array.from({ length: receivers }, () => []);
  }
}

export class WebhookDispatcher {
  /** What this instance writes in the lease: unique even for two dispatchers of one instance. */
  private readonly holder: string;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private term: Term | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private closed = false;

  constructor(
    private readonly settings: DispatcherSettings,
    private readonly bus: SystemBus,
    private readonly engine: Engine,
    private readonly metrics: WebhookMetrics,
    private readonly logger: HubLogger,
  ) {
    this.holder = `${bus.instance}.${randomBytes(4).toString('hex')}`;
    this.leaseMs = settings.leaseMs ?? 10_000;
    this.pollMs = settings.pollMs ?? 1000;
    bus.on('webhooks', (message) => {
      const term = this.term;
      if (term === undefined) return;
      if (term.buffer !== undefined) term.buffer.push(message);
      else this.enqueue(term, message);
    });
  }

  /** Whether this instance holds the lease now. */
  get dispatching(): boolean {
    return this.term !== undefined;
  }

  /** Messages queued here and not yet finished (0 when another instance dispatches). */
  get queueDepth(): number {
    return this.term?.pending.length ?? 0;
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), Math.min(this.pollMs, this.leaseMs / 3));
    this.timer.unref();
    void this.tick();
  }

  /** Stops dispatching: what is in flight is abandoned (the next dispatcher resends it), the cursor saved, the lease given back. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    const term = this.term;
    if (term === undefined) return;
    this.endTerm(term);
    await term.saving;
    try {
      if ((await this.engine.kv.get(LEASE_KEY)) === this.holder) await this.engine.kv.delete(LEASE_KEY);
    } catch (error) {
      this.logger.warn({ err: error }, 'could not give back the webhook dispatcher lease; another instance takes it when it lapses');
    }
  }

  /** Takes the lease when free, renews it when held, and steps down when it was lost. */
  private async tick(): Promise<void> {
    if (this.ticking || this.closed) return;
    this.ticking = true;
    const term = this.term;
    const now = Date.now();
    try {
      if (term === undefined) {
        if (await this.engine.kv.setOnce(LEASE_KEY, this.holder, this.leaseMs)) this.lead();
      } else if (now - term.renewedAt >= this.leaseMs / 3) {
        // No compare-and-set in the store: read, then renew. Two dispatchers could overlap only
        // when this one stalled past the lease, and then receivers get repeats, never gaps.
        if ((await this.engine.kv.get(LEASE_KEY)) !== this.holder) {
          this.logger.warn({ instance: this.bus.instance }, 'lost the webhook dispatcher lease to another instance; it dispatches from now on');
          this.endTerm(term);
        } else {
          await this.engine.kv.set(LEASE_KEY, this.holder, this.leaseMs);
          term.renewedAt = now;
        }
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'could not take or renew the webhook dispatcher lease');
      if (term !== undefined && this.term === term && Date.now() - term.renewedAt >= this.leaseMs) this.endTerm(term);
    } finally {
      this.ticking = false;
    }
  }

  private lead(): void {
    if (this.closed) return;
    const term = new Term(this.settings.endpoints.length);
    this.term = term;
    this.logger.info({ instance: this.bus.instance }, 'dispatching the cluster\'s webhooks from this instance');
    void this.catchUp(term).catch((error: unknown) => {
      this.logger.error({ err: error }, 'could not read the webhook queue; giving back the dispatcher lease');
      this.endTerm(term);
      void this.engine.kv.delete(LEASE_KEY).catch(() => {});
    });
  }

  /** Reads the queue after the cursor, then lets live messages in: those after history's position. */
  private async catchUp(term: Term): Promise<void> {
    const cursor = await this.engine.kv.get(CURSOR_KEY);
    const history = await this.bus.history('webhooks', cursor ?? '');
    if (this.term !== term) return;
    term.cursor = cursor ?? undefined;
    // Without a cursor nothing was ever delivered: all the engine holds is the queue.
    if (!history.complete && cursor !== null) {
      this.logger.warn({ cursor, reason: history.reason }, 'webhooks were lost: the engine no longer holds some queued after the last one delivered (raise --history-max-events or --history-max-age)');
      this.metrics.dropped('lost');
    }
    for (const message of history.messages) this.enqueue(term, message);
    const live = term.buffer ?? [];
    term.buffer = undefined;
    for (const message of live) if (this.engine.compareIds(message.id, history.position) > 0) this.enqueue(term, message);
  }

  private enqueue(term: Term, message: SystemMessage): void {
    if (term.lastId !== undefined && this.engine.compareIds(message.id, term.lastId) <= 0) return;
    term.lastId = message.id;
    const { key, data } = (message.data ?? {}) as Partial<WebhookMessageData>;
    const receivers = this.settings.endpoints.flatMap((endpoint, i) => (endpoint.types.has(message.type as never) ? [i] : []));
    const item: Queued = {
      id: message.id,
      key: typeof key === 'string' ? key : '',
      type: message.type,
      time: message.time,
      body: JSON.stringify({ type: message.type, timestamp: new Date(message.time).toISOString(), data }),
      remaining: receivers.length,
      abort: new AbortController(),
    };
    term.pending.push(item);
    for (const receiver of receivers) this.addToLane(term, receiver, item);
    if (term.pending.length > this.settings.maxQueued) this.dropOldest(term);
    else if (term.full && term.pending.length <= this.settings.maxQueued * 0.9) term.full = false;
    this.advance(term);
  }

  private dropOldest(term: Term): void {
    const oldest = term.pending[0]!;
    if (!term.full) {
      term.full = true;
      this.logger.warn({ maxQueued: this.settings.maxQueued, dropped: oldest.id }, 'the webhook queue is full (--history-max-events): dropping the oldest webhooks until receivers catch up');
    }
    oldest.remaining = 0;
    oldest.abort.abort();
    this.metrics.dropped('queue_full');
  }

  private addToLane(term: Term, receiver: number, item: Queued): void {
    const lanes = term.lanes[receiver]!;
    let lane = lanes.get(item.key);
    if (lane === undefined) {
      lane = { key: item.key, items: [], scheduled: false };
      lanes.set(item.key, lane);
    }
    lane.items.push(item);
    this.schedule(term, receiver, lane);
  }

  /** Runs a lane with work now, or once one of the receiver's PARALLEL_PER_RECEIVER turns is free. */
  private schedule(term: Term, receiver: number, lane: Lane): void {
    if (lane.scheduled || lane.items.length === 0 || term.abort.signal.aborted) return;
    lane.scheduled = true;
    if (term.running[receiver]! < PARALLEL_PER_RECEIVER) this.runLane(term, receiver, lane);
    else term.waiting[receiver]!.push(lane);
  }

  private runLane(term: Term, receiver: number, lane: Lane): void {
    term.running[receiver]! += 1;
    void (async () => {
      while (lane.items.length > 0 && !term.abort.signal.aborted) {
        const item = lane.items[0]!;
        if (!item.abort.signal.aborted) {
          await this.deliver(term, this.settings.endpoints[receiver]!, item);
          if (term.abort.signal.aborted) break;
          if (!item.abort.signal.aborted) item.remaining -= 1;
        }
        lane.items.shift();
        this.advance(term);
      }
    })()
      .catch((error: unknown) => this.logger.error({ err: error }, 'a webhook lane failed'))
      .finally(() => {
        term.running[receiver]! -= 1;
        lane.scheduled = false;
        if (lane.items.length === 0) term.lanes[receiver]!.delete(lane.key);
        else this.schedule(term, receiver, lane); // items that came after the loop ended
        const next = term.waiting[receiver]!.shift();
        if (next !== undefined) {
          if (term.abort.signal.aborted) return;
          if (term.running[receiver]! < PARALLEL_PER_RECEIVER) this.runLane(term, receiver, next);
          else term.waiting[receiver]!.unshift(next);
        }
      });
  }

  /**
   * Sends one message to one receiver until it is delivered, refused, out of time, or dropped. A
   * message dropped from a full queue while a request for it is out lets that request finish (the
   * receiver has it already: cutting it would only make room for another request at once, and a
   * slow receiver would get ever more of them) and is not retried.
   */
  private async deliver(term: Term, endpoint: WebhookEndpoint, item: Queued): Promise<void> {
    const signal = AbortSignal.any([term.abort.signal, item.abort.signal]);
    const request = { url: endpoint.url, id: `msg_${item.id}`, body: item.body };
    for (let retry = 1; ; retry++) {
      if (signal.aborted) return;
      const outcome = await attemptDelivery(request, this.settings.keys, this.settings.timeoutMs, term.abort.signal);
      if (signal.aborted) return;
      if (outcome.result === 'delivered') {
        this.metrics.delivered(Date.now() - item.time);
        return;
      }
      if (outcome.result === 'rejected') {
        this.logger.warn({ url: endpoint.url, id: request.id, type: item.type, status: outcome.status }, 'a webhook receiver refused a webhook; dropped without retrying');
        this.metrics.dropped('rejected');
        return;
      }
      this.metrics.attemptFailed();
      const left = item.time + this.settings.retryForMs - Date.now();
      if (left <= 0) {
        this.logger.warn({ url: endpoint.url, id: request.id, type: item.type, detail: outcome.detail }, 'a webhook could not be delivered within --webhook-retry-for; dropped');
        this.metrics.dropped('expired');
        return;
      }
      this.logger.info({ url: endpoint.url, id: request.id, detail: outcome.detail, retry }, 'a webhook request failed; retrying');
      const wait = Math.min(left, Math.max(outcome.retryAfterMs ?? 0, retryWait(retry, this.settings.retryMs)));
      try {
        await sleep(wait, undefined, { signal });
      } catch {
        return; // aborted: dropped, or no longer dispatching
      }
    }
  }

  /** Moves the cursor past the messages every receiver is done with, and saves it. */
  private advance(term: Term): void {
    let moved = false;
    while (term.pending.length > 0 && term.pending[0]!.remaining <= 0) {
      term.cursor = term.pending.shift()!.id;
      moved = true;
    }
    if (moved) this.saveCursor(term);
  }

  /** One save at a time, the newest cursor last. */
  private saveCursor(term: Term): void {
    if (term.saving !== undefined) {
      term.saveAgain = true;
      return;
    }
    term.saving = (async () => {
      do {
        term.saveAgain = false;
        await this.engine.kv.set(CURSOR_KEY, term.cursor!, CURSOR_TTL_MS);
      } while (term.saveAgain);
    })()
      .catch((error: unknown) => this.logger.warn({ err: error }, 'could not save the webhook cursor; a takeover may resend some webhooks'))
      .finally(() => {
        term.saving = undefined;
      });
  }

  private endTerm(term: Term): void {
    if (this.term === term) this.term = undefined;
    term.abort.abort();
  }
}
