/**
 * The primary process of `ssehub serve --workers N`: it forks N workers (cluster/worker.ts), which
 * all listen on the same port (node:cluster hands out connections round-robin), and serves no HTTP
 * itself.
 *
 * - With the memory engine it holds the one MemoryEngine (and its key-value store) and serves it to
 *   every worker over IPC (engines/ipc-host.ts), so that the workers are instances of one hub:
 *   same ids, history, idempotency keys and tickets, every event delivered on every worker. With a
 *   shared engine each worker connects to it on its own.
 * - With any engine it keeps the per-client limits of the whole hub (limits-host.ts): open streams
 *   per client IP and per subject, publish rates per publisher. Every worker asks it, so N workers
 *   allow what one hub allows; the slots of a worker that dies are released with it.
 * - A worker that dies unexpectedly is forked again after a backoff (100 ms, doubling to 5 s for
 *   a worker that keeps dying young), and the death is logged. The events it would have delivered
 *   are in the engine: its clients reconnect, to another worker, and resume with Last-Event-ID.
 * - SIGTERM or SIGINT: every worker is told to close gracefully (the same close as a single hub:
 *   streams ended, connections drained, --shutdown-timeout), the primary waits for them all, then
 *   exits 0 (1 if one of them failed to). A second signal exits at once.
 * - A worker that cannot start (port in use, unreadable TLS file) before the hub ever listened
 *   stops the whole start with that worker's error.
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import type { HubConfig } from '../config.js';
import { IpcEngineHost } from '../engines/ipc-host.js';
import { childPort, fromRemoteError } from '../engines/ipc-protocol.js';
import { MemoryEngine } from '../engines/memory.js';
import { LocalLimits } from '../auth/limits.js';
import { createLogger, limitSettingsOf } from '../start.js';
import { DEFAULT_TOPIC_LIMITS } from '../topics/index.js';
import { LimitsHost } from './limits-host.js';
import { CONTROL_MESSAGE, isControlMessage } from './messages.js';

/** The first restart waits this long; each quick death in a row doubles it, up to the maximum. */
const RESTART_DELAY_MS = 100;
const MAX_RESTART_DELAY_MS = 5000;
/** A worker that lived this long died "old": the next restart waits the first delay again. */
const HEALTHY_AFTER_MS = 10_000;
/** How long past --shutdown-timeout a worker may take to exit before it is killed. */
const SHUTDOWN_GRACE_MS = 5000;

/** How many workers `--workers` asks for: 0 means one per CPU core. */
export function workerCount(config: Pick<HubConfig, 'workers'>): number {
  return config.workers === 0 ? availableParallelism() : config.workers;
}

/** One worker position: the process in it changes when a worker is restarted. */
interface Slot {
  number: number;
  worker: Worker | undefined;
  startedAt: number;
  /** Deaths in a row of workers that did not live HEALTHY_AFTER_MS. */
  quickDeaths: number;
  restartTimer: NodeJS.Timeout | undefined;
  listening: boolean;
  /** Why the current worker could not start, if it said so. */
  failure: Error | undefined;
}

export interface PrimaryOptions {
  /** Called once, when every worker listens: the hub's URL, what its port speaks, and the operator listener's URL. */
  announce(url: string, protocols: string, metricsUrl: string | undefined): void;
  logger?: Logger;
}

/**
 * Runs the workers. Resolves once every worker listens (the process then runs until a signal, and
 * exits by itself); rejects if a worker could not start, after every worker has exited.
 */
export function runPrimary(config: HubConfig, count: number, options: PrimaryOptions): Promise<void> {
  return new Primary(config, count, options).start();
}

class Primary {
  private readonly slots: Slot[];
  private readonly logger: Logger;
  private readonly engine: MemoryEngine | undefined;
  private readonly host: IpcEngineHost | undefined;
  private readonly limits: LimitsHost;
  private ready = false;
  private stopping = false;
  private startupError: Error | undefined;
  private exitCode = 0;
  private killTimer: NodeJS.Timeout | undefined;
  private started!: { resolve(): void; reject(error: Error): void };

  constructor(
    private readonly config: HubConfig,
    count: number,
    private readonly options: PrimaryOptions,
  ) {
    this.logger = options.logger ?? createLogger(config.logLevel);
    this.slots = Array.from({ length: count }, (_, i) => ({
      number: i + 1,
      worker: undefined,
      startedAt: 0,
      quickDeaths: 0,
      restartTimer: undefined,
      listening: false,
      failure: undefined,
    }));
    this.limits = new LimitsHost(new LocalLimits(limitSettingsOf(config)));
    if (config.engine === 'memory') {
      this.engine = new MemoryEngine(config);
      const topicLimits = { ...DEFAULT_TOPIC_LIMITS, maxLength: config.maxTopicLength };
      // A publish's rate charge rides with its append: checked here, before storing, in one round trip.
      this.host = new IpcEngineHost(this.engine, { topicLimits, logger: this.logger, checkCharge: this.limits.checkCharge });
    }
  }

  start(): Promise<void> {
    const started = new Promise<void>((resolve, reject) => (this.started = { resolve, reject }));
    process.on('SIGTERM', () => this.onSignal('SIGTERM'));
    process.on('SIGINT', () => this.onSignal('SIGINT'));
    for (const slot of this.slots) this.fork(slot);
    return started;
  }

  private fork(slot: Slot): void {
    const worker = cluster.fork();
    slot.worker = worker;
    slot.startedAt = Date.now();
    slot.listening = false;
    slot.failure = undefined;
    const port = childPort(worker);
    const detachEngine = this.host?.attach(port);
    const detachLimits = this.limits.attach(port);
    worker.on('message', (message: unknown) => {
      if (!isControlMessage(message)) return;
      if (message.type === 'listening') this.onListening(slot, message.url, message.protocols, message.metricsUrl);
      else if (message.type === 'failed') slot.failure = fromRemoteError(message.error);
    });
    worker.on('error', (error: Error) => this.logger.warn({ err: error, worker: slot.number }, 'worker channel error'));
    worker.once('exit', (code: number | null, signal: string | null) => {
      detachEngine?.();
      detachLimits(); // the dead worker's streams no longer count
      this.onExit(slot, worker, code, signal);
    });
  }

  private onListening(slot: Slot, url: string, protocols: string, metricsUrl: string | undefined): void {
    slot.listening = true;
    if (this.ready) {
      this.logger.info({ worker: slot.number, pid: slot.worker?.process.pid }, 'worker restarted and listening');
      return;
    }
    if (this.stopping || !this.slots.every((each) => each.listening)) return;
    this.ready = true;
    this.options.announce(url, protocols, metricsUrl);
    this.started.resolve();
  }

  private onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker === worker) slot.worker = undefined;
    const how = signal === null ? `code ${code}` : `signal ${signal}`;
    if (this.stopping) {
      if (code !== 0) this.exitCode = 1;
      if (code !== 0 && this.startupError === undefined) this.logger.warn({ worker: slot.number, pid: worker.process.pid }, `worker exited with ${how} while closing`);
      this.finishIfDone();
      return;
    }
    if (!this.ready) {
      // Nothing serves yet: a worker that cannot start is a failed start, not something to retry.
      const error = slot.failure ?? new Error(`worker ${slot.number} exited with ${how} before it listened`);
      this.abortStart(error);
      return;
    }
    const lived = Date.now() - slot.startedAt;
    if (lived >= HEALTHY_AFTER_MS) slot.quickDeaths = 0;
    const delay = Math.min(RESTART_DELAY_MS * 2 ** slot.quickDeaths, MAX_RESTART_DELAY_MS);
    slot.quickDeaths += 1;
    this.logger.warn(
      { worker: slot.number, pid: worker.process.pid, code, signal, restartInMs: delay, reason: slot.failure?.message },
      `worker ${slot.number} (pid ${worker.process.pid}) exited with ${how}; restarting it in ${delay} ms`,
    );
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (!this.stopping) this.fork(slot);
    }, delay);
  }

  private abortStart(error: Error): void {
    this.startupError = error;
    this.stopAll('start failed');
  }

  private onSignal(signal: string): void {
    if (this.stopping && this.startupError === undefined) {
      process.stderr.write(`ssehub: ${signal} again, exiting now\n`);
      for (const slot of this.slots) slot.worker?.process.kill('SIGKILL');
      process.exit(1);
    }
    process.stdout.write(`ssehub: ${signal} received, closing streams\n`);
    this.stopAll(signal);
  }

  /** Tells every worker to close gracefully; finishes once they have all exited. */
  private stopAll(reason: string): void {
    if (this.stopping) return;
    this.stopping = true;
    for (const slot of this.slots) {
      if (slot.restartTimer !== undefined) clearTimeout(slot.restartTimer);
      slot.restartTimer = undefined;
      const worker = slot.worker;
      if (worker === undefined) continue;
      if (worker.isConnected()) worker.send({ ssehub: CONTROL_MESSAGE, type: 'shutdown', signal: reason }, () => {});
      else worker.process.kill('SIGTERM');
    }
    this.killTimer = setTimeout(() => {
      this.logger.warn('workers still running past the shutdown timeout: killing them');
      for (const slot of this.slots) slot.worker?.process.kill('SIGKILL');
    }, this.config.shutdownTimeoutMs + SHUTDOWN_GRACE_MS);
    this.killTimer.unref();
    this.finishIfDone();
  }

  private finishIfDone(): void {
    if (this.slots.some((slot) => slot.worker !== undefined)) return;
    clearTimeout(this.killTimer);
    this.host?.close();
    void this.engine?.close();
    this.logger.flush();
    if (this.startupError !== undefined) this.started.reject(this.startupError);
    else process.exit(this.exitCode);
  }
}
