import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RunningHub } from '../../src/start.js';
import { startTestHub } from '../support/hub.js';
import { httpRequest, openStream, publish } from '../support/http.js';

describe('publishing', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub({ maxBodyBytes: 1024, maxBatchEvents: 3 });
  });
  after(() => hub.close());

  test('POST /topics/{topic} with text answers 201 with the id, and subscribers get the body as data', async () => {
    const stream = await openStream(`${hub.url}/topics/orders/42`);
    const reply = await publish(hub.url, 'orders/42', 'line one\nline two', { event: 'progress' });
    assert.equal(reply.status, 201);
    assert.match(reply.headers['content-type']!, /^application\/json/);
    const body = reply.json();
    assert.equal(body.topic, 'orders/42');
    assert.equal(body.event, 'progress');
    const [event] = await stream.waitForEvents(1);
    assert.deepEqual(event, { type: 'progress', data: 'line one\nline two', lastEventId: body.id });
    stream.close();
  });

  test('JSON bodies are validated and published as sent', async () => {
    const stream = await openStream(`${hub.url}/topics/json`);
    const good = await publish(hub.url, 'json', '{"percent": 40}', { type: 'application/json; charset=utf-8' });
    assert.equal(good.status, 201);
    const bad = await publish(hub.url, 'json', '{"percent": ', { type: 'application/json' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json().error.code, 'invalid_json');
    const [event] = await stream.waitForEvents(1);
    assert.equal(event!.data, '{"percent": 40}');
    assert.equal(event!.type, 'message');
    stream.close();
  });

  test('publishing to a topic nobody watches still stores the event in history', async () => {
    const first = (await publish(hub.url, 'lonely', 'one')).json().id;
    const second = (await publish(hub.url, 'lonely', 'two')).json().id;
    const stream = await openStream(`${hub.url}/topics/lonely`, { 'Last-Event-ID': first });
    const [event] = await stream.waitForEvents(1);
    assert.deepEqual(event, { type: 'message', data: 'two', lastEventId: second });
    stream.close();
  });

  test('POST /publish stores a batch in order and answers the ids in order', async () => {
    const stream = await openStream(`${hub.url}/events?topic=batch/a&topic=batch/b`);
    const reply = await httpRequest(`${hub.url}/publish`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify([
        { topic: 'batch/a', data: 'text' },
        { topic: 'batch/b', data: { n: 1 }, event: 'obj' },
        { topic: 'batch/a', data: 'third' },
      ]),
    });
    assert.equal(reply.status, 201);
    const { ids } = reply.json();
    assert.equal(ids.length, 3);
    const events = await stream.waitForEvents(3);
    assert.deepEqual(
      events.map((e) => [e.lastEventId, e.type, e.data]),
      [
        [ids[0], 'message', 'text'],
        [ids[1], 'obj', '{"n":1}'],
        [ids[2], 'message', 'third'],
      ],
    );
    stream.close();
  });

  const errorCases: Array<{ name: string; path: string; method?: string; type?: string; body?: string; status: number; code: string }> = [
    { name: 'unknown route', path: '/nope', status: 404, code: 'not_found' },
    { name: 'wrong method', path: '/publish', method: 'GET', status: 405, code: 'method_not_allowed' },
    { name: 'missing topic', path: '/topics/', method: 'POST', type: 'text/plain', body: 'x', status: 400, code: 'invalid_topic' },
    { name: 'invalid topic', path: '/topics/a//b', method: 'POST', type: 'text/plain', body: 'x', status: 400, code: 'invalid_topic' },
    { name: 'pattern as publish topic', path: '/topics/a/*', method: 'POST', type: 'text/plain', body: 'x', status: 400, code: 'invalid_topic' },
    { name: 'reserved topic', path: '/topics/$ssehub/x', method: 'POST', type: 'text/plain', body: 'x', status: 400, code: 'invalid_topic' },
    { name: 'no content type', path: '/topics/a', method: 'POST', body: 'x', status: 415, code: 'unsupported_media_type' },
    { name: 'form content type', path: '/topics/a', method: 'POST', type: 'application/x-www-form-urlencoded', body: 'x', status: 415, code: 'unsupported_media_type' },
    { name: 'latin1 charset', path: '/topics/a', method: 'POST', type: 'text/plain; charset=latin1', body: 'x', status: 415, code: 'unsupported_media_type' },
    { name: 'body over limit', path: '/topics/a', method: 'POST', type: 'text/plain', body: 'x'.repeat(1025), status: 413, code: 'body_too_large' },
    { name: 'event name with newline', path: '/topics/a?event=a%0Aid:%201', method: 'POST', type: 'text/plain', body: 'x', status: 400, code: 'invalid_event_name' },
    { name: 'event name with CR', path: '/topics/a?event=a%0D', method: 'POST', type: 'text/plain', body: 'x', status: 400, code: 'invalid_event_name' },
    { name: 'reserved event name', path: '/topics/a?event=ssehub.reset', method: 'POST', type: 'text/plain', body: 'x', status: 400, code: 'reserved_event_name' },
    { name: 'batch not an array', path: '/publish', method: 'POST', type: 'application/json', body: '{"topic":"a"}', status: 400, code: 'invalid_batch' },
    { name: 'empty batch', path: '/publish', method: 'POST', type: 'application/json', body: '[]', status: 400, code: 'invalid_batch' },
    { name: 'batch item without data', path: '/publish', method: 'POST', type: 'application/json', body: '[{"topic":"a"}]', status: 400, code: 'invalid_batch' },
    { name: 'batch too large', path: '/publish', method: 'POST', type: 'application/json', body: JSON.stringify(Array(4).fill({ topic: 'a', data: 1 })), status: 413, code: 'batch_too_large' },
    { name: 'batch as text', path: '/publish', method: 'POST', type: 'text/plain', body: '[]', status: 415, code: 'unsupported_media_type' },
  ];
  for (const c of errorCases) {
    test(`${c.name}: ${c.status} ${c.code}`, async () => {
      const reply = await httpRequest(`${hub.url}${c.path}`, {
        method: c.method ?? 'GET',
        headers: c.type ? { 'Content-Type': c.type } : {},
        ...(c.body === undefined ? {} : { body: c.body }),
      });
      assert.equal(reply.status, c.status, reply.text);
      assert.match(reply.headers['content-type']!, /^application\/json/);
      const { error } = reply.json();
      assert.equal(error.code, c.code);
      assert.ok(error.message.length > 10, error.message);
      if (c.status === 405) assert.equal(reply.headers.allow, 'POST');
    });
  }

  test('invalid UTF-8 is refused', async () => {
    const reply = await httpRequest(`${hub.url}/topics/a`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain' },
      body: Buffer.from([0x61, 0xff, 0xfe, 0x62]),
    });
    assert.equal(reply.status, 400);
    assert.equal(reply.json().error.code, 'invalid_utf8');
  });

  test('a batch with one forbidden item publishes nothing', async () => {
    const before = (await httpRequest(`${hub.url}/stats`)).json().eventsPublished;
    const reply = await httpRequest(`${hub.url}/publish`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify([{ topic: 'fine', data: 'a' }, { topic: 'fine', data: 'b', event: 'x\r\ny' }]),
    });
    assert.equal(reply.status, 400);
    assert.match(reply.json().error.message, /events\[1\]/);
    assert.equal((await httpRequest(`${hub.url}/stats`)).json().eventsPublished, before);
  });
});
