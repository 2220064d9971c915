/**
 * The sharded Redis engine against a real Redis Cluster of three masters that this file starts:
 * the engine contract on one shard (the Redis engine over the Cluster client), then three shards:
 * where topics and shards land, one delivery per event on every instance in each shard's order,
 * resume across shards from a vector id, batches over shards with a dedupe key, and a master lost.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { after, afterEach, test } from 'node:test';
import type { Engine, StoredEvent } from '../../src/engines/engine.js';
import { hashSlot, shardOf, shardTag, ShardedRedisEngine } from '../../src/engines/redis-sharded.js';
import { openEngine } from '../../src/engines/index.js';
import { silentEngineLogger, type EngineSettings } from '../../src/engines/settings.js';
import { HubError } from '../../src/errors.js';
import { parseSelector } from '../../src/topics/index.js';
import { startTestHub } from '../support/hub.js';
import { openStream, publish } from '../support/http.js';
import { OwnRedisCluster, redisClusterSkipReason } from '../support/redis-cluster.js';
import { describeUnlessSkipped } from '../support/skip.js';
import { describeEngineContract, eventually } from './contract.js';

const run = promisify(execFile);
const skip = redisClusterSkipReason();
const cluster = skip === undefined ? await OwnRedisCluster.start(3) : undefined;
after(async () => {
  await cluster?.dispose();
});

const service = {
  name: 'Redis Cluster',
  url: cluster?.url ?? 'redis-cluster://',
  reachable: cluster !== undefined,
  skipReason: () => skip,
};

describeEngineContract('redis-cluster, one shard', {
  shared: true,
  service,
  open: (settings) => ShardedRedisEngine.open(service.url, { ...settings, redisShards: 1 }, silentEngineLogger),
});

const opened: Engine[] = [];
afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map((engine) => engine.close()));
});

async function open(settings: Partial<EngineSettings> & { namespace: string }): Promise<ShardedRedisEngine> {
  const engine = await ShardedRedisEngine.open(service.url, { historyMaxEvents: 1000, historyMaxAgeMs: 3_600_000, redisShards: 3, ...settings }, silentEngineLogger);
  opened.push(engine);
  return engine;
}

const namespace = () => `t${randomBytes(5).toString('hex')}`;
const sel = (...sources: string[]) => sources.map((source) => parseSelector(source));
function recorder(engine: Engine): StoredEvent[] {
  const delivered: StoredEvent[] = [];
  engine.onDeliver((event) => delivered.push(event));
  return delivered;
}

/** A topic namespace (first segment) on each of the three shards. */
function topicsOnEachShard(shards = 3): string[] {
  const firsts: string[] = [];
  for (let i = 0; firsts.length < shards; i++) {
    if (shardOf(`tenant${i}`, shards) === firsts.length) firsts.push(`tenant${i}`);
  }
  return firsts;
}

test('hash slots are Redis Cluster\'s own, and the shards\' tags spread over the three masters', { skip }, async () => {
  for (const tag of ['a', 'ssehub.0.0', 'tenant-42', '日本']) {
    const { stdout } = await run('redis-cli', ['-p', String(cluster!.masters[0]!.port), 'cluster', 'keyslot', `{${tag}}:log`]);
    assert.equal(hashSlot(tag), Number(stdout.trim()), `slot of ${JSON.stringify(tag)}`);
  }
  const tags = [0, 1, 2].map((k) => shardTag('ssehub', k, 3));
  const masters = await Promise.all(tags.map((tag) => cluster!.masterOf(`{${tag}}:log`)));
  assert.equal(new Set(masters.map((master) => master.port)).size, 3, `${tags.join(', ')} on ${masters.map((master) => master.port).join(', ')}`);
  assert.equal(shardOf('tenant-1/orders/1', 3), shardOf('tenant-1/users/9', 3), 'a topic namespace stays on one shard');
});

describeUnlessSkipped('the sharded Redis engine on three masters', { skip }, () => {
  test('opened by its URL, it reports its shards and refuses settings it cannot keep', async () => {
    const engine = await openEngine(service.url, { historyMaxEvents: 10, historyMaxAgeMs: 60_000, namespace: namespace(), redisShards: 3 });
    opened.push(engine);
    assert.equal(engine.name, 'redis-cluster');
    assert.equal((await engine.health()).ok, true);
    for (const settings of [{ redisShards: 7 }, { redisShards: 0 }, { redisWaitReplicas: 1 }]) {
      await assert.rejects(openEngine(service.url, { historyMaxEvents: 10, historyMaxAgeMs: 60_000, namespace: namespace(), ...settings }), (error: unknown) => error instanceof HubError && error.code === 'invalid_config', JSON.stringify(settings));
    }
  });

  test('a namespace keeps the shard count it was first opened with: another count is refused', async () => {
    const ns = namespace();
    await open({ namespace: ns, redisShards: 3 });
    await assert.rejects(open({ namespace: ns, redisShards: 2 }), (error: unknown) => error instanceof HubError && error.code === 'invalid_config' && /runs with --redis-shards 3, not 2/.test(error.message));
    await open({ namespace: ns, redisShards: 3 }); // the same count joins
  });

  test('each shard\'s events live on its own master', async () => {
    const ns = namespace();
    const engine = await open({ namespace: ns });
    const firsts = topicsOnEachShard();
    await engine.append(firsts.map((first) => ({ topic: `${first}/x`, data: first })));
    for (const [k, shardNamespace] of engine.shardNamespaces.entries()) {
      const master = await cluster!.masterOf(`${shardNamespace}:log`);
      const { stdout } = await run('redis-cli', ['-p', String(master.port), 'xlen', `${shardNamespace}:log`]);
      assert.equal(Number(stdout.trim()), 1, `shard ${k} holds its one event on ${master.port}`);
    }
  });

  test('every instance delivers every event once, each shard in its order; ids order the events of a shard', async () => {
    const ns = namespace();
    const [a, b] = [await open({ namespace: ns }), await open({ namespace: ns })];
    const [onA, onB] = [recorder(a!), recorder(b!)];
    const firsts = topicsOnEachShard();
    const appends: Array<Promise<StoredEvent[]>> = [];
    for (let i = 0; i < 60; i++) {
      const publisher = i % 2 === 0 ? a! : b!;
      appends.push(publisher.append([{ topic: `${firsts[i % 3]}/t${i % 5}`, data: String(i) }]));
    }
    const stored = (await Promise.all(appends)).flat();
    await eventually(() => onA.length >= 60 && onB.length >= 60, 'delivery on both instances');
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (const delivered of [onA, onB]) {
      assert.deepEqual(delivered.map((event) => event.data).sort(), stored.map((event) => event.data).sort(), 'each event once');
      for (const first of firsts) {
        const own = delivered.filter((event) => event.topic.startsWith(`${first}/`));
        for (let i = 1; i < own.length; i++) assert.ok(a!.compareIds(own[i]!.id, own[i - 1]!.id) > 0, `${own[i]!.id} after ${own[i - 1]!.id}`);
      }
    }
    const order = (delivered: StoredEvent[], first: string) => delivered.filter((event) => event.topic.startsWith(`${first}/`)).map((event) => event.data);
    for (const first of firsts) assert.deepEqual(order(onA, first), order(onB, first), `shard of ${first}: one order on both instances`);
  });

  test('a stream over every shard resumes on another instance from any id it received: nothing lost, nothing twice', async () => {
    const ns = namespace();
    const [a, b] = [await open({ namespace: ns }), await open({ namespace: ns })];
    const onA = recorder(a!);
    const firsts = topicsOnEachShard();
    for (let i = 0; i < 45; i++) await (i % 2 === 0 ? a! : b!).append([{ topic: `${firsts[i % 3]}/x`, data: String(i) }]);
    await eventually(() => onA.length >= 45, 'delivery on a');
    for (const cut of [0, 1, 10, 22, 44]) {
      const history = await b!.history(sel('**'), onA[cut]!.id);
      assert.equal(history.complete, true, `from event ${cut}`);
      assert.deepEqual(history.events.map((event) => event.data).sort(), onA.slice(cut + 1).map((event) => event.data).sort(), `from event ${cut}: exactly the rest`);
      // The ids handed out along the replay resume exactly too: from the middle of the replay, the rest of it.
      const middle = history.events[Math.floor(history.events.length / 2)];
      if (middle) {
        const rest = await a!.history(sel('**'), middle.id);
        const after = history.events.slice(history.events.indexOf(middle) + 1);
        assert.deepEqual(rest.events.map((event) => event.data).sort(), after.map((event) => event.data).sort(), `from the replay's id ${middle.id}`);
      }
    }
    // A position resumes too, and one selector reads only its own shard.
    const position = await a!.position();
    await a!.append([{ topic: `${firsts[1]}/x`, data: 'later' }]);
    await eventually(() => onA.length === 46, 'the later event');
    assert.deepEqual((await b!.history(sel('**'), position)).events.map((event) => event.data), ['later']);
    assert.deepEqual((await b!.history(sel(`${firsts[0]}/x`), onA[0]!.id)).events.map((event) => event.data), onA.slice(1).filter((event) => event.topic === `${firsts[0]}/x`).map((event) => event.data));
  });

  test('history never answers past its position: live delivery after it cannot repeat what it returned', async () => {
    const ns = namespace();
    const engine = await open({ namespace: ns });
    const firsts = topicsOnEachShard();
    const delivered = recorder(engine);
    const start = await engine.position();
    const writes = Promise.all(Array.from({ length: 90 }, (_, i) => engine.append([{ topic: `${firsts[i % 3]}/x`, data: String(i) }])));
    // Reads made while the appends are delivered, each at its own moment.
    const reads = Array.from({ length: 10 }, async (_, i) => {
      await new Promise((resolve) => setTimeout(resolve, i * 3));
      return engine.history(sel('**'), start);
    });
    await writes;
    await eventually(() => delivered.length === 90, 'delivery');
    for (const history of await Promise.all(reads)) {
      const replayed = new Set(history.events.map((event) => event.data));
      const live = delivered.filter((event) => engine.compareIds(event.id, history.position) > 0).map((event) => event.data);
      for (const data of live) assert.ok(!replayed.has(data), `event ${data} both replayed and live after ${history.position}`);
      assert.equal(replayed.size + live.length, 90, 'replayed and live together: every event');
    }
  });

  test('a batch over shards is stored once with its dedupe key, even when repeated from another instance', async () => {
    const ns = namespace();
    const [a, b] = [await open({ namespace: ns }), await open({ namespace: ns })];
    const firsts = topicsOnEachShard();
    const batch = firsts.flatMap((first) => [{ topic: `${first}/x`, data: `${first} one` }, { topic: `${first}/y`, data: `${first} two` }]);
    const start = await a!.position();
    const first = await a!.append(batch, { dedupeKey: 'batch-1' });
    const again = await b!.append(batch, { dedupeKey: 'batch-1' });
    assert.deepEqual(first.map((event) => event.data), batch.map((event) => event.data), 'answered in the batch\'s order');
    for (let i = 0; i < batch.length; i++) assert.equal(a!.compareIds(again[i]!.id, first[i]!.id), 0, 'the repeat answers the first ids');
    const history = await a!.history(sel('**'), start);
    assert.deepEqual(history.events.map((event) => event.data).sort(), batch.map((event) => event.data).sort(), 'each event stored once');
  });

  test('ids: an event is before any id that has reached it in its shard; malformed and foreign ids sort first', async () => {
    const ns = namespace();
    const engine = await open({ namespace: ns });
    const delivered = recorder(engine);
    const firsts = topicsOnEachShard();
    await engine.append([{ topic: `${firsts[0]}/x`, data: 'a' }]);
    await engine.append([{ topic: `${firsts[1]}/x`, data: 'b' }]);
    await engine.append([{ topic: `${firsts[0]}/x`, data: 'c' }]);
    await eventually(() => delivered.length === 3, 'delivery');
    // Shards deliver independently (a and b may arrive in either order): ids order what this instance delivered as it delivered it.
    const ids = delivered.map((event) => event.id);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) assert.equal(Math.sign(engine.compareIds(ids[i]!, ids[j]!)), Math.sign(i - j), `delivered ${i} against ${j}`);
    }
    const position = await engine.position();
    const [a, c] = ['a', 'c'].map((data) => delivered.find((event) => event.data === data)!.id);
    assert.ok(engine.compareIds(a!, position) < 0 && engine.compareIds(position, a!) > 0, 'the position is past a');
    assert.equal(engine.compareIds(c!, position), 0, 'the position stands at c, the newest of its shard');
    assert.equal(engine.compareIds(position, position), 0);
    for (const bad of ['', 'garbage', '1~a.b', `9~${position}`, a!.replace(/\.[^.]*$/, '')]) {
      assert.ok(engine.compareIds(bad, a!) < 0, `${JSON.stringify(bad)} sorts first`);
      const history = await engine.history(sel('**'), bad);
      assert.equal(history.reason, 'unknown-id', `${JSON.stringify(bad)} is unknown`);
      assert.deepEqual(history.events.map((event) => event.data).sort(), ['a', 'b', 'c'], 'and what is retained is replayed');
    }
  });

  test('a master lost: its shard answers 503 and health names it; the other shards publish and deliver', async () => {
    const own = await OwnRedisCluster.start(3);
    try {
      const engine = await ShardedRedisEngine.open(own.url, { historyMaxEvents: 100, historyMaxAgeMs: 3_600_000, namespace: namespace(), redisShards: 3 }, silentEngineLogger);
      opened.push(engine);
      const delivered = recorder(engine);
      const firsts = topicsOnEachShard();
      const victim = await own.masterOf(`${engine.shardNamespaces[0]}:log`);
      await victim.kill();
      await assert.rejects(engine.append([{ topic: `${firsts[0]}/x`, data: 'lost shard' }]), (error: unknown) => error instanceof HubError && error.status === 503);
      await engine.append([{ topic: `${firsts[1]}/x`, data: 'one' }, { topic: `${firsts[2]}/x`, data: 'two' }]);
      await eventually(() => delivered.length === 2, 'delivery from the shards that stand', 10_000);
      const health = await engine.health(1000);
      assert.equal(health.ok, false);
      assert.match(health.detail ?? '', /^shard 0: /);
    } finally {
      await own.dispose();
    }
  });
});

describeUnlessSkipped('a hub on the sharded Redis engine', { skip }, () => {
  test('a stream over three shards, closed and reopened with its Last-Event-ID on another hub, gets exactly what it missed', async () => {
    const ns = namespace();
    const [a, b] = await Promise.all([0, 1].map(() => startTestHub({ engine: service.url, namespace: ns, redisShards: 3, maxStreamsPerIp: 0 })));
    try {
      const topics = topicsOnEachShard().map((first) => `${first}/room`);
      const query = topics.map((topic) => `topic=${encodeURIComponent(topic)}`).join('&');
      const first = await openStream(`${a!.url}/events?${query}`);
      for (let i = 0; i < 30; i++) await publish((i % 2 === 0 ? a! : b!).url, topics[i % 3]!, `before ${i}`);
      await first.waitForEvents(30, 10_000);
      const lastEventId = first.lastEventId();
      assert.ok(lastEventId.length <= 256, `${lastEventId} fits a Last-Event-ID`);
      first.close();
      for (let i = 0; i < 30; i++) await publish((i % 2 === 0 ? a! : b!).url, topics[i % 3]!, `after ${i}`);
      const resumed = await openStream(`${b!.url}/events?${query}`, { 'Last-Event-ID': lastEventId });
      await resumed.waitForEvents(30, 10_000);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const data = resumed.events.map((event) => event.data);
      assert.deepEqual([...data].sort(), Array.from({ length: 30 }, (_, i) => `after ${i}`).sort(), 'each missed event once, nothing from before');
      for (const topic of topics) {
        const own = resumed.events.filter((event) => event.data.startsWith('after') && topics[Number(event.data.split(' ')[1]) % 3] === topic).map((event) => Number(event.data.split(' ')[1]));
        assert.deepEqual(own, [...own].sort((x, y) => x - y), `${topic}: in the order published`);
      }
      resumed.close();
    } finally {
      await Promise.all([a, b].map((hub) => hub!.close()));
    }
  });
});
