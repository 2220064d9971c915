/**
 * A worker process of `ssehub serve --workers N`: a whole hub (HTTP server, streams, stats), on the
 * port every worker shares through node:cluster. With the memory engine its engine is an IpcEngine
 * reaching the primary's MemoryEngine; with a shared engine (Redis, NATS, PostgreSQL) it opens its
 * own connection, like any instance of a cluster. Its per-client limits are the primary's, shared
 * by every worker (SharedLimits), whatever the engine.
 *
 * It prints nothing on stdout (the primary announces the hub once), tells the primary when it
 * listens or why it could not start, and closes gracefully, then exits 0, on the primary's
 * `shutdown` or on SIGTERM/SIGINT. A second signal while closing exits at once.
 */
import type { HubConfig } from '../config.js';
import { IpcEngine } from '../engines/ipc.js';
import { parentPort, toRemoteError } from '../engines/ipc-protocol.js';
import { createLogger, limitSettingsOf, startHub, type RunningHub } from '../start.js';
import { CONTROL_MESSAGE, isControlMessage, type ControlMessage } from './messages.js';
import { SharedLimits } from './shared-limits.js';

export async function runWorker(config: HubConfig): Promise<void> {
  const logger = createLogger(config.logLevel);
  const primary = parentPort();
  const tell = (message: ControlMessage, sent?: () => void): void => {
    if (process.send === undefined || !process.connected) return sent?.();
    process.send(message, () => sent?.());
  };

  let running: RunningHub | undefined;
  let stopping = false;
  const closeAndExit = (hub: RunningHub): void => {
    hub.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'worker shutdown failed');
        logger.flush();
        process.exit(1);
      },
    );
  };
  const stop = (fromSignal: boolean): void => {
    if (stopping) {
      // A repeated request from the primary is ignored; a second signal means "now".
      if (fromSignal) process.exit(1);
      return;
    }
    stopping = true;
    if (running !== undefined) closeAndExit(running); // otherwise closed as soon as it has started
  };
  process.on('SIGTERM', () => stop(true));
  process.on('SIGINT', () => stop(true));
  primary.listen((message) => {
    if (isControlMessage(message) && message.type === 'shutdown') stop(false);
  });

  try {
    const limits = new SharedLimits(primary, limitSettingsOf(config));
    const openEngine = config.engine === 'memory' ? { openEngine: () => IpcEngine.open({ port: primary }) } : {};
    running = await startHub(config, logger, { ...openEngine, limits });
  } catch (error) {
    logger.flush();
    tell({ ssehub: CONTROL_MESSAGE, type: 'failed', error: toRemoteError(error) }, () => process.exit(1));
    return;
  }
  if (stopping) {
    closeAndExit(running);
    return;
  }
  tell({ ssehub: CONTROL_MESSAGE, type: 'listening', url: running.url, protocols: running.protocols, metricsUrl: running.metricsUrl });
}
