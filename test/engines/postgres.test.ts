import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import type { Engine, StoredEvent } from '../../src/engines/engine.js';
import { PostgresEngine, takeTransactionGroup } from '../../src/engines/postgres.js';
import { postgresStatements } from '../../src/engines/postgres-schema.js';
import type { EngineSettings } from '../../src/engines/settings.js';
import { HubError } from '../../src/errors.js';
import { parseSelector } from '../../src/topics/index.js';
import { postgresService } from '../support/services.js';
import { describeEngineContract, eventually } from './contract.js';
import { describeDeliveryGap } from './delivery-gap.js';
import { describeUnlessSkipped } from '../support/skip.js';
import { untilValue } from '../support/wait.js';

const service = await postgresService();
const namespaces: string[] = [];
const quiet = { info() {}, warn() {}, error() {} };

function open(settings: EngineSettings): Promise<PostgresEngine> {
  namespaces.push(settings.namespace);
  return PostgresEngine.open(service.url, settings, quiet);
}

describeEngineContract('postgres', { shared: true, service, open });

test('a transaction\'s group is bounded by events and by characters of data; what does not fit waits, a repeated dedupe key too', () => {
  const append = (data: string, events = 1, dedupeKey?: string) => ({ data, events: Array.from({ length: events }, () => ({ topic: 't', data })), dedupeKey, alone: false });
  const groups = (queue: ReturnType<typeof append>[]) => {
    const taken: string[][] = [];
    while (queue.length > 0) taken.push(takeTransactionGroup(queue).map((each) => each.data.slice(0, 2)));
    return taken;
  };
  const MiB = 1024 * 1024;
  // 16 MiB of data a transaction: 6 MiB publishes go two at a time, and a small one joins the first.
  const big = (name: string) => append(name + 'x'.repeat(6 * MiB - 2));
  assert.deepEqual(groups([big('b1'), big('b2'), big('b3'), append('s1'), big('b4')]), [['b1', 'b2', 's1'], ['b3', 'b4']]);
  assert.deepEqual(groups([append('o1' + 'x'.repeat(20 * MiB)), append('s1')]), [['o1'], ['s1']], 'one larger than the bound goes alone');
  assert.deepEqual(groups([append('e1', 4000), append('e2', 1500), append('e3', 900)]), [['e1', 'e3'], ['e2']], '5,000 events a transaction');
  assert.deepEqual(groups([append('k1', 1, 'k'), append('k2', 1, 'k'), append('s1')]), [['k1', 's1'], ['k2']]);
});

describeUnlessSkipped('postgres engine', { skip: service.skipReason() }, () => {
  const opened: Engine[] = [];
  const settings = (namespace: string): EngineSettings => ({ namespace, historyMaxEvents: 100, historyMaxAgeMs: 3_600_000 });
  async function instance(namespace: string): Promise<Engine> {
    const engine = await open(settings(namespace));
    opened.push(engine);
    return engine;
  }
  const namespaceFor = () => `t${randomBytes(5).toString('hex')}`;

  after(async () => {
    await Promise.allSettled(opened.map((engine) => engine.close()));
  });

  test('two instances opening the same new namespace at the same moment both succeed', async () => {
    const namespace = namespaceFor();
    const engines = await Promise.all(Array.from({ length: 4 }, () => instance(namespace)));
    const positions = await Promise.all(engines.map((engine) => engine.position()));
    assert.equal(new Set(positions).size, 1, 'one epoch and one position for all');
    const onLast: StoredEvent[] = [];
    engines[3]!.onDeliver((event) => onLast.push(event));
    const [stored] = await engines[0]!.append([{ topic: 't', data: 'x' }]);
    await eventually(() => onLast.length === 1, 'delivery to the last instance');
    const result = await engines[3]!.history([parseSelector('t')], positions[0]!);
    assert.deepEqual(result.events.map((event) => event.id), [stored!.id]);
  });

  test('a payload larger than a NOTIFY payload is delivered live to another instance', async () => {
    const namespace = namespaceFor();
    const a = await instance(namespace);
    const b = await instance(namespace);
    const onB: StoredEvent[] = [];
    b.onDeliver((event) => onB.push(event));
    const big = 'é'.repeat(10_000) + '\n' + 'y'.repeat(200_000);
    const stored = await a.append([{ topic: 'big', data: big }, { topic: 'big', data: 'small', event: 'after' }]);
    await eventually(() => onB.length === 2, 'delivery of a large event to B');
    assert.equal(onB[0]!.data, big);
    assert.deepEqual(
      onB.map((event) => [event.id, event.event]),
      stored.map((event) => [event.id, event.event]),
    );
  });

  test('data containing NUL characters survives', async () => {
    const engine = await instance(namespaceFor());
    const before = await engine.position();
    const delivered: StoredEvent[] = [];
    engine.onDeliver((event) => delivered.push(event));
    await engine.append([{ topic: 'n', data: 'a\u0000b' }]);
    await eventually(() => delivered.length === 1, 'delivery');
    assert.equal(delivered[0]!.data, 'a\u0000b');
    assert.equal((await engine.history([parseSelector('n')], before)).events[0]!.data, 'a\u0000b');
  });

  test('appends made at once share a transaction, yet keep their call order, ids and delivery to every instance', async () => {
    const namespace = namespaceFor();
    const a = await instance(namespace);
    const b = await instance(namespace);
    const onA: StoredEvent[] = [];
    const onB: StoredEvent[] = [];
    a.onDeliver((event) => onA.push(event));
    b.onDeliver((event) => onB.push(event));
    // From both instances at once: A's appends are grouped, and B's interleave with A's groups.
    const calls = Array.from({ length: 40 }, (_, i) =>
      (i % 4 === 3 ? b : a).append([
        { topic: `g${i % 3}`, data: `${i}.0` },
        { topic: `g${(i + 1) % 3}`, data: `${i}.1` },
      ]),
    );
    const results = await Promise.all(calls);
    const aIds = results.filter((_, i) => i % 4 !== 3).flat().map((event) => event.id);
    for (let i = 1; i < aIds.length; i++) assert.ok(a.compareIds(aIds[i - 1]!, aIds[i]!) < 0, `A's appends got ids in call order: ${aIds[i - 1]} then ${aIds[i]}`);
    const all = results.flat();
    assert.equal(new Set(all.map((event) => event.id)).size, 80, 'every event has an id of its own');
    await eventually(() => onA.length === 80 && onB.length === 80, 'every event delivered to both instances');
    const expected = [...all].sort((x, y) => a.compareIds(x.id, y.id)).map((event) => `${event.id} ${event.data}`);
    assert.deepEqual(onA.map((event) => `${event.id} ${event.data}`), expected, 'A: exactly once, in id order');
    assert.deepEqual(onB.map((event) => `${event.id} ${event.data}`), expected, 'B: exactly once, in id order');
    await Promise.all([a.close(), b.close()]); // their connections back now: this file comes near the server's max_connections
  });

  test('appends with one dedupe key at the same moment are stored once, and each gets the first ids', async () => {
    const engine = await instance(namespaceFor());
    const delivered: StoredEvent[] = [];
    engine.onDeliver((event) => delivered.push(event));
    const results = await Promise.all([
      engine.append([{ topic: 'd', data: 'plain' }]),
      engine.append([{ topic: 'd', data: 'once' }], { dedupeKey: 'k1' }),
      engine.append([{ topic: 'd', data: 'once' }], { dedupeKey: 'k1' }),
      engine.append([{ topic: 'd', data: 'other' }], { dedupeKey: 'k2' }),
      engine.append([{ topic: 'd', data: 'once' }], { dedupeKey: 'k1' }),
    ]);
    assert.equal(results[1]![0]!.id, results[2]![0]!.id);
    assert.equal(results[1]![0]!.id, results[4]![0]!.id);
    await eventually(() => delivered.length >= 3, 'delivery');
    assert.deepEqual(delivered.map((event) => event.data), ['plain', 'once', 'other'], 'the repeats stored nothing');
    await engine.close();
  });

  test('an append the server refuses fails alone; the appends grouped with it are stored', async () => {
    const engine = await instance(namespaceFor());
    const delivered: StoredEvent[] = [];
    engine.onDeliver((event) => delivered.push(event));
    const outcomes = await Promise.allSettled([
      engine.append([{ topic: 'r', data: '1' }]),
      engine.append([{ topic: 'r\u0000', data: 'a topic text cannot hold' }]),
      engine.append([{ topic: 'r', data: '2' }]),
    ]);
    assert.equal(outcomes[0]!.status, 'fulfilled');
    assert.equal(outcomes[2]!.status, 'fulfilled');
    assert.equal(outcomes[1]!.status, 'rejected');
    assert.ok((outcomes[1] as PromiseRejectedResult).reason instanceof HubError);
    await eventually(() => delivered.length === 2, 'delivery of the stored two');
    assert.deepEqual(delivered.map((event) => event.data), ['1', '2']);
    await engine.close();
  });

  test('delivery continues after the LISTEN connection is killed, and the listener comes back', async () => {
    const namespace = namespaceFor();
    const a = await instance(namespace);
    const b = await instance(namespace);
    const onB: StoredEvent[] = [];
    b.onDeliver((event) => onB.push(event));
    const admin = new pg.Client(service.url);
    await admin.connect();
    try {
      const listening = `LISTEN ${namespace}_wake`;
      const killed = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1`, [listening]);
      assert.equal(killed.rowCount, 2, 'both instances were listening');
      await a.append([{ topic: 'k', data: '1' }]);
      await eventually(() => onB.length === 1, 'delivery while the listener is down');
      const deadline = Date.now() + 5000;
      let back = 0;
      while (back < 2 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        back = (await admin.query(`SELECT 1 FROM pg_stat_activity WHERE query = $1`, [listening])).rowCount ?? 0;
      }
      assert.equal(back, 2, 'both instances listen again');
      await a.append([{ topic: 'k', data: '2' }]);
      await eventually(() => onB.length === 2, 'delivery after the listener reconnected');
      assert.deepEqual(onB.map((event) => event.data), ['1', '2']);
    } finally {
      await admin.end();
    }
  });

  test('age retention reaches quiet topics, and a forgotten topic still reports its gap, even when it comes back', async () => {
    const namespace = namespaceFor();
    const engine = await open({ namespace, historyMaxEvents: 100, historyMaxAgeMs: 300 });
    opened.push(engine);
    const sql = postgresStatements(namespace);
    const admin = new pg.Client(service.url);
    await admin.connect();
    try {
      const before = await engine.position();
      const [gone] = await engine.append([{ topic: 'quiet', data: 'old' }]);
      const topicRow = async () => (await admin.query(`SELECT evicted_id, kept FROM ${namespace}_topics WHERE topic = 'quiet'`)).rows[0];
      const deadline = Date.now() + 5000;
      while ((await topicRow()).kept !== 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(await topicRow(), { evicted_id: gone!.id.split('-')[1], kept: 0 }, 'the background sweep evicted the quiet topic');
      // Forget it now instead of after the delivery grace period.
      await admin.query(sql.forgetTopics, [0, 1000]);
      assert.equal(await topicRow(), undefined, 'forgotten');
      assert.equal((await admin.query(`SELECT 1 FROM ${namespace}_events`)).rowCount, 0, 'its rows went with it');
      const across = await engine.history([parseSelector('quiet')], before);
      assert.deepEqual([across.complete, across.reason], [false, 'history-exceeded']);
      const [back] = await engine.append([{ topic: 'quiet', data: 'new' }]);
      const acrossAgain = await engine.history([parseSelector('quiet')], before);
      assert.deepEqual([acrossAgain.complete, acrossAgain.reason], [false, 'history-exceeded'], 'the old gap still shows');
      const fromGone = await engine.history([parseSelector('quiet')], gone!.id);
      assert.equal(fromGone.complete, true);
      assert.deepEqual(fromGone.events.map((event) => event.id), [back!.id]);
    } finally {
      await admin.end();
    }
  });

  test('retention per topic: the append keeps each topic\'s count, and the sweep reaches a quiet topic by its own age', async () => {
    const namespace = namespaceFor();
    const retention = [{ pattern: 'short/*', maxAgeMs: 300 }, { pattern: 'small/*', maxEvents: 2 }];
    const engine = await open({ namespace, historyMaxEvents: 100, historyMaxAgeMs: 3_600_000, retention });
    opened.push(engine);
    const admin = new pg.Client(service.url);
    await admin.connect();
    try {
      for (let i = 0; i < 4; i++) {
        await engine.append([
          { topic: 'small/a', data: String(i) },
          { topic: 'short/a', data: String(i) },
          { topic: 'long', data: String(i) },
          { topic: '$ssehub/presence/i1', data: String(i) },
          { topic: '$ssehub/webhooks/i1', data: String(i) },
        ]);
      }
      const rows = async () => {
        const { rows } = await admin.query<{ topic: string; kept: number; max_age: string }>(`SELECT topic, kept, max_age FROM ${namespace}_topics ORDER BY topic`);
        return Object.fromEntries(rows.map((row) => [row.topic, [row.kept, Number(row.max_age)]]));
      };
      // The background sweep (every second with a 300 ms rule) empties short/a; nothing else leaves.
      const swept = await untilValue(rows, (found) => found['short/a']?.[0] === 0, 'the sweep to reach short/a');
      assert.deepEqual(swept, {
        '$ssehub/presence/i1': [0, 3_600_000],
        '$ssehub/webhooks/i1': [4, 3_600_000],
        long: [4, 3_600_000],
        'short/a': [0, 300],
        'small/a': [2, 3_600_000],
      });
    } finally {
      await admin.end();
    }
  });

  /**
   * What a failover can do to the log under running instances, done to the shared server by hand:
   * `change` runs on it after a and b delivered three events. Both must report a gap (the first to
   * find the change says what it found; the other may only see the new epoch it drew), with a new
   * epoch that makes the old ids unknown to history (the reset signal), and deliver what follows.
   */
  async function logReplaced(change: (admin: pg.Client, namespace: string) => Promise<unknown>): Promise<{ gaps: string[]; before: string; after: string }> {
    const namespace = namespaceFor();
    const a = await instance(namespace);
    const b = await instance(namespace);
    const onB: StoredEvent[] = [];
    const gaps: string[] = [];
    b.onDeliver((event) => onB.push(event));
    a.onDeliveryGap((detail) => gaps.push(`a: ${detail}`));
    b.onDeliveryGap((detail) => gaps.push(`b: ${detail}`));
    const stored = await a.append([1, 2, 3].map((n) => ({ topic: 'f', data: String(n) })));
    await eventually(() => onB.length === 3, 'b delivered the three events');
    const before = await b.position();
    const admin = new pg.Client(service.url);
    await admin.connect();
    try {
      await change(admin, namespace);
    } finally {
      await admin.end();
    }
    await eventually(() => gaps.some((gap) => gap.startsWith('b:')), 'b reported the gap', 10_000);
    const after = await b.position();
    const history = await b.history([parseSelector('f')], stored[2]!.id);
    assert.equal(history.complete, false, 'a resume from an id of before gets the reset signal');
    assert.equal(history.reason, 'unknown-id');
    const [next] = await a.append([{ topic: 'f', data: 'next' }]);
    await eventually(() => onB.some((event) => event.data === 'next'), 'b delivers what follows');
    await eventually(() => gaps.some((gap) => gap.startsWith('a:')), 'a reported the gap too', 10_000);
    assert.equal(onB.at(-1)!.id, next!.id, 'both instances name the new event alike');
    assert.equal(next!.id.split('-')[0], after.split('-')[0], 'in the new epoch');
    return { gaps, before, after };
  }

  test('a log that ends before what an instance delivered (a promoted standby that lacks events): a gap and a new epoch', async () => {
    const { gaps, before, after } = await logReplaced(async (admin, namespace) => {
      await admin.query(`BEGIN; DELETE FROM ${namespace}_events WHERE id > 1; UPDATE ${namespace}_meta SET last_id = 1; COMMIT`);
    });
    assert.match(gaps.join('\n'), /the log ends at 1, before 3, the last event delivered or acknowledged here/);
    assert.notEqual(after.split('-')[0], before.split('-')[0], 'a new epoch');
  });

  test('another event at the id an instance delivered last (a promoted standby reused it): a gap and a new epoch', async () => {
    const { gaps, before, after } = await logReplaced(async (admin, namespace) => {
      await admin.query(`UPDATE ${namespace}_events SET data = 'other' WHERE id = 3`);
    });
    assert.match(gaps.join('\n'), /the event at 3 in the log is not the one delivered or acknowledged here/);
    assert.notEqual(after.split('-')[0], before.split('-')[0], 'a new epoch');
  });

  test('a server without the namespace\'s tables: they are created again, with a gap and a new epoch', async () => {
    const { gaps, before, after } = await logReplaced(async (admin, namespace) => {
      const tables = postgresStatements(namespace).tables;
      await admin.query(`DROP TABLE ${tables.join(', ')}`);
    });
    assert.match(gaps.join('\n'), /epoch changed/);
    assert.notEqual(after.split('-')[0], before.split('-')[0], 'a new epoch');
  });

  test('an invalid namespace is a configuration error', async () => {
    for (const namespace of ['Upper', 'has-dash', '1digit', 'x'.repeat(42)]) {
      await assert.rejects(
        open(settings(namespace)),
        (error: unknown) => error instanceof HubError && error.status === 400 && error.code === 'invalid_config',
      );
    }
  });

  test('an unreachable server is a 503, not a crash', async () => {
    await assert.rejects(
      PostgresEngine.open('postgres://postgres@127.0.0.1:1/test', settings(namespaceFor()), quiet),
      (error: unknown) => error instanceof HubError && error.status === 503 && error.code === 'engine_unavailable',
    );
  });
});

// Rows older than the prune's grace period are deleted whether or not every instance read them.
describeDeliveryGap('postgres', {
  service,
  namespace: () => {
    const namespace = `t${randomBytes(5).toString('hex')}`;
    namespaces.push(namespace);
    return namespace;
  },
  open: (url, settings) => PostgresEngine.open(url, settings, quiet),
  remove: async (event, namespace) => {
    const admin = new pg.Client(service.url);
    await admin.connect();
    try {
      await admin.query(`DELETE FROM ${namespace}_events WHERE id = $1`, [event.id.split('-').pop()]);
    } finally {
      await admin.end();
    }
  },
  detail: /deleted before this instance could deliver them/,
});

// Leave nothing behind on the shared server.
after(async () => {
  if (!service.reachable) return;
  const admin = new pg.Client(service.url);
  await admin.connect();
  for (const namespace of new Set(namespaces)) {
    if (!/^[a-z_][a-z0-9_]{0,40}$/.test(namespace)) continue;
    const { rows } = await admin.query<{ tablename: string }>(
      `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND left(tablename, length($1) + 1) = $1 || '_'`,
      [namespace],
    );
    if (rows.length > 0) await admin.query(`DROP TABLE IF EXISTS ${rows.map((row) => row.tablename).join(', ')}`);
  }
  await admin.end();
});
