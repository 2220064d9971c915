import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RunningHub } from '../../src/start.js';
import { startTestHub } from '../support/hub.js';
import { httpRequest, openStream, publish } from '../support/http.js';

describe('subscribing', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub({ maxTopicsPerSubscription: 4, retryMs: 1500 });
  });
  after(() => hub.close());

  test('a stream starts at once with the stream headers, a comment and retry, before any event', async () => {
    const stream = await openStream(`${hub.url}/topics/news`, { 'Accept-Encoding': 'gzip, deflate, br' });
    assert.equal(stream.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(stream.headers['cache-control'], 'no-cache, no-transform');
    assert.equal(stream.headers['x-accel-buffering'], 'no');
    assert.equal(stream.headers['content-encoding'], undefined, 'never compressed');
    await stream.waitUntil(() => stream.retries.length === 1, 2000, 'retry field');
    assert.deepEqual(stream.retries, [1500]);
    assert.deepEqual(stream.comments.slice(0, 1), ['ok']);
    assert.equal(stream.events.length, 0);
    stream.close();
  });

  test('GET /topics/{topic} takes topics with slashes and percent-encoding', async () => {
    const stream = await openStream(`${hub.url}/topics/orders%2F7/items`);
    await publish(hub.url, 'orders/7/items', 'encoded');
    const [event] = await stream.waitForEvents(1);
    assert.equal(event!.data, 'encoded');
    stream.close();
  });

  test('GET /events streams several topics and patterns, each event once, in id order', async () => {
    const stream = await openStream(`${hub.url}/events?topic=alerts&topic=orders/*&topic=logs/**&topic=orders/1`);
    const topics = ['alerts', 'orders/1', 'orders/1/items', 'logs/web/1', 'logs', 'other', 'orders/2'];
    const ids: Record<string, string> = {};
    for (const topic of topics) ids[topic] = (await publish(hub.url, topic, topic)).json().id;
    const events = await stream.waitForEvents(4);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(
      stream.events.map((e) => [e.data, e.lastEventId]),
      ['alerts', 'orders/1', 'logs/web/1', 'orders/2'].map((topic) => [topic, ids[topic]]),
    );
    assert.equal(events.length, 4);
    stream.close();
  });

  test('a pattern in the path works too', async () => {
    const stream = await openStream(`${hub.url}/topics/jobs/*/progress`);
    await publish(hub.url, 'jobs/9/progress', '50');
    await publish(hub.url, 'jobs/9/log', 'no');
    await publish(hub.url, 'jobs/10/progress', '60');
    const events = await stream.waitForEvents(2);
    assert.deepEqual(events.map((e) => e.data), ['50', '60']);
    stream.close();
  });

  test('many subscribers on one topic all get every event', async () => {
    const streams = await Promise.all(Array.from({ length: 50 }, () => openStream(`${hub.url}/topics/fan`)));
    for (let i = 0; i < 20; i++) await publish(hub.url, 'fan', String(i));
    for (const stream of streams) {
      const events = await stream.waitForEvents(20);
      assert.deepEqual(events.map((e) => e.data), Array.from({ length: 20 }, (_, i) => String(i)));
      stream.close();
    }
  });

  const refused: Array<[string, string, number, string]> = [
    ['no topic', '/events', 400, 'invalid_topic'],
    ['empty topic in path', '/topics/', 400, 'invalid_topic'],
    ['bad pattern', '/topics/a/**/b', 400, 'invalid_topic'],
    ['wildcard inside a segment', '/events?topic=ord*', 400, 'invalid_topic'],
    ['too long', `/topics/${'a'.repeat(257)}`, 400, 'invalid_topic'],
    ['too many topics', '/events?topic=a&topic=b&topic=c&topic=d&topic=e', 400, 'too_many_topics'],
    ['bad percent-encoding', '/topics/%E0%A4%A', 400, 'invalid_topic'],
  ];
  for (const [name, path, status, code] of refused) {
    test(`refused: ${name}`, async () => {
      const reply = await httpRequest(`${hub.url}${path}`);
      assert.equal(reply.status, status);
      assert.equal(reply.json().error.code, code);
    });
  }

  test('subscribers are counted and forgotten when they leave', async () => {
    const streams = await Promise.all([1, 2, 3].map(() => openStream(`${hub.url}/topics/count`)));
    assert.equal((await httpRequest(`${hub.url}/stats`)).json().connections, 3);
    for (const stream of streams) stream.close();
    for (let i = 0; i < 50; i++) {
      if ((await httpRequest(`${hub.url}/stats`)).json().connections === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const stats = (await httpRequest(`${hub.url}/stats`)).json();
    assert.equal(stats.connections, 0);
    assert.equal(stats.subscribedSelectors, 0);
  });
});
