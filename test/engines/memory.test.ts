import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryEngine } from '../../src/engines/memory.js';
import { memoryId } from '../../src/engines/memory-ids.js';
import type { StoredEvent } from '../../src/engines/engine.js';
import { parseSelector } from '../../src/topics/index.js';

const sel = (...sources: string[]) => sources.map((source) => parseSelector(source));

function engine(options: Partial<ConstructorParameters<typeof MemoryEngine>[0]> = {}) {
  return new MemoryEngine({ historyMaxEvents: 100, historyMaxAgeMs: 3_600_000, ...options });
}

describe('MemoryEngine ids', () => {
  test('are strictly increasing across topics in append order, and deliver in that order', async () => {
    const e = engine();
    const delivered: string[] = [];
    e.onDeliver((event) => delivered.push(event.id));
    const first = await e.append([{ topic: 'a', data: '1' }, { topic: 'b', data: '2' }]);
    const second = await e.append([{ topic: 'a', data: '3' }]);
    const ids = [...first, ...second].map((event) => event.id);
    assert.deepEqual(delivered, ids);
    for (let i = 1; i < ids.length; i++) assert.ok(e.compareIds(ids[i]!, ids[i - 1]!) > 0, `${ids[i]} after ${ids[i - 1]}`);
    assert.equal(await e.position(), ids[2]);
    await e.close();
  });

  test('differ between two engines, so an id from a previous run is unknown', async () => {
    const a = engine();
    const b = engine();
    const [event] = await a.append([{ topic: 't', data: 'x' }]);
    await b.append([{ topic: 't', data: 'y' }]);
    const result = await b.history(sel('t'), event!.id);
    assert.equal(result.complete, false);
    assert.equal(result.reason, 'unknown-id');
    assert.deepEqual(result.events.map((ev) => ev.data), ['y'], 'what the engine still holds is replayed');
  });

  test('an id that is malformed or from the future is unknown', async () => {
    const e = engine();
    const [event] = await e.append([{ topic: 't', data: 'x' }]);
    const future = event!.id.replace(/-\d+$/, '-99');
    for (const id of ['', 'garbage', future, `${event!.id}x`]) {
      const result = await e.history(sel('t'), id);
      assert.equal(result.complete, false, id);
      assert.equal(result.reason, 'unknown-id', id);
    }
  });
});

describe('MemoryEngine history', () => {
  test('returns the matching events after an id, across topics and patterns, in id order', async () => {
    const e = engine();
    const stored = await e.append([
      { topic: 'orders/1', data: 'a' },
      { topic: 'users/1', data: 'b' },
      { topic: 'orders/2', data: 'c' },
      { topic: 'orders/1', data: 'd', event: 'update' },
      { topic: 'orders/1/items', data: 'e' },
    ]);
    const all = await e.history(sel('orders/*'), stored[0]!.id);
    assert.equal(all.complete, true);
    assert.deepEqual(all.events.map((ev) => ev.data), ['c', 'd']);
    assert.equal(all.events[1]!.event, 'update');
    const deep = await e.history(sel('orders/**', 'users/1'), stored[0]!.id);
    assert.deepEqual(deep.events.map((ev) => ev.data), ['b', 'c', 'd', 'e']);
    assert.equal(deep.position, stored[4]!.id);
  });

  test('a topic named twice is replayed once', async () => {
    const e = engine();
    const [first] = await e.append([{ topic: 'a', data: '0' }]);
    await e.append([{ topic: 'a', data: '1' }]);
    const result = await e.history(sel('a', 'a'), first!.id);
    assert.deepEqual(result.events.map((ev) => ev.data), ['1']);
  });

  test('is complete when nothing after the id was evicted, and says history-exceeded when something was', async () => {
    const e = engine({ historyMaxEvents: 3 });
    const stored = await e.append(Array.from({ length: 5 }, (_, i) => ({ topic: 't', data: String(i) })));
    // Kept: 2, 3, 4. Evicted: 0, 1.
    const fromOne = await e.history(sel('t'), stored[1]!.id);
    assert.equal(fromOne.complete, true);
    assert.deepEqual(fromOne.events.map((ev) => ev.data), ['2', '3', '4']);
    const fromZero = await e.history(sel('t'), stored[0]!.id);
    assert.equal(fromZero.complete, false);
    assert.equal(fromZero.reason, 'history-exceeded');
    assert.deepEqual(fromZero.events.map((ev) => ev.data), ['2', '3', '4'], 'what remains is still replayed');
  });

  test('retention is per topic: a busy topic does not evict a quiet one', async () => {
    const e = engine({ historyMaxEvents: 2 });
    const [quiet] = await e.append([{ topic: 'quiet', data: 'q' }]);
    const start = await e.position();
    await e.append(Array.from({ length: 10 }, (_, i) => ({ topic: 'busy', data: String(i) })));
    assert.equal(e.stats().retainedEvents, 3);
    const result = await e.history(sel('quiet'), start);
    assert.equal(result.complete, true);
    assert.deepEqual(result.events, []);
    assert.equal((await e.history(sel('quiet'), `${start.split('-')[0]}-0`)).events[0]!.id, quiet!.id);
  });

  test('evicts by age', async () => {
    let now = 1_000_000;
    const e = engine({ historyMaxAgeMs: 60_000, now: () => now });
    const [old] = await e.append([{ topic: 't', data: 'old' }]);
    now += 30_000;
    await e.append([{ topic: 't', data: 'new' }]);
    now += 31_000; // "old" is now 61 s old, "new" 31 s
    const result = await e.history(sel('t'), `${old!.id.split('-')[0]}-0`);
    assert.deepEqual(result.events.map((ev) => ev.data), ['new']);
    assert.equal(result.complete, false, 'the evicted "old" was after the id');
    const afterOld = await e.history(sel('t'), old!.id);
    assert.equal(afterOld.complete, true);
    assert.equal(e.stats().retainedEvents, 1);
  });

  test('evicts by age across topics, sweep after sweep (the sweep skips only while nothing can be that old)', async () => {
    let now = 0;
    const e = engine({ historyMaxAgeMs: 60_000, now: () => now });
    const base = await e.position();
    await e.append([{ topic: 'x', data: 'at 0' }]);
    now = 40_000;
    await e.append([{ topic: 'y', data: 'at 40' }]);
    now = 70_000;
    assert.deepEqual((await e.history(sel('x', 'y'), base)).events.map((ev) => ev.data), ['at 40']);
    now = 90_000;
    await e.append([{ topic: 'x', data: 'at 90' }]);
    assert.deepEqual((await e.history(sel('x', 'y'), base)).events.map((ev) => ev.data), ['at 40', 'at 90']);
    now = 101_000; // "at 40" is 61 s old
    assert.deepEqual((await e.history(sel('x', 'y'), base)).events.map((ev) => ev.data), ['at 90']);
    assert.equal(e.stats().retainedEvents, 1);
    now = 151_000;
    assert.deepEqual((await e.history(sel('x', 'y'), base)).events, []);
    assert.equal(e.stats().retainedEvents, 0);
  });

  test('evicts by age after the clock stepped back, also what count eviction leaves oldest', async () => {
    let now = 100_000;
    const e = engine({ historyMaxEvents: 2, historyMaxAgeMs: 60_000, now: () => now });
    const base = await e.position();
    await e.append([{ topic: 't', data: 'at 100' }]);
    now = 50_000; // the wall clock stepped back
    await e.append([{ topic: 't', data: 'at 50' }]);
    now = 115_000;
    assert.deepEqual((await e.history(sel('t'), base)).events.map((ev) => ev.data), ['at 100', 'at 50']);
    await e.append([{ topic: 't', data: 'at 115' }]); // the count limit drops "at 100": "at 50" is oldest now
    now = 120_000; // "at 50" is 70 s old
    assert.deepEqual((await e.history(sel('t'), base)).events.map((ev) => ev.data), ['at 115']);
  });

  test('remembers topics that emptied, and answers conservatively once it forgets them', async () => {
    let now = 0;
    const e = engine({ historyMaxAgeMs: 10, maxForgottenTopics: 2, now: () => now });
    const base = await e.position();
    await e.append([{ topic: 'a', data: '1' }]);
    now = 100;
    await e.append([{ topic: 'b', data: '2' }]); // evicts nothing yet: sweep happens on history()
    now = 200;
    const exact = await e.history(sel('a'), base);
    assert.equal(exact.complete, false, '"a" lost an event after base');
    assert.equal(e.stats().topics, 0);
    // Empty "a" and "b" are remembered; three more emptied topics push them out.
    for (const topic of ['c', 'd', 'e']) {
      await e.append([{ topic, data: topic }]);
      now += 100;
      await e.history(sel(topic), base);
    }
    const never = await e.history(sel('never-published'), base);
    assert.equal(never.complete, false, 'a forgotten topic could have been this one');
    const now2 = await e.position();
    assert.equal((await e.history(sel('never-published'), now2)).complete, true, 'nothing forgotten after the current position');
  });

  test('historyMaxEvents 0 keeps nothing and every resume across an event is incomplete', async () => {
    const e = engine({ historyMaxEvents: 0 });
    const before = await e.position();
    const delivered: StoredEvent[] = [];
    e.onDeliver((ev) => delivered.push(ev));
    await e.append([{ topic: 't', data: 'x' }]);
    assert.equal(delivered.length, 1, 'still delivered live');
    assert.equal(e.stats().retainedEvents, 0);
    assert.equal((await e.history(sel('t'), before)).complete, false);
    assert.equal((await e.history(sel('t'), await e.position())).complete, true);
  });
});

describe('MemoryEngine byte budget', () => {
  const kib = (n: number) => 'x'.repeat(n * 1024);

  test('past the budget, the oldest events go first, whatever their topic, down to 90% of it', async () => {
    const e = engine({ historyMaxBytes: 100 * 1024 });
    const base = await e.position();
    const delivered: string[] = [];
    e.onDeliver((event) => delivered.push(event.id));
    const stored: StoredEvent[] = [];
    for (let i = 0; i < 30; i++) stored.push(...(await e.append([{ topic: `t${i % 3}`, data: kib(10) }])));
    assert.equal(delivered.length, 30, 'every event is still delivered live');
    const { retainedBytes, retainedEvents, evictedForBudget } = e.stats();
    assert.ok(retainedBytes! <= 100 * 1024, `retained ${retainedBytes} bytes`);
    assert.equal(retainedEvents + evictedForBudget!, 30);
    assert.ok(retainedEvents >= 8, `kept ${retainedEvents}`);
    // What is kept is the newest events of all topics together.
    const kept = (await e.history(sel('**'), base)).events.map((event) => event.id);
    assert.deepEqual(kept, stored.slice(30 - retainedEvents).map((event) => event.id));
  });

  test('a resume that needed an evicted event is told so; one after the evictions is complete', async () => {
    const e = engine({ historyMaxBytes: 50 * 1024 });
    const base = await e.position();
    const [first] = await e.append([{ topic: 'big', data: kib(20) }]);
    const [quiet] = await e.append([{ topic: 'quiet', data: 'small' }]);
    await e.append([{ topic: 'big', data: kib(20) }, { topic: 'big', data: kib(20) }]);
    const missed = await e.history(sel('big'), base);
    assert.equal(missed.complete, false);
    assert.equal(missed.reason, 'history-exceeded');
    // One eviction was enough: "quiet", newer than it, is kept and its resume is exact.
    const kept = await e.history(sel('quiet'), first!.id);
    assert.equal(kept.complete, true);
    assert.deepEqual(kept.events.map((event) => event.id), [quiet!.id]);
    const position = await e.position();
    await e.append([{ topic: 'big', data: 'after' }]);
    const fresh = await e.history(sel('big', 'quiet'), position);
    assert.equal(fresh.complete, true);
    assert.deepEqual(fresh.events.map((event) => event.data), ['after']);
  });

  test('0 means no budget', async () => {
    const e = engine({ historyMaxBytes: 0 });
    for (let i = 0; i < 20; i++) await e.append([{ topic: 't', data: kib(50) }]);
    assert.equal(e.stats().retainedEvents, 20);
    assert.equal(e.stats().evictedForBudget, 0);
  });
});

describe('MemoryEngine pattern resumes', () => {
  test('read only the topics their patterns match', async () => {
    const e = engine();
    const base = await e.position();
    for (let i = 0; i < 5_000; i++) await e.append([{ topic: `room/${i}`, data: String(i) }]);
    await e.append([{ topic: 'user/1/inbox', data: 'mail' }]);
    const before = e.historyNodesVisited;
    const nothing = await e.history(sel('nomatch/**'), base);
    assert.deepEqual(nothing.events, []);
    assert.ok(e.historyNodesVisited - before <= 2, `nomatch/** entered ${e.historyNodesVisited - before} nodes`);
    const mid = e.historyNodesVisited;
    const inbox = await e.history(sel('user/*/inbox'), base);
    assert.deepEqual(inbox.events.map((event) => event.data), ['mail']);
    assert.ok(e.historyNodesVisited - mid <= 5, `user/*/inbox entered ${e.historyNodesVisited - mid} nodes`);
  });

  test('that let other work run in between leave out what was appended meanwhile, which live delivery brings', async () => {
    const e = engine();
    const base = await e.position();
    for (let i = 0; i < 2_500; i++) await e.append([{ topic: `room/${i}`, data: String(i) }]);
    const reading = e.history(sel('room/*'), base);
    // The read yields after every thousand topics: these land while it is under way.
    await e.append([{ topic: 'room/0', data: 'late' }, { topic: 'room/2499', data: 'late' }]);
    const result = await reading;
    assert.equal(result.events.length, 2_500);
    assert.ok(result.events.every((event) => event.data !== 'late'));
    assert.ok(result.events.every((event) => e.compareIds(event.id, result.position) <= 0), 'nothing after the position');
  });

  test('a forgotten topic that comes back still reports what it lost', async () => {
    let now = 0;
    const e = engine({ historyMaxAgeMs: 10, maxForgottenTopics: 1, now: () => now });
    const base = await e.position();
    await e.append([{ topic: 'a', data: 'lost' }]);
    now = 100;
    await e.history(sel('a'), base); // "a" empties (age)
    await e.append([{ topic: 'b', data: 'b' }]);
    now = 200;
    await e.history(sel('b'), base); // "b" empties too, and "a" is forgotten
    await e.append([{ topic: 'a', data: 'back' }]);
    const result = await e.history(sel('a'), base);
    assert.deepEqual(result.events.map((event) => event.data), ['back']);
    assert.equal(result.complete, false, '"lost" was evicted after base');
  });

  test('emptied topics keep no arrays and are no longer counted', async () => {
    let now = 0;
    const e = engine({ historyMaxAgeMs: 10, now: () => now });
    for (let i = 0; i < 100; i++) await e.append([{ topic: `t/${i}`, data: 'x' }, { topic: `t/${i}`, data: 'y' }]);
    now = 100;
    await e.history(sel('t/*'), await e.position());
    assert.deepEqual({ topics: e.stats().topics, retained: e.stats().retainedEvents, bytes: e.stats().retainedBytes }, { topics: 0, retained: 0, bytes: 0 });
  });
});

describe('memory engine: retention per topic', () => {
  test('delivers every event, and keeps of each topic what its rule says (the hub\'s presence topics: none) in the heap', async () => {
    const e = engine({ retention: [{ pattern: 'kept', maxEvents: 2 }] });
    const delivered: StoredEvent[] = [];
    e.onDeliver((event) => delivered.push(event));
    for (let i = 0; i < 3; i++) e.appendNow([{ topic: '$ssehub/presence/x', data: `m${i}` }]);
    for (let i = 0; i < 3; i++) e.appendNow([{ topic: 'kept', data: `k${i}` }]);
    assert.deepEqual(delivered.map((event) => event.data), ['m0', 'm1', 'm2', 'k0', 'k1', 'k2']);
    assert.deepEqual((await e.history([parseSelector('kept')], 'none')).events.map((event) => event.data), ['k1', 'k2']);
    assert.equal(e.stats().retainedEvents, 2);
    assert.equal(e.stats().retainedBytes, 2 * (2 + 200), 'nothing of the unkept events counts against the budget');
  });

  test('a rule\'s age applies to its topics only', async () => {
    let now = 1000;
    const e = engine({ historyMaxAgeMs: 60_000, retention: [{ pattern: 'short/*', maxAgeMs: 100 }], now: () => now });
    e.appendNow([{ topic: 'short/a', data: 's' }, { topic: 'long', data: 'l' }]);
    now += 100;
    const start = memoryId(e.epoch, 0);
    const short = await e.history([parseSelector('short/a')], start);
    assert.deepEqual({ complete: short.complete, reason: short.reason, events: short.events }, { complete: false, reason: 'history-exceeded', events: [] });
    const long = await e.history([parseSelector('long')], start);
    assert.deepEqual(long.events.map((event) => event.data), ['l']);
    assert.equal(long.complete, true);
    assert.equal(e.stats().retainedEvents, 1);
  });
});
