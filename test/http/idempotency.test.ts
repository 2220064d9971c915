import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RunningHub } from '../../src/start.js';
import { startTestHub } from '../support/hub.js';
import { httpRequest, openStream } from '../support/http.js';

let hub: RunningHub;
before(async () => {
  hub = await startTestHub({ idempotencyWindowMs: 60_000 });
});
after(() => hub.close());

const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  httpRequest(`${hub.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'text/plain', ...headers }, body });

describe('Idempotency-Key on publish', () => {
  test('a retried publish is answered with the first ids and stored once', async () => {
    const stream = await openStream(`${hub.url}/topics/idem/once`);
    const first = await post('/topics/idem/once', 'hello', { 'Idempotency-Key': 'k-1' });
    const second = await post('/topics/idem/once', 'hello', { 'Idempotency-Key': 'k-1' });
    assert.equal(first.status, 201);
    assert.equal(second.status, 201);
    assert.equal(first.headers['idempotent-replayed'], undefined);
    assert.equal(second.headers['idempotent-replayed'], 'true');
    assert.deepEqual(second.json(), first.json());
    const third = await post('/topics/idem/once', 'hello', { 'Idempotency-Key': 'k-2' });
    assert.notEqual(third.json().id, first.json().id, 'another key publishes again');
    await stream.waitForEvents(2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(stream.events.map((event) => event.lastEventId), [first.json().id, third.json().id]);
    stream.close();
  });

  test('batches replay all their ids', async () => {
    const body = JSON.stringify([{ topic: 'idem/a', data: '1' }, { topic: 'idem/b', data: { n: 2 }, event: 'e' }]);
    const headers = { 'Content-Type': 'application/json', 'Idempotency-Key': 'batch-1' };
    const first = await post('/publish', body, headers);
    const again = await post('/publish', body, headers);
    assert.equal(first.status, 201);
    assert.deepEqual(again.json(), first.json());
    assert.equal(again.json().ids.length, 2);
  });

  test('the same key with different events is refused with 422', async () => {
    await post('/topics/idem/x', 'one', { 'Idempotency-Key': 'k-reused' });
    const reply = await post('/topics/idem/x', 'two', { 'Idempotency-Key': 'k-reused' });
    assert.equal(reply.status, 422);
    assert.equal(reply.json().error.code, 'idempotency_key_reused');
  });

  test('concurrent requests with one key store the event once', async () => {
    // Earlier tests published on this hub too: count what this test adds.
    const publishedBefore = (await httpRequest(`${hub.url}/stats`)).json().eventsPublished;
    const replies = await Promise.all(Array.from({ length: 8 }, () => post('/topics/idem/race', 'x', { 'Idempotency-Key': 'k-race' })));
    const created = replies.filter((reply) => reply.status === 201);
    for (const reply of replies) assert.ok(reply.status === 201 || reply.status === 409, `status ${reply.status}`);
    assert.ok(created.length >= 1);
    assert.equal(new Set(created.map((reply) => reply.json().id)).size, 1, 'every success names the same event');
    const conflict = replies.find((reply) => reply.status === 409);
    if (conflict) assert.equal(conflict.json().error.code, 'idempotency_in_progress');
    const stats = (await httpRequest(`${hub.url}/stats`)).json();
    assert.equal(stats.eventsPublished - publishedBefore, 1, 'eight requests with one key store one event');
  });

  test('a failed publish releases the key, so a corrected retry is not blocked', async () => {
    const bad = await post('/topics/$reserved', 'x', { 'Idempotency-Key': 'k-fail' });
    assert.equal(bad.status, 400);
    const good = await post('/topics/idem/ok', 'x', { 'Idempotency-Key': 'k-fail' });
    assert.equal(good.status, 201);
  });

  test('a malformed key is refused with 400', async () => {
    const reply = await post('/topics/idem/x', 'y', { 'Idempotency-Key': 'has space' });
    assert.equal(reply.status, 400);
    assert.equal(reply.json().error.code, 'invalid_idempotency_key');
  });
});
