/**
 * Assembles a running hub from a configuration: engine, hub, HTTP server, logging and metrics,
 * and knows how to take it down gracefully. Used by `ssehub serve`, by tests and by embedders.
 */
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import type { HubConfig } from './config.js';
import { createEngine } from './engines/index.js';
import { Hub } from './hub/hub.js';
import { createMetrics } from './http/metrics.js';
import { createHttpServer } from './http/server.js';

export interface RunningHub {
  hub: Hub;
  /** Base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
  /** Stops accepting, ends every stream, waits for connections to go (at most shutdownTimeoutMs). */
  close(): Promise<void>;
}

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'ssehub' } }, pino.destination(2));
}

export async function startHub(config: HubConfig, logger: Logger = createLogger(config.logLevel)): Promise<RunningHub> {
  const engine = createEngine(config.engine, config);
  const hub = new Hub(
    engine,
    {
      heartbeatMs: config.heartbeatMs,
      retryMs: config.retryMs,
      maxBufferBytes: config.maxBufferBytes,
      topicLimits: { maxLength: config.maxTopicLength, maxSegments: 16 },
    },
    logger,
  );
  const server = createHttpServer({ hub, config, logger, metrics: createMetrics(hub), startedAt: Date.now() });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await hub.close(); // ends every stream: clients reconnect to another instance
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          logger.warn('shutdown timeout: cutting the remaining connections');
          server.closeAllConnections();
          resolve();
        }, config.shutdownTimeoutMs);
      });
      await Promise.race([closed, timeout]);
      clearTimeout(timer);
      await engine.close();
      logger.flush();
    })());
  return { hub, url: `http://${host}:${port}`, port, close };
}
