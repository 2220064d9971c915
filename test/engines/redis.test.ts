import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { after, describe, test } from 'node:test';
import { RedisEngine } from '../../src/engines/redis.js';
import { silentEngineLogger } from '../../src/engines/settings.js';
import { parseSelector } from '../../src/topics/index.js';
import { redisService } from '../support/services.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { describeEngineContract, eventually } from './contract.js';

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

describe('redis engine: an instance cut off while entries left the shared log', { skip: service.skipReason() }, () => {
  test('says so to its delivery gap listeners, then delivers what the log still holds', async () => {
    const namespace = `t${randomBytes(5).toString('hex')}`;
    namespaces.push(namespace);
    const settings = { namespace, historyMaxEvents: 100, historyMaxAgeMs: 3_600_000 };
    const cleanups: Array<() => unknown> = [];
    try {
      const proxy = await startTcpProxy(service.url);
      cleanups.push(proxy.close);
      const port = Number(new URL(proxy.url).port);
      let back: TcpProxy;
      const cutOff = await RedisEngine.open(proxy.url.replace('http:', 'redis:'), settings, silentEngineLogger);
      cleanups.push(() => cutOff.close());
      const publisher = await RedisEngine.open(service.url, settings, silentEngineLogger);
      cleanups.push(() => publisher.close());
      const redis = new Redis(service.url);
      cleanups.push(() => redis.disconnect());
      const delivered: string[] = [];
      const ids: string[] = [];
      const gaps: string[] = [];
      cutOff.onDeliver((event) => (delivered.push(event.data), ids.push(event.id)));
      cutOff.onDeliveryGap((detail) => gaps.push(detail));

      await publisher.append([{ topic: 'a', data: '1' }]);
      await eventually(() => delivered.length === 1, 'the first event');
      // Cut off: meanwhile two events are appended and the first of them leaves the log, as
      // the log's length cap does to entries no instance has read for long enough.
      await proxy.close();
      await publisher.append([{ topic: 'a', data: '2' }]);
      await publisher.append([{ topic: 'b', data: '3' }]);
      await redis.xtrim(`${namespace}:log`, 'MAXLEN', 1);
      assert.deepEqual(gaps, [], 'nothing is reported while nothing was missed');
      back = await startTcpProxy(service.url, port);
      cleanups.push(back.close);
      await eventually(() => delivered.length === 2, 'delivery after the reconnect', 15_000);
      assert.deepEqual(delivered, ['1', '3']);
      assert.equal(gaps.length, 1, 'the missed event is reported');
      assert.match(gaps[0]!, /left the shared log/);

      // Without a trim, a reader that was cut off reports nothing: it catches up on every entry.
      await back.close();
      await publisher.append([{ topic: 'a', data: '4' }]);
      back = await startTcpProxy(service.url, port);
      cleanups.push(back.close);
      await eventually(() => delivered.length === 3, 'delivery after the second reconnect', 15_000);
      assert.deepEqual(delivered, ['1', '3', '4']);
      assert.equal(gaps.length, 1);

      // Redis loses the namespace's data (a restart without persistence): what was appended and
      // not yet read here is gone with it, and the log's numbering starts over.
      await back.close();
      await publisher.append([{ topic: 'a', data: '5' }]);
      const keys = await redis.keys(`${namespace}:*`);
      await redis.del(...keys);
      const [sixth] = await publisher.append([{ topic: 'a', data: '6' }]);
      back = await startTcpProxy(service.url, port);
      cleanups.push(back.close);
      await eventually(() => delivered.length === 4, 'delivery after the data loss', 15_000);
      assert.deepEqual(delivered, ['1', '3', '4', '6']);
      assert.equal(gaps.length, 2, 'the loss is reported');
      assert.match(gaps[1]!, /lost and started over/);
      // The event after the loss carries the new data's epoch, so an id from before is unknown.
      assert.equal(ids.at(-1), sixth!.id);
      const resumed = await cutOff.history([parseSelector('a')], ids[0]!);
      assert.equal(resumed.complete, false);
      assert.equal(resumed.reason, 'unknown-id');
    } finally {
      // Last opened, first closed; a step that fails does not keep the others from running.
      for (const cleanup of cleanups.reverse()) await Promise.resolve().then(cleanup).catch(() => {});
    }
  });
});

