/** Reading --webhook and --webhook-secret: the forms accepted, and a clear invalid_config for the rest. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { checkWebhookConfig, parseWebhookEndpoints, parseWebhookSecrets } from '../../src/webhooks/endpoints.js';
import { WEBHOOK_TYPES } from '../../src/webhooks/events.js';
import { TEST_WEBHOOK_SECRET } from '../support/webhook-receiver.js';

const invalid = (pattern: RegExp) => (error: unknown) => {
  assert.equal((error as { code?: string }).code, 'invalid_config');
  assert.match((error as Error).message, pattern);
  return true;
};

test('a URL alone receives every type; after "#", the types named, families included', () => {
  const [all, some] = parseWebhookEndpoints(['https://app.example/hooks?x=1', 'http://127.0.0.1:3000/h#topic.occupied, subscription.*']);
  assert.equal(all!.url, 'https://app.example/hooks?x=1');
  assert.deepEqual([...all!.types], [...WEBHOOK_TYPES]);
  assert.equal(some!.url, 'http://127.0.0.1:3000/h');
  assert.deepEqual([...some!.types].sort(), ['subscription.closed', 'subscription.opened', 'topic.occupied']);
});

test('a URL that is not http(s), an unknown type or an empty list is invalid_config', () => {
  assert.throws(() => parseWebhookEndpoints(['ftp://app.example/hooks']), invalid(/http:\/\/ or https:\/\//));
  assert.throws(() => parseWebhookEndpoints(['not a url']), invalid(/not a URL/));
  assert.throws(() => parseWebhookEndpoints(['https://app.example/h#topic.created']), invalid(/"topic.created" is not an event type/));
  assert.throws(() => parseWebhookEndpoints(['https://app.example/h#']), invalid(/name the event types/));
});

test('a secret is whsec_ and 24 to 64 bytes of base64', () => {
  assert.equal(parseWebhookSecrets([TEST_WEBHOOK_SECRET])[0]!.length, 32);
  for (const bad of ['MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'whsec_short', `whsec_${Buffer.alloc(65).toString('base64')}`, 'whsec_not base64!']) {
    assert.throws(() => parseWebhookSecrets([bad]), invalid(/--webhook-secret must be "whsec_"/), bad);
  }
});

test('webhooks need a secret, and a history that keeps their queue', () => {
  assert.throws(() => checkWebhookConfig({ webhooks: ['https://a.example/h'], webhookSecrets: [], historyMaxEvents: 10 }), invalid(/set --webhook-secret/));
  assert.throws(() => checkWebhookConfig({ webhooks: ['https://a.example/h'], webhookSecrets: [TEST_WEBHOOK_SECRET], historyMaxEvents: 0 }), invalid(/--history-max-events 0/));
  assert.equal(checkWebhookConfig({ webhooks: [], webhookSecrets: [], historyMaxEvents: 0 }).endpoints.length, 0);
});

test('--webhook is given once per URL; SSEHUB_WEBHOOK separates them with spaces', () => {
  const flags = loadConfig(['--webhook', 'https://a.example/h', '--webhook', 'https://b.example/h#presence.*', '--webhook-secret', TEST_WEBHOOK_SECRET]);
  assert.deepEqual(flags.webhooks, ['https://a.example/h', 'https://b.example/h#presence.*']);
  const env = loadConfig([], { SSEHUB_WEBHOOK: ' https://a.example/h  https://b.example/h#topic.* ', SSEHUB_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET, SSEHUB_WEBHOOK_RETRY_FOR: '30m' });
  assert.deepEqual(env.webhooks, ['https://a.example/h', 'https://b.example/h#topic.*']);
  assert.equal(env.webhookRetryForMs, 1_800_000);
  assert.throws(() => loadConfig(['--webhook', 'mailto:ops@example.com', '--webhook-secret', TEST_WEBHOOK_SECRET]), invalid(/--webhook mailto/));
  assert.throws(() => loadConfig(['--webhook', 'https://a.example/h']), invalid(/set --webhook-secret/));
  assert.throws(() => loadConfig(['--webhook-timeout', '0']), invalid(/--webhook-timeout/));
});
