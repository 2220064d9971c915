import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { after, test } from 'node:test';
import { RedisEngine, redisConnection, takeAppendGroup } from '../../src/engines/redis.js';
import type { StoredEvent } from '../../src/engines/engine.js';
import { EngineUnavailableError } from '../../src/engines/unavailable.js';
import { HubError } from '../../src/errors.js';
import { silentEngineLogger, type EngineLogger, type EngineSettings } from '../../src/engines/settings.js';
import { parseSelector } from '../../src/topics/index.js';
import { freshNamespace, removeNamespace } from '../support/namespaces.js';
import { redisService } from '../support/services.js';
import { describeEngineContract, eventually } from './contract.js';
import { describeDeliveryGap } from './delivery-gap.js';
import { describeUnlessSkipped } from '../support/skip.js';
import { startTcpProxy } from '../support/tcp-proxy.js';

const service = await redisService();
const namespaces: string[] = [];

describeEngineContract('redis', {
  shared: true,
  service,
  open: (settings) => {
    namespaces.push(settings.namespace);
    return RedisEngine.open(service.url, settings, silentEngineLogger);
  },
});

// Leave nothing behind on the shared server.
after(async () => {
  if (service.reachable) for (const namespace of new Set(namespaces)) await removeNamespace('redis', service.url, namespace);
});

/** A namespace of its own, removed after the file. */
function ownNamespace(prefix?: string): string {
  const namespace = freshNamespace(prefix);
  namespaces.push(namespace);
  return namespace;
}

/** A RedisEngine on a namespace of its own, with 100 events and an hour of history unless `settings` say otherwise. */
function openOwn(settings: Partial<EngineSettings> = {}, { url = service.url, logger = silentEngineLogger }: { url?: string; logger?: EngineLogger } = {}): Promise<RedisEngine> {
  return RedisEngine.open(url, { historyMaxEvents: 100, historyMaxAgeMs: 3_600_000, namespace: ownNamespace(), ...settings }, logger);
}

// The shared log's length is capped: entries nobody read in time leave it, as XTRIM does here.
describeDeliveryGap(
  'redis',
  {
    service,
    namespace: () => ownNamespace(),
    open: (url, settings) => RedisEngine.open(url, settings, silentEngineLogger),
    remove: async (event, namespace) => {
      const redis = new Redis(service.url);
      try {
        await redis.xdel(`${namespace}:log`, event.id.slice(event.id.indexOf('-') + 1));
      } finally {
        redis.disconnect();
      }
    },
    detail: /left the shared log/,
  },
  async ({ namespace, engine, delivered, gaps, publisher, cutOff, reconnect, cleanup }) => {
    const data = (): string[] => delivered.map((event) => event.data);
    const redis = new Redis(service.url);
    cleanup(() => redis.disconnect());

    // Without a loss, a reader that was cut off reports nothing: it catches up on every entry.
    await cutOff();
    await publisher.append([{ topic: 'a', data: '4' }]);
    await reconnect();
    await eventually(() => delivered.length === 3, 'delivery after the second reconnect', 15_000);
    assert.deepEqual(data(), ['1', '3', '4']);
    assert.equal(gaps.length, 1);

    // Redis loses the namespace's data (a restart without persistence): what was appended and
    // not yet read here is gone with it, and the log's numbering starts over.
    await cutOff();
    await publisher.append([{ topic: 'a', data: '5' }]);
    await redis.del(...(await redis.keys(`${namespace}:*`)));
    const [sixth] = await publisher.append([{ topic: 'a', data: '6' }]);
    await reconnect();
    await eventually(() => delivered.length === 4, 'delivery after the data loss', 15_000);
    assert.deepEqual(data(), ['1', '3', '4', '6']);
    assert.equal(gaps.length, 2, 'the loss is reported');
    assert.match(gaps[1]!, /lost events and started over in a new epoch/);
    // The event after the loss carries the new data's epoch, so an id from before is unknown.
    assert.equal(delivered.at(-1)!.id, sixth!.id);
    const resumed = await engine.history([parseSelector('a')], delivered[0]!.id);
    assert.equal(resumed.complete, false);
    assert.equal(resumed.reason, 'unknown-id');
  },
);


describeUnlessSkipped('redis engine: retention per topic on the server', { skip: service.skipReason() }, () => {
  test('each topic stream holds what its rule keeps: a rule\'s count, none of the hub\'s presence and control messages, all of its webhook queue', async () => {
    const namespace = ownNamespace();
    const engine = await openOwn({ retention: [{ pattern: 'small/*', maxEvents: 2 }], namespace });
    const redis = new Redis(service.url);
    try {
      for (let i = 0; i < 5; i++) {
        await engine.append([
          { topic: 'small/a', data: String(i) },
          { topic: 'other', data: String(i) },
          { topic: '$ssehub/presence/i1', data: String(i) },
          { topic: '$ssehub/control/i1', data: String(i) },
          { topic: '$ssehub/webhooks/i1', data: String(i) },
        ]);
      }
      const lengths: Record<string, number> = {};
      for (const topic of ['small/a', 'other', '$ssehub/presence/i1', '$ssehub/control/i1', '$ssehub/webhooks/i1']) lengths[topic] = await redis.xlen(`${namespace}:topic:${topic}`);
      assert.deepEqual(lengths, { 'small/a': 2, other: 5, '$ssehub/presence/i1': 0, '$ssehub/control/i1': 0, '$ssehub/webhooks/i1': 5 });
    } finally {
      redis.disconnect();
      await engine.close();
    }
  });
});

test('a group of appends is bounded by events and by characters of data; a keyed append and an oversized one go alone', () => {
  const append = (chars: number, events = 1, dedupeKey?: string) => ({
    events: Array.from({ length: events }, () => ({ topic: 't', data: 'x'.repeat(chars) })),
    options: dedupeKey === undefined ? {} : { dedupeKey },
  });
  const sizes = (queue: ReturnType<typeof append>[]) => {
    const groups: number[] = [];
    while (queue.length > 0) groups.push(takeAppendGroup(queue).length);
    return groups;
  };
  const MiB = 1024 * 1024;
  // 4 MiB of data a group: 1 MiB publishes go four at a time, not 512.
  assert.deepEqual(sizes(Array.from({ length: 10 }, () => append(MiB))), [4, 4, 2]);
  assert.deepEqual(sizes([append(5 * MiB), append(10), append(10)]), [1, 2], 'one larger than the bound goes alone');
  assert.deepEqual(sizes([append(10), append(5 * MiB)]), [1, 1]);
  // 512 events a group, an append's events never split.
  assert.deepEqual(sizes(Array.from({ length: 600 }, () => append(10))), [512, 88]);
  assert.deepEqual(sizes([append(10, 500), append(10, 20), append(10, 12)]), [1, 2]);
  assert.deepEqual(sizes([append(10), append(10, 1, 'k'), append(10), append(10)]), [1, 1, 2], 'a keyed append alone, in its turn');
});

describeUnlessSkipped('redis engine: group commit', { skip: service.skipReason() }, () => {
  test('appends made while one is in flight go together as one script run, each answered with its own ids, in call order', async () => {
    const namespace = ownNamespace();
    const engine = await openOwn({ namespace });
    const redis = new Redis(service.url);
    // Script runs on the whole server, by EVAL or EVALSHA (each append sent alone would be one).
    const scriptRuns = async (): Promise<number> => {
      const stats = await redis.info('commandstats');
      return ['eval', 'evalsha'].reduce((sum, command) => sum + Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0), 0);
    };
    try {
      await engine.append([{ topic: 'warm', data: '0' }]); // the script is loaded
      const before = await scriptRuns();
      // 200 appends at once, one with an idempotency key amid them (it goes alone, in its turn).
      const appends = Array.from({ length: 200 }, (_, i) =>
        engine.append([{ topic: `group/${i % 7}`, data: String(i) }, ...(i % 50 === 0 ? [{ topic: 'group/pair', data: `${i}b` }] : [])], i === 100 ? { dedupeKey: `k${namespace}` } : {}),
      );
      const answers = await Promise.all(appends);
      const runs = (await scriptRuns()) - before;
      // Without grouping, 200 runs or more; other tests on this server may add some of their own meanwhile.
      assert.ok(runs < 150, `${runs} script runs for 200 appends`);
      for (const [i, answer] of answers.entries()) {
        assert.deepEqual(answer.map((event) => event.data), [String(i), ...(i % 50 === 0 ? [`${i}b`] : [])], `append ${i} got its own events`);
      }
      const ids = answers.flat().map((event) => event.id);
      for (let i = 1; i < ids.length; i++) assert.ok(engine.compareIds(ids[i]!, ids[i - 1]!) > 0, `ids in call order at ${i}`);
      assert.equal(await redis.xlen(`${namespace}:log`), 1 + 200 + 4, 'every event stored once');
      // The keyed append is remembered: a repeat stores nothing and gets the same ids.
      const repeat = await engine.append([{ topic: 'group/2', data: '100' }, { topic: 'group/pair', data: '100b' }], { dedupeKey: `k${namespace}` });
      assert.deepEqual(repeat.map((event) => event.id), answers[100]!.map((event) => event.id));
    } finally {
      redis.disconnect();
      await engine.close();
    }
  });
});

describeUnlessSkipped('redis engine: an append made while the group loop ends', { skip: service.skipReason() }, () => {
  test('is sent, not left waiting for another append to come', async () => {
    const engine = await openOwn();
    try {
      // A read sent right behind an append is answered in the same reply from Redis; the code it
      // resumes appends again a few turns later. One of these delays lands between the group
      // loop's last look at the queue and its end (in a hub: another request's publish).
      for (let turns = 0; turns < 20; turns++) {
        const first = engine.append([{ topic: 'first', data: String(turns) }]);
        const second = engine.kv.get('nothing').then(async () => {
          for (let i = 0; i < turns; i++) await null;
          return engine.append([{ topic: 'second', data: String(turns) }]);
        });
        await first;
        const stalled = new Promise<'stalled'>((resolve) => setTimeout(() => resolve('stalled'), 5000).unref());
        assert.notEqual(await Promise.race([second, stalled]), 'stalled', `the append made ${turns} turns after a read waited for another append`);
      }
    } finally {
      await engine.close();
    }
  });
});

describeUnlessSkipped('redis engine: group commit when Redis stops answering', { skip: service.skipReason() }, () => {
  test('the appends waiting behind a group that timed out are refused with it, not sent to wait out a timeout of their own', async () => {
    const proxy = await startTcpProxy(service.url);
    const engine = await openOwn({}, { url: `redis://${new URL(proxy.url).host}` });
    try {
      await engine.append([{ topic: 'held', data: 'before' }]);
      proxy.holdReplies();
      const inFlight = engine.append([{ topic: 'held', data: 'in flight' }]);
      const waiting = engine.append([{ topic: 'held', data: 'waiting' }]); // queued behind it
      const settled = waiting.then(
        () => 'stored',
        (error: unknown) => (error instanceof EngineUnavailableError ? 'refused' : `failed otherwise: ${String(error)}`),
      );
      await assert.rejects(inFlight, EngineUnavailableError); // after the command timeout (5 s)
      // Without the rule, the waiting append would only now be sent, and wait 5 s more.
      const now = await Promise.race([settled, new Promise((resolve) => setImmediate(() => resolve('still waiting')))]);
      assert.equal(now, 'refused');
    } finally {
      await engine.close();
      await proxy.close();
    }
  });
});

describeUnlessSkipped('redis engine: its Lua scripts run by their SHA1', { skip: service.skipReason() }, () => {
  test('a script Redis no longer holds (SCRIPT FLUSH, as after a restart) is sent whole once more, and the append is stored once', async () => {
    const namespace = ownNamespace();
    const engine = await openOwn({ namespace });
    const redis = new Redis(service.url);
    try {
      const delivered: StoredEvent[] = [];
      engine.onDeliver((event) => delivered.push(event));
      const [first] = await engine.append([{ topic: 'scripts', data: 'before' }]);
      await redis.script('FLUSH');
      const [second] = await engine.append([{ topic: 'scripts', data: 'after' }]);
      assert.ok(engine.compareIds(second!.id, first!.id) > 0);
      assert.equal(await redis.xlen(`${namespace}:topic:scripts`), 2, 'each event stored once');
      await eventually(() => delivered.length >= 2, 'delivery');
      assert.deepEqual(delivered.map((event) => event.data), ['before', 'after']);
    } finally {
      redis.disconnect();
      await engine.close();
    }
  });
});

describeUnlessSkipped('redis engine: a failover to a replica that lacked the newest entries', { skip: service.skipReason() }, () => {
  test('the loss is found and logged, new ids go on above every id handed out, and a resume from before is reset', async () => {
    const namespace = ownNamespace('f');
    const warnings: string[] = [];
    const logger = { ...silentEngineLogger, warn: (_: object, message?: string) => void warnings.push(message ?? '') };
    const engine = await openOwn({ namespace }, { logger });
    const redis = new Redis(service.url);
    try {
      const delivered: StoredEvent[] = [];
      const gaps: string[] = [];
      engine.onDeliver((event) => delivered.push(event));
      engine.onDeliveryGap((detail) => gaps.push(detail));
      const streamId = (id: string) => id.slice(id.indexOf('-') + 1);
      const [first] = await engine.append([{ topic: 'a', data: '1' }]);
      await eventually(() => delivered.length === 1, 'the first event');

      // The old master hands out an entry whose id is ahead of the new master's clock (clocks of
      // two machines differ), and this instance delivers it...
      const epoch = (await redis.get(`${namespace}:epoch`))!;
      const ahead = `${Date.now() + 3_600_000}-0`;
      const number = await redis.incr(`${namespace}:logged`);
      await redis.xadd(`${namespace}:log`, ahead, 't', 'a', 'e', '', 'd', '2', 'n', String(number), 'p', epoch);
      await redis.xadd(`${namespace}:topic:a`, ahead, 'e', '', 'd', '2');
      await eventually(() => delivered.length === 2, 'the entry the failover loses');
      // ...then dies before its replica had it: the promoted replica's log ends at the first entry.
      await redis.xdel(`${namespace}:log`, ahead);
      await redis.xdel(`${namespace}:topic:a`, ahead);
      await redis.call('XSETID', `${namespace}:log`, streamId(first!.id));
      await redis.set(`${namespace}:logged`, number - 1);

      // XADD '*' would hand out an id below the lost one; the append raises it, in a new epoch.
      const [third] = await engine.append([{ topic: 'a', data: '3' }]);
      assert.ok(engine.compareIds(third!.id, delivered[1]!.id) > 0, `${third!.id} above the lost ${delivered[1]!.id}`);
      assert.notEqual(third!.id.split('-')[0], epoch, 'a new epoch');
      assert.ok(
        warnings.some((line) => line.includes(`after ${first!.id} up to ${delivered[1]!.id}`)),
        `a warning names the lost range: ${warnings.join('; ')}`,
      );
      await eventually(() => delivered.length === 3, 'the event after the loss');
      assert.equal(delivered[2]!.id, third!.id);
      assert.equal(gaps.length, 1, 'the streams are told, before the new epoch is delivered');
      assert.match(gaps[0]!, /lost events and started over in a new epoch/);
      // Every id of before is unknown now, even the one that survived: that client may lack the lost event.
      for (const before of [delivered[0]!, delivered[1]!]) {
        const resumed = await engine.history([parseSelector('a')], before.id);
        assert.deepEqual([resumed.complete, resumed.reason], [false, 'unknown-id'], `resume from ${before.id}`);
      }
      const fromThird = await engine.history([parseSelector('a')], third!.id);
      assert.deepEqual([fromThird.complete, fromThird.events], [true, []]);
    } finally {
      redis.disconnect();
      await engine.close();
    }
  });
});

describeUnlessSkipped('redis engine: waiting for replicas', { skip: service.skipReason() }, () => {
  test('with --redis-wait-replicas above the replicas Redis has, an append is refused as unavailable', async () => {
    const engine = await openOwn({ historyMaxEvents: 10, historyMaxAgeMs: 60_000, redisWaitReplicas: 1 });
    try {
      // The shared test server has no replica: WAIT sees none, and the publish is not acknowledged.
      await assert.rejects(engine.append([{ topic: 'waited', data: 'x' }]), (error: unknown) => {
        assert.ok(error instanceof EngineUnavailableError, String(error));
        assert.match(error.message, /0 of the 1 replicas/);
        return true;
      });
    } finally {
      await engine.close();
    }
  });
});

test('a redis-sentinel:// URL names the sentinels and the master', () => {
  assert.equal(redisConnection('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379');
  const { sentinels, name } = redisConnection('redis-sentinel://s1:26379, s2/mymaster') as { sentinels: unknown; name: string };
  assert.deepEqual({ sentinels, name }, { sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }], name: 'mymaster' });
  const withPassword = redisConnection('redis-sentinel://:p%40ss@s1:26380/main') as { sentinels: unknown; name: string; password: string };
  assert.deepEqual([withPassword.sentinels, withPassword.name, withPassword.password], [[{ host: 's1', port: 26380 }], 'main', 'p@ss']);
  for (const bad of ['redis-sentinel://s1:26379', 'redis-sentinel://s1:port/m', 'redis-sentinel://s1,,s2/m']) {
    assert.throws(() => redisConnection(bad), (error: unknown) => error instanceof HubError && error.code === 'invalid_config', bad);
  }
});

test('an unreachable sentinel list is reported as unavailable, as an unreachable Redis', async () => {
  const engine = RedisEngine.open('redis-sentinel://127.0.0.1:1,127.0.0.1:2/mymaster', { historyMaxEvents: 10, historyMaxAgeMs: 60_000, namespace: 'unreachable' }, silentEngineLogger);
  await assert.rejects(engine, EngineUnavailableError);
});
