import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { connect } from 'nats';
import { EngineUnavailableError } from '../../src/engines/unavailable.js';
import { HubError } from '../../src/errors.js';
import { NatsEngine, natsServers } from '../../src/engines/nats.js';
import { silentEngineLogger } from '../../src/engines/settings.js';
import { parseSelector } from '../../src/topics/index.js';
import { natsService } from '../support/services.js';
import { describeEngineContract, eventually } from './contract.js';
import { describeDeliveryGap } from './delivery-gap.js';
import { describeUnlessSkipped } from '../support/skip.js';
import { untilValue } from '../support/wait.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../support/hub.js';
import { hasBinary, OwnServer } from '../support/servers.js';

const service = await natsService();
const namespaces: string[] = [];

describeEngineContract('nats', {
  shared: true,
  service,
  open: (settings) => {
    namespaces.push(settings.namespace);
    return NatsEngine.open(service.url, settings, silentEngineLogger);
  },
});

describeUnlessSkipped('nats engine specifics', { skip: service.skipReason() }, () => {
  const open = (namespace: string, historyMaxEvents = 100) => {
    namespaces.push(namespace);
    return NatsEngine.open(service.url, { historyMaxEvents, historyMaxAgeMs: 3_600_000, namespace }, silentEngineLogger);
  };
  const unique = () => `n${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

  test('the stream is bounded by the history byte budget: the server drops the oldest past it, and history says so', async () => {
    const namespace = unique();
    namespaces.push(namespace);
    const engine = await NatsEngine.open(service.url, { historyMaxEvents: 100, historyMaxAgeMs: 3_600_000, historyMaxBytes: 64 * 1024, namespace }, silentEngineLogger);
    const nc = await connect({ servers: service.url });
    try {
      const info = await (await nc.jetstreamManager()).streams.info(namespace);
      assert.equal(info.config.max_bytes, 64 * 1024);
      const base = await engine.position();
      for (let i = 0; i < 12; i++) await engine.append([{ topic: `big/${i % 3}`, data: 'x'.repeat(10 * 1024) }]);
      const stored = (await (await nc.jetstreamManager()).streams.info(namespace)).state.bytes;
      assert.ok(stored <= 64 * 1024, `the stream holds ${stored} bytes`);
      const result = await engine.history([parseSelector('big/**')], base);
      assert.equal(result.complete, false);
      assert.equal(result.reason, 'history-exceeded');
      assert.ok(result.events.length > 0 && result.events.length < 12, `${result.events.length} events kept`);
    } finally {
      await nc.close();
      await engine.close();
    }
  });

  test('retention per topic: the stream is sized for the largest rule, and a smaller rule\'s topics are trimmed on the server', async () => {
    const namespace = unique();
    namespaces.push(namespace);
    const retention = [{ pattern: 'big/*', maxEvents: 500, maxAgeMs: 7_200_000 }, { pattern: 'small/*', maxEvents: 1 }];
    const engine = await NatsEngine.open(service.url, { historyMaxEvents: 10, historyMaxAgeMs: 3_600_000, retention, namespace }, silentEngineLogger);
    const nc = await connect({ servers: service.url });
    try {
      const jsm = await nc.jetstreamManager();
      const { config } = await jsm.streams.info(namespace);
      assert.equal(config.max_msgs_per_subject, 500 + 100, 'the largest rule, plus the delivery slack');
      assert.equal(config.max_age, (7_200_000 + 60_000) * 1e6, 'the longest age, plus its slack');
      const stored = await engine.append(Array.from({ length: 150 }, (_, i) => ({ topic: 'small/a', data: String(i) })));
      const subject = `${namespace}.t.${Buffer.from('small/a').toString('base64url')}`;
      const held = async () => (await jsm.streams.info(namespace, { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
      const count = await untilValue(held, (n) => n <= 101, 'the trim of small/a on the server');
      assert.equal(count, 101, 'its count, plus the delivery slack, stays on the server');
      const result = await engine.history([parseSelector('small/a')], stored[0]!.id);
      assert.deepEqual(result.events.map((event) => event.data), ['149']);
      assert.equal(result.complete, false);
      assert.equal(result.reason, 'history-exceeded');
    } finally {
      await nc.close();
      await engine.close();
    }
  });

  test('an append repeated with its dedupe key is answered with the first ids and stored once', async () => {
    const namespace = unique();
    const [a, b] = [await open(namespace), await open(namespace)];
    try {
      const onA: string[] = [];
      a.onDeliver((event) => onA.push(event.data));
      const events = [{ topic: 'd', data: 'x' }, { topic: 'd', data: 'y' }];
      const first = await a.append(events, { dedupeKey: 'k1' });
      const again = await b.append(events, { dedupeKey: 'k1' });
      const other = await b.append(events, { dedupeKey: 'k2' });
      assert.deepEqual(again.map((event) => event.id), first.map((event) => event.id));
      assert.notDeepEqual(other.map((event) => event.id), first.map((event) => event.id));
      await eventually(() => onA.length >= 4, 'delivery');
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(onA, ['x', 'y', 'x', 'y']);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('concurrent publishers on one topic keep its gap detection exact', async () => {
    const namespace = unique();
    const [a, b] = [await open(namespace, 4), await open(namespace, 4)];
    try {
      const onA: string[] = [];
      a.onDeliver((event) => onA.push(event.id));
      const batches = await Promise.all(
        [a, b, a, b].map((engine, p) => engine.append(Array.from({ length: 5 }, (_, i) => ({ topic: 'one', data: `${p}:${i}` })))),
      );
      await eventually(() => onA.length === 20, 'delivery');
      const ids = [...onA];
      for (const batch of batches) {
        const positions = batch.map((event) => ids.indexOf(event.id));
        assert.deepEqual([...positions].sort((x, y) => x - y), positions, 'a batch keeps its order');
      }
      const exact = await a.history([parseSelector('one')], ids[15]!);
      assert.equal(exact.complete, true);
      assert.deepEqual(exact.events.map((event) => event.id), ids.slice(16));
      const across = await b.history([parseSelector('one')], ids[14]!);
      assert.equal(across.reason, 'history-exceeded', 'the fifth-newest event left history');
      assert.deepEqual(across.events.map((event) => event.id), ids.slice(16));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('a running instance whose stream is deleted and recreated reports a delivery gap', async () => {
    const namespace = unique();
    const engine = await open(namespace);
    try {
      const gaps: string[] = [];
      engine.onDeliveryGap((detail) => gaps.push(detail));
      await engine.append([{ topic: 't', data: 'before' }]);
      const nc = await connect({ servers: service.url });
      await (await nc.jetstreamManager()).streams.delete(namespace);
      await nc.close();
      await eventually(() => gaps.length === 1, 'the report', 15_000);
      assert.match(gaps[0]!, /stream was recreated/);
    } finally {
      await engine.close();
    }
  });

  test('several seed servers: the first that answers is used', async () => {
    const namespace = unique();
    namespaces.push(namespace);
    const seeds = `nats://127.0.0.1:1,${service.url.replace(/^nats:\/\//, '')}`;
    const engine = await NatsEngine.open(seeds, { historyMaxEvents: 10, historyMaxAgeMs: 60_000, namespace }, silentEngineLogger);
    try {
      const delivered: string[] = [];
      engine.onDeliver((event) => delivered.push(`${event.id} ${event.data}`));
      const [stored] = await engine.append([{ topic: 'seeds', data: 'reached' }]);
      await eventually(() => delivered.length > 0, 'the event delivered');
      assert.deepEqual(delivered, [`${stored!.id} reached`]);
    } finally {
      await engine.close();
    }
  });

  test('more replicas than a lone server has is a configuration error naming both numbers', async () => {
    const namespace = unique();
    namespaces.push(namespace);
    await assert.rejects(
      NatsEngine.open(service.url, { historyMaxEvents: 10, historyMaxAgeMs: 60_000, namespace, natsReplicas: 3 }, silentEngineLogger),
      (error: unknown) => {
        assert.ok(error instanceof HubError && error.status === 400 && error.code === 'invalid_config', String(error));
        assert.match(error.message, /--nats-replicas 3 .*a single server/);
        return true;
      },
    );
  });

  test('an id from a stream that was deleted and recreated is unknown', async () => {
    const namespace = unique();
    const first = await open(namespace);
    const [old] = await first.append([{ topic: 't', data: 'before' }]);
    await first.close();
    const nc = await connect({ servers: service.url });
    await (await nc.jetstreamManager()).streams.delete(namespace);
    await nc.close();
    const second = await open(namespace);
    try {
      const delivered: string[] = [];
      second.onDeliver((event) => delivered.push(event.data));
      await second.append([{ topic: 't', data: 'after' }]);
      await eventually(() => delivered.length === 1, 'delivery');
      const result = await second.history([parseSelector('t')], old!.id);
      assert.equal(result.reason, 'unknown-id');
      assert.deepEqual(result.events.map((event) => event.data), ['after']);
    } finally {
      await second.close();
    }
  });
});

// Retention removes messages whether or not every instance read them, as deleteMessage does here.
describeDeliveryGap('nats', {
  service,
  namespace: () => {
    const namespace = `g${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    namespaces.push(namespace);
    return namespace;
  },
  open: (url, settings) => NatsEngine.open(url, settings, silentEngineLogger),
  remove: async (event, namespace) => {
    const admin = await connect({ servers: service.url });
    try {
      await (await admin.jetstreamManager()).streams.deleteMessage(namespace, Number(event.id.split('-').pop()), false);
    } finally {
      await admin.close();
    }
  },
  detail: /removed by retention before delivery here/,
});

describe('nats engine configuration', () => {
  const settings = { historyMaxEvents: 10, historyMaxAgeMs: 60_000 };

  test('a namespace NATS would refuse as a stream name is a configuration error', async () => {
    for (const namespace of ['a.b', 'a*', 'a>', 'a b', '']) {
      await assert.rejects(NatsEngine.open(service.url, { ...settings, namespace }, silentEngineLogger), (error: unknown) => {
        return error instanceof HubError && error.status === 400 && error.code === 'invalid_config';
      });
    }
  });

  test('the engine URL may name several servers, with the scheme on the first or on each', () => {
    assert.deepEqual(natsServers('nats://a:4222'), ['nats://a:4222']);
    assert.deepEqual(natsServers('nats://a:4222,b:4223, c:4224'), ['nats://a:4222', 'nats://b:4223', 'nats://c:4224']);
    assert.deepEqual(natsServers('nats://a:4222,tls://b:4223'), ['nats://a:4222', 'tls://b:4223']);
    assert.throws(() => natsServers('nats://a:4222,,b:4222'), (error: unknown) => error instanceof HubError && error.code === 'invalid_config');
  });

  test('a server that cannot be reached is reported as unavailable', async () => {
    const unreachable = NatsEngine.open('nats://127.0.0.1:1', { ...settings, namespace: 'unreachable' }, silentEngineLogger);
    await assert.rejects(unreachable, EngineUnavailableError);
  });
});

// Leave nothing behind on the shared server: each namespace's stream and KV bucket.
after(async () => {
  if (!service.reachable) return;
  const nc = await connect({ servers: service.url });
  const jsm = await nc.jetstreamManager();
  for (const namespace of new Set(namespaces)) {
    for (const stream of [namespace, `KV_${namespace}-kv`]) await jsm.streams.delete(stream).catch(() => false);
  }
  await nc.close();
});

describeUnlessSkipped('a NATS server without room for the stream', { skip: hasBinary('nats-server') || process.env.CI ? undefined : 'nats-server is not installed (.ci/run installs it)' }, () => {
  test('is refused at start with what to change, not as a server that cannot be reached', async () => {
    const port = await freePort();
    const server = new OwnServer(
      'nats-server',
      (dir) => {
        // A store of 1 MiB: a stream reserving 8 MiB (--history-max-bytes) does not fit.
        const config = join(dir, 'nats.conf');
        writeFileSync(config, `listen: 127.0.0.1:${port}\njetstream { store_dir: "${dir}", max_file_store: 1048576, max_memory_store: 1048576 }\n`);
        return ['-c', config];
      },
      port,
    );
    try {
      await server.start();
      const opening = NatsEngine.open(`nats://127.0.0.1:${port}`, { historyMaxEvents: 10, historyMaxAgeMs: 60_000, historyMaxBytes: 8 * 1024 * 1024, namespace: 'roomless' }, silentEngineLogger);
      await assert.rejects(opening, (error: unknown) => {
        assert.ok(error instanceof HubError && error.code === 'engine_storage_exhausted', String(error));
        assert.match(error.message, /8388608 bytes \(--history-max-bytes\)/);
        assert.match(error.message, /max_file_store/);
        return true;
      });
    } finally {
      await server.dispose();
    }
  });
});
