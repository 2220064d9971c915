import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { after } from 'node:test';
import { RedisEngine } from '../../src/engines/redis.js';
import { silentEngineLogger } from '../../src/engines/settings.js';
import { parseSelector } from '../../src/topics/index.js';
import { redisService } from '../support/services.js';
import { describeEngineContract, eventually } from './contract.js';
import { describeDeliveryGap } from './delivery-gap.js';

const service = await redisService();
const namespaces: string[] = [];

describeEngineContract('redis', {
  shared: true,
  service,
  open: (settings) => {
    namespaces.push(settings.namespace);
    return RedisEngine.open(service.url, settings, { info() {}, warn() {}, error() {} });
  },
});

// Leave nothing behind on the shared server.
after(async () => {
  if (!service.reachable) return;
  const redis = new Redis(service.url);
  for (const namespace of new Set(namespaces)) {
    const keys = await redis.keys(`${namespace}:*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  redis.disconnect();
});

// The shared log's length is capped: entries nobody read in time leave it, as XTRIM does here.
describeDeliveryGap(
  'redis',
  {
    service,
    namespace: () => {
      const namespace = `t${randomBytes(5).toString('hex')}`;
      namespaces.push(namespace);
      return namespace;
    },
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
    assert.match(gaps[1]!, /lost and started over/);
    // The event after the loss carries the new data's epoch, so an id from before is unknown.
    assert.equal(delivered.at(-1)!.id, sixth!.id);
    const resumed = await engine.history([parseSelector('a')], delivered[0]!.id);
    assert.equal(resumed.complete, false);
    assert.equal(resumed.reason, 'unknown-id');
  },
);

