/**
 * React bindings for the ssehub client (React 18 or later, an optional peer dependency).
 *
 *   import { useSubscription } from 'ssehub/react';
 */
export { useSubscription } from './use-subscription.js';
export type { SubscriptionState, SubscriptionStatus, UseSubscriptionOptions } from './use-subscription.js';
