import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { EventSource } from 'eventsource';
import { loadConfig } from '../../src/config.js';
import type { RunningHub } from '../../src/start.js';
import { startTestHub } from '../support/hub.js';
import { freshNamespace, removeNamespace, type EngineKind } from '../support/namespaces.js';
import { SHARED_ENGINES } from '../support/services.js';
import { describeUnlessSkipped } from '../support/skip.js';
import { httpRequest, openStream, publish } from '../support/http.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

interface Received {
  id: string;
  type: string;
  data: string;
}

const openSources: EventSource[] = [];

/** A browser-compatible EventSource (the `eventsource` package) collecting every event it sees. */
function listen(url: string, types: string[] = []): { source: EventSource; received: Received[]; opens: number[] } {
  const source = new EventSource(url);
  openSources.push(source);
  const received: Received[] = [];
  const opens: number[] = [];
  const record = (type: string) => (event: MessageEvent) => received.push({ id: event.lastEventId, type, data: event.data });
  source.onmessage = record('message');
  for (const type of types) source.addEventListener(type, record(type));
  source.onopen = () => opens.push(Date.now());
  return { source, received, opens };
}

async function until(predicate: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Polls an async reading until it equals `expected` (the server notices a closed socket a moment later). */
async function waitForValue<T>(read: () => Promise<T>, expected: T, what: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (value !== expected) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: last read ${String(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
    value = await read();
  }
}

describe('resuming with Last-Event-ID', () => {
  let hub: RunningHub;
  let proxy: TcpProxy;
  // Close every EventSource even when a test fails, or it keeps reconnecting.
  afterEach(() => {
    for (const source of openSources.splice(0)) source.close();
  });
  before(async () => {
    hub = await startTestHub({ retryMs: 100, historyMaxEvents: 5 });
    proxy = await startTcpProxy(hub.url);
  });
  after(async () => {
    await proxy.close();
    await hub.close();
  });

  test('an EventSource that loses its connection reconnects and gets every event exactly once, in order', async () => {
    const { source, received, opens } = listen(`${proxy.url}/topics/resume/a`);
    await until(() => opens.length === 1, 'first open');
    const sent: string[] = [];
    const send = async (data: string) => sent.push((await publish(hub.url, 'resume/a', data)).json().id);
    await send('1');
    await send('2');
    await until(() => received.length === 2, 'two events');
    proxy.cutAll(); // the network drops; the hub and client both see the connection die
    await send('3'); // published while the client is away
    await send('4');
    await until(() => opens.length === 2, 'reconnect');
    await send('5');
    await until(() => received.length >= 5, 'five events');
    await new Promise((resolve) => setTimeout(resolve, 100));
    source.close();
    assert.deepEqual(received.map((e) => e.data), ['1', '2', '3', '4', '5']);
    assert.deepEqual(received.map((e) => e.id), sent);
  });

  test('a client that connected but saw no event yet still resumes from where it connected', async () => {
    const { source, received, opens } = listen(`${proxy.url}/topics/resume/quiet`);
    await until(() => opens.length === 1, 'first open');
    await new Promise((resolve) => setTimeout(resolve, 50));
    proxy.cutAll();
    await publish(hub.url, 'resume/quiet', 'while away'); // only the position sent at connect time saves this one
    await until(() => received.length === 1, 'the event published while away');
    source.close();
    assert.equal(received[0]!.data, 'while away');
  });

  test('the lastEventId query parameter resumes too, and the header wins over it', async () => {
    const ids: string[] = [];
    for (const data of ['a', 'b', 'c']) ids.push((await publish(hub.url, 'resume/q', data)).json().id);
    const byQuery = await openStream(`${hub.url}/topics/resume/q?lastEventId=${encodeURIComponent(ids[0]!)}`);
    assert.deepEqual((await byQuery.waitForEvents(2)).map((e) => e.data), ['b', 'c']);
    byQuery.close();
    const both = await openStream(`${hub.url}/topics/resume/q?lastEventId=${encodeURIComponent(ids[0]!)}`, { 'Last-Event-ID': ids[1]! });
    assert.deepEqual((await both.waitForEvents(1)).map((e) => e.data), ['c']);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(both.events.length, 1);
    both.close();
  });

  test('a resume across several topics and patterns replays them merged in id order', async () => {
    const start = (await publish(hub.url, 'mix/start', 'x')).json().id;
    const expected: string[] = [];
    for (const topic of ['mix/a', 'mix/b/1', 'other', 'mix/a', 'mix/b/2']) {
      const id = (await publish(hub.url, topic, topic)).json().id;
      if (topic !== 'other') expected.push(id);
    }
    const stream = await openStream(`${hub.url}/events?topic=mix/a&topic=mix/b/*`, { 'Last-Event-ID': start });
    const events = await stream.waitForEvents(4);
    assert.deepEqual(events.map((e) => e.lastEventId), expected);
    stream.close();
  });

  test('when history no longer covers the gap, the stream starts with the documented reset event', async () => {
    const first = (await publish(hub.url, 'resume/gap', '0')).json().id;
    for (let i = 1; i <= 7; i++) await publish(hub.url, 'resume/gap', String(i)); // history keeps 5
    const { source, received } = listen(`${hub.url}/topics/resume/gap?lastEventId=${encodeURIComponent(first)}`, ['ssehub.reset']);
    await until(() => received.length >= 6, 'reset + retained events');
    source.close();
    assert.equal(received[0]!.type, 'ssehub.reset');
    assert.deepEqual(JSON.parse(received[0]!.data), { reason: 'history-exceeded', lastEventId: first });
    assert.deepEqual(received.slice(1).map((e) => e.data), ['3', '4', '5', '6', '7']);
  });

  test('an id this hub never issued (another run, or garbage) gets the reset event with reason unknown-id', async () => {
    const stream = await openStream(`${hub.url}/topics/resume/unknown`, { 'Last-Event-ID': 'abc-123' });
    const [event] = await stream.waitForEvents(1);
    assert.equal(event!.type, 'ssehub.reset');
    assert.deepEqual(JSON.parse(event!.data), { reason: 'unknown-id', lastEventId: 'abc-123' });
    stream.close();
  });

  test('concurrent publishing during resumes: every resumed stream sees each event exactly once', async () => {
    const topic = 'resume/race';
    const from = (await publish(hub.url, topic, 'start')).json().id;
    let publishing = true;
    const published: string[] = [];
    const publisher = (async () => {
      while (publishing) published.push((await publish(hub.url, topic, String(published.length))).json().id);
    })();
    // Subscribers resume at staggered moments while events keep arriving. History keeps 5
    // events, so resume from the id of an event a few steps back each time.
    const streams = [];
    for (let i = 0; i < 10; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      const resumeAt = published.length >= 2 ? published[published.length - 2]! : from;
      streams.push({ stream: await openStream(`${hub.url}/topics/${topic}`, { 'Last-Event-ID': resumeAt }), resumeAt });
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    publishing = false;
    await publisher;
    const all = [from, ...published];
    for (const { stream, resumeAt } of streams) {
      const expected = all.slice(all.indexOf(resumeAt) + 1);
      await stream.waitUntil(() => stream.events.length >= expected.length, 5000, `${expected.length} events`);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(stream.events.map((e) => e.lastEventId), expected);
      stream.close();
    }
  });

  test('stats report the open streams', async () => {
    // A hub of its own: the streams of earlier tests may still be closing on the shared one.
    const fresh = await startTestHub();
    const connections = async () => (await httpRequest(`${fresh.url}/stats`)).json().connections;
    try {
      assert.equal(await connections(), 0);
      const streams = [];
      for (let i = 0; i < 3; i++) streams.push(await openStream(`${fresh.url}/topics/resume/stats-${i}`));
      assert.equal(await connections(), 3);
      streams.pop()!.close();
      streams.pop()!.close();
      await waitForValue(connections, 1, 'one open stream after two closed');
      streams.pop()!.close();
      await waitForValue(connections, 0, 'no open stream after all closed');
    } finally {
      await fresh.close();
    }
  });
});

/** A resume across an event dropped by its topic's rule, through HTTP, on the engine at `url`. */
function resumeUnderRule(engine: () => Promise<{ url: string; kind: EngineKind | undefined }>) {
  return async () => {
    const { url, kind } = await engine();
    const namespace = freshNamespace('ret');
    // The rule goes through the flag's parser, as `ssehub serve --retention ruled/*=2` would.
    const { retention } = loadConfig(['--retention', 'ruled/*=2'], {});
    const hub = await startTestHub({ retryMs: 100, historyMaxEvents: 100, retention, engine: url, namespace });
    try {
      const ruled: string[] = [];
      const plain: string[] = [];
      for (let i = 0; i < 4; i++) {
        ruled.push((await publish(hub.url, 'ruled/a', `r${i}`)).json().id);
        plain.push((await publish(hub.url, 'plain', `p${i}`)).json().id);
      }
      const dropped = listen(`${hub.url}/topics/ruled/a?lastEventId=${encodeURIComponent(ruled[0]!)}`, ['ssehub.reset']);
      await until(() => dropped.received.length >= 3, 'reset + the two retained events');
      dropped.source.close();
      assert.equal(dropped.received[0]!.type, 'ssehub.reset');
      assert.deepEqual(JSON.parse(dropped.received[0]!.data), { reason: 'history-exceeded', lastEventId: ruled[0] });
      assert.deepEqual(dropped.received.slice(1).map((e) => e.data), ['r2', 'r3']);

      const kept = listen(`${hub.url}/topics/plain?lastEventId=${encodeURIComponent(plain[0]!)}`, ['ssehub.reset']);
      await until(() => kept.received.length >= 3, 'the three events after the id');
      kept.source.close();
      assert.deepEqual(kept.received.map((e) => `${e.type}:${e.data}`), ['message:p1', 'message:p2', 'message:p3'], 'no reset (it would come first): nothing was dropped');
    } finally {
      await hub.close();
      if (kind !== undefined) await removeNamespace(kind, url, namespace);
    }
  };
}

const RULE_TEST = 'a client resuming from an event its topic\'s rule dropped gets the reset; a topic under the defaults replays everything';

describe('resuming under a topic\'s retention rule (--retention)', () => {
  test(`${RULE_TEST}: memory`, resumeUnderRule(async () => ({ url: 'memory', kind: undefined })));
});

for (const [name, kind, service] of SHARED_ENGINES) {
  const check = await service();
  describeUnlessSkipped(`resuming under a topic's retention rule on ${name}`, { skip: check.skipReason() }, () => {
    test(`${RULE_TEST}: ${name}`, resumeUnderRule(async () => ({ url: check.url, kind })));
  });
}
