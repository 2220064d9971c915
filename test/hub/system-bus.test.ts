/**
 * The system bus on every engine: three instances on one engine each send messages concurrently;
 * every instance receives all of them, in one and the same order, with each sender's messages in
 * the order it sent them.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SystemBus, systemChannelPattern, type SystemMessage } from '../../src/hub/system-bus.js';
import { parseSubscribeSelector } from '../../src/topics/index.js';
import type { RunningHub } from '../../src/start.js';
import { startTestHub } from '../support/hub.js';
import { freshNamespace, removeNamespace, type EngineKind } from '../support/namespaces.js';
import { SHARED_ENGINES } from '../support/services.js';
import { describeUnlessSkipped } from '../support/skip.js';
import { until } from '../support/wait.js';

const silent = { info() {}, warn() {}, error() {} };
const PER_SENDER = 25;

function checkCluster(engine: () => Promise<{ url: string; kind: EngineKind | undefined }>, instances: number) {
  return async () => {
    const { url, kind } = await engine();
    const namespace = freshNamespace('bus');
    const hubs: RunningHub[] = [];
    try {
      for (let i = 0; i < instances; i++) hubs.push(await startTestHub({ engine: url, namespace }));
      const buses = hubs.map((running, i) => new SystemBus(running.hub, `instance${i}`, silent));
      const received = buses.map(() => [] as SystemMessage[]);
      const topics: string[] = [];
      hubs[0]!.hub.engine.onDeliver((event) => topics.push(event.topic));
      buses.forEach((bus, i) => bus.on('control', (message) => received[i]!.push(message)));
      // Messages on another channel are not this channel's listeners' business.
      await buses[0]!.send('presence', 'elsewhere', {});
      // Not awaited one by one: send() itself must keep each sender's order.
      const sends = buses.flatMap((bus, i) => Array.from({ length: PER_SENDER }, (_, n) => bus.send('control', 'count', { from: i, n })));
      await Promise.all(sends);
      const total = instances * PER_SENDER;
      await until(() => received.every((list) => list.length >= total), `every instance to receive ${total} messages`);
      const order = received[0]!.map((message) => message.id);
      for (const [i, list] of received.entries()) {
        assert.equal(list.length, total, `instance ${i} got each message once`);
        assert.deepEqual(list.map((message) => message.id), order, `instance ${i} saw the same order`);
        for (let from = 0; from < instances; from++) {
          const own = list.filter((message) => message.instance === `instance${from}`).map((message) => (message.data as { n: number }).n);
          assert.deepEqual(own, Array.from({ length: PER_SENDER }, (_, n) => n), `instance ${from}'s messages in the order sent`);
        }
        assert.ok(list.every((message) => message.channel === 'control' && message.type === 'count'));
      }
      // Each instance sends on a topic of its own: they never contend for one.
      assert.deepEqual(new Set(topics.filter((topic) => topic.startsWith('$ssehub/control/'))), new Set(buses.map((_, i) => `$ssehub/control/instance${i}`)));
      // Acted on as they arrive, never replayed: no engine keeps a control message in its history.
      const stored = await hubs[0]!.hub.engine.history([parseSubscribeSelector(systemChannelPattern('control'))], 'none');
      assert.deepEqual(stored.events, [], 'no control message is kept');
    } finally {
      await Promise.all(hubs.map((running) => running.close()));
      if (kind !== undefined) await removeNamespace(kind, url, namespace);
    }
  };
}

describe('the system bus', () => {
  test('the memory engine: one instance hears its own messages, in order', checkCluster(async () => ({ url: 'memory', kind: undefined }), 1));

  test('messages sent while an append is in flight wait for that one only: they go in the next append, together, in the order sent', async () => {
    const running = await startTestHub();
    try {
      const bus = new SystemBus(running.hub, 'one', silent);
      const got: SystemMessage[] = [];
      bus.on('control', (message) => got.push(message));
      const appends: string[][] = [];
      const publish = running.hub.publish.bind(running.hub);
      running.hub.publish = (events, options) => {
        appends.push(events.map((event) => event.event ?? ''));
        return publish(events, options);
      };
      const sends = Array.from({ length: 10 }, (_, n) => bus.send('control', `m${n}`, { n }));
      const stored = await Promise.all(sends);
      const names = Array.from({ length: 10 }, (_, n) => `m${n}`);
      // One append in flight (the first message), then everything sent meanwhile in one more.
      assert.deepEqual(appends, [names.slice(0, 1), names.slice(1)]);
      assert.deepEqual(stored.map((event) => event.event), names, 'each send answered with its own message');
      await until(() => got.length === 10, 'the ten messages');
      assert.deepEqual(got.map((message) => message.type), names, 'delivered in the order sent');
    } finally {
      await running.close();
    }
  });

  test('a message that is not {instance, data} JSON is ignored, and the listeners keep working', async () => {
    const running = await startTestHub();
    try {
      const bus = new SystemBus(running.hub, 'one', silent);
      const got: SystemMessage[] = [];
      bus.on('control', (message) => got.push(message));
      await running.hub.publish([{ topic: '$ssehub/control/one', event: 'forged', data: 'not json' }], { allowReservedTopics: true });
      await running.hub.publish([{ topic: '$ssehub/control/one', event: 'forged', data: '{"data":1}' }], { allowReservedTopics: true });
      await bus.send('control', 'real', { ok: true });
      await until(() => got.length > 0, 'the real message');
      assert.deepEqual(got.map((message) => [message.type, message.instance, message.data]), [['real', 'one', { ok: true }]]);
    } finally {
      await running.close();
    }
  });
});

for (const [name, kind, service] of SHARED_ENGINES) {
  const check = await service();
  describeUnlessSkipped(`the system bus on ${name}`, { skip: check.skipReason() }, () => {
    test('three instances: every message to every instance, once, in one order', checkCluster(async () => ({ url: check.url, kind }), 3));
  });
}
