/**
 * The dispatcher on every engine: hubs emit webhooks while their receiver is down (connections
 * refused); on Redis, NATS and PostgreSQL the dispatching hub is also closed and replaced while
 * they wait (the queue lives in the engine). Once the receiver is up it gets every webhook once,
 * signed (checked with node:crypto's HMAC), and in order per key. Then the receiver's answers:
 * another 4xx drops a webhook without a retry, 429 is retried, a full queue drops the oldest, a
 * webhook past --webhook-retry-for is dropped, and a receiver that never answers holds nothing up.
 */
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { assembleHub, type HubCore } from '../../src/assemble.js';
import { defaultConfig, type HubConfig } from '../../src/config.js';
import type { WebhookType } from '../../src/webhooks/events.js';
import { freePort } from '../support/hub.js';
import { freshNamespace, removeNamespace, type EngineKind } from '../support/namespaces.js';
import { SHARED_ENGINES } from '../support/services.js';
import { describeUnlessSkipped } from '../support/skip.js';
import { TEST_WEBHOOK_SECRET, WebhookReceiver, type ReceivedWebhook } from '../support/webhook-receiver.js';
import { until } from '../support/wait.js';

const TYPES: WebhookType[] = ['topic.occupied', 'presence.join', 'presence.leave', 'topic.vacated'];

function hubConfig(receiver: WebhookReceiver, overrides: Partial<HubConfig> = {}): HubConfig {
  return defaultConfig({ port: 0, logLevel: 'silent', statsIntervalMs: 0, webhooks: [receiver.url], webhookSecrets: [TEST_WEBHOOK_SECRET], webhookRetryMs: 50, ...overrides });
}

const startCore = (config: HubConfig): Promise<HubCore> => assembleHub(config, pino({ level: 'silent' }));

/** A metric's value on one hub (summed over its labels, or the one with `label`). */
async function metric(core: HubCore, name: string, label?: Record<string, string>): Promise<number> {
  const found = await core.context.metrics.registry.getSingleMetric(name)?.get();
  const values = (found?.values ?? []).filter((value) => label === undefined || Object.entries(label).every(([k, v]) => value.labels[k] === v));
  return values.reduce((sum, value) => sum + value.value, 0);
}

/** Emits `count` webhooks on `key` from one hub, numbered from `from`, types taken in turn. */
async function emitSeries(core: HubCore, key: string, from: number, count: number): Promise<void> {
  for (let n = from; n < from + count; n++) await core.context.webhooks!.emit(TYPES[n % TYPES.length]!, { key, n }, { key });
}

/** Each webhook accepted once (by id), signed, and per key in the order emitted (n = 0, 1, 2…). */
function checkDelivered(accepted: ReceivedWebhook[], expected: Map<string, number>): void {
  const ids = accepted.map((webhook) => webhook.id);
  assert.equal(new Set(ids).size, ids.length, 'no webhook accepted twice');
  assert.ok(accepted.every((webhook) => webhook.signed), 'every request carries a valid signature');
  for (const [key, count] of expected) {
    const series = accepted.filter((webhook) => webhook.data.key === key);
    assert.deepEqual(series.map((webhook) => webhook.data.n), Array.from({ length: count }, (_, n) => n), `key ${key}: each once, in order`);
    assert.deepEqual(series.map((webhook) => webhook.type), series.map((webhook) => TYPES[webhook.data.n! % TYPES.length]));
  }
  assert.equal(accepted.length, [...expected.values()].reduce((sum, count) => sum + count, 0));
}

function dispatcherOf(cores: HubCore[]): HubCore | undefined {
  return cores.find((core) => core.context.webhooks!.dispatcher.dispatching);
}

describe('webhooks on the memory engine (queue in process)', () => {
  test('a receiver down, then up, gets every webhook once, signed, in order per key', async () => {
    const receiver = new WebhookReceiver(await freePort(), TEST_WEBHOOK_SECRET);
    const core = await startCore(hubConfig(receiver));
    try {
      await until(() => core.context.webhooks!.dispatcher.dispatching, 'the hub to dispatch', 30_000);
      await Promise.all(['a', 'b', 'c'].map((key) => emitSeries(core, key, 0, 6)));
      await until(async () => (await metric(core, 'ssehub_webhook_attempt_failures_total')) >= 3, 'refused attempts while the receiver is down', 30_000);
      assert.equal(receiver.requests.length, 0);
      await receiver.up();
      await receiver.until(() => receiver.accepted().length >= 18, 'all 18 webhooks');
      checkDelivered(receiver.accepted(), new Map([['a', 6], ['b', 6], ['c', 6]]));
      const [first] = receiver.accepted();
      assert.match(first!.id, /^msg_/);
      assert.equal(first!.headers['content-type'], 'application/json');
      assert.ok(Math.abs(first!.timestamp - Date.now() / 1000) < 3600, 'webhook-timestamp is in seconds');
      assert.match(JSON.parse(first!.body).timestamp as string, /^\d{4}-\d\d-\d\dT/);
      await until(async () => (await metric(core, 'ssehub_webhook_deliveries_total')) === 18 && (await metric(core, 'ssehub_webhook_queue_depth')) === 0, 'the metrics to count 18 deliveries and an empty queue', 30_000);
      const latency = await core.context.metrics.registry.getSingleMetric('ssehub_webhook_delivery_seconds')!.get();
      assert.equal((latency.values as Array<{ metricName?: string; value: number }>).find((value) => value.metricName === 'ssehub_webhook_delivery_seconds_count')?.value, 18, 'a latency observed per delivery');
    } finally {
      await core.close();
      await receiver.down();
    }
  });

  test('another 4xx drops a webhook at once; 408 and 429 are retried; the key goes on after it', async () => {
    const attempts = new Map<number, number>();
    const receiver = new WebhookReceiver(await freePort(), TEST_WEBHOOK_SECRET, (webhook) => {
      const n = webhook.data.n!;
      const attempt = (attempts.get(n) ?? 0) + 1;
      attempts.set(n, attempt);
      if (n === 1) return 400;
      if (n === 2 && attempt === 1) return 429;
      if (n === 3 && attempt === 1) return 408;
      if (n === 4) return 404;
      return 204;
    });
    await receiver.up();
    const core = await startCore(hubConfig(receiver));
    try {
      await emitSeries(core, 'k', 0, 6);
      await receiver.until(() => receiver.requests.some((webhook) => webhook.data.n === 5), 'the last webhook');
      assert.deepEqual(receiver.requests.map((webhook) => [webhook.data.n, webhook.status]), [[0, 204], [1, 400], [2, 429], [2, 204], [3, 408], [3, 204], [4, 404], [5, 204]]);
      assert.equal(await metric(core, 'ssehub_webhook_dropped_total', { reason: 'rejected' }), 2);
      assert.equal(await metric(core, 'ssehub_webhook_attempt_failures_total'), 2);
      const retried = receiver.requests.filter((webhook) => webhook.data.n === 2);
      assert.equal(retried[0]!.id, retried[1]!.id, 'a retry keeps its webhook-id');
    } finally {
      await core.close();
      await receiver.down();
    }
  });

  test('a full queue drops the oldest webhooks, logged and counted; the newest are delivered in order', async () => {
    const receiver = new WebhookReceiver(await freePort(), TEST_WEBHOOK_SECRET);
    const core = await startCore(hubConfig(receiver, { historyMaxEvents: 5 }));
    try {
      await until(() => core.context.webhooks!.dispatcher.dispatching, 'the hub to dispatch', 30_000);
      await emitSeries(core, 'k', 0, 8);
      await until(async () => (await metric(core, 'ssehub_webhook_dropped_total', { reason: 'queue_full' })) === 3, 'three dropped from the full queue', 30_000);
      assert.equal(await metric(core, 'ssehub_webhook_queue_depth'), 5);
      await receiver.up();
      await receiver.until(() => receiver.accepted().some((webhook) => webhook.data.n === 7), 'the newest webhook');
      assert.deepEqual(receiver.accepted().map((webhook) => webhook.data.n), [3, 4, 5, 6, 7]);
    } finally {
      await core.close();
      await receiver.down();
    }
  });

  test('a webhook still failing after --webhook-retry-for is dropped', async () => {
    const receiver = new WebhookReceiver(await freePort(), TEST_WEBHOOK_SECRET, () => 503);
    await receiver.up();
    const core = await startCore(hubConfig(receiver, { webhookRetryForMs: 300 }));
    try {
      await emitSeries(core, 'k', 0, 1);
      await until(async () => (await metric(core, 'ssehub_webhook_dropped_total', { reason: 'expired' })) === 1, 'the webhook to expire', 30_000);
      assert.ok(receiver.requests.length >= 1 && receiver.requests.every((webhook) => webhook.status === 503));
      assert.equal(await metric(core, 'ssehub_webhook_queue_depth'), 0);
    } finally {
      await core.close();
      await receiver.down();
    }
  });

  test('a receiver that never answers holds up neither emitting nor publishing', async () => {
    const held: ServerResponse[] = [];
    const server = createServer((req, res) => void held.push(res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const core = await startCore(defaultConfig({ port: 0, logLevel: 'silent', statsIntervalMs: 0, webhooks: [url], webhookSecrets: [TEST_WEBHOOK_SECRET] }));
    try {
      await until(() => held.length > 0 || core.context.webhooks!.dispatcher.dispatching, 'the hub to dispatch', 30_000);
      await Promise.all(Array.from({ length: 40 }, (_, i) => emitSeries(core, `k${i}`, 0, 1)));
      await until(() => held.length === 16, 'the receiver to hold 16 requests, one per key up to the bound', 30_000);
      const [stored] = await core.context.hub.publish([{ topic: 'news', data: '"still flowing"' }]);
      assert.ok(stored!.id, 'the publish was answered while every delivery hangs');
      assert.equal(await metric(core, 'ssehub_webhook_queue_depth'), 40);
    } finally {
      await core.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('webhooks: a full queue over a slow receiver', () => {
  test('dropping a webhook whose request is out lets that request finish: no request churn at the receiver', async () => {
    const held: ServerResponse[] = [];
    const server = createServer((req, res) => void held.push(res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const core = await startCore(defaultConfig({ port: 0, logLevel: 'silent', statsIntervalMs: 0, historyMaxEvents: 20, webhooks: [url], webhookSecrets: [TEST_WEBHOOK_SECRET] }));
    try {
      await until(() => core.context.webhooks!.dispatcher.dispatching, 'the hub to dispatch', 30_000);
      await Promise.all(Array.from({ length: 16 }, (_, i) => emitSeries(core, `first${i}`, 0, 1)));
      await until(() => held.length === 16, 'the receiver to hold 16 requests', 30_000);
      // Far more than the queue holds: the 16 out are among the oldest dropped.
      await Promise.all(Array.from({ length: 200 }, (_, i) => emitSeries(core, `more${i}`, 0, 1)));
      await until(async () => (await metric(core, 'ssehub_webhook_dropped_total', { reason: 'queue_full' })) >= 180, 'the oldest to be dropped', 30_000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(held.length, 16, 'no new request while the 16 out are unanswered');
      assert.ok(held.every((res) => !res.destroyed && !res.req.destroyed), 'the requests out were not cut');
    } finally {
      await core.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

for (const [name, kind, service] of SHARED_ENGINES) {
  const check = await service();
  describeUnlessSkipped(`webhooks on ${name}`, { skip: check.skipReason() }, () => {
    test('three hubs, the receiver down and the dispatching hub replaced: every webhook once, signed, in order per key', async () => {
      const namespace = freshNamespace('wh');
      const receiver = new WebhookReceiver(await freePort(), TEST_WEBHOOK_SECRET);
      const config = hubConfig(receiver, { engine: check.url, namespace });
      const cores: HubCore[] = [];
      try {
        for (let i = 0; i < 3; i++) cores.push(await startCore(config));
        await until(() => dispatcherOf(cores) !== undefined, 'one hub to dispatch', 30_000);
        assert.equal(cores.filter((core) => core.context.webhooks!.dispatcher.dispatching).length, 1, 'one dispatcher in the cluster');
        // Delivered before the takeover: the next dispatcher starts after them (its cursor), not again.
        await receiver.up();
        await Promise.all(cores.map((core, i) => emitSeries(core, `before${i}`, 0, 2)));
        await receiver.until(() => receiver.accepted().length >= 6, 'the first 6 webhooks');
        await receiver.down();
        // Every hub emits on keys of its own while the receiver is down.
        await Promise.all(cores.map((core, i) => emitSeries(core, `hub${i}`, 0, 5)));
        const first = dispatcherOf(cores)!;
        await until(async () => (await metric(first, 'ssehub_webhook_attempt_failures_total')) >= 3, 'refused attempts while the receiver is down', 30_000);
        // The dispatcher goes away with the webhooks undelivered; a new hub joins.
        cores.splice(cores.indexOf(first), 1);
        await first.close();
        cores.push(await startCore(config));
        await until(() => dispatcherOf(cores) !== undefined, 'another hub to take over', 30_000);
        await Promise.all(cores.map((core, i) => emitSeries(core, `after${i}`, 0, 3)));
        await receiver.up();
        await receiver.until(() => receiver.accepted().length >= 30, 'all 30 webhooks');
        await until(async () => (await metric(dispatcherOf(cores)!, 'ssehub_webhook_queue_depth')) === 0, 'an empty queue', 30_000);
        checkDelivered(
          receiver.accepted(),
          new Map([['before0', 2], ['before1', 2], ['before2', 2], ['hub0', 5], ['hub1', 5], ['hub2', 5], ['after0', 3], ['after1', 3], ['after2', 3]]),
        );
      } finally {
        await Promise.all(cores.map((core) => core.close()));
        await receiver.down();
        await removeNamespace(kind, check.url, namespace);
      }
    });
  });
}
