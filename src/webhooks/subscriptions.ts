/**
 * subscription.opened and subscription.closed, for one stream: made where the stream is opened
 * (http/subscribe.ts), only when a --webhook wants either.
 */
import { randomUUID } from 'node:crypto';
import type { StreamEndReason } from '../hub/subscriber.js';
import type { SubscriptionWebhookData } from './events.js';
import type { Webhooks } from './webhooks.js';

export class SubscriptionWebhooks {
  private readonly data: SubscriptionWebhookData;
  private openedAt: number | undefined;

  constructor(
    private readonly webhooks: Webhooks,
    subject: string | undefined,
    topics: string[],
    instance: string,
  ) {
    this.data = { subscription: randomUUID(), ...(subject === undefined ? {} : { subject }), topics, instance };
  }

  opened(): void {
    this.openedAt = Date.now();
    void this.webhooks.emit('subscription.opened', this.data, { key: this.data.subscription });
  }

  /** Only after opened(): a stream that never opened has nothing to close. */
  closed(reason: StreamEndReason | undefined): void {
    if (this.openedAt === undefined) return;
    const data = { ...this.data, durationMs: Date.now() - this.openedAt, ...(reason === undefined ? {} : { reason }) };
    void this.webhooks.emit('subscription.closed', data, { key: this.data.subscription });
  }
}

/** The stream's subscription webhooks, or undefined when no --webhook wants them. */
export function subscriptionWebhooks(webhooks: Webhooks | undefined, subject: string | undefined, topics: string[], instance: string): SubscriptionWebhooks | undefined {
  if (webhooks === undefined || !(webhooks.wants('subscription.opened') || webhooks.wants('subscription.closed'))) return undefined;
  return new SubscriptionWebhooks(webhooks, subject, topics, instance);
}
