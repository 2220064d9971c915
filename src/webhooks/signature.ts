/**
 * Signing as the Standard Webhooks specification says: HMAC-SHA256, with the key's bytes, of
 * "<webhook-id>.<webhook-timestamp>.<body>", base64, prefixed "v1,"; several keys give several
 * signatures separated by spaces.
 */
import { createHmac } from 'node:crypto';

export function signWebhook(keys: readonly Buffer[], id: string, timestamp: number, body: string): string {
  return keys.map((key) => `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`).join(' ');
}
