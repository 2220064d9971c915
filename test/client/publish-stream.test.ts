/** openPublishStream(): the typed publisher's streaming publish, against a real hub over real HTTP. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mintToken } from '../../src/auth/tokens.js';
import { HubResponseError, openPublishStream, subscribe, type HubEvent } from '../../src/client/index.js';
import type { RunningHub } from '../../src/start.js';
import { startTestHub } from '../support/hub.js';
import { ClientLog, until } from './support.js';

const SECRET = 'stream-secret-stream-secret-stream-secret';

describe('openPublishStream()', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub({ jwtSecret: SECRET, publishRate: 0, requestTimeoutMs: 1000, headersTimeoutMs: 1000 });
  });
  after(() => hub.close());

  const tokenFor = (publish: string[]) => mintToken({ secret: SECRET, subject: 'producer', publish, subscribe: ['**'], lifetimeSeconds: 600 });

  test('publishes in order over one request: each publish() resolves with its own id, subscribers get every event in order', async () => {
    const token = await tokenFor(['tokens/*']);
    const events: HubEvent[] = [];
    const log = new ClientLog();
    const sub = subscribe({ url: hub.url, topics: 'tokens/*', token, onEvent: (event) => events.push(event), onStateChange: log.record });
    await log.waitForState('open');
    const stream = await openPublishStream({ url: hub.url, token });
    const words = Array.from({ length: 300 }, (_, i) => `w${i}`);
    const published = await Promise.all(words.map((word, i) => stream.publish({ topic: `tokens/${i % 3}`, data: word, ...(i === 0 ? { event: 'first' } : {}) })));
    assert.equal(published[0]!.event, 'first');
    assert.deepEqual(
      published.map((event) => event.topic),
      words.map((_, i) => `tokens/${i % 3}`),
    );
    // Later publishes, after the first ones were answered, on the same stream.
    const last = await stream.publish({ topic: 'tokens/0', data: { done: true } });
    await stream.close();
    await until(() => events.length >= 301);
    assert.deepEqual(
      events.map((event) => event.id),
      [...published.map((event) => event.id), last.id],
    );
    assert.deepEqual(
      events.map((event) => event.data),
      [...words, '{"done":true}'],
    );
    sub.close();
  });

  test('a refused event rejects its own publish() with the hub’s error; the others go on', async () => {
    const stream = await openPublishStream({ url: hub.url, token: await tokenFor(['mine/*']) });
    const results = await Promise.allSettled([
      stream.publish({ topic: 'mine/a', data: 1 }),
      stream.publish({ topic: 'theirs', data: 2 }),
      stream.publish({ topic: 'mine/b', data: 3 }),
    ]);
    assert.equal(results[0].status, 'fulfilled');
    assert.equal(results[2].status, 'fulfilled');
    assert.equal(results[1].status, 'rejected');
    const error = (results[1] as PromiseRejectedResult).reason;
    assert.ok(error instanceof HubResponseError);
    assert.equal(error.code, 'forbidden');
    assert.equal(error.status, 403);
    await assert.rejects(stream.publish({ topic: 'mine/c', data: undefined }), TypeError);
    await stream.close();
  });

  test('a refused credential rejects the opening with the hub’s error', async () => {
    await assert.rejects(openPublishStream({ url: hub.url, token: 'not-a-token' }), (error: unknown) => error instanceof HubResponseError && error.status === 401);
  });

  test('a quiet stream is kept open by its keep-alive; without one the hub ends it and later publishes reject', async () => {
    const token = await tokenFor(['quiet']);
    const kept = await openPublishStream({ url: hub.url, token, keepAliveMs: 200 });
    await kept.publish({ topic: 'quiet', data: 'before' });
    // Several times the hub's idle limit (1 s here) without a publish.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.equal((await kept.publish({ topic: 'quiet', data: 'after' })).topic, 'quiet');
    await kept.close();

    const unkept = await openPublishStream({ url: hub.url, token, keepAliveMs: 0 });
    await unkept.publish({ topic: 'quiet', data: 'once' });
    await unkept.ended;
    const idle = (error: unknown) => error instanceof HubResponseError && error.code === 'stream_idle';
    await assert.rejects(unkept.publish({ topic: 'quiet', data: 'too late' }), idle);
    await assert.rejects(unkept.close(), idle);
  });
});
