/**
 * The primary process's side of the IPC engine: it holds the one MemoryEngine of `ssehub serve
 * --workers N` and answers the IpcEngines of the worker processes over their IPC channels
 * (protocol in ipc-protocol.ts). Every event the engine delivers is sent to every worker that has
 * said hello.
 *
 * The invariant the resume seam rests on: a reply is sent only after every event the engine had
 * delivered by then has been sent to every worker. Each channel is FIFO, so when a worker reads a
 * position in a reply (of append, history, position or hello), every event up to that position is
 * already in its hands, and every later event will follow. Which is what Engine.position() and
 * history() promise: were an event at or below a position to arrive after the reply, a stream that
 * had just gone live at that position would get it a second time (it was in the history).
 */
import { HubError } from '../errors.js';
import { parseSubscribeSelector, type TopicLimits } from '../topics/index.js';
import type { EngineStats, PublishCharge, StoredEvent } from './engine.js';
import {
  ENGINE_MESSAGE,
  isEngineMessage,
  KEY_VALUE_METHODS,
  toRemoteError,
  type EngineCall,
  type EngineReply,
  type EngineRequest,
  type HelloReply,
  type IpcPort,
} from './ipc-protocol.js';
import type { MemoryEngine } from './memory.js';
import { silentEngineLogger, type EngineLogger } from './settings.js';
import { EngineUnavailableError } from './unavailable.js';

/** How often fresh figures go to the workers (when they changed), for stats() between replies. */
const STATS_INTERVAL_MS = 1000;

export interface IpcEngineHostOptions {
  /** The topic limits the hub enforces: selectors are parsed again here with the same rules. */
  topicLimits: TopicLimits;
  logger?: EngineLogger;
  /**
   * Charges an append's AppendOptions.charge to the publisher's rates, throwing the HubError of an
   * exceeded rate: then nothing is stored. The primary of --workers keeps the rates of every worker,
   * so a publish costs one round trip for both. Absent: appends are not charged here.
   */
  checkCharge?: (charge: PublishCharge) => void;
}

export class IpcEngineHost {
  /** Ports whose worker said hello: every delivered event goes to each of them. */
  private readonly receivers = new Set<IpcPort>();
  /** Events delivered by the engine and not yet sent (sent together at the end of the turn, or before any reply). */
  private undelivered: StoredEvent[] = [];
  private flushScheduled = false;
  private readonly detachers = new Map<IpcPort, () => void>();
  private lastStats: EngineStats | undefined;
  private readonly statsTimer: NodeJS.Timeout;
  private readonly logger: EngineLogger;
  private closed = false;

  constructor(
    private readonly engine: MemoryEngine,
    private readonly options: IpcEngineHostOptions,
  ) {
    this.logger = options.logger ?? silentEngineLogger;
    engine.onDeliver((event) => {
      this.undelivered.push(event);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        queueMicrotask(() => this.flushDeliveries());
      }
    });
    this.statsTimer = setInterval(() => this.broadcastStats(), STATS_INTERVAL_MS);
    this.statsTimer.unref();
  }

  /** Serves the requests arriving on a worker's channel; returns a function that stops (call it when the worker exits). */
  attach(port: IpcPort): () => void {
    const stopListening = port.listen((message) => {
      if (isEngineMessage(message) && message.type === 'request') void this.serve(port, message);
    });
    const stopWatching = port.onClose(() => detach());
    const detach = (): void => {
      stopListening();
      stopWatching();
      this.receivers.delete(port);
      this.detachers.delete(port);
    };
    this.detachers.set(port, detach);
    return detach;
  }

  /** Stops serving every worker (the engine itself is closed by its owner). */
  close(): void {
    this.closed = true;
    clearInterval(this.statsTimer);
    for (const detach of [...this.detachers.values()]) detach();
  }

  private async serve(port: IpcPort, request: EngineRequest): Promise<void> {
    let reply: EngineReply;
    try {
      const value = await this.call(port, request.call);
      reply = { ssehub: ENGINE_MESSAGE, type: 'reply', client: request.client, id: request.id, ok: true, value, stats: this.engine.stats() };
    } catch (error) {
      if (!(error instanceof HubError)) this.logger.error({ err: error, op: request.call?.op }, 'the engine failed a worker\'s request');
      reply = { ssehub: ENGINE_MESSAGE, type: 'reply', client: request.client, id: request.id, ok: false, error: toRemoteError(error), stats: this.engine.stats() };
    }
    // The seam: every event delivered so far leaves before this reply, on every channel.
    this.flushDeliveries();
    port.post(reply); // a worker that is gone needs no answer
  }

  private async call(port: IpcPort, call: EngineCall): Promise<unknown> {
    if (this.closed) throw new EngineUnavailableError('memory', 'the primary process is shutting down');
    switch (call?.op) {
      case 'hello': {
        // Events already delivered go out first (to the others); from now on this worker gets every
        // delivered event, and everything before is at or below the position it is answered.
        this.flushDeliveries();
        this.receivers.add(port);
        const hello: HelloReply = {
          epoch: this.engine.epoch,
          position: await this.engine.position(),
          checksPublishCharges: this.options.checkCharge !== undefined,
        };
        return hello;
      }
      case 'append': {
        const { charge, ...options } = call.options ?? {};
        // Charged before anything is stored: a refused append stores nothing.
        if (charge !== undefined) this.options.checkCharge?.(charge);
        return this.engine.append(call.events, options);
      }
      case 'history': {
        // Parsed with the same rules as the worker's (it already checked them): the same Selector comes out.
        const selectors = call.selectors.map((source) => parseSubscribeSelector(source, { limits: this.options.topicLimits }));
        return this.engine.history(selectors, call.afterId);
      }
      case 'position':
        return this.engine.position();
      case 'health':
        return this.engine.health();
      case 'kv': {
        if (!KEY_VALUE_METHODS.has(call.method)) throw new Error(`unknown key-value method ${JSON.stringify(call.method)}`);
        const method = this.engine.kv[call.method] as (...args: Array<string | number>) => Promise<unknown>;
        return method.apply(this.engine.kv, call.args);
      }
      default:
        throw new Error(`unknown engine request ${JSON.stringify((call as { op?: unknown } | undefined)?.op)}`);
    }
  }

  private flushDeliveries(): void {
    this.flushScheduled = false;
    if (this.undelivered.length === 0) return;
    const message = { ssehub: ENGINE_MESSAGE, type: 'deliver', events: this.undelivered };
    this.undelivered = [];
    for (const port of this.receivers) port.post(message);
  }

  private broadcastStats(): void {
    const stats = this.engine.stats();
    const last = this.lastStats;
    if (last !== undefined && stats.topics === last.topics && stats.retainedEvents === last.retainedEvents && stats.retainedBytes === last.retainedBytes) return;
    this.lastStats = stats;
    for (const port of this.receivers) port.post({ ssehub: ENGINE_MESSAGE, type: 'stats', stats });
  }
}
