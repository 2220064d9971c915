/**
 * Assembles a running hub from a configuration: engine, hub, HTTP server, logging and metrics,
 * and knows how to take it down gracefully. Used by `ssehub serve`, by tests and by embedders.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { createAccess, type Access } from './auth/access.js';
import type { TokenSettings } from './auth/tokens.js';
import { authEnabled, type HubConfig } from './config.js';
import { HubError } from './errors.js';
import { DEFAULT_TOPIC_LIMITS } from './topics/index.js';
import { openEngine, type Engine } from './engines/index.js';
import { DemoRunner } from './demos/runner.js';
import { Hub } from './hub/hub.js';
import { SystemStatsPublisher } from './hub/system-stats.js';
import { createMetrics } from './http/metrics.js';
import { createHttpServer } from './http/server.js';

export interface RunningHub {
  hub: Hub;
  /** Base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
  /** Whether tokens are required, and the limits in force. */
  access: Access;
  /** Stops accepting, ends every stream, waits for connections to go (at most shutdownTimeoutMs). */
  close(): Promise<void>;
}

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'ssehub' } }, pino.destination(2));
}

export async function startHub(config: HubConfig, logger: Logger = createLogger(config.logLevel)): Promise<RunningHub> {
  const engine = await openEngine(config.engine, config, logger);
  try {
    return await assemble(config, logger, engine);
  } catch (error) {
    await engine.close();
    throw error;
  }
}

async function assemble(config: HubConfig, logger: Logger, engine: Engine): Promise<RunningHub> {
  const hub = new Hub(
    engine,
    {
      heartbeatMs: config.heartbeatMs,
      retryMs: config.retryMs,
      maxBufferBytes: config.maxBufferBytes,
      topicLimits: { ...DEFAULT_TOPIC_LIMITS, maxLength: config.maxTopicLength },
    },
    logger,
  );
  const access = accessFrom(config, engine.kv);
  if (!access.enabled) {
    logger.info('no token key configured: anyone who can reach this hub may publish and subscribe to every topic');
  }
  const startedAt = Date.now();
  // The demos publish as the hub; the HTTP routes check that the caller may publish there first.
  const demos = config.demos ? new DemoRunner((events) => hub.publish(events), logger) : undefined;
  const server = createHttpServer({ hub, config, logger, metrics: createMetrics(hub), access, startedAt, demos });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Dashboards read $ssehub/stats: published only while the dashboard is served.
  const systemStats = config.dashboard ? new SystemStatsPublisher(hub, { intervalMs: config.statsIntervalMs, startedAt }, logger) : undefined;
  systemStats?.start();
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      systemStats?.stop();
      await demos?.close(); // timers cancelled, child processes killed
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
  return { hub, url: `http://${host}:${port}`, port, access, close };
}

function readKeyFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new HubError(400, 'invalid_config', `Cannot read the ${what} file ${path}: ${(error as Error).message}`);
  }
}

function accessFrom(config: HubConfig, kv: Parameters<typeof createAccess>[1]): Access {
  let tokens: TokenSettings | undefined;
  if (authEnabled(config)) {
    tokens = {};
    if (config.jwtSecret !== undefined) tokens.secret = config.jwtSecret;
    if (config.jwtPublicKeyFile !== undefined) tokens.publicKeyPem = readKeyFile(config.jwtPublicKeyFile, 'public key');
    if (config.jwksFile !== undefined) tokens.jwks = readKeyFile(config.jwksFile, 'JWKS');
    if (config.jwtIssuer !== undefined) tokens.issuer = config.jwtIssuer;
    if (config.jwtAudience !== undefined) tokens.audience = config.jwtAudience;
  }
  return createAccess(
    {
      tokens,
      cookieName: config.cookieName,
      publicTopics: config.publicTopics,
      corsOrigins: config.corsOrigins,
      ticketTtlMs: config.ticketTtlMs,
      maxStreamsPerIp: config.maxStreamsPerIp,
      maxStreamsPerSubject: config.maxStreamsPerSubject,
      publishRate: config.publishRate,
      publishBurst: config.publishBurst,
    },
    kv,
  );
}
