/**
 * The standalone server: the hub's core (assemble.ts) behind its own port, with TLS or h2c when
 * configured, the operator listener (--metrics-listen), and a graceful shutdown. Used by
 * `ssehub serve` (and its workers) and by tests; an app that serves HTTP itself uses createHub.
 */
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import type { Access } from './auth/access.js';
import { assembleHub, readKeyFile, type AssembleOptions } from './assemble.js';
import { checkTransport, parseListenAddress, type HubConfig } from './config.js';
import { HubError } from './errors.js';
import type { Hub } from './hub/hub.js';
import { createHttpServer, createOperatorServer, type HttpListener, type TlsCredentials } from './http/node/server.js';
import { WS_PATH } from './ws/door.js';

export { limitSettingsOf } from './assemble.js';

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

/** What a worker of `ssehub serve --workers` takes from its primary: its engine and its limits. */
export type StartOptions = Pick<AssembleOptions, 'openEngine' | 'limits'>;

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'ssehub' } }, pino.destination(2));
}

export async function startHub(config: HubConfig, logger: Logger = createLogger(config.logLevel), options: StartOptions = {}): Promise<RunningHub> {
  // Settings that can be wrong are checked before the engine's server is contacted.
  checkTransport(config);
  const operatorAt = config.metricsListen === undefined ? undefined : parseListenAddress(config.metricsListen, 'metricsListen');
  const tls = tlsCredentials(config);
  const core = await assembleHub(config, logger, options);
  const { context } = core;
  const listener = createHttpServer(context, tls, core.websockets.upgradeAt(WS_PATH));
  // The operator listener: /metrics and /stats without a token, on an address of its own.
  const operator = operatorAt === undefined ? undefined : createOperatorServer(context);
  let port: number;
  let metricsUrl: string | undefined;
  try {
    port = await listen(listener, config.port, config.host, 'with --port <n> (or SSEHUB_PORT=<n>)');
    if (operator !== undefined && operatorAt !== undefined) {
      metricsUrl = `http://${urlHost(operatorAt.host)}:${await listen(operator, operatorAt.port, operatorAt.host, 'with --metrics-listen <host:port>')}`;
    }
  } catch (error) {
    listener.closeAllConnections();
    await Promise.allSettled([listener.close(), operator?.close()]);
    await core.close();
    throw error;
  }
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= closeAll());
  const closeAll = (): Promise<void> => {
    // Stops accepting; HTTP/2 sessions get GOAWAY, so their clients open no new streams here.
    const closed = Promise.all([listener.close(), operator?.close()]);
    return core.close(async () => {
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
    });
  };
  return { hub: context.hub, url: `${listener.scheme}://${urlHost(config.host)}:${port}`, protocols: listener.protocols, port, metricsUrl, access: context.access, close };
}

/**
 * Starts listening; resolves with the port (the one picked, for port 0). A port in use is a
 * HubError naming it and how to choose another (`choose`), so that `ssehub serve` and its workers
 * print one line instead of a stack.
 */
function listen({ server }: HttpListener, port: number, host: string, choose: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException): void => {
      if (error.code !== 'EADDRINUSE') return reject(error);
      reject(new HubError(409, 'port_in_use', `port ${port} on ${host} is already in use: stop what listens there, or choose another port ${choose}.`));
    };
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
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
