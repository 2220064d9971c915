/**
 * A dispatching hub killed with SIGKILL (no lease given back, nothing flushed): on Redis, NATS and
 * PostgreSQL another hub process takes over once the lease lapses, reads the queue from the engine,
 * and the receiver, down until then, gets every subscription webhook once, signed, opened before
 * closed. Each webhook here comes from a real stream opened and closed over HTTP.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freePort, spawnHub, type HubProcess } from '../support/hub.js';
import { openStream } from '../support/http.js';
import { freshNamespace, removeNamespace } from '../support/namespaces.js';
import { SHARED_ENGINES } from '../support/services.js';
import { describeUnlessSkipped } from '../support/skip.js';
import { TEST_WEBHOOK_SECRET, WebhookReceiver } from '../support/webhook-receiver.js';
import { until } from '../support/wait.js';

const STREAMS_PER_HUB = 3;

/** A metric's value in a hub's /metrics text (0 when absent). */
async function metricOf(hub: HubProcess, name: string): Promise<number> {
  const text = await (await fetch(`${hub.url}/metrics`)).text();
  const line = text.split('\n').find((row) => row.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

for (const [name, kind, service] of SHARED_ENGINES) {
  const check = await service();
  describeUnlessSkipped(`webhook failover on ${name}`, { skip: check.skipReason() }, () => {
    test('the dispatching hub killed: another takes over, and the receiver gets every webhook once', async () => {
      const namespace = freshNamespace('whf');
      const receiver = new WebhookReceiver(await freePort(), TEST_WEBHOOK_SECRET);
      const args = ['--engine', check.url, '--namespace', namespace, '--webhook', `${receiver.url}#subscription.*`, '--webhook-secret', TEST_WEBHOOK_SECRET, '--webhook-retry', '50ms'];
      const hubs: HubProcess[] = [];
      try {
        for (let i = 0; i < 2; i++) hubs.push(await spawnHub(args));
        for (const hub of hubs) {
          for (let i = 0; i < STREAMS_PER_HUB; i++) {
            const stream = await openStream(`${hub.url}/topics/room/${i}`);
            stream.close();
          }
        }
        const expected = hubs.length * STREAMS_PER_HUB * 2;
        let dispatcher: HubProcess | undefined;
        await until(async () => {
          for (const hub of hubs) if ((await metricOf(hub, 'ssehub_webhook_dispatcher')) === 1) dispatcher = hub;
          return dispatcher !== undefined && (await metricOf(dispatcher, 'ssehub_webhook_queue_depth')) === expected;
        }, `one hub to dispatch, with all ${expected} webhooks queued`, 60_000, 50);
        dispatcher!.child.kill('SIGKILL');
        await dispatcher!.exited;
        const survivor = hubs.find((hub) => hub !== dispatcher)!;
        await until(async () => (await metricOf(survivor, 'ssehub_webhook_dispatcher')) === 1, 'the other hub to take over when the lease lapses', 60_000, 50);
        await receiver.up();
        await receiver.until(() => receiver.accepted().length >= expected, `all ${expected} webhooks`);
        await until(async () => (await metricOf(survivor, 'ssehub_webhook_queue_depth')) === 0, 'an empty queue', 60_000, 50);
        const accepted = receiver.accepted();
        assert.equal(accepted.length, expected, 'each webhook once');
        assert.equal(new Set(accepted.map((webhook) => webhook.id)).size, expected);
        assert.ok(accepted.every((webhook) => webhook.signed));
        const bySubscription = new Map<string, string[]>();
        for (const webhook of accepted) {
          const id = webhook.data.subscription as string;
          bySubscription.set(id, [...(bySubscription.get(id) ?? []), webhook.type]);
        }
        assert.equal(bySubscription.size, expected / 2);
        for (const types of bySubscription.values()) assert.deepEqual(types, ['subscription.opened', 'subscription.closed']);
      } finally {
        await Promise.all(hubs.map((hub) => hub.stop()));
        await receiver.down();
        await removeNamespace(kind, check.url, namespace);
      }
    });
  });
}
