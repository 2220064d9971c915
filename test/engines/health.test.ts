/**
 * GET /healthz against the real engine servers, reached through a TCP proxy the test controls:
 * 200 while the server answers; 503 with a stable body while it cannot be reached (proxy gone) or
 * does not answer (proxy holding every byte), within the check's deadline; 200 again once it is
 * back, without restarting the hub. /livez stays 200 throughout.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import type { RunningHub } from '../../src/start.js';
import { startTestHub } from '../support/hub.js';
import { httpRequest, type Reply } from '../support/http.js';
import { freshNamespace, removeNamespace, type EngineKind } from '../support/namespaces.js';
import { natsService, postgresService, redisService, type ServiceCheck } from '../support/services.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { describeUnlessSkipped } from '../support/skip.js';

const engines: Array<{ kind: EngineKind; service: ServiceCheck }> = [
  { kind: 'redis', service: await redisService() },
  { kind: 'nats', service: await natsService() },
  { kind: 'postgres', service: await postgresService() },
];

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

/** The service's URL with its host and port replaced by the proxy's. */
function through(serviceUrl: string, proxyUrl: string): string {
  const url = new URL(serviceUrl);
  url.host = new URL(proxyUrl).host;
  return url.href;
}

/** Polls /healthz until it answers `status`; returns that answer. */
async function healthBecomes(hubUrl: string, status: number, timeoutMs = 20_000): Promise<Reply> {
  const deadline = Date.now() + timeoutMs;
  let last: Reply | undefined;
  for (;;) {
    last = await httpRequest(`${hubUrl}/healthz`);
    if (last.status === status) return last;
    if (Date.now() > deadline) throw new Error(`/healthz still answers ${last.status} (${last.text}), expected ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function hubThrough(kind: EngineKind, service: ServiceCheck, proxy: { url: string }): Promise<RunningHub> {
  const namespace = freshNamespace('h');
  const hub = await startTestHub({ engine: through(service.url, proxy.url), namespace });
  cleanups.push(() => removeNamespace(kind, service.url, namespace));
  cleanups.push(() => hub.close());
  return hub;
}

for (const { kind, service } of engines) {
  describeUnlessSkipped(`/healthz on the ${kind} engine`, { skip: service.skipReason() }, () => {
    test(`the ${service.name} server answers at ${service.url}`, () => {
      assert.ok(service.reachable, `${service.name} is not reachable at ${service.url}`);
    });

    test('200 while the server answers, 503 while it cannot be reached, 200 again once it is back', async () => {
      const first = await startTcpProxy(service.url);
      const port = Number(new URL(first.url).port);
      let proxy: TcpProxy = first;
      cleanups.push(() => proxy.close());
      const hub = await hubThrough(kind, service, first);

      const up = await httpRequest(`${hub.url}/healthz`);
      assert.equal(up.status, 200, up.text);
      const upBody = up.json();
      assert.equal(upBody.status, 'ok');
      assert.equal(upBody.engine.name, kind);
      assert.equal(upBody.engine.ok, true);
      assert.equal(typeof upBody.engine.latencyMs, 'number');

      // The server goes away: open connections are cut and new ones refused.
      await first.close();
      const down = await healthBecomes(hub.url, 503);
      const downBody = down.json();
      assert.deepEqual(Object.keys(downBody).sort(), ['engine', 'status']);
      assert.equal(downBody.status, 'unavailable');
      assert.deepEqual(Object.keys(downBody.engine).sort(), ['detail', 'name', 'ok']);
      assert.equal(downBody.engine.name, kind);
      assert.equal(downBody.engine.ok, false);
      assert.ok(downBody.engine.detail.length > 0);
      const live = await httpRequest(`${hub.url}/livez`);
      assert.equal(live.status, 200, 'liveness does not depend on the engine');

      // Back on the same address: the hub reconnects by itself.
      proxy = await startTcpProxy(service.url, port);
      const back = await healthBecomes(hub.url, 200);
      assert.equal(back.json().engine.ok, true);
    });
  });
}

/**
 * A TCP proxy that can hold every byte in both directions (connections stay open: a server that
 * hangs), and later deliver what it held, in order, so that no protocol stream is corrupted.
 */
async function startHoldingProxy(target: string): Promise<{ url: string; hold(): void; release(): void; heldToServer(): string; close(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let holding = false;
  const held: Array<{ to: Socket; chunk: Buffer; toServer: boolean }> = [];
  const forward = (from: Socket, to: Socket, toServer: boolean): void => {
    from.on('data', (chunk: Buffer) => {
      if (holding) held.push({ to, chunk, toServer });
      else to.write(chunk);
    });
  };
  const server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    forward(client, upstream, true);
    forward(upstream, client, false);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hold: () => void (holding = true),
    release: () => {
      holding = false;
      for (const { to, chunk } of held.splice(0)) to.write(chunk);
    },
    heldToServer: () => Buffer.concat(held.filter((entry) => entry.toServer).map((entry) => entry.chunk)).toString('latin1'),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const redis = engines[0]!.service;
describeUnlessSkipped('/healthz when the redis server hangs', { skip: redis.skipReason() }, () => {
  test('503 once the check\'s deadline passes, one probe (EXISTS of the log\'s key) in flight however many checks, 200 after', async () => {
    const proxy = await startHoldingProxy(redis.url);
    cleanups.push(() => proxy.close());
    const hub = await hubThrough('redis', redis, proxy);
    assert.equal((await httpRequest(`${hub.url}/healthz`)).status, 200);

    proxy.hold();
    const replies = await Promise.all(Array.from({ length: 5 }, () => httpRequest(`${hub.url}/healthz`)));
    for (const reply of replies) {
      assert.equal(reply.status, 503, reply.text);
      // The hub's own deadline answered, not a driver timeout (ioredis would give up after 5 s).
      assert.deepEqual(reply.json(), { status: 'unavailable', engine: { name: 'redis', ok: false, detail: 'the redis server did not answer within 2000 ms' } });
    }
    const more = await Promise.all(Array.from({ length: 5 }, () => hub.hub.engine.health(100)));
    for (const health of more) assert.equal(health.ok, false);
    const probes = proxy.heldToServer().match(/EXISTS/gi) ?? [];
    assert.equal(probes.length, 1, 'checks share the probe in flight instead of piling up on a hung server');

    proxy.release();
    await healthBecomes(hub.url, 200);
  });
});

/** Each engine's own deadline for one operation on a server that holds every byte (see the engines). */
const OPERATION_DEADLINE_MS: Record<EngineKind, number> = { redis: 5000, nats: 5000, postgres: 10_000 };

for (const { kind, service } of engines) {
  describeUnlessSkipped(`a publish when the ${kind} server hangs`, { skip: service.skipReason() }, () => {
    test('is refused with 503 engine_unavailable after the engine\'s deadline, not held; publishing works once the server answers', async () => {
      const proxy = await startHoldingProxy(service.url);
      cleanups.push(() => proxy.close());
      const hub = await hubThrough(kind, service, proxy);
      const publishOne = (data: string) => httpRequest(`${hub.url}/topics/hang`, { method: 'POST', body: data, headers: { 'Content-Type': 'text/plain' } });
      assert.equal((await publishOne('before')).status, 201);

      proxy.hold();
      const started = Date.now();
      const limit = OPERATION_DEADLINE_MS[kind] + 3000;
      const refused = await Promise.race([
        publishOne('while held'),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the publish was not answered within ${limit} ms`)), limit + 5000).unref()),
      ]);
      const waited = Date.now() - started;
      assert.equal(refused.status, 503, refused.text);
      assert.equal(refused.json().error.code, 'engine_unavailable');
      assert.ok(waited < limit, `answered after ${waited} ms`);

      proxy.release();
      const deadline = Date.now() + 20_000;
      let after = await publishOne('after');
      while (after.status !== 201 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        after = await publishOne('after');
      }
      assert.equal(after.status, 201, after.text);
    });
  });
}
