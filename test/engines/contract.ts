/**
 * The engine contract: one suite that every engine (memory, Redis, NATS JetStream, PostgreSQL)
 * must pass. It speaks only the Engine interface, so what it proves holds for the hub on any of
 * them: ids strictly ordered across instances, every event delivered once and in order to every
 * instance, exact resume, an explicit gap when history cannot answer, retention, and a key-value
 * store that instances share.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import type { Engine, StoredEvent } from '../../src/engines/engine.js';
import type { EngineSettings } from '../../src/engines/index.js';
import { parseSelector } from '../../src/topics/index.js';
import type { ServiceCheck } from '../support/services.js';
import { describeUnlessSkipped } from '../support/skip.js';

export interface EngineHarness {
  /** Opens one instance. Instances opened with the same namespace share their data. */
  open(settings: EngineSettings): Promise<Engine>;
  /** Whether instances on one namespace share data (false for the memory engine). */
  shared: boolean;
  /** The service this engine needs; absent for the memory engine. */
  service?: ServiceCheck;
}

const sel = (...sources: string[]) => sources.map((source) => parseSelector(source));
const HOUR = 3_600_000;

/** Polls until the condition holds (delivery through a server is asynchronous). */
export async function eventually(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Collects what an engine delivers to this instance. */
function recorder(engine: Engine): StoredEvent[] {
  const delivered: StoredEvent[] = [];
  engine.onDeliver((event) => delivered.push(event));
  return delivered;
}

export function describeEngineContract(label: string, harness: EngineHarness): void {
  const opened: Engine[] = [];
  const namespaceFor = () => `t${randomBytes(5).toString('hex')}`;
  async function open(settings: Partial<EngineSettings> & { namespace: string }): Promise<Engine> {
    const engine = await harness.open({ historyMaxEvents: 100, historyMaxAgeMs: HOUR, ...settings });
    opened.push(engine);
    return engine;
  }
  /** A fresh namespace and one instance on it. */
  const fresh = (settings: Partial<EngineSettings> = {}) => open({ namespace: namespaceFor(), ...settings });

  const skip = harness.service?.skipReason();
  describeUnlessSkipped(`${label} engine contract`, { skip }, () => {
    after(async () => {
      await Promise.allSettled(opened.map((engine) => engine.close()));
    });

    if (harness.service) {
      const service = harness.service;
      test(`the ${service.name} server answers at ${service.url}`, () => {
        assert.ok(service.reachable, `${service.name} is not reachable at ${service.url}: .ci/run starts it; locally, start it`);
      });
    }

    test('ids increase strictly across topics, and every event is delivered once, in id order', async () => {
      const engine = await fresh();
      const delivered = recorder(engine);
      const first = await engine.append([{ topic: 'a', data: '1' }, { topic: 'b', data: '2', event: 'named' }]);
      const second = await engine.append([{ topic: 'a', data: '3' }]);
      const ids = [...first, ...second].map((event) => event.id);
      for (let i = 1; i < ids.length; i++) assert.ok(engine.compareIds(ids[i]!, ids[i - 1]!) > 0, `${ids[i]} after ${ids[i - 1]}`);
      await eventually(() => delivered.length >= 3, 'delivery');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(delivered.map((event) => event.id), ids);
      assert.equal(delivered[1]!.event, 'named');
      assert.equal(delivered[1]!.topic, 'b');
      assert.equal(delivered[0]!.event, undefined);
      assert.equal(engine.compareIds(await engine.position(), ids[2]!), 0, 'position is the newest delivered id');
    });

    test('data survives byte for byte: unicode, newlines, large payloads', async () => {
      const engine = await fresh();
      const big = 'x'.repeat(100_000) + 'é';
      const data = ['line1\nline2\r\nline3', '日本語 🚀', '', big, '{"json":true}'];
      const start = await engine.position();
      const delivered = recorder(engine);
      await engine.append(data.map((d) => ({ topic: 'u', data: d })));
      await engine.append([{ topic: 'u', data: big }]);
      await eventually(() => delivered.length === data.length + 1, 'delivery of every event');
      assert.deepEqual(delivered.map((event) => event.data), [...data, big]);
      const history = await engine.history(sel('u'), start);
      assert.deepEqual(history.events.map((event) => event.data), [...data, big]);
    });

    test('history returns the matching events after an id, across topics and patterns, in id order', async () => {
      const engine = await fresh();
      const delivered = recorder(engine);
      const stored = await engine.append([
        { topic: 'orders/1', data: 'a' },
        { topic: 'users/1', data: 'b' },
        { topic: 'orders/2', data: 'c' },
        { topic: 'orders/1', data: 'd', event: 'update' },
        { topic: 'orders/1/items', data: 'e' },
      ]);
      await eventually(() => delivered.length === 5, 'delivery');
      const one = await engine.history(sel('orders/*'), stored[0]!.id);
      assert.equal(one.complete, true);
      assert.deepEqual(one.events.map((event) => event.data), ['c', 'd']);
      assert.equal(one.events[1]!.event, 'update');
      assert.equal(one.events[1]!.id, stored[3]!.id);
      const deep = await engine.history(sel('orders/**', 'users/1'), stored[0]!.id);
      assert.deepEqual(deep.events.map((event) => event.data), ['b', 'c', 'd', 'e']);
      assert.equal(engine.compareIds(deep.position, stored[4]!.id), 0);
      const twice = await engine.history(sel('orders/1', 'orders/1'), stored[0]!.id);
      assert.deepEqual(twice.events.map((event) => event.data), ['d'], 'a topic named twice is replayed once');
      const now = await engine.history(sel('orders/**'), await engine.position());
      assert.deepEqual(now, { events: [], complete: true, position: await engine.position() });
    });

    test('an id that is malformed, from the future or from another namespace is unknown, and what is retained is replayed', async () => {
      const engine = await fresh();
      const other = await fresh();
      const [foreign] = await other.append([{ topic: 't', data: 'elsewhere' }]);
      const delivered = recorder(engine);
      const [mine] = await engine.append([{ topic: 't', data: 'here' }]);
      await eventually(() => delivered.length === 1, 'delivery');
      const future = mine!.id.replace(/\d+$/, (digits) => String(Number(digits) + 1000));
      for (const id of ['', 'garbage', `${mine!.id}x`, future, foreign!.id]) {
        const result = await engine.history(sel('t'), id);
        assert.equal(result.complete, false, `id ${JSON.stringify(id)}`);
        assert.equal(result.reason, 'unknown-id', `id ${JSON.stringify(id)}`);
        assert.deepEqual(result.events.map((event) => event.data), ['here'], `id ${JSON.stringify(id)}`);
      }
    });

    test('count retention: a resume across evicted events says history-exceeded and replays what remains', async () => {
      const engine = await fresh({ historyMaxEvents: 3 });
      const delivered = recorder(engine);
      const stored = await engine.append(Array.from({ length: 5 }, (_, i) => ({ topic: 't', data: String(i) })));
      await eventually(() => delivered.length === 5, 'delivery');
      const fromOne = await engine.history(sel('t'), stored[1]!.id);
      assert.equal(fromOne.complete, true, 'nothing after event 1 was evicted');
      assert.deepEqual(fromOne.events.map((event) => event.data), ['2', '3', '4']);
      const fromZero = await engine.history(sel('t'), stored[0]!.id);
      assert.equal(fromZero.complete, false);
      assert.equal(fromZero.reason, 'history-exceeded');
      assert.deepEqual(fromZero.events.map((event) => event.data), ['2', '3', '4']);
      const pattern = await engine.history(sel('*'), stored[0]!.id);
      assert.equal(pattern.complete, false, 'a pattern covering the topic sees the gap too');
    });

    test('count retention is per topic: a busy topic does not evict a quiet one', async () => {
      const engine = await fresh({ historyMaxEvents: 2 });
      const delivered = recorder(engine);
      const before = await engine.position();
      await engine.append([{ topic: 'quiet', data: 'q' }]);
      await engine.append(Array.from({ length: 10 }, (_, i) => ({ topic: 'busy', data: String(i) })));
      await eventually(() => delivered.length === 11, 'delivery');
      const quiet = await engine.history(sel('quiet'), before);
      assert.equal(quiet.complete, true);
      assert.deepEqual(quiet.events.map((event) => event.data), ['q']);
    });

    test('age retention: events older than the limit leave history, and a resume across them says so', async () => {
      const engine = await fresh({ historyMaxAgeMs: 400 });
      const delivered = recorder(engine);
      const before = await engine.position();
      const [old] = await engine.append([{ topic: 't', data: 'old' }]);
      await new Promise((resolve) => setTimeout(resolve, 700));
      await engine.append([{ topic: 't', data: 'new' }]);
      await eventually(() => delivered.length === 2, 'delivery');
      const fromBefore = await engine.history(sel('t'), before);
      assert.deepEqual(fromBefore.events.map((event) => event.data), ['new']);
      assert.equal(fromBefore.complete, false);
      assert.equal(fromBefore.reason, 'history-exceeded');
      const fromOld = await engine.history(sel('t'), old!.id);
      assert.equal(fromOld.complete, true);
      assert.deepEqual(fromOld.events.map((event) => event.data), ['new']);
    });

    test('retention per topic by count: a rule\'s topics keep what it says, the others the defaults', async () => {
      const engine = await fresh({ historyMaxEvents: 100, retention: [{ pattern: 'short/*', maxEvents: 2 }] });
      const delivered = recorder(engine);
      const before = await engine.position();
      const stored = await engine.append(Array.from({ length: 8 }, (_, i) => ({ topic: i % 2 === 0 ? 'short/a' : 'long', data: String(i) })));
      await eventually(() => delivered.length === 8, 'delivery');
      const short = await engine.history(sel('short/a'), stored[0]!.id);
      assert.equal(short.complete, false, 'events 2 (and 0) left short/a: resuming after 0 misses 2');
      assert.equal(short.reason, 'history-exceeded');
      assert.deepEqual(short.events.map((event) => event.data), ['4', '6']);
      const exact = await engine.history(sel('short/a'), stored[2]!.id);
      assert.equal(exact.complete, true, 'nothing after event 2 left short/a');
      assert.deepEqual(exact.events.map((event) => event.data), ['4', '6']);
      const long = await engine.history(sel('long'), before);
      assert.equal(long.complete, true, 'the rule does not apply to long');
      assert.deepEqual(long.events.map((event) => event.data), ['1', '3', '5', '7']);
      const pattern = await engine.history(sel('**'), stored[0]!.id);
      assert.equal(pattern.complete, false, 'a pattern covering short/a sees its gap');
      assert.deepEqual(pattern.events.map((event) => event.data), ['1', '3', '4', '5', '6', '7']);
    });

    test('retention per topic by age: a rule\'s shorter age drops its topics\' events, not the others\'', async () => {
      // Margins a loaded machine keeps: 'old' is 2 s old when 'new' comes, 'new' is read well within 1.5 s.
      const engine = await fresh({ historyMaxAgeMs: HOUR, retention: [{ pattern: 'short/*', maxAgeMs: 1500 }] });
      const delivered = recorder(engine);
      const before = await engine.position();
      await engine.append([{ topic: 'short/a', data: 'old' }, { topic: 'long', data: 'old' }]);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      await engine.append([{ topic: 'short/a', data: 'new' }, { topic: 'long', data: 'new' }]);
      await eventually(() => delivered.length === 4, 'delivery');
      const short = await engine.history(sel('short/a'), before);
      assert.deepEqual(short.events.map((event) => event.data), ['new']);
      assert.equal(short.complete, false);
      assert.equal(short.reason, 'history-exceeded');
      const long = await engine.history(sel('long'), before);
      assert.deepEqual(long.events.map((event) => event.data), ['old', 'new']);
      assert.equal(long.complete, true);
    });

    test('the hub\'s presence and control topics keep no history; its webhook queue keeps its history', async () => {
      const engine = await fresh();
      const delivered = recorder(engine);
      const before = await engine.position();
      await engine.append([
        { topic: '$ssehub/presence/i1', data: 'p' },
        { topic: '$ssehub/control/i1', data: 'c' },
        { topic: '$ssehub/webhooks/i1', data: 'w' },
      ]);
      await eventually(() => delivered.length === 3, 'delivery');
      assert.deepEqual(delivered.map((event) => event.data), ['p', 'c', 'w'], 'every one is delivered live');
      const system = (source: string) => [parseSelector(source, { allowReserved: true })];
      for (const channel of ['presence', 'control']) {
        const result = await engine.history(system(`$ssehub/${channel}/*`), before);
        assert.deepEqual(result.events, [], channel);
        assert.equal(result.complete, false, channel);
      }
      const webhooks = await engine.history(system('$ssehub/webhooks/*'), before);
      assert.deepEqual(webhooks.events.map((event) => event.data), ['w']);
      assert.equal(webhooks.complete, true);
    });

    test('historyMaxEvents 0 keeps nothing, but still delivers live', async () => {
      const engine = await fresh({ historyMaxEvents: 0 });
      const delivered = recorder(engine);
      const before = await engine.position();
      await engine.append([{ topic: 't', data: 'x' }]);
      await eventually(() => delivered.length === 1, 'delivery');
      const result = await engine.history(sel('t'), before);
      assert.deepEqual(result.events, []);
      assert.equal(result.complete, false);
      assert.equal((await engine.history(sel('t'), await engine.position())).complete, true);
    });

    test('history never answers past its position, so live delivery after the position cannot duplicate it', async () => {
      const engine = await fresh();
      const before = await engine.position();
      const appended: StoredEvent[] = [];
      let stop = false;
      const writer = (async () => {
        while (!stop) appended.push(...(await engine.append([{ topic: 'race', data: String(appended.length) }])));
      })();
      const answers: string[][] = [];
      for (let round = 0; round < 20; round++) {
        const result = await engine.history(sel('race'), before);
        for (const event of result.events) assert.ok(engine.compareIds(event.id, result.position) <= 0, 'event beyond position');
        assert.equal(result.complete, true);
        answers.push(result.events.map((event) => event.id));
      }
      stop = true;
      await writer;
      // Compared once every append has returned: history may already hold an event whose append
      // the writer has not heard back from yet.
      for (const ids of answers) assert.deepEqual(ids, appended.slice(0, ids.length).map((event) => event.id), 'a prefix of what was appended, in order');
    });

    test('an append repeated with its dedupe key, from another instance, is answered with the first ids and stored once', async () => {
      const namespace = namespaceFor();
      const a = await open({ namespace });
      // The memory engine has one instance: its repeat comes through the same one.
      const b = harness.shared ? await open({ namespace }) : a;
      const onA = recorder(a);
      const onB = b === a ? onA : recorder(b);
      const before = await a.position();
      const events = [{ topic: 'd', data: 'x' }, { topic: 'd/e', data: 'y', event: 'named' }];
      const options = { dedupeKey: 'idem:ip:1:k1', dedupeWindowMs: 60_000 };
      const first = await a.append(events, options);
      const again = await b.append(events, options);
      const shape = (stored: StoredEvent[]) => stored.map(({ id, topic, event, data }) => ({ id, topic, event, data }));
      assert.deepEqual(shape(again), shape(first), 'the first ids, topics and event names');
      const other = await b.append(events, { ...options, dedupeKey: 'idem:ip:1:k2' });
      assert.ok(a.compareIds(other[0]!.id, first[1]!.id) > 0, 'another key appends anew');
      const expected = [...first, ...other].map((event) => event.id);
      await eventually(() => onA.length >= 4 && onB.length >= 4, 'delivery to both instances');
      await new Promise((resolve) => setTimeout(resolve, 200)); // room for a duplicate to show up
      assert.deepEqual(onA.map((event) => event.id), expected, 'delivered once on A');
      assert.deepEqual(onB.map((event) => event.id), expected, 'delivered once on B');
      const history = await b.history(sel('d', 'd/e'), before);
      assert.deepEqual(history.events.map((event) => event.id), expected, 'stored once');
    });

    // Not for NATS: JetStream remembers message ids for the stream's duplicate window, not the append's (nats.ts).
    const windowedDedupe = label !== 'nats';
    if (windowedDedupe) test('a dedupe key is forgotten after its window: the same key then appends again', async () => {
      const engine = await fresh();
      const delivered = recorder(engine);
      const before = await engine.position();
      const events = [{ topic: 'w', data: 'x' }];
      const options = { dedupeKey: 'idem:ip:1:short', dedupeWindowMs: 300 };
      const [first] = await engine.append(events, options);
      const [within] = await engine.append(events, options);
      assert.equal(within!.id, first!.id, 'remembered within the window');
      await new Promise((resolve) => setTimeout(resolve, 800));
      const [later] = await engine.append(events, options);
      assert.ok(engine.compareIds(later!.id, first!.id) > 0, 'appended again after the window');
      const [again] = await engine.append(events, options);
      assert.equal(again!.id, later!.id, 'and remembered again from then on');
      const expected = [first!.id, later!.id];
      await eventually(() => delivered.length >= 2, 'delivery');
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(delivered.map((event) => event.id), expected);
      assert.deepEqual((await engine.history(sel('w'), before)).events.map((event) => event.id), expected);
    });

    if (!harness.shared) return;

    test('instances share one id order: concurrent publishers on two instances, identical delivery everywhere', async () => {
      const namespace = namespaceFor();
      const a = await open({ namespace });
      const b = await open({ namespace });
      const onA = recorder(a);
      const onB = recorder(b);
      const publishers = [a, b, a, b, a, b, a, b].map(async (engine, p) => {
        const ids: string[] = [];
        for (let i = 0; i < 15; i++) {
          const batch = await engine.append([
            { topic: `p/${p}`, data: `${p}:${i}:0` },
            { topic: `p/${p}`, data: `${p}:${i}:1` },
          ]);
          ids.push(...batch.map((event) => event.id));
        }
        return ids;
      });
      const perPublisher = await Promise.all(publishers);
      const total = 8 * 15 * 2;
      await eventually(() => onA.length >= total && onB.length >= total, 'delivery to both instances', 15_000);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(onA.length, total, 'each event once on A');
      assert.deepEqual(onB.map((event) => event.id), onA.map((event) => event.id), 'same order on both');
      for (let i = 1; i < onA.length; i++) assert.ok(a.compareIds(onA[i]!.id, onA[i - 1]!.id) > 0, 'strictly increasing');
      for (const [p, ids] of perPublisher.entries()) {
        const seen = onA.filter((event) => event.topic === `p/${p}`);
        assert.deepEqual(seen.map((event) => event.id), ids, `publisher ${p}'s events in its order`);
        assert.deepEqual(seen.map((event) => event.data), Array.from({ length: 30 }, (_, k) => `${p}:${k >> 1}:${k & 1}`));
      }
    });

    test('an id handed out by one instance resumes exactly on another', async () => {
      const namespace = namespaceFor();
      const a = await open({ namespace });
      const b = await open({ namespace });
      const onB = recorder(b);
      const stored = await a.append(Array.from({ length: 6 }, (_, i) => ({ topic: i % 2 ? 'x' : 'y', data: String(i) })));
      await eventually(() => onB.length === 6, 'delivery to B');
      const result = await b.history(sel('x'), stored[1]!.id);
      assert.equal(result.complete, true);
      assert.deepEqual(result.events.map((event) => event.data), ['3', '5']);
      assert.deepEqual(result.events.map((event) => event.id), [stored[3]!.id, stored[5]!.id]);
    });

    test('an id this instance has not yet received is waited for, not mistaken for unknown', async () => {
      const namespace = namespaceFor();
      const a = await open({ namespace });
      const b = await open({ namespace });
      const onB = recorder(b);
      const [first] = await a.append([{ topic: 'w', data: '1' }]);
      const [second] = await a.append([{ topic: 'w', data: '2' }]);
      // Asked immediately, B may not have received these yet; it must still answer exactly: what
      // it returns plus what it delivers after its position is everything after the id.
      const result = await b.history(sel('w'), first!.id);
      assert.equal(result.complete, true);
      assert.ok(b.compareIds(result.position, first!.id) >= 0, 'position covers the id asked about');
      await eventually(() => onB.some((event) => event.id === second!.id), 'delivery of the second event to B');
      const live = onB.filter((event) => b.compareIds(event.id, result.position) > 0);
      assert.deepEqual([...result.events, ...live].map((event) => event.data), ['2']);
    });

    test('history reads its own writes: an event acknowledged before the call is in the answer, on this instance and on another', async () => {
      const namespace = namespaceFor();
      const a = await open({ namespace });
      const b = harness.shared ? await open({ namespace }) : a;
      const start = await a.position();
      for (let round = 0; round < 8; round++) {
        // Asked the moment each append is acknowledged: no instance's delivery has to have reached
        // it yet, and the events before it in the batch keep the readers busy a while (2,500 take
        // Redis's reader three reads; NATS's consumer lags more often after the shorter batches).
        const bulk = Array.from({ length: round % 2 === 0 ? 2500 : 300 }, (_, i) => ({ topic: 'bulk', data: String(i) }));
        const stored = (await a.append([...bulk, { topic: 'own', data: String(round) }])).at(-1);
        for (const [name, engine] of [['the appending instance', a], ['another instance', b]] as const) {
          const result = await engine.history(sel('own'), start);
          assert.equal(result.events.at(-1)?.id, stored!.id, `round ${round}, ${name}: the newest event in the answer is the one just acknowledged`);
          assert.equal(result.events.length, round + 1, `round ${round}, ${name}`);
          assert.ok(engine.compareIds(result.position, stored!.id) >= 0, `round ${round}, ${name}: the position covers it`);
        }
      }
    });

    test('the key-value store is shared: one setOnce wins, one take gets the value, expiry holds', async () => {
      const namespace = namespaceFor();
      const a = await open({ namespace });
      const b = await open({ namespace });
      const wins = await Promise.all([a, b, a, b].map((engine, i) => engine.kv.setOnce('once', `v${i}`, 60_000)));
      assert.equal(wins.filter(Boolean).length, 1, 'exactly one setOnce stored');
      const winner = `v${wins.indexOf(true)}`;
      assert.equal(await b.kv.get('once'), winner);
      const takes = await Promise.all([a, b, a, b].map((engine) => engine.kv.take('once')));
      assert.deepEqual(takes.filter((value) => value !== null), [winner], 'one taker gets it');
      assert.equal(await a.kv.get('once'), null);
      await a.kv.set('k', 'one', 60_000);
      await b.kv.set('k', 'two', 60_000);
      assert.equal(await a.kv.get('k'), 'two');
      await b.kv.delete('k');
      assert.equal(await a.kv.get('k'), null);
      assert.equal(await a.kv.setOnce('short', 'x', 300), true);
      assert.equal(await b.kv.setOnce('short', 'y', 300), false);
      await new Promise((resolve) => setTimeout(resolve, 1300));
      assert.equal(await b.kv.get('short'), null, 'expired');
      assert.equal(await b.kv.take('short'), null, 'an expired key cannot be taken');
      assert.equal(await b.kv.setOnce('short', 'y', 60_000), true, 'an expired key can be set again');
    });

    test('counters are shared and start over after their window', async () => {
      const namespace = namespaceFor();
      const a = await open({ namespace });
      const b = await open({ namespace });
      const counts = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).kv.increment('c', 1000)));
      assert.deepEqual([...counts].sort((x, y) => x - y), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      await new Promise((resolve) => setTimeout(resolve, 1600));
      assert.equal(await a.kv.increment('c', 1000), 1);
    });
  });
}

/** The key-value contract for the memory engine, whose store is not shared (one instance). */
export function describeLocalKeyValueContract(open: () => Engine): void {
  test('key-value: setOnce, take, get, set, delete, increment, expiry', async () => {
    const engine = open();
    assert.equal(await engine.kv.setOnce('k', 'a', 60_000), true);
    assert.equal(await engine.kv.setOnce('k', 'b', 60_000), false);
    assert.equal(await engine.kv.get('k'), 'a');
    assert.equal(await engine.kv.take('k'), 'a');
    assert.equal(await engine.kv.take('k'), null);
    await engine.kv.set('s', '1', 60_000);
    await engine.kv.set('s', '2', 60_000);
    assert.equal(await engine.kv.get('s'), '2');
    await engine.kv.delete('s');
    assert.equal(await engine.kv.get('s'), null);
    assert.equal(await engine.kv.increment('n', 60_000), 1);
    assert.equal(await engine.kv.increment('n', 60_000), 2);
    assert.equal(await engine.kv.setOnce('short', 'x', 30), true);
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(await engine.kv.get('short'), null);
    assert.equal(await engine.kv.setOnce('short', 'y', 60_000), true);
    await engine.close();
  });
}
