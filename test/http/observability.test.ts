import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RunningHub } from '../../src/start.js';
import { startTestHub } from '../support/hub.js';
import { httpRequest, openStream, publish } from '../support/http.js';

/** A metric's value from Prometheus text, or undefined. */
function metric(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe('health, stats and metrics', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub();
  });
  after(() => hub.close());

  test('GET /healthz', async () => {
    const reply = await httpRequest(`${hub.url}/healthz`);
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.json(), { status: 'ok' });
  });

  test('GET /stats and GET /metrics count connections, topics, publishes and deliveries', async () => {
    const streams = await Promise.all([1, 2].map(() => openStream(`${hub.url}/topics/obs`)));
    await publish(hub.url, 'obs', 'a');
    await publish(hub.url, 'obs', 'b');
    await publish(hub.url, 'elsewhere', 'c');
    for (const stream of streams) await stream.waitForEvents(2);
    const stats = (await httpRequest(`${hub.url}/stats`)).json();
    assert.equal(stats.connections, 2);
    assert.equal(stats.topics, 2);
    assert.equal(stats.retainedEvents, 3);
    assert.equal(stats.eventsPublished, 3);
    assert.equal(stats.eventsDelivered, 4);
    assert.equal(stats.slowConsumersDropped, 0);
    assert.equal(stats.streamsExpired, 0);
    assert.equal(stats.engine, 'memory');
    assert.equal(typeof stats.uptimeSeconds, 'number');

    const reply = await httpRequest(`${hub.url}/metrics`);
    assert.equal(reply.status, 200);
    assert.match(reply.headers['content-type']!, /^text\/plain/);
    assert.equal(metric(reply.text, 'ssehub_connections'), 2);
    assert.equal(metric(reply.text, 'ssehub_events_published_total'), 3);
    assert.equal(metric(reply.text, 'ssehub_events_delivered_total'), 4);
    assert.equal(metric(reply.text, 'ssehub_slow_consumers_dropped_total'), 0);
    assert.match(reply.text, /# TYPE ssehub_events_published_total counter/);
    assert.ok(metric(reply.text, 'ssehub_process_resident_memory_bytes')! > 0);

    await publish(hub.url, 'obs', 'd');
    const again = await httpRequest(`${hub.url}/metrics`);
    assert.equal(metric(again.text, 'ssehub_events_published_total'), 4, 'counters keep counting across scrapes');
    for (const stream of streams) stream.close();
  });
});
