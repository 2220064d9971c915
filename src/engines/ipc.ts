/**
 * The engine of a worker process under `ssehub serve --workers N` with the memory engine: the one
 * MemoryEngine lives in the primary process (ipc-host.ts), and this engine reaches it over the
 * cluster's IPC channel (protocol in ipc-protocol.ts). Every worker is then one more hub instance
 * on a shared engine, as with Redis, NATS or PostgreSQL: same ids, same history, same key-value
 * store, every event delivered to every worker.
 *
 * Requests carry an id and are answered by a reply with the same id. A request never waits
 * forever: it fails with 503 engine_unavailable after its timeout, or as soon as the channel
 * closes (the primary is gone). Errors come back as the HubError the engine threw.
 *
 * The resume seam holds because the primary sends every delivered event to this worker before it
 * sends any later reply, and the channel is FIFO: by the time a position arrives here, every event
 * up to it has been delivered to this engine's listeners (see ipc-host.ts).
 */
import { HubError } from '../errors.js';
import type { Selector } from '../topics/index.js';
import type {
  AppendOptions,
  DeliverListener,
  DeliveryGapListener,
  Engine,
  EngineHealth,
  EngineStats,
  HistoryResult,
  KeyValueStore,
  NewEvent,
  StoredEvent,
} from './engine.js';
import { DEFAULT_HEALTH_TIMEOUT_MS } from './health.js';
import {
  ENGINE_MESSAGE,
  isEngineMessage,
  parentPort,
  type EngineCall,
  type EngineMessage,
  type HelloReply,
  type IpcPort,
  type KeyValueMethod,
} from './ipc-protocol.js';
import { IpcRequests } from './ipc-requests.js';
import { compareMemoryIds, memoryIdSequence } from './memory-ids.js';
import { EngineUnavailableError } from './unavailable.js';

/** How long a request waits for the primary unless told otherwise. */
export const DEFAULT_IPC_TIMEOUT_MS = 10_000;

export interface IpcEngineOptions {
  /** The channel to the process holding the engine; the parent process by default. */
  port?: IpcPort;
  /** How long a request may wait for its reply before it fails with 503 engine_unavailable. */
  requestTimeoutMs?: number;
}

/** 503 engine_unavailable, as every engine reports a server it cannot reach. */
function unavailable(detail: string): HubError {
  return new EngineUnavailableError('memory', detail);
}

export class IpcEngine implements Engine {
  readonly name = 'memory';
  readonly kv: KeyValueStore;
  /** Whether the primary checks the publish rates with each append, as its hello said (it keeps them for every worker). */
  private primaryChecksCharges = false;
  private readonly requests: IpcRequests;
  private readonly listeners: DeliverListener[] = [];
  private epoch = '';
  /** The newest sequence known here (delivered or answered): ids past it are unknown, as in the MemoryEngine. */
  private newest = 0;
  private cachedStats: EngineStats = { topics: 0, retainedEvents: 0 };
  private readonly port: IpcPort;
  private readonly stopListening: () => void;
  private readonly stopWatching: () => void;

  /** Connects to the engine in the other process and learns its epoch and position. */
  static async open(options: IpcEngineOptions = {}): Promise<IpcEngine> {
    const engine = new IpcEngine(options);
    try {
      const hello = (await engine.request({ op: 'hello' })) as HelloReply;
      engine.epoch = hello.epoch;
      engine.primaryChecksCharges = hello.checksPublishCharges === true;
      engine.observe(hello.position);
      return engine;
    } catch (error) {
      await engine.close();
      throw error;
    }
  }

  private constructor(options: IpcEngineOptions) {
    this.port = options.port ?? parentPort();
    this.requests = new IpcRequests(this.port, { tag: ENGINE_MESSAGE, timeoutMs: options.requestTimeoutMs ?? DEFAULT_IPC_TIMEOUT_MS, unavailable });
    this.stopListening = this.port.listen((message) => {
      if (isEngineMessage(message)) this.receive(message);
    });
    this.stopWatching = this.port.onClose(() => this.requests.fail('the primary process is gone'));
    const kv = (method: KeyValueMethod) => (...args: Array<string | number>) => this.request({ op: 'kv', method, args });
    this.kv = {
      setOnce: kv('setOnce') as KeyValueStore['setOnce'],
      take: kv('take') as KeyValueStore['take'],
      get: kv('get') as KeyValueStore['get'],
      set: kv('set') as KeyValueStore['set'],
      delete: kv('delete') as KeyValueStore['delete'],
      increment: kv('increment') as KeyValueStore['increment'],
    };
  }

  async append(events: readonly NewEvent[], options: AppendOptions = {}): Promise<StoredEvent[]> {
    const stored = (await this.request({ op: 'append', events: [...events], options })) as StoredEvent[];
    for (const event of stored) this.observe(event.id);
    return stored;
  }

  async history(selectors: readonly Selector[], afterId: string): Promise<HistoryResult> {
    // Selectors cross as their source; the primary parses them again with the same rules.
    const result = (await this.request({ op: 'history', selectors: selectors.map((selector) => selector.source), afterId })) as HistoryResult;
    this.observe(result.position);
    return result;
  }

  async position(): Promise<string> {
    const position = (await this.request({ op: 'position' })) as string;
    this.observe(position);
    return position;
  }

  get checksPublishCharges(): boolean {
    return this.primaryChecksCharges;
  }

  compareIds(a: string, b: string): number {
    return compareMemoryIds(a, b, this.epoch, this.newest);
  }

  onDeliver(listener: DeliverListener): void {
    this.listeners.push(listener);
  }

  /**
   * Never called: the primary's memory engine delivers every event it stores, and the IPC channel
   * hands each one to this worker in order (a worker whose channel closes exits).
   */
  onDeliveryGap(_listener: DeliveryGapListener): void {}

  /** The primary's figures as of the last reply or broadcast (at most a second old). */
  stats(): EngineStats {
    return this.cachedStats;
  }

  /** A round trip to the primary; never rejects, never waits past timeoutMs. */
  async health(timeoutMs = DEFAULT_HEALTH_TIMEOUT_MS): Promise<EngineHealth> {
    const started = performance.now();
    try {
      const health = (await this.request({ op: 'health', timeoutMs }, timeoutMs)) as EngineHealth;
      return health.ok ? { ok: true, latencyMs: Math.round((performance.now() - started) * 10) / 10 } : health;
    } catch (error) {
      return { ok: false, detail: error instanceof Error ? error.message : String(error) };
    }
  }

  async close(): Promise<void> {
    this.requests.fail('the engine is closed');
    this.stopListening();
    this.stopWatching();
    this.listeners.length = 0;
  }

  private request(call: EngineCall, timeoutMs?: number): Promise<unknown> {
    return this.requests.request(call, timeoutMs);
  }

  private receive(message: EngineMessage): void {
    switch (message.type) {
      case 'deliver':
        for (const event of message.events) {
          this.observe(event.id);
          for (const listener of this.listeners) listener(event);
        }
        return;
      case 'stats':
        this.cachedStats = message.stats;
        return;
      case 'reply':
        // Another engine's reply, on a shared channel, is passed by.
        if (this.requests.receiveReply(message)) this.cachedStats = message.stats;
        return;
      default:
        return; // requests are for the primary
    }
  }

  /** Moves `newest` up to an id the primary handed out (so compareIds knows it, as the MemoryEngine does). */
  private observe(id: string): void {
    const sequence = memoryIdSequence(id, this.epoch, Number.MAX_SAFE_INTEGER);
    if (sequence !== undefined && sequence > this.newest) this.newest = sequence;
  }
}
