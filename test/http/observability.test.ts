import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { mintToken } from '../../src/auth/tokens.js';
import type { RunningHub } from '../../src/start.js';
import { parseSubscribeSelector } from '../../src/topics/index.js';
import { freePort, startTestHub } from '../support/hub.js';
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
    // The streams' presence messages are out and applied.
    while ((await httpRequest(`${hub.url}/topics/obs/subscribers`)).json().subscribers !== 2) await new Promise((resolve) => setTimeout(resolve, 20));
    const stats = (await httpRequest(`${hub.url}/stats`)).json();
    // The hub's own presence messages went through the engine, and the memory engine kept none.
    const system = await hub.hub.engine.history([parseSubscribeSelector('$ssehub/**')], 'none');
    assert.deepEqual(system.events, [], 'no presence message is kept in the heap');
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

describe('/stats and /metrics on a hub with a key: the admin grant', () => {
  const SECRET = 'operator-secret-operator-secret-operator!';
  const bearer = async (grants: { publish?: string[]; subscribe?: string[]; admin?: boolean }) => ({
    Authorization: `Bearer ${await mintToken({ secret: SECRET, subject: 'operator', lifetimeSeconds: 600, ...grants })}`,
  });
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub({ jwtSecret: SECRET });
  });
  after(() => hub.close());

  test('without a token: 401 token_required', async () => {
    for (const path of ['/stats', '/metrics']) {
      const reply = await httpRequest(`${hub.url}${path}`);
      assert.equal(reply.status, 401, path);
      assert.equal(reply.json().error.code, 'token_required', path);
      assert.match(reply.headers['www-authenticate']!, /^Bearer/);
      assert.doesNotMatch(reply.text, /connections|ssehub_/, 'nothing of the counters leaks');
    }
  });

  test('a token without the admin grant: 403 forbidden, however much it may publish and read', async () => {
    const headers = await bearer({ publish: ['**'], subscribe: ['**', '$ssehub/stats'] });
    for (const path of ['/stats', '/metrics']) {
      const reply = await httpRequest(`${hub.url}${path}`, { headers });
      assert.equal(reply.status, 403, path);
      assert.equal(reply.json().error.code, 'forbidden', path);
      assert.match(reply.json().error.message, /"admin": true/);
    }
  });

  test('a token with the admin grant: 200, from the header or the cookie', async () => {
    const headers = await bearer({ admin: true });
    const stats = await httpRequest(`${hub.url}/stats`, { headers });
    assert.equal(stats.status, 200, stats.text);
    assert.equal(typeof stats.json().connections, 'number');
    const metrics = await httpRequest(`${hub.url}/metrics`, { headers });
    assert.equal(metrics.status, 200);
    assert.ok(metric(metrics.text, 'ssehub_connections') !== undefined);
    const cookie = { Cookie: `ssehub_token=${headers.Authorization.slice('Bearer '.length)}` };
    assert.equal((await httpRequest(`${hub.url}/stats`, { headers: cookie })).status, 200);
  });

  test('the health checks stay public', async () => {
    assert.equal((await httpRequest(`${hub.url}/livez`)).status, 200);
    assert.equal((await httpRequest(`${hub.url}/healthz`)).status, 200);
  });

  test('a hub without a key answers /stats and /metrics to anyone (it listens on 127.0.0.1 by default)', async () => {
    const open = await startTestHub();
    try {
      assert.equal((await httpRequest(`${open.url}/stats`)).status, 200);
      assert.equal((await httpRequest(`${open.url}/metrics`)).status, 200);
    } finally {
      await open.close();
    }
  });
});

/** The error a hub fails to start with; one that starts anyway is closed, and the test fails. */
async function startFailure(overrides: Parameters<typeof startTestHub>[0]): Promise<{ code?: string }> {
  let hub: RunningHub;
  try {
    hub = await startTestHub(overrides);
  } catch (error) {
    return error as { code?: string };
  }
  await hub.close();
  return assert.fail(`the hub started with ${JSON.stringify(overrides)}`);
}

describe('the operator listener (--metrics-listen)', () => {
  const SECRET = 'operator-secret-operator-secret-operator!';

  test('serves /metrics, /stats, /livez and /healthz without a token, and nothing else; the main port still asks', async () => {
    const hub = await startTestHub({ jwtSecret: SECRET, metricsListen: '127.0.0.1:0' });
    try {
      assert.match(hub.metricsUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.notEqual(hub.metricsUrl, hub.url);
      const metrics = await httpRequest(`${hub.metricsUrl}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(metrics.headers['content-type']!, /^text\/plain/);
      assert.equal(metric(metrics.text, 'ssehub_events_published_total'), 0);
      const stats = await httpRequest(`${hub.metricsUrl}/stats`);
      assert.equal(stats.status, 200);
      assert.equal(stats.json().engine, 'memory');
      assert.deepEqual((await httpRequest(`${hub.metricsUrl}/livez`)).json(), { status: 'ok' });
      assert.equal((await httpRequest(`${hub.metricsUrl}/healthz`)).status, 200);
      // Only the operator routes: no streams, no publishing, no dashboard there.
      for (const [method, path] of [['GET', '/topics/a'], ['POST', '/topics/a'], ['POST', '/publish'], ['GET', '/']] as const) {
        const reply = await httpRequest(`${hub.metricsUrl}${path}`, { method, headers: { 'Content-Type': 'text/plain' }, ...(method === 'POST' ? { body: 'x' } : {}) });
        assert.equal(reply.status, 404, `${method} ${path}`);
        assert.equal(reply.json().error.code, 'not_found');
      }
      assert.equal((await httpRequest(`${hub.metricsUrl}/metrics`, { method: 'POST', body: '' })).status, 405);
      assert.equal((await httpRequest(`${hub.url}/metrics`)).status, 401, 'the main port still needs the admin grant');
    } finally {
      await hub.close();
    }
  });

  test('is closed with the hub', async () => {
    const hub = await startTestHub({ metricsListen: '127.0.0.1:0' });
    try {
      assert.equal((await httpRequest(`${hub.metricsUrl}/livez`)).status, 200);
    } finally {
      await hub.close();
    }
    await assert.rejects(httpRequest(`${hub.metricsUrl}/livez`), { code: 'ECONNREFUSED' });
  });

  test('without it there is none', async () => {
    const hub = await startTestHub();
    try {
      assert.equal(hub.metricsUrl, undefined);
    } finally {
      await hub.close();
    }
  });

  test('a port already taken fails the start, and leaves the main port closed', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const takenPort = (taken.address() as { port: number }).port;
    const mainPort = await freePort();
    try {
      assert.equal((await startFailure({ port: mainPort, metricsListen: `127.0.0.1:${takenPort}` })).code, 'port_in_use');
      await assert.rejects(httpRequest(`http://127.0.0.1:${mainPort}/livez`), { code: 'ECONNREFUSED' });
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  test('an address that is not host:port is refused at start, also without loadConfig', async () => {
    for (const bad of ['9090', 'localhost', '127.0.0.1:99999', 'http://127.0.0.1:9090', '::1:9090']) {
      assert.equal((await startFailure({ metricsListen: bad })).code, 'invalid_config', bad);
    }
  });
});
