/**
 * History read without a stream, and rewind, on every engine: the server-side rendering seam (read
 * the last N, then open a stream from the newest id while publishing goes on) and ?rewind=N give
 * each published event exactly once, in order.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { StoredEvent } from '../../src/engines/engine.js';
import type { RunningHub } from '../../src/start.js';
import { startTestHub } from '../support/hub.js';
import { httpRequest, openStream } from '../support/http.js';
import { freshNamespace, removeNamespace, type EngineKind } from '../support/namespaces.js';
import { SHARED_ENGINES } from '../support/services.js';
import { describeUnlessSkipped } from '../support/skip.js';

const MAX_PUBLISHES = 3000;

async function withHub(url: string, kind: EngineKind | undefined, run: (running: RunningHub) => Promise<void>): Promise<void> {
  const namespace = freshNamespace('hist');
  const running = await startTestHub(kind === undefined ? {} : { engine: url, namespace });
  try {
    await run(running);
  } finally {
    await running.close();
    if (kind !== undefined) await removeNamespace(kind, url, namespace);
  }
}

/**
 * Publishes one event after another, alternating two topics, until `stop()` (at most MAX_PUBLISHES),
 * so that events are stored before, during and after the reads; `published` fills as they are stored.
 */
function publishInBackground(running: RunningHub, published: StoredEvent[]): { stop(): Promise<void> } {
  let stopped = false;
  const done = (async () => {
    for (let n = 0; n < MAX_PUBLISHES && !stopped; n++) {
      const [stored] = await running.hub.publish([{ topic: `seam/${n % 2 === 0 ? 'a' : 'b'}`, data: `m${n}` }]);
      published.push(stored!);
      await new Promise((resolve) => setTimeout(resolve, 2)); // leaves room for the readers' requests
    }
  })();
  return {
    stop: () => {
      stopped = true;
      return done;
    },
  };
}

async function untilCount(list: readonly unknown[], n: number): Promise<void> {
  for (let i = 0; i < 400 && list.length < n; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(list.length >= n, `timed out waiting for ${n} publishes`);
}

function checkSeam(engine: () => { url: string; kind: EngineKind | undefined }, via: 'header' | 'query') {
  return () => {
    const { url, kind } = engine();
    return withHub(url, kind, async (running) => {
      const published: StoredEvent[] = [];
      const publishing = publishInBackground(running, published);
      await untilCount(published, 10);
      // The page: the last 50 of both topics, in one read, while publishing goes on.
      const reply = await httpRequest(`${running.url}/history?topic=seam/*&limit=50`);
      assert.equal(reply.status, 200, reply.text);
      const page = reply.json();
      assert.equal(page.next, null);
      assert.equal(page.complete, true);
      const rendered: Array<{ id: string; data: string }> = page.events;
      const newest = rendered.length > 0 ? rendered[rendered.length - 1]!.id : page.lastEventId;
      const path = `/events?topic=seam/*${via === 'query' ? `&lastEventId=${encodeURIComponent(newest)}` : ''}`;
      const stream = await openStream(`${running.url}${path}`, via === 'header' ? { 'Last-Event-ID': newest } : {});
      try {
        // Publishing goes on until the stream has had live events of its own.
        await stream.waitUntil(() => stream.events.length >= 5, 20_000, 'live events on the stream');
        await publishing.stop();
        const last = published[published.length - 1]!.id;
        await stream.waitUntil(() => stream.events.some((event) => event.lastEventId === last), 10_000, 'the last published event on the stream');
        const seen = [...rendered, ...stream.events.map((event) => ({ id: event.lastEventId, data: event.data }))];
        const start = published.findIndex((event) => event.id === seen[0]!.id);
        assert.ok(start >= 0, 'the first rendered event was published');
        assert.ok(start === 0 || rendered.length === 50, `the newest 50 or all of them (${rendered.length} from #${start})`);
        assert.deepEqual(
          seen.map((event) => `${event.id} ${event.data}`),
          published.slice(start).map((event) => `${event.id} ${event.data}`),
          'history then the stream: every event once, in order, none missing',
        );
      } finally {
        stream.close();
      }
    });
  };
}

function checkRewind(engine: () => { url: string; kind: EngineKind | undefined }) {
  return () => {
    const { url, kind } = engine();
    return withHub(url, kind, async (running) => {
      const stored: StoredEvent[] = [];
      for (let n = 1; n <= 10; n++) stored.push(...(await running.hub.publish([{ topic: 'rw/x', data: `r${n}` }])));
      const stream = await openStream(`${running.url}/topics/rw/x?rewind=3`);
      try {
        await stream.waitForEvents(3);
        await running.hub.publish([{ topic: 'rw/x', data: 'live' }]);
        await stream.waitForEvents(4);
        assert.deepEqual(stream.events.map((event) => event.data), ['r8', 'r9', 'r10', 'live']);
        assert.deepEqual(stream.events.slice(0, 3).map((event) => event.lastEventId), stored.slice(-3).map((event) => event.id));
      } finally {
        stream.close();
      }
      // A reconnect with a Last-Event-ID resumes from it; rewind is not applied on top.
      const resumed = await openStream(`${running.url}/topics/rw/x?rewind=3`, { 'Last-Event-ID': stored[4]!.id });
      try {
        await resumed.waitUntil(() => resumed.events.some((event) => event.data === 'live'), 5000, 'the resume to reach the live event');
        assert.deepEqual(resumed.events.map((event) => event.data), ['r6', 'r7', 'r8', 'r9', 'r10', 'live']);
      } finally {
        resumed.close();
      }
    });
  };
}

describe('history and rewind on the memory engine', () => {
  const memory = () => ({ url: 'memory', kind: undefined });
  test('the SSR seam (Last-Event-ID header): history then the stream, each event once, in order, while publishing', checkSeam(memory, 'header'));
  test('the SSR seam (?lastEventId=): the same', checkSeam(memory, 'query'));
  test('?rewind=3 with 10 retained: the last 3, then live; with a Last-Event-ID the resume wins', checkRewind(memory));
});

for (const [name, kind, service] of SHARED_ENGINES) {
  const check = await service();
  describeUnlessSkipped(`history and rewind on ${name}`, { skip: check.skipReason() }, () => {
    const engine = () => ({ url: check.url, kind });
    test('the SSR seam: history then the stream, each event once, in order, while publishing', checkSeam(engine, 'header'));
    test('?rewind=3 with 10 retained: the last 3, then live; with a Last-Event-ID the resume wins', checkRewind(engine));
  });
}
