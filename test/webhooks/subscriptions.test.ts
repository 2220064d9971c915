/**
 * subscription.opened and subscription.closed from real streams: who, which topics, which
 * instance, how long and why it ended; and no webhook traffic at all when no --webhook wants them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mintToken } from '../../src/auth/tokens.js';
import { systemChannelPattern } from '../../src/hub/system-bus.js';
import { parseSubscribeSelector } from '../../src/topics/index.js';
import { freePort, startTestHub } from '../support/hub.js';
import { openStream } from '../support/http.js';
import { TEST_WEBHOOK_SECRET, WebhookReceiver } from '../support/webhook-receiver.js';

const JWT_SECRET = 'a-test-secret-of-at-least-32-bytes!!';

test('a stream opened and closed by its client, then one ended by the hub\'s shutdown', async () => {
  const receiver = new WebhookReceiver(await freePort(), TEST_WEBHOOK_SECRET);
  await receiver.up();
  const running = await startTestHub({ webhooks: [`${receiver.url}#subscription.*`], webhookSecrets: [TEST_WEBHOOK_SECRET], jwtSecret: JWT_SECRET });
  let closed = false;
  try {
    const token = await mintToken({ subject: 'alice', subscribe: ['rooms/**'], lifetimeSeconds: 600, secret: JWT_SECRET });
    const stream = await openStream(`${running.url}/events?topic=rooms/1&topic=rooms/2/*`, { Authorization: `Bearer ${token}` });
    await receiver.until(() => receiver.accepted().length >= 1, 'subscription.opened');
    stream.close();
    await receiver.until(() => receiver.accepted().length >= 2, 'subscription.closed');
    const [opened, ended] = receiver.accepted();
    assert.equal(opened!.type, 'subscription.opened');
    const { subscription, instance } = opened!.data as { subscription: string; instance: string };
    assert.deepEqual(opened!.data, { subscription, subject: 'alice', topics: ['rooms/1', 'rooms/2/*'], instance });
    assert.match(instance, /^[0-9a-f]{8}$/);
    assert.equal(ended!.type, 'subscription.closed');
    assert.equal(ended!.data.subscription, subscription, 'the same subscription id in both');
    assert.equal(ended!.data.reason, 'client-closed');
    assert.equal(typeof ended!.data.durationMs, 'number');
    assert.ok(receiver.accepted().every((webhook) => webhook.signed));

    await openStream(`${running.url}/topics/rooms/3`, { Authorization: `Bearer ${token}` });
    await receiver.until(() => receiver.accepted().length >= 3, 'the second subscription.opened');
    // The hub queues the streams' subscription.closed before it lets the engine go; the memory
    // engine's queue goes with the process, so what the receiver sees is what was in flight.
    const closing = running.close();
    closed = true;
    await closing;
    const last = receiver.requests.at(-1)!;
    if (last.type === 'subscription.closed') assert.equal(last.data.reason, 'shutdown');
  } finally {
    if (!closed) await running.close();
    await receiver.down();
  }
});

test('no webhook wants subscription events: streams queue nothing on $ssehub/webhooks/*', async () => {
  const receiver = new WebhookReceiver(await freePort(), TEST_WEBHOOK_SECRET);
  await receiver.up();
  const running = await startTestHub({ webhooks: [`${receiver.url}#topic.*`], webhookSecrets: [TEST_WEBHOOK_SECRET] });
  try {
    const stream = await openStream(`${running.url}/topics/quiet`);
    stream.close();
    // The stream's close has been handled here once the hub counts no connection: its webhook would be on its way.
    while (running.hub.stats().connections > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    await new Promise((resolve) => setImmediate(resolve));
    const history = await running.hub.engine.history([parseSubscribeSelector(systemChannelPattern('webhooks'))], '');
    // The stream's topic.occupied (wanted) may be queued too, sooner or later by the machine's load:
    // only subscription events must be absent.
    const subscriptionEvents = history.events.filter((event) => event.event?.startsWith('subscription.'));
    assert.deepEqual(subscriptionEvents, []);
  } finally {
    await running.close();
    await receiver.down();
  }
});
