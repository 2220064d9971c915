/**
 * Three real hub processes on one shared engine, for each distributed engine (and the sharded Redis
 * engine on a Redis Cluster of three masters): subscribers on A,
 * publishers on B and C, A killed with SIGKILL mid-stream, its clients failing over to B with
 * their Last-Event-ID. Every client must receive every event exactly once, in order.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, describe, test } from 'node:test';
import { spawnHub, type HubProcess } from '../support/hub.js';
import { mintToken } from '../../src/auth/tokens.js';
import { defaultConfig } from '../../src/config.js';
import { openEngine } from '../../src/engines/index.js';
import { httpRequest, openStream } from '../support/http.js';
import { checkExactlyOnceInOrder, FailoverSubscriber, publishWithRetry } from '../support/cluster.js';
import { natsService, postgresService, redisService, type ServiceCheck } from '../support/services.js';
import { describeUnlessSkipped } from '../support/skip.js';
import { OwnRedisCluster, redisClusterSkipReason } from '../support/redis-cluster.js';

// The sharded Redis engine on a Redis Cluster of three masters this file runs; its topics here all
// share their first segment (jobs/…, one shard), so order holds as on the other engines.
const redisClusterSkip = redisClusterSkipReason();
const redisCluster = redisClusterSkip === undefined ? await OwnRedisCluster.start(3) : undefined;
after(async () => {
  await redisCluster?.dispose();
});

const engines: Array<{ name: string; service: ServiceCheck }> = [
  { name: 'redis', service: await redisService() },
  { name: 'nats', service: await natsService() },
  { name: 'postgres', service: await postgresService() },
  {
    name: 'redis-cluster',
    service: { name: 'Redis Cluster', url: redisCluster?.url ?? 'redis-cluster://', reachable: redisCluster !== undefined, skipReason: () => redisClusterSkip },
  },
];

/**
 * What identifies an event across instances: its id, but on the sharded engine (whose ids carry
 * the delivering instance's position in every shard) the component of the event's own shard.
 */
function eventKey(name: string, id: string): string {
  if (name !== 'redis-cluster') return id;
  const [own, vector] = id.split('~');
  return vector === undefined ? id : `${own}~${vector.split('.')[Number(own)]}`;
}

const started: HubProcess[] = [];
const subscribers: FailoverSubscriber[] = [];
// Each test's subscribers and hubs are stopped when it ends, failed or not: a subscriber left
// reconnecting would keep the file's process alive after its last test.
afterEach(async () => {
  await Promise.allSettled(subscribers.splice(0).map((subscriber) => subscriber.stop()));
  await Promise.allSettled(started.splice(0).map((hub) => hub.stop()));
});

/** A FailoverSubscriber stopped when the test ends. */
function subscribe(hubs: () => string[], path: string): FailoverSubscriber {
  const subscriber = new FailoverSubscriber(hubs, path);
  subscribers.push(subscriber);
  return subscriber;
}

const SECRET = 'cluster-secret-cluster-secret-cluster!';

const newNamespace = () => `c${randomBytes(5).toString('hex')}`;

async function startCluster(engineUrl: string, count: number, extra: string[] = [], namespace = newNamespace()): Promise<HubProcess[]> {
  const args = ['--engine', engineUrl, '--namespace', namespace, '--max-streams-per-ip', '0', '--publish-rate', '0', '--heartbeat', '1s', ...extra];
  // Each hub is tracked as soon as it listens: when another fails to start, the ones that did are
  // still stopped after the test (left running, they would keep the file's process alive).
  const hubs = await Promise.all(Array.from({ length: count }, () => spawnHub(args).then((hub) => (started.push(hub), hub))));
  return hubs;
}

for (const { name, service } of engines) {
  describeUnlessSkipped(`three hubs on ${name}`, { skip: service.skipReason() }, () => {
    test(`the ${service.name} server answers at ${service.url}`, () => {
      assert.ok(service.reachable, `${service.name} is not reachable at ${service.url}`);
    });

    test('a publish on any instance reaches subscribers on every instance', async () => {
      const [a, b, c] = await startCluster(service.url, 3);
      const subscribers = [a!, b!, c!].map((hub) => subscribe(() => [hub.url], '/topics/everywhere'));
      await new Promise((resolve) => setTimeout(resolve, 300));
      for (const [i, hub] of [a!, b!, c!].entries()) {
        const reply = await httpRequest(`${hub.url}/topics/everywhere`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: `h:${i}` });
        assert.equal(reply.status, 201);
      }
      for (const subscriber of subscribers) await subscriber.waitFor((events) => events.length >= 3, 'three events');
      const orders = subscribers.map((subscriber) => subscriber.events.map((event) => eventKey(name, event.lastEventId)));
      assert.deepEqual(orders[1], orders[0], 'every instance delivers in the same order');
      assert.deepEqual(orders[2], orders[0]);
      assert.equal(checkExactlyOnceInOrder(subscribers[0]!.events, { h: 3 }), undefined);
      await Promise.all(subscribers.map((subscriber) => subscriber.stop()));
    });

    test('instance A killed mid-stream: its clients resume on B with Last-Event-ID, exactly once and in order', async () => {
      const [a, b, c] = await startCluster(service.url, 3);
      let alive = [a!, b!, c!];
      // On the sharded engine the two publishers' topics are on two shards (p0 → 0, p1 → 1 of 3),
      // so the streams span shards and resume with vector ids.
      const sharded = name === 'redis-cluster';
      const topicOf = (p: number) => (sharded ? `p${p}/jobs` : `jobs/p${p}`);
      const paths = sharded
        ? ['/events?topic=p0/jobs&topic=p1/jobs', '/events?topic=*/jobs', '/events?topic=p0/**&topic=p1/jobs']
        : ['/events?topic=jobs/p0&topic=jobs/p1', '/events?topic=jobs/*', '/events?topic=jobs/**&topic=jobs/p0'];
      const subscribers = Array.from({ length: 12 }, (_, i) => subscribe(() => alive.map((hub) => hub.url), paths[i % paths.length]!));
      await new Promise((resolve) => setTimeout(resolve, 500));
      const perPublisher = 150;
      const publishers = [b!, c!].map(async (hub, p) => {
        for (let n = 0; n < perPublisher; n++) {
          await publishWithRetry(() => [hub.url], topicOf(p), `p${p}:${n}`, `p${p}-${n}`);
          if (n % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
        }
      });
      // Kill A once its clients are well into the stream.
      await subscribers[0]!.waitFor((events) => events.length >= 60, 'events before the kill');
      a!.child.kill('SIGKILL');
      await a!.exited;
      alive = [b!, c!];
      await Promise.all(publishers);
      const counts = { p0: perPublisher, p1: perPublisher };
      for (const [i, subscriber] of subscribers.entries()) {
        await subscriber.waitFor((events) => events.length >= 2 * perPublisher, `subscriber ${i} to catch up`).catch((error: Error) => {
          // Which event is missing, or came twice, or out of order, says more than the count.
          assert.fail(`${error.message}; ${checkExactlyOnceInOrder(subscriber.events, counts) ?? 'in order so far'}; its last id ${subscriber.events.at(-1)?.lastEventId}`);
        });
        await new Promise((resolve) => setTimeout(resolve, i === 0 ? 300 : 0)); // room for a duplicate to show up
        assert.equal(checkExactlyOnceInOrder(subscriber.events, counts), undefined, `subscriber ${i}`);
        assert.deepEqual(subscriber.controls, [], `subscriber ${i} needed no reset`);
      }
      assert.ok(subscribers.every((subscriber) => subscriber.reconnects >= 1), 'every client started on A and failed over');
      // One order for every client; across shards there is none, and each publisher's order (checked above) is what holds.
      if (!sharded) {
        const reference = subscribers[0]!.events.map((event) => eventKey(name, event.lastEventId));
        for (const subscriber of subscribers) assert.deepEqual(subscriber.events.map((event) => eventKey(name, event.lastEventId)), reference);
      }
      await Promise.all(subscribers.map((subscriber) => subscriber.stop()));
    });

    test('a retried publish with one Idempotency-Key is stored once, whichever instance the retry reaches', async () => {
      const [a, b] = await startCluster(service.url, 2);
      const subscriber = subscribe(() => [a!.url], '/topics/idem');
      await new Promise((resolve) => setTimeout(resolve, 300));
      const post = (url: string) =>
        httpRequest(`${url}/topics/idem`, { method: 'POST', headers: { 'Content-Type': 'text/plain', 'Idempotency-Key': 'same' }, body: 'x:0' });
      const first = await post(a!.url);
      const retry = await post(b!.url);
      assert.equal(first.status, 201);
      assert.equal(retry.status, 201);
      assert.equal(retry.headers['idempotent-replayed'], 'true');
      assert.equal(retry.json().id, first.json().id);
      await subscriber.waitFor((events) => events.length >= 1, 'the event');
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(subscriber.events.length, 1);
      await subscriber.stop();
    });

    test('a publish stored by an instance that died before recording its Idempotency-Key is not stored again by a retry', async () => {
      const namespace = newNamespace();
      const windowMs = 3000;
      const [a, b] = await startCluster(service.url, 2, ['--idempotency-window', `${windowMs}ms`], namespace);
      const subscriber = subscribe(() => [b!.url], '/topics/died');
      await new Promise((resolve) => setTimeout(resolve, 300));
      const post = (url: string) =>
        httpRequest(`${url}/topics/died`, { method: 'POST', headers: { 'Content-Type': 'text/plain', 'Idempotency-Key': 'k-died' }, body: 'x:0' });
      const first = await post(a!.url);
      assert.equal(first.status, 201);
      a!.child.kill('SIGKILL');
      await a!.exited;
      // What A leaves behind had it died between the engine storing the event and publishOnce
      // recording the key as done, once its pending claim lapsed: the event, and no record.
      const { historyMaxEvents, historyMaxAgeMs } = defaultConfig();
      const engine = await openEngine(service.url, { namespace, historyMaxEvents, historyMaxAgeMs });
      const record = 'idem:ip:127.0.0.1:k-died'; // publishOnce's key for an anonymous publisher on 127.0.0.1
      try {
        assert.notEqual(await engine.kv.get(record), null, 'the record A wrote');
        await engine.kv.delete(record);
      } finally {
        await engine.close();
      }
      const retry = await post(b!.url);
      assert.equal(retry.status, 201);
      assert.equal(retry.headers['idempotent-replayed'], undefined, 'answered by the engine, not by a record');
      assert.equal(eventKey(name, retry.json().id), eventKey(name, first.json().id), 'the first id');
      const retriedAt = Date.now();
      await subscriber.waitFor((events) => events.length >= 1, 'the event');
      await new Promise((resolve) => setTimeout(resolve, 300)); // room for a duplicate to show up
      assert.deepEqual(subscriber.events.map((event) => eventKey(name, event.lastEventId)), [eventKey(name, first.json().id)], 'stored once');
      if (name !== 'nats') {
        // The hub gave the engine its idempotency window: after it, the key publishes anew. (NATS keeps
        // message ids for its stream's duplicate window, two minutes here: see nats.ts.)
        await new Promise((resolve) => setTimeout(resolve, retriedAt + windowMs + 300 - Date.now()));
        const later = await post(b!.url);
        assert.equal(later.status, 201);
        assert.notEqual(eventKey(name, later.json().id), eventKey(name, first.json().id), 'a new event after the window');
      }
      await subscriber.stop();
    });

    test('a stream ticket issued by one instance opens a stream on another, once', async () => {
      const [a, b] = await startCluster(service.url, 2, ['--jwt-secret', SECRET]);
      const token = await mintToken({ secret: SECRET, subscribe: ['tickets/*'], lifetimeSeconds: 60, subject: 'u' });
      const issued = await httpRequest(`${a!.url}/tickets`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({ topics: ['tickets/1'] }),
      });
      assert.equal(issued.status, 201, issued.text);
      const path = `/topics/tickets/1?ticket=${issued.json().ticket}`;
      const stream = await openStream(`${b!.url}${path}`);
      assert.equal(stream.status, 200);
      stream.close();
      await assert.rejects(openStream(`${a!.url}${path}`), (error: { status?: number }) => error.status === 401, 'a second use, anywhere, is refused');
    });
  });
}
