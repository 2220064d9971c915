/** Signing against the Standard Webhooks specification's own example, and against node:crypto's HMAC written out. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseWebhookSecrets } from '../../src/webhooks/endpoints.js';
import { signWebhook } from '../../src/webhooks/signature.js';
import { TEST_WEBHOOK_SECRET, verifySignature } from '../support/webhook-receiver.js';

test('the specification\'s example signs to its published signature', () => {
  const keys = parseWebhookSecrets(['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw']);
  assert.equal(signWebhook(keys, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}'), 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
});

test('two keys give two signatures, each one valid on its own; another body is not', () => {
  const other = `whsec_${Buffer.alloc(40, 9).toString('base64')}`;
  const signature = signWebhook(parseWebhookSecrets([TEST_WEBHOOK_SECRET, other]), 'msg_1', 1700000000, '{"a":1}');
  assert.equal(signature.split(' ').length, 2);
  const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': '1700000000', 'webhook-signature': signature };
  assert.ok(verifySignature(TEST_WEBHOOK_SECRET, headers, '{"a":1}'));
  assert.ok(verifySignature(other, headers, '{"a":1}'));
  assert.equal(verifySignature(TEST_WEBHOOK_SECRET, headers, '{"a":2}'), false);
});
