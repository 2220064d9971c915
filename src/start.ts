/**
 * Assembles a running hub from a configuration: engine, hub, HTTP server, logging and metrics,
 * and knows how to take it down gracefully. Used by `ssehub serve`, by tests and by embedders.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { createAccess, type Access } from './auth/access.js';
import { LocalLimits, type ClientLimits, type LimitSettings } from './auth/limits.js';
import type { TokenSettings } from './auth/tokens.js';
import { checkTransport, parseListenAddress, tokenKeysConfigured, type HubConfig } from './config.js';
import { HubError } from './errors.js';
import { DEFAULT_TOPIC_LIMITS } from './topics/index.js';
import { openEngine, type Engine } from './engines/index.js';
import { DemoRunner } from './demos/runner.js';
import { Hub } from './hub/hub.js';
import { SystemStatsPublisher } from './hub/system-stats.js';
import { clientAddressResolver } from './http/client-address.js';
import { createMetrics } from './http/metrics.js';
import { createHttpServer, createOperatorServer, type HttpListener, type TlsCredentials } from './http/server.js';

export interface RunningHub {
  hub: Hub;
  /** Base URL, e.g. http://127.0.0.1:8080 (https:// with TLS) */
  url: string;
  /** What the port speaks: "HTTP/1.1", "HTTP/2 and HTTP/1.1 over TLS" or "cleartext HTTP/2 (h2c)". */
  protocols: string;
  port: number;
  /**
   * Base URL of the operator listener (--metrics-listen: /metrics, /stats, /livez and /healthz
   * without a token), e.g. http://10.0.0.5:9090; undefined when there is none.
   */
  metricsUrl: string | undefined;
  /** Whether tokens are required, and the limits in force. */
  access: Access;
  /** Stops accepting, ends every stream, waits for connections to go (at most shutdownTimeoutMs). */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Opens the engine instead of openEngine(config.engine): a worker's engine in the primary process (see cluster/worker.ts). */
  openEngine?: () => Promise<Engine>;
  /** The per-client limits instead of this process's own: a worker's, kept by the primary process (see cluster/worker.ts). */
  limits?: ClientLimits;
}

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'ssehub' } }, pino.destination(2));
}

export async function startHub(config: HubConfig, logger: Logger = createLogger(config.logLevel), options: StartOptions = {}): Promise<RunningHub> {
  // Settings that can be wrong are checked before the engine's server is contacted.
  checkTransport(config);
  if (config.metricsListen !== undefined) parseListenAddress(config.metricsListen, 'metricsListen');
  const tls = tlsCredentials(config);
  const engine = await (options.openEngine?.() ?? openEngine(config.engine, config, logger));
  try {
    return await assemble(config, logger, engine, tls, options.limits ?? new LocalLimits(limitSettingsOf(config)));
  } catch (error) {
    await engine.close();
    throw error;
  }
}

async function assemble(config: HubConfig, logger: Logger, engine: Engine, tls: TlsCredentials | undefined, limits: ClientLimits): Promise<RunningHub> {
  const access = accessFrom(config, engine.kv, limits);
  const hub = new Hub(
    engine,
    {
      heartbeatMs: config.heartbeatMs,
      retryMs: config.retryMs,
      maxBufferBytes: config.maxBufferBytes,
      topicLimits: { ...DEFAULT_TOPIC_LIMITS, maxLength: config.maxTopicLength },
      publishLimits: limits,
    },
    logger,
  );
  if (!access.enabled) {
    logger.info('no token key or --auth-url configured: anyone who can reach this hub may publish and subscribe to every topic');
  }
  const startedAt = Date.now();
  // One id per instance (per worker with --workers): /stats and the $ssehub/stats events both carry it.
  const instance = randomBytes(4).toString('hex');
  // The demos publish as the hub; the HTTP routes check that the caller may publish there first.
  const demos = config.demos ? new DemoRunner((events) => hub.publish(events), logger) : undefined;
  const context = { hub, config, logger, metrics: createMetrics(hub), access, startedAt, instance, demos, clientAddress: clientAddressResolver(config.trustedProxies) };
  const listener = createHttpServer(context, tls);
  const port = await listen(listener, config.port, config.host);
  // The operator listener: /metrics and /stats without a token, on an address of its own.
  let operator: HttpListener | undefined;
  let metricsUrl: string | undefined;
  if (config.metricsListen !== undefined) {
    const at = parseListenAddress(config.metricsListen, 'metricsListen');
    operator = createOperatorServer(context);
    try {
      metricsUrl = `http://${urlHost(at.host)}:${await listen(operator, at.port, at.host)}`;
    } catch (error) {
      listener.closeAllConnections();
      await listener.close();
      throw error;
    }
  }
  // Dashboards read $ssehub/stats: published only while the dashboard is served.
  const systemStats = config.dashboard ? new SystemStatsPublisher(hub, { intervalMs: config.statsIntervalMs, startedAt, instance }, logger) : undefined;
  systemStats?.start();
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      // Stops accepting; HTTP/2 sessions get GOAWAY, so their clients open no new streams here.
      const closed = Promise.all([listener.close(), operator?.close()]);
      systemStats?.stop();
      await demos?.close(); // timers cancelled, child processes killed
      await hub.close(); // ends every stream, on either protocol: clients reconnect to another instance
      listener.closeIdleConnections();
      operator?.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          logger.warn('shutdown timeout: cutting the remaining connections');
          listener.closeAllConnections();
          operator?.closeAllConnections();
          resolve();
        }, config.shutdownTimeoutMs);
      });
      await Promise.race([closed, timeout]);
      clearTimeout(timer);
      await engine.close();
      logger.flush();
    })());
  return { hub, url: `${listener.scheme}://${urlHost(config.host)}:${port}`, protocols: listener.protocols, port, metricsUrl, access, close };
}

/** Starts listening; resolves with the port (the one picked, for port 0). */
function listen({ server }: HttpListener, port: number, host: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** A host as it is written in a URL: an IPv6 address in brackets. */
function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** The certificate and key PEM, read once at start; undefined without TLS. */
function tlsCredentials(config: HubConfig): TlsCredentials | undefined {
  if (config.tlsCertFile === undefined || config.tlsKeyFile === undefined) return undefined;
  return { cert: readKeyFile(config.tlsCertFile, 'TLS certificate'), key: readKeyFile(config.tlsKeyFile, 'TLS key') };
}

function readKeyFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new HubError(400, 'invalid_config', `Cannot read the ${what} file ${path}: ${(error as Error).message}`);
  }
}

/** The per-client limits of the configuration, as LocalLimits keeps them (in this process, or in the primary for its workers). */
export function limitSettingsOf(config: HubConfig): LimitSettings {
  return {
    maxStreamsPerIp: config.maxStreamsPerIp,
    maxStreamsPerSubject: config.maxStreamsPerSubject,
    publishRate: config.publishRate,
    publishBurst: config.publishBurst,
    publishBytesRate: config.publishBytesRate,
    publishBytesBurst: config.publishBytesBurst,
  };
}

function accessFrom(config: HubConfig, kv: Parameters<typeof createAccess>[1], limits: ClientLimits): Access {
  let tokens: TokenSettings | undefined;
  if (tokenKeysConfigured(config)) {
    tokens = {};
    if (config.jwtSecret !== undefined) tokens.secret = config.jwtSecret;
    if (config.jwtPublicKeyFile !== undefined) tokens.publicKeyPem = readKeyFile(config.jwtPublicKeyFile, 'public key');
    if (config.jwksFile !== undefined) tokens.jwks = readKeyFile(config.jwksFile, 'JWKS');
    if (config.jwtIssuer !== undefined) tokens.issuer = config.jwtIssuer;
    if (config.jwtAudience !== undefined) tokens.audience = config.jwtAudience;
    tokens.maxLifetimeSeconds = config.jwtMaxLifetimeMs / 1000;
  }
  return createAccess(
    {
      tokens,
      forwardAuth: config.authUrl === undefined ? undefined : { url: config.authUrl, timeoutMs: config.authTimeoutMs, cacheMs: config.authCacheMs },
      cookieName: config.cookieName,
      publicTopics: config.publicTopics,
      corsOrigins: config.corsOrigins,
      ticketTtlMs: config.ticketTtlMs,
    },
    kv,
    limits,
  );
}
