import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { EVERY_RETAINED_EVENT, Hub, type StreamFormat, type StreamView } from '../../src/hub/hub.js';
import type { SinkOwner, StreamSink } from '../../src/hub/sink.js';
import { MemoryEngine } from '../../src/engines/memory.js';
import type { Engine, HistoryResult } from '../../src/engines/engine.js';
import { EventStreamParser, POSITION_EVENT, RESET_EVENT, type ParsedEvent } from '../../src/protocol/index.js';
import { DEFAULT_TOPIC_LIMITS, parseSelector, type Selector } from '../../src/topics/index.js';

/** A sink that records every write, as a socket would receive it, with a configurable buffer. */
class RecordingSink implements StreamSink {
  writes: Uint8Array[] = [];
  /** Events as an application sees them (position markers kept apart). */
  events: ParsedEvent[] = [];
  positions: string[] = [];
  bufferedBytes = 0;
  ended = false;
  destroyed = false;
  private owner: SinkOwner | undefined;
  private drainWaiters: Array<() => void> = [];
  private closed = false;
  private parser = new EventStreamParser({
    onEvent: (event) => (event.type === POSITION_EVENT ? this.positions.push(event.lastEventId) : this.events.push(event)),
  });
  /** When set, writes stay buffered (a client that does not read). */
  stalled = false;

  write(chunk: Uint8Array): boolean {
    this.writes.push(chunk);
    this.parser.feed(chunk);
    if (this.stalled) this.bufferedBytes += chunk.byteLength;
    return !this.stalled;
  }
  attach(owner: SinkOwner): void {
    this.owner = owner;
  }
  drained(): Promise<void> {
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }
  end(): void {
    this.ended = true;
    this.fireClose();
  }
  destroy(): void {
    this.destroyed = true;
    this.fireClose();
  }
  unstall(): void {
    this.stalled = false;
    this.bufferedBytes = 0;
    for (const resolve of this.drainWaiters.splice(0)) resolve();
    this.owner?.sinkDrained();
  }
  private fireClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.owner?.sinkClosed();
  }
  get dataEvents(): ParsedEvent[] {
    return this.events;
  }
}

const selectors = (...sources: string[]): Selector[] => sources.map((source) => parseSelector(source));

function makeHub(engine: Engine = new MemoryEngine({ historyMaxEvents: 1000, historyMaxAgeMs: 3_600_000 }), maxBufferBytes = 1 << 20) {
  return new Hub(engine, { heartbeatMs: 0, retryMs: 1000, maxBufferBytes, topicLimits: DEFAULT_TOPIC_LIMITS });
}

/**
 * A real memory engine behind an Engine of its own: without appendNow, as the distributed engines
 * are, and with `overrides` in place of its methods.
 */
function wrapped(inner: MemoryEngine, overrides: Partial<Engine> = {}): Engine {
  return {
    name: inner.name,
    append: (events, options) => inner.append(events, options),
    history: (sels, afterId) => inner.history(sels, afterId),
    position: () => inner.position(),
    compareIds: (a, b) => inner.compareIds(a, b),
    onDeliver: (listener) => inner.onDeliver(listener),
    onDeliveryGap: (listener) => inner.onDeliveryGap(listener),
    kv: inner.kv,
    stats: () => inner.stats(),
    health: () => inner.health(),
    close: () => inner.close(),
    ...overrides,
  };
}

/** Lets the subscriber's catch-up and the end-of-turn flush run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await nextTurn();
}

describe('Hub fan-out', () => {
  test('encodes an event once: every subscriber is written the very same bytes', async () => {
    const hub = makeHub();
    const sinks = [new RecordingSink(), new RecordingSink(), new RecordingSink()];
    for (const sink of sinks) hub.subscribe(selectors('news'), sink);
    await settle();
    const before = sinks.map((sink) => sink.writes.length);
    await hub.publish([{ topic: 'news', data: 'hello' }]);
    await settle();
    const written = sinks.map((sink, i) => sink.writes.slice(before[i]));
    for (const w of written) assert.equal(w.length, 1);
    assert.equal(written[0]![0], written[1]![0], 'same Buffer object, not an equal copy');
    assert.equal(written[1]![0], written[2]![0]);
    assert.deepEqual(sinks[0]!.events.map((e) => e.data), ['hello']);
  });

  test('a large fan-out: events for one connection in the same turn leave in one write, shared by all subscribers', async () => {
    const hub = makeHub();
    const sinks = Array.from({ length: 17 }, () => new RecordingSink()); // more than a small fan-out
    for (const sink of sinks) hub.subscribe(selectors('t'), sink);
    await settle();
    const before = sinks.map((sink) => sink.writes.length);
    await Promise.all([1, 2, 3, 4, 5].map((n) => hub.publish([{ topic: 't', data: String(n) }])));
    assert.deepEqual(sinks.map((sink, i) => sink.writes.length - before[i]!), sinks.map(() => 0), 'nothing written before the end of the turn');
    await settle();
    assert.deepEqual(sinks.map((sink, i) => sink.writes.length - before[i]!), sinks.map(() => 1), 'five events, one write each');
    assert.ok(sinks.every((sink) => sink.writes.at(-1) === sinks[0]!.writes.at(-1)), 'the joined chunk itself is shared');
    assert.deepEqual(sinks[16]!.events.map((e) => e.data), ['1', '2', '3', '4', '5']);
  });

  test('a small fan-out: an event is written at once, and the rest of the turn joins in one write', async () => {
    const hub = makeHub();
    const a = new RecordingSink();
    const b = new RecordingSink();
    hub.subscribe(selectors('t'), a);
    hub.subscribe(selectors('t'), b);
    await settle();
    const before = a.writes.length;
    await hub.publish([{ topic: 't', data: '1' }]);
    assert.equal(a.writes.length - before, 1, 'written before the end of the turn');
    assert.deepEqual(a.events.map((e) => e.data), ['1']);
    await Promise.all([2, 3, 4, 5].map((n) => hub.publish([{ topic: 't', data: String(n) }])));
    await settle();
    assert.equal(a.writes.length - before, 2, 'five events, two writes');
    assert.equal(a.writes.at(-1), b.writes.at(-1), 'the joined chunk itself is shared');
    assert.deepEqual(a.events.map((e) => e.data), ['1', '2', '3', '4', '5']);
    assert.deepEqual(b.events.map((e) => e.data), ['1', '2', '3', '4', '5']);
  });

  test('a subscriber matched by two of its selectors gets the event once', async () => {
    const hub = makeHub();
    const sink = new RecordingSink();
    hub.subscribe(selectors('orders/*', 'orders/**', 'orders/1'), sink);
    await settle();
    await hub.publish([{ topic: 'orders/1', data: 'x' }]);
    await settle();
    assert.deepEqual(sink.events.map((e) => e.data), ['x']);
    assert.equal(hub.stats().eventsDelivered, 1);
  });

  test('only matching topics are delivered', async () => {
    const hub = makeHub();
    const sink = new RecordingSink();
    hub.subscribe(selectors('orders/*'), sink);
    await settle();
    await hub.publish([
      { topic: 'orders/1', data: 'yes' },
      { topic: 'orders/1/items', data: 'no' },
      { topic: 'users/1', data: 'no' },
    ]);
    await settle();
    assert.deepEqual(sink.events.map((e) => e.data), ['yes']);
  });

  test('a subscriber that stops reading is cut off at its buffer limit, counted, and forgotten', async () => {
    const hub = makeHub(undefined, 4096);
    const slow = new RecordingSink();
    const fast = new RecordingSink();
    hub.subscribe(selectors('t'), slow);
    hub.subscribe(selectors('t'), fast);
    await settle();
    slow.stalled = true;
    for (let i = 0; i < 20; i++) {
      await hub.publish([{ topic: 't', data: 'x'.repeat(500) }]);
      await settle();
    }
    assert.equal(slow.destroyed, true);
    assert.equal(hub.stats().slowConsumersDropped, 1);
    assert.equal(hub.stats().connections, 1);
    assert.equal(fast.events.length, 20);
  });

  test('a subscriber that keeps up is not cut off when one turn brings more than its buffer', async () => {
    const hub = makeHub(undefined, 16 * 1024);
    const sink = new RecordingSink();
    hub.subscribe(selectors('t'), sink);
    await settle();
    // Five publishes in the same turn, 30 KiB in all, each well under the 16 KiB bound.
    await Promise.all([1, 2, 3, 4, 5].map((n) => hub.publish([{ topic: 't', data: `${n}${'x'.repeat(6 * 1024)}` }])));
    await settle();
    assert.equal(sink.destroyed, false);
    assert.equal(hub.stats().slowConsumersDropped, 0);
    assert.deepEqual(sink.events.map((e) => e.data[0]), ['1', '2', '3', '4', '5']);
  });

  test('a publish no stream buffer could hold is refused whole, before anything is stored', async () => {
    const hub = makeHub(undefined, 16 * 1024);
    const sink = new RecordingSink();
    hub.subscribe(selectors('t'), sink);
    await settle();
    const batch = Array.from({ length: 20 }, () => ({ topic: 't', data: 'x'.repeat(1000) }));
    await assert.rejects(hub.publish(batch), (error: any) => error.status === 413 && error.code === 'publish_too_large');
    await assert.rejects(hub.publish([{ topic: 't', data: '\n'.repeat(4000) }]), { code: 'publish_too_large' }, 'every line costs a "data: " prefix');
    assert.equal(hub.stats().retainedEvents, 0);
    assert.equal(sink.destroyed, false);
    await hub.publish(batch.slice(0, 10));
    await settle();
    assert.equal(sink.events.length, 10);
  });

  test('a stalled subscriber keeps queueing and gets the backlog in one write on drain', async () => {
    const hub = makeHub();
    const sink = new RecordingSink();
    hub.subscribe(selectors('t'), sink);
    await settle();
    sink.stalled = true;
    await hub.publish([{ topic: 't', data: 'first' }]);
    await settle(); // written, but the socket says "full"
    for (const data of ['a', 'b', 'c']) {
      await hub.publish([{ topic: 't', data }]);
      await settle();
    }
    const before = sink.writes.length;
    sink.unstall();
    await settle();
    assert.equal(sink.writes.length - before, 1, 'three queued events coalesced into one write');
    assert.deepEqual(sink.events.map((e) => e.data), ['first', 'a', 'b', 'c']);
  });
});

describe('Hub publishNow', () => {
  test('with the memory engine: stored, counted and written to a small fan-out before it returns', async () => {
    const hub = makeHub();
    const sink = new RecordingSink();
    hub.subscribe(selectors('t'), sink);
    await settle();
    assert.equal(hub.publishesWithoutWaiting, true);
    const stored = hub.publishNow([{ topic: 't', data: 'now', event: 'tick' }]);
    assert.equal(stored?.length, 1);
    assert.deepEqual(sink.events.map((e) => [e.type, e.data, e.lastEventId]), [['tick', 'now', stored![0]!.id]], 'written synchronously');
    assert.equal(hub.stats().eventsPublished, 1);
    assert.equal(hub.stats().retainedEvents, 1);
  });

  test('refuses as publish() does, synchronously, storing nothing; authorize() runs before the store', () => {
    const hub = makeHub();
    assert.throws(() => hub.publishNow([{ topic: 'ok', data: '1' }, { topic: 'bad//topic', data: '2' }]), { code: 'invalid_topic', message: /events\[1\]/ });
    const seen: string[][] = [];
    assert.throws(
      () =>
        hub.publishNow([{ topic: 'a', data: '1' }], {
          authorize: (events) => {
            seen.push(events.map((event) => event.topic));
            throw new Error('not allowed');
          },
        }),
      /not allowed/,
    );
    assert.deepEqual(seen, [['a']]);
    assert.equal(hub.stats().eventsPublished, 0);
    assert.equal(hub.stats().retainedEvents, 0);
  });

  test('with an engine that must wait for its server: refused, nothing checked, authorized or stored', async () => {
    const hub = makeHub(wrapped(new MemoryEngine({ historyMaxEvents: 1000, historyMaxAgeMs: 3_600_000 })));
    let authorized = 0;
    assert.equal(hub.publishesWithoutWaiting, false);
    assert.throws(() => hub.publishNow([{ topic: 'bad//topic', data: '1' }], { authorize: () => void (authorized += 1) }), /use publish\(\)/);
    assert.equal(authorized, 0);
    assert.equal(hub.stats().retainedEvents, 0);
    const [stored] = await hub.publish([{ topic: 't', data: '1' }], { authorize: () => void (authorized += 1) });
    assert.equal(authorized, 1);
    assert.equal(stored?.topic, 't');
  });
});

describe('Hub resume', () => {
  test('starts with the preamble and tells a fresh subscriber its position', async () => {
    const hub = makeHub();
    await hub.publish([{ topic: 'other', data: 'before' }]);
    const sink = new RecordingSink();
    hub.subscribe(selectors('t'), sink);
    await settle();
    const text = Buffer.concat(sink.writes).toString();
    assert.match(text, /^: ok\n: heartbeat=0\n\nretry: 1000\n\nid: \S+-1\nevent: ssehub\.position\ndata: \n\n$/);
    assert.deepEqual(sink.events, [], 'the position is not an application event');
    assert.equal(sink.positions.length, 1);
  });

  test('replays after Last-Event-ID, then goes live, without duplicates at the seam', async () => {
    const inner = new MemoryEngine({ historyMaxEvents: 1000, historyMaxAgeMs: 3_600_000 });
    let duringHistory: (() => Promise<void>) | undefined;
    // The engine is real; the wrapper only chooses when history is read, to force the race:
    // events published just before the read (in history AND delivered live while catching up),
    // and just after it (live only, with ids after the position).
    const hub = makeHub(
      wrapped(inner, {
        history: async (sels, afterId): Promise<HistoryResult> => {
          await duringHistory?.();
          const result = await inner.history(sels, afterId);
          await hub.publish([{ topic: 't', data: 'after-read-1' }, { topic: 't', data: 'after-read-2' }]);
          return result;
        },
      }),
    );
    const [resumeFrom] = await hub.publish([{ topic: 't', data: 'seen' }]);
    await hub.publish([{ topic: 't', data: 'missed-1' }, { topic: 'x', data: 'other topic' }, { topic: 't', data: 'missed-2' }]);
    duringHistory = async () => {
      await hub.publish([{ topic: 't', data: 'during-1' }, { topic: 't', data: 'during-2' }]);
    };
    const sink = new RecordingSink();
    hub.subscribe(selectors('t'), sink, { lastEventId: resumeFrom!.id });
    await settle();
    await hub.publish([{ topic: 't', data: 'live' }]);
    await settle();
    assert.deepEqual(
      sink.events.map((e) => e.data),
      ['missed-1', 'missed-2', 'during-1', 'during-2', 'after-read-1', 'after-read-2', 'live'],
    );
    const ids = sink.events.map((e) => e.lastEventId);
    assert.equal(new Set(ids).size, ids.length, 'no id twice');
  });

  test('says so with a reset event when history cannot cover the gap, then replays what is left', async () => {
    const hub = makeHub(new MemoryEngine({ historyMaxEvents: 2, historyMaxAgeMs: 3_600_000 }));
    const stored = await hub.publish([1, 2, 3, 4].map((n) => ({ topic: 't', data: String(n) })));
    const sink = new RecordingSink();
    hub.subscribe(selectors('t'), sink, { lastEventId: stored[0]!.id });
    await settle();
    assert.equal(sink.events[0]!.type, RESET_EVENT);
    assert.deepEqual(JSON.parse(sink.events[0]!.data), { reason: 'history-exceeded', lastEventId: stored[0]!.id });
    assert.deepEqual(sink.events.slice(1).map((e) => e.data), ['3', '4']);
  });

  test('a replay larger than the stream buffer is paced by the reader, not cut off', async () => {
    const hub = makeHub(undefined, 16 * 1024);
    const stored = [];
    for (let i = 0; i < 200; i++) stored.push(...(await hub.publish([{ topic: 't', data: `${i}:${'x'.repeat(1000)}` }])));
    const sink = new RecordingSink();
    sink.stalled = true; // a reader that takes its time: every write waits to be read
    hub.subscribe(selectors('t'), sink, { lastEventId: stored[0]!.id });
    const live: string[] = [];
    for (let rounds = 0; sink.events.length < 199 + live.length && rounds < 1000; rounds++) {
      await settle();
      // Live events keep arriving during the replay; they are held, and count against the bound.
      if (live.length < 20) live.push((await hub.publish([{ topic: 't', data: `live-${live.length}` }]))[0]!.id);
      sink.unstall();
      sink.stalled = true;
    }
    assert.equal(sink.destroyed, false);
    assert.equal(hub.stats().slowConsumersDropped, 0);
    assert.deepEqual(sink.events.map((e) => e.lastEventId), [...stored.slice(1).map((e) => e.id), ...live]);
  });

  test('resuming at the current position replays nothing and sends no reset', async () => {
    const hub = makeHub();
    const [last] = await hub.publish([{ topic: 't', data: 'x' }]);
    const sink = new RecordingSink();
    hub.subscribe(selectors('t'), sink, { lastEventId: last!.id });
    await settle();
    assert.deepEqual(sink.events, []);
    assert.equal(Buffer.concat(sink.writes).toString(), ': ok\n: heartbeat=0\n\nretry: 1000\n\n');
  });

  test('a batch with one invalid event stores nothing', async () => {
    const hub = makeHub();
    await assert.rejects(
      hub.publish([{ topic: 'ok', data: '1' }, { topic: 'bad//topic', data: '2' }]),
      (error: any) => error.status === 400 && error.code === 'invalid_topic' && /events\[1\]/.test(error.message),
    );
    await assert.rejects(hub.publish([{ topic: 'ok', data: '1', event: 'a\nid: 9' }]), { code: 'invalid_event_name' });
    await assert.rejects(hub.publish([{ topic: 'ok', data: '1', event: 'ssehub.reset' }]), { code: 'reserved_event_name' });
    await assert.rejects(hub.publish([{ topic: '$ssehub/stats', data: '1' }]), { code: 'invalid_topic' });
    assert.equal(hub.stats().eventsPublished, 0);
    assert.equal(hub.stats().retainedEvents, 0);
  });

  test('events the engine lost before delivering them here end every stream, so that clients resume from history', async () => {
    const inner = new MemoryEngine({ historyMaxEvents: 1000, historyMaxAgeMs: 3_600_000 });
    let reportGap: ((detail: string) => void) | undefined;
    const hub = makeHub(wrapped(inner, { onDeliveryGap: (listener) => void (reportGap = listener) }));
    const sinks = [new RecordingSink(), new RecordingSink()];
    hub.subscribe(selectors('a'), sinks[0]!);
    hub.subscribe(selectors('b/**'), sinks[1]!);
    await settle();
    assert.ok(reportGap, 'the hub listens for delivery gaps');
    assert.ok(sinks.every((sink) => !sink.ended));
    reportGap('3 events left the log before delivery here');
    assert.ok(sinks.every((sink) => sink.ended));
    assert.equal(hub.stats().connections, 0);
    assert.equal(hub.stats().streamsEndedByGap, 2);
    // The hub goes on: a stream opened afterwards is served as usual.
    const later = new RecordingSink();
    hub.subscribe(selectors('a'), later);
    await settle();
    await hub.publish([{ topic: 'a', data: '"after"' }]);
    await settle();
    assert.deepEqual(later.dataEvents.map((event) => event.data), ['"after"']);
    assert.equal(later.ended, false);
  });

  test('close() ends every stream and cleans the index', async () => {
    const hub = makeHub();
    const sinks = [new RecordingSink(), new RecordingSink()];
    hub.subscribe(selectors('a'), sinks[0]!);
    hub.subscribe(selectors('b/**'), sinks[1]!);
    await settle();
    assert.equal(hub.stats().connections, 2);
    await hub.close();
    assert.ok(sinks.every((sink) => sink.ended));
    assert.equal(hub.stats().connections, 0);
    assert.equal(hub.stats().subscribedSelectors, 0);
  });
});

describe('Hub: why a stream ended', () => {
  test('the client, the buffer bound, lost events, an expired or revoked credential, or the shutdown: the first reason stays', async () => {
    const inner = new MemoryEngine({ historyMaxEvents: 1000, historyMaxAgeMs: 3_600_000 });
    let reportGap: ((detail: string) => void) | undefined;
    const hub = makeHub(wrapped(inner, { onDeliveryGap: (listener) => void (reportGap = listener) }), 4096);
    const [gone, slow, expiring] = [new RecordingSink(), new RecordingSink(), new RecordingSink()];
    const subscribers = {
      gone: hub.subscribe(selectors('a'), gone),
      slow: hub.subscribe(selectors('s'), slow),
      expiring: hub.subscribe(selectors('a'), expiring, { expiresAt: Date.now() + 50 }),
    };
    await settle();
    gone.destroy(); // the connection closed under the stream
    slow.stalled = true;
    for (let i = 0; i < 20 && !slow.destroyed; i++) {
      await hub.publish([{ topic: 's', data: 'x'.repeat(500) }]);
      await settle();
    }
    while (!expiring.ended) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(subscribers.gone.endReason, 'client-closed');
    assert.equal(subscribers.slow.endReason, 'slow-consumer');
    assert.equal(subscribers.expiring.endReason, 'token-expired');

    const revoked = hub.subscribe(selectors('a'), new RecordingSink(), { holder: { subject: 'mallory' } });
    await settle();
    assert.equal(hub.endStreams({ subject: 'mallory' }, { event: 'ssehub.revoked', data: '' }), 1);
    assert.equal(revoked.endReason, 'revoked');

    const lost = hub.subscribe(selectors('a'), new RecordingSink());
    await settle();
    reportGap!('events left the log');
    assert.equal(lost.endReason, 'history-gap');
    const last = hub.subscribe(selectors('a'), new RecordingSink());
    await settle();
    await hub.close();
    assert.equal(last.endReason, 'shutdown', 'its sink closing afterwards does not make it the client\'s doing');
  });
});

describe('Hub stream views (another protocol\'s streams)', () => {
  /** A view that takes events whose data starts with its prefix, written upper-cased: reads and encodes counted. */
  function prefixFormat() {
    const counts = { reads: 0, encodes: 0 };
    const format: StreamFormat<string> = {
      read: (event) => {
        counts.reads += 1;
        return event.data;
      },
      encode: (event, data) => {
        counts.encodes += 1;
        return Buffer.from(`id: ${event.id}\ndata: ${data.toUpperCase()}\n\n`);
      },
    };
    const view = (prefix: string): StreamView<string> => ({ format, accepts: (data) => data.startsWith(prefix) });
    return { counts, view };
  }

  test('each stream gets the events its view accepts, in its format; the event is read and encoded once per format', async () => {
    const hub = makeHub();
    const { counts, view } = prefixFormat();
    const a = new RecordingSink();
    const b = new RecordingSink();
    const native = new RecordingSink();
    hub.subscribe(selectors('t'), a, { view: view('a') });
    hub.subscribe(selectors('t'), b, { view: view('b') });
    hub.subscribe(selectors('t'), native);
    await settle();
    await hub.publish([{ topic: 't', data: 'apple' }]);
    await hub.publish([{ topic: 't', data: 'banana' }]);
    await settle();
    assert.deepEqual(a.events.map((event) => event.data), ['APPLE']);
    assert.deepEqual(b.events.map((event) => event.data), ['BANANA']);
    assert.deepEqual(native.events.map((event) => event.data), ['apple', 'banana']);
    assert.deepEqual(counts, { reads: 2, encodes: 2 });
  });

  test('a replay (Last-Event-ID, rewind) passes through the view too', async () => {
    const hub = makeHub();
    const { view } = prefixFormat();
    const [first, , , last] = await hub.publish([{ topic: 't', data: 'a1' }, { topic: 't', data: 'b1' }, { topic: 't', data: 'a2' }, { topic: 't', data: 'b2' }]);
    const resumed = new RecordingSink();
    hub.subscribe(selectors('t'), resumed, { view: view('a'), lastEventId: first!.id });
    const everything = new RecordingSink();
    hub.subscribe(selectors('t'), everything, { view: view('a'), rewind: EVERY_RETAINED_EVENT });
    await settle();
    assert.deepEqual(resumed.events.map((event) => event.data), ['A2']);
    assert.deepEqual(everything.events.map((event) => event.data), ['A1', 'A2']);
    // The last replayed event was left out: the position marker still carries its id, so a reconnect resumes after it.
    assert.deepEqual(resumed.positions, [last!.id]);
  });
});
