/**
 * Webhooks to the app: what the hub's parts call to emit one (emit), and the dispatcher that
 * delivers them. Emitting is one message on the `webhooks` channel of the system bus, stored by the
 * engine: nothing waits for a receiver, so a slow or dead one never slows publishing or streams.
 * A type no --webhook wants is not emitted at all (no bus traffic).
 */
import type { Registry } from 'prom-client';
import type { HubConfig } from '../config.js';
import type { Engine } from '../engines/engine.js';
import type { HubLogger } from '../hub/hub.js';
import type { SystemBus } from '../hub/system-bus.js';
import { WebhookDispatcher, type DispatcherSettings, type WebhookMessageData } from './dispatcher.js';
import { checkWebhookConfig } from './endpoints.js';
import type { WebhookType } from './events.js';
import { registerWebhookMetrics } from './metrics.js';

export interface EmitOptions {
  /** The ordering key: webhooks with the same key reach each receiver in the order emitted (e.g. the topic). */
  key: string;
}

export class Webhooks {
  private readonly wanted: ReadonlySet<WebhookType>;
  private readonly sending = new Set<Promise<void>>();
  readonly dispatcher: WebhookDispatcher;

  constructor(
    settings: DispatcherSettings,
    private readonly bus: SystemBus,
    engine: Engine,
    registry: Registry,
    private readonly logger: HubLogger,
  ) {
    this.wanted = new Set(settings.endpoints.flatMap((endpoint) => [...endpoint.types]));
    const metrics = registerWebhookMetrics(registry, { queueDepth: () => this.dispatcher.queueDepth, dispatching: () => this.dispatcher.dispatching });
    this.dispatcher = new WebhookDispatcher(settings, bus, engine, metrics, logger);
  }

  /** Whether some --webhook receives this type: when none does, there is no need to build its data. */
  wants(type: WebhookType): boolean {
    return this.wanted.has(type);
  }

  /**
   * Queues a webhook for every receiver that wants its type. Call it on one instance per event:
   * what every instance notices (presence) is emitted where it was caused. Never rejects: a
   * webhook that cannot be queued (the engine is unavailable) is logged. Resolves once it is queued.
   */
  emit(type: WebhookType, data: unknown, options: EmitOptions): Promise<void> {
    if (!this.wanted.has(type)) return Promise.resolve();
    const message: WebhookMessageData = { key: options.key, data };
    const sent = this.bus.send('webhooks', type, message).then(
      () => {},
      (error: unknown) => this.logger.error({ err: error, type, key: options.key }, 'a webhook could not be queued'),
    );
    this.sending.add(sent);
    void sent.finally(() => this.sending.delete(sent));
    return sent;
  }

  start(): void {
    this.dispatcher.start();
  }

  /** Waits for the webhooks being queued, then stops dispatching (before the engine closes). */
  async close(): Promise<void> {
    await Promise.all(this.sending);
    await this.dispatcher.close();
  }
}

/** The hub's webhooks, when --webhook names any; checks the settings (invalid_config). */
export function createWebhooks(config: HubConfig, bus: SystemBus, engine: Engine, registry: Registry, logger: HubLogger): Webhooks | undefined {
  const { endpoints, keys } = checkWebhookConfig(config);
  if (endpoints.length === 0) return undefined;
  const settings: DispatcherSettings = {
    endpoints,
    keys,
    retryForMs: config.webhookRetryForMs,
    retryMs: config.webhookRetryMs,
    timeoutMs: config.webhookTimeoutMs,
    maxQueued: config.historyMaxEvents,
  };
  return new Webhooks(settings, bus, engine, registry, logger);
}
