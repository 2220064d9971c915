/** The webhooks' Prometheus metrics, in the hub's registry (http/metrics.ts); counted as things happen, off the publish path. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Why a webhook was given up: the receiver refused it, its --webhook-retry-for ran out, the queue was full, or the engine no longer held it. */
export type WebhookDropReason = 'rejected' | 'expired' | 'queue_full' | 'lost';

export interface WebhookMetrics {
  /** A receiver answered 2xx, `latencyMs` after the event happened. */
  delivered(latencyMs: number): void;
  /** An attempt failed in a way that is retried. */
  attemptFailed(): void;
  dropped(reason: WebhookDropReason): void;
}

export function registerWebhookMetrics(registry: Registry, read: { queueDepth(): number; dispatching(): boolean }): WebhookMetrics {
  const deliveries = new Counter({ name: 'ssehub_webhook_deliveries_total', help: 'Webhooks a receiver accepted (2xx), one per receiver.', registers: [registry] });
  const failures = new Counter({ name: 'ssehub_webhook_attempt_failures_total', help: 'Webhook requests that failed and are retried: no answer in time, 408, 425, 429 or 5xx.', registers: [registry] });
  const dropped = new Counter({
    name: 'ssehub_webhook_dropped_total',
    help: 'Webhooks given up: rejected (another 4xx or a redirect), expired (--webhook-retry-for ran out), queue_full (the oldest when the queue passed --history-max-events), lost (the engine no longer held them when a dispatcher took over).',
    labelNames: ['reason'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'ssehub_webhook_delivery_seconds',
    help: 'From the event to the receiver\'s 2xx answer, retries included.',
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600, 3600],
    registers: [registry],
  });
  new Gauge({ name: 'ssehub_webhook_queue_depth', help: 'Webhooks queued and not yet finished, on the instance that dispatches (0 on the others).', registers: [registry], collect() { this.set(read.queueDepth()); } });
  new Gauge({ name: 'ssehub_webhook_dispatcher', help: '1 on the instance that dispatches the cluster\'s webhooks, else 0.', registers: [registry], collect() { this.set(read.dispatching() ? 1 : 0); } });
  return {
    delivered(latencyMs) {
      deliveries.inc();
      latency.observe(latencyMs / 1000);
    },
    attemptFailed: () => failures.inc(),
    dropped: (reason) => dropped.inc({ reason }),
  };
}
