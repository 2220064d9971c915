/**
 * The webhook events the hub sends, and what a `--webhook` entry may ask for. Every instance of a
 * cluster must be configured with the same webhooks: any of them may emit, one dispatches.
 */
export const WEBHOOK_TYPES = [
  'topic.occupied',
  'topic.vacated',
  'subscription.opened',
  'subscription.closed',
  'presence.join',
  'presence.leave',
] as const;

export type WebhookType = (typeof WEBHOOK_TYPES)[number];

/** Why a stream ended, as subscription.closed says it (see hub/subscriber.ts). */
export type { StreamEndReason } from '../hub/subscriber.js';

/** subscription.opened's data; subscription.closed adds durationMs and reason. */
export interface SubscriptionWebhookData {
  /** Drawn when the stream opens: the same in its opened and closed events. */
  subscription: string;
  /** The credential's subject; absent for an anonymous subscriber. */
  subject?: string;
  /** The topics and patterns as the client named them. */
  topics: string[];
  /** The instance that held the stream. */
  instance: string;
  durationMs?: number;
  reason?: string;
}

export function isWebhookType(value: string): value is WebhookType {
  return (WEBHOOK_TYPES as readonly string[]).includes(value);
}
