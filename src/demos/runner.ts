/**
 * Runs the demos' background work (simulated jobs, a log-producing child process, a simulated
 * chat model) and keeps it bounded: at most `maxRunning` tasks at once, of which at most
 * `maxProcesses` child processes; past that, 429 `demo_busy`. close() stops everything: timers
 * are cancelled through each task's AbortSignal and children are killed, and it waits for them.
 *
 * Demos publish with Hub.publish like any publisher (the caller has authorized the topics), so
 * their events are ordinary events: history, resume and every engine apply.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { HubError } from '../errors.js';
import type { EventToPublish } from '../hub/hub.js';

export type DemoPublisher = (events: EventToPublish[]) => Promise<unknown>;

/** Where a task hears that a reader cancelled its topic (hub/cancels.ts); returns what stops listening. */
export type DemoCancels = (topic: string, listener: () => void) => () => void;

export interface DemoLogger {
  warn(object: object, message?: string): void;
}

/** What a task is given: where it publishes, how it waits, and the signal that stops it. */
export interface DemoContext {
  readonly topic: string;
  readonly signal: AbortSignal;
  /** Publishes one event to the task's topic; `data` that is not a string is sent as JSON. `end`: the topic's last event. */
  publish(event: string, data: unknown, options?: { end?: boolean }): Promise<void>;
  /** Whether a reader cancelled the task's topic (POST /topics/{topic}/cancel): the task's cue to wind up. */
  cancelled(): boolean;
  /** Waits, or rejects with an AbortError when the task is stopped. */
  sleep(ms: number): Promise<void>;
}

export type DemoTask = (context: DemoContext) => Promise<void>;

export interface DemoLimits {
  /** Most tasks running at once, every kind together. */
  maxRunning: number;
  /** Most of those that run a child process. */
  maxProcesses: number;
}

export const DEFAULT_DEMO_LIMITS: DemoLimits = Object.freeze({ maxRunning: 20, maxProcesses: 5 });

export class DemoRunner {
  private readonly running = new Set<{ controller: AbortController; done: Promise<void>; process: boolean }>();
  private closed = false;

  constructor(
    private readonly publisher: DemoPublisher,
    private readonly logger: DemoLogger,
    readonly limits: DemoLimits = DEFAULT_DEMO_LIMITS,
    private readonly onCancel?: DemoCancels,
  ) {}

  get runningCount(): number {
    return this.running.size;
  }

  /**
   * Starts the tasks, all or none: when they would not fit within the limits, nothing starts and
   * 429 demo_busy is thrown. `process` marks tasks that run a child process.
   */
  start(tasks: ReadonlyArray<{ topic: string; run: DemoTask }>, options: { process?: boolean } = {}): void {
    if (this.closed) throw new HubError(503, 'shutting_down', 'The hub is shutting down.');
    const processes = options.process ? tasks.length : 0;
    let runningProcesses = 0;
    for (const task of this.running) if (task.process) runningProcesses += 1;
    if (this.running.size + tasks.length > this.limits.maxRunning || runningProcesses + processes > this.limits.maxProcesses) {
      throw new HubError(429, 'demo_busy', 'Too many demos are running on this hub right now; try again in a few seconds.', { 'Retry-After': '5' });
    }
    for (const { topic, run } of tasks) {
      const controller = new AbortController();
      let cancelled = false;
      const stopListening = this.onCancel?.(topic, () => (cancelled = true));
      const context = this.contextFor(topic, controller.signal, () => cancelled);
      const entry = { controller, process: options.process ?? false, done: Promise.resolve() };
      entry.done = run(context)
        .catch((error: unknown) => {
          if (controller.signal.aborted) return; // stopped on purpose
          this.logger.warn({ err: error, topic }, 'demo stopped early');
        })
        .finally(() => {
          stopListening?.();
          this.running.delete(entry);
        });
      this.running.add(entry);
    }
  }

  /** Stops every task (timers cancelled, children killed) and waits until they are gone. */
  async close(): Promise<void> {
    this.closed = true;
    const entries = [...this.running];
    for (const entry of entries) entry.controller.abort();
    await Promise.all(entries.map((entry) => entry.done));
  }

  private contextFor(topic: string, signal: AbortSignal, cancelled: () => boolean): DemoContext {
    return {
      topic,
      signal,
      cancelled,
      publish: async (event, data, options = {}) => {
        signal.throwIfAborted();
        const published: EventToPublish = { topic, event, data: typeof data === 'string' ? data : JSON.stringify(data) };
        if (options.end === true) published.end = true;
        await this.publisher([published]);
      },
      sleep: (ms) => sleep(ms, undefined, { signal }),
    };
  }
}
