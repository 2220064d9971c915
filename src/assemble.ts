/**
 * The hub's parts, assembled from a configuration with no port of its own: engine, hub, access
 * (tokens, the app's authorization, limits), metrics, the demos and the dashboard's stats. This is
 * the core that createHub (create-hub.ts) hands to an app and that startHub (start.ts) puts
 * behind its own server: one way to build a hub, whichever owns the server.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { createAccess, type Access } from './auth/access.js';
import type { Authorize } from './auth/authorize.js';
import { DEFAULT_DENY_MS } from './auth/revocation.js';
import { LocalLimits, type ClientLimits, type LimitSettings } from './auth/limits.js';
import type { TokenSettings } from './auth/tokens.js';
import { tokenKeysConfigured, type HubConfig } from './config.js';
import { DemoRunner } from './demos/runner.js';
import { openEngine, type Engine } from './engines/index.js';
import { HubError } from './errors.js';
import { clientAddressResolver } from './http/client-address.js';
import type { RouteContext } from './http/context.js';
import { createMetrics } from './http/metrics.js';
import { createWebSocketDoor, type WebSocketDoor } from './ws/door.js';
import { Hub } from './hub/hub.js';
import { Cancels } from './hub/cancels.js';
import { listenForDisconnects } from './hub/disconnects.js';
import { SystemBus } from './hub/system-bus.js';
import { SystemStatsPublisher } from './hub/system-stats.js';
import { Presence } from './presence/presence.js';
import { publishSubscriptionEvents } from './mercure/subscriptions.js';
import { PresenceWatchers } from './presence/watchers.js';
import { DEFAULT_TOPIC_LIMITS, parseSubscribeSelector, TopicRetention } from './topics/index.js';
import { forwardPresence } from './webhooks/presence.js';
import { createWebhooks } from './webhooks/webhooks.js';

export interface AssembleOptions {
  /** Opens the engine instead of openEngine(config.engine): a worker's engine in the primary process (see cluster/worker.ts). */
  openEngine?: () => Promise<Engine>;
  /** The per-client limits instead of this process's own: a worker's, kept by the primary process (see cluster/worker.ts). */
  limits?: ClientLimits;
  /** The app's own authorization, in process (createHub's `authorize`, wrapped by appAuthorizer). */
  appAuthorize?: Authorize;
}

export interface HubCore {
  /** What every door serves requests with. */
  context: RouteContext;
  /** The WebSocket door (GET /ws), for the server that carries the upgrades. */
  websockets: WebSocketDoor;
  /**
   * Stops the demos and the stats, ends every stream (clients reconnect elsewhere), waits for
   * `drain` (the server's connections, when the hub owns one), then closes the engine.
   */
  close(drain?: () => Promise<void>): Promise<void>;
}

export async function assembleHub(config: HubConfig, logger: Logger, options: AssembleOptions = {}): Promise<HubCore> {
  // Settings that can be wrong are read before the engine's server is contacted.
  const tokens = tokenSettingsOf(config);
  const engine = await (options.openEngine?.() ?? openEngine(config.engine, config, logger));
  try {
    return assemble(config, logger, engine, tokens, options);
  } catch (error) {
    await engine.close();
    throw error;
  }
}

function assemble(config: HubConfig, logger: Logger, engine: Engine, tokens: TokenSettings | undefined, options: AssembleOptions): HubCore {
  const limits = options.limits ?? new LocalLimits(limitSettingsOf(config));
  const access = createAccess(
    {
      tokens,
      forwardAuth: config.authUrl === undefined ? undefined : { url: config.authUrl, timeoutMs: config.authTimeoutMs, cacheMs: config.authCacheMs },
      appAuthorize: options.appAuthorize,
      cookieName: config.cookieName,
      publicTopics: config.publicTopics,
      corsOrigins: config.corsOrigins,
      ticketTtlMs: config.ticketTtlMs,
      denyMs: config.jwtMaxLifetimeMs > 0 ? config.jwtMaxLifetimeMs : DEFAULT_DENY_MS,
    },
    engine.kv,
    limits,
  );
  const hub = new Hub(
    engine,
    {
      heartbeatMs: config.heartbeatMs,
      retryMs: config.retryMs,
      maxBufferBytes: config.maxBufferBytes,
      topicLimits: { ...DEFAULT_TOPIC_LIMITS, maxLength: config.maxTopicLength },
      publishLimits: limits,
      // An ended topic stays ended for its retention age: its --retention rule's, else --history-max-age.
      retention: new TopicRetention(config),
    },
    logger,
  );
  if (!access.enabled) {
    logger.info('no token key, --auth-url or authorize() configured: anyone who can reach this hub may publish and subscribe to every topic');
  }
  const startedAt = Date.now();
  // One id per instance (per worker with --workers): /stats and the $ssehub/stats events both carry it.
  const instance = randomBytes(4).toString('hex');
  // The instances' channel to each other (presence, disconnects, the webhook queue), over the engine.
  const bus = new SystemBus(hub, instance, logger);
  listenForDisconnects(hub, bus, access.revocations, logger);
  // Cancels of a topic's producer (POST /topics/{t}/cancel, hub.onCancel), over the same bus.
  const cancels = new Cancels(hub, bus, logger);
  // The demos publish as the hub; the HTTP routes check that the caller may publish there first.
  // A reader's cancel reaches a demo's task through the same cancels as any producer's.
  const demos = config.demos
    ? new DemoRunner((events) => hub.publish(events), logger, undefined, (topic, listener) => cancels.onCancel(topic, listener))
    : undefined;
  const presence = new Presence(
    bus,
    { topics: config.presence.map((source) => parseSubscribeSelector(source)), ttlMs: config.presenceTtlMs, graceMs: config.presenceGraceMs },
    logger,
  );
  const metrics = createMetrics(hub, presence);
  // Queued on the bus, delivered by one instance of the cluster (webhooks/dispatcher.ts).
  const webhooks = createWebhooks(config, bus, engine, metrics.registry, logger);
  if (webhooks !== undefined) forwardPresence(presence, webhooks);
  webhooks?.start();
  const context: RouteContext = {
    hub,
    config,
    logger,
    metrics,
    access,
    startedAt,
    instance,
    bus,
    cancels,
    presence,
    presenceStreams: new PresenceWatchers(presence),
    webhooks,
    demos,
    clientAddress: clientAddressResolver(config.trustedProxies),
  };
  const websockets = createWebSocketDoor(context);
  presence.start();
  if (config.mercure && config.mercureSubscriptions) publishSubscriptionEvents(presence, hub, logger);
  // Dashboards read $ssehub/stats: published only while the dashboard is served.
  const systemStats = config.dashboard ? new SystemStatsPublisher(hub, { intervalMs: config.statsIntervalMs, startedAt, instance }, logger) : undefined;
  systemStats?.start();
  let closing: Promise<void> | undefined;
  const close = (drain?: () => Promise<void>): Promise<void> =>
    (closing ??= (async () => {
      systemStats?.stop();
      await presence.close(); // the others drop this instance's streams now (a reconnect elsewhere within the grace period is no leave)
      await demos?.close(); // timers cancelled, child processes killed
      await hub.close(); // ends every stream, on either protocol: clients reconnect to another instance
      await websockets.close(); // and the WebSockets without a subscription
      await drain?.();
      await webhooks?.close(); // after the streams' subscription.closed are queued, before the engine goes
      await engine.close();
      logger.flush();
    })());
  return { context, websockets, close };
}

/** The token keys of the configuration, read once; undefined when none is configured. */
function tokenSettingsOf(config: HubConfig): TokenSettings | undefined {
  if (!tokenKeysConfigured(config)) return undefined;
  const tokens: TokenSettings = {};
  if (config.jwtSecret !== undefined) tokens.secret = config.jwtSecret;
  if (config.jwtPublicKeyFile !== undefined) tokens.publicKeyPem = readKeyFile(config.jwtPublicKeyFile, 'public key');
  if (config.jwksFile !== undefined) tokens.jwks = readKeyFile(config.jwksFile, 'JWKS');
  if (config.jwtIssuer !== undefined) tokens.issuer = config.jwtIssuer;
  if (config.jwtAudience !== undefined) tokens.audience = config.jwtAudience;
  tokens.maxLifetimeSeconds = config.jwtMaxLifetimeMs / 1000;
  return tokens;
}

export function readKeyFile(path: string, what: string): string {
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
    rateLimitSubjects: config.rateLimitSubjects,
  };
}
