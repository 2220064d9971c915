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

  test('GET /livez answers without asking the engine', async () => {
    const reply = await httpRequest(`${hub.url}/livez`);
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['cache-control'], 'no-store');
    assert.deepEqual(reply.json(), { status: 'ok' });
  });

  test('GET /healthz reports the engine: the embedded one is always ok', async () => {
    const reply = await httpRequest(`${hub.url}/healthz`);
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['cache-control'], 'no-store');
    assert.deepEqual(reply.json(), { status: 'ok', engine: { name: 'memory', ok: true, latencyMs: 0 } });
  });

  test('health endpoints are public: no token needed when tokens are required', async () => {
    const locked = await startTestHub({ jwtSecret: 'observability-secret-observability-secret' });
    try {
      assert.equal((await httpRequest(`${locked.url}/topics/private`, { method: 'POST', body: 'x', headers: { 'Content-Type': 'text/plain' } })).status, 401);
      assert.equal((await httpRequest(`${locked.url}/livez`)).status, 200);
      assert.equal((await httpRequest(`${locked.url}/healthz`)).status, 200);
    } finally {
      await locked.close();
    }
  });

  test('a closed engine is not healthy (what /healthz reports while the hub shuts down)', async () => {
    const closing = await startTestHub();
    await closing.hub.engine.close();
    try {
      const reply = await httpRequest(`${closing.url}/healthz`);
      assert.equal(reply.status, 503);
      assert.deepEqual(reply.json(), { status: 'unavailable', engine: { name: 'memory', ok: false, detail: 'the engine is closed' } });
      assert.equal((await httpRequest(`${closing.url}/livez`)).status, 200, 'liveness does not depend on the engine');
    } finally {
      await closing.close();
    }
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
    assert.equal(stats.streamsEndedByGap, 0);
    assert.equal(stats.engine, 'memory');
    assert.equal(typeof stats.uptimeSeconds, 'number');
    assert.match(stats.instance, /^[0-9a-f]{8}$/);

    const reply = await httpRequest(`${hub.url}/metrics`);
    assert.equal(reply.status, 200);
    assert.match(reply.headers['content-type']!, /^text\/plain/);
    assert.equal(metric(reply.text, 'ssehub_connections'), 2);
    assert.equal(metric(reply.text, 'ssehub_events_published_total'), 3);
    assert.equal(metric(reply.text, 'ssehub_events_delivered_total'), 4);
    assert.equal(metric(reply.text, 'ssehub_slow_consumers_dropped_total'), 0);
    assert.equal(metric(reply.text, 'ssehub_streams_ended_by_gap_total'), 0);
    assert.match(reply.text, /# TYPE ssehub_events_published_total counter/);
    assert.ok(metric(reply.text, 'ssehub_process_resident_memory_bytes')! > 0);

    await publish(hub.url, 'obs', 'd');
    const again = await httpRequest(`${hub.url}/metrics`);
    assert.equal(metric(again.text, 'ssehub_events_published_total'), 4, 'counters keep counting across scrapes');
    for (const stream of streams) stream.close();
  });
});
