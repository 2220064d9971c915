/**
 * What the distributed engines share about this instance's side of delivery: handing each event to
 * the listeners (one failing listener never stops the others), letting history() wait until an id
 * another instance handed out has been delivered here, and the background tasks they run.
 */
import type { DeliverListener, DeliveryGapListener, StoredEvent } from './engine.js';
import type { EngineLogger } from './settings.js';
import { EngineUnavailableError } from './unavailable.js';

/** How long history() waits for this instance to receive an id another instance handed out. */
export const CATCH_UP_TIMEOUT_MS = 5000;

interface Waiter<P> {
  target: P;
  resolve(): void;
  reject(error: Error): void;
}

/** `P` is the engine's position type (a sequence number, a Redis stream id). */
export class LocalDelivery<P> {
  private readonly listeners: DeliverListener[] = [];
  private readonly gapListeners: DeliveryGapListener[] = [];
  private readonly waiters: Array<Waiter<P>> = [];
  /**
   * At or below every waiter's target (undefined: none waits), so that a delivery below it scans no
   * waiter: a reconnect storm can leave thousands waiting while many events are delivered.
   */
  private lowestTarget: P | undefined;

  constructor(
    private readonly engine: string,
    private readonly logger: EngineLogger,
    private readonly compare: (a: P, b: P) => number,
    private readonly timeoutMs = CATCH_UP_TIMEOUT_MS,
  ) {}

  onDeliver(listener: DeliverListener): void {
    this.listeners.push(listener);
  }

  onDeliveryGap(listener: DeliveryGapListener): void {
    this.gapListeners.push(listener);
  }

  /** Events before the next delivery were lost to this instance: logged, and every gap listener told. */
  gap(lost: Record<string, unknown>, detail: string): void {
    this.logger.error(lost, `${this.engine} engine: ${detail}`);
    for (const listener of this.gapListeners) {
      try {
        listener(detail);
      } catch (error) {
        this.logger.error({ err: error }, `${this.engine} engine: a delivery gap listener failed`);
      }
    }
  }

  /** Hands the event, which sits at `at`, to every listener, then wakes whoever waits for `at`. */
  deliver(at: P, event: StoredEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.logger.error({ err: error }, `${this.engine} engine: a delivery listener failed`);
      }
    }
    this.passed(at);
  }

  /** Wakes whoever waits for a position up to `at`: delivered, or skipped when delivery started over past it. */
  passed(at: P): void {
    if (this.lowestTarget === undefined || this.compare(this.lowestTarget, at) > 0) return;
    let lowest: P | undefined;
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const { target } = this.waiters[i]!;
      if (this.compare(target, at) <= 0) this.waiters.splice(i, 1)[0]!.resolve();
      else if (lowest === undefined || this.compare(target, lowest) < 0) lowest = target;
    }
    this.lowestTarget = lowest;
  }

  /**
   * Resolves once `target` has been delivered here (at once if `delivered` already covers it);
   * rejects with 503 after the timeout (CATCH_UP_TIMEOUT_MS), saying `behind` as the reason.
   */
  until(target: P, delivered: P, behind: string): Promise<void> {
    if (this.compare(target, delivered) <= 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new EngineUnavailableError(this.engine, new Error(behind)));
      }, this.timeoutMs);
      const waiter: Waiter<P> = {
        target,
        resolve: () => (clearTimeout(timer), resolve()),
        reject: (error) => (clearTimeout(timer), reject(error)),
      };
      this.waiters.push(waiter);
      // (A waiter that times out leaves this as it is: lower than needed costs one scan, no more.)
      if (this.lowestTarget === undefined || this.compare(target, this.lowestTarget) < 0) this.lowestTarget = target;
    });
  }

  /** Drops the listeners and fails whoever still waits. */
  close(): void {
    this.listeners.length = 0;
    this.gapListeners.length = 0;
    this.lowestTarget = undefined;
    for (const waiter of this.waiters.splice(0)) waiter.reject(new EngineUnavailableError(this.engine, new Error('the engine is closed')));
  }
}

/** Periodic background work: never two runs of one task at once, failures logged, timers unref'd. */
export class BackgroundTasks {
  private readonly timers: NodeJS.Timeout[] = [];
  private stopped = false;

  constructor(
    private readonly engine: string,
    private readonly logger: EngineLogger,
  ) {}

  every(ms: number, task: () => Promise<void>): void {
    let running = false;
    const timer = setInterval(() => {
      if (running || this.stopped) return;
      running = true;
      task()
        .catch((error: unknown) => this.logger.warn({ err: error }, `${this.engine} engine: background task failed`))
        .finally(() => (running = false));
    }, ms);
    timer.unref();
    this.timers.push(timer);
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
  }
}
