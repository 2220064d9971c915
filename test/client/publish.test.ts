import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { mintToken } from '../../src/auth/tokens.js';
import { HubResponseError, publish, subscribe, TimeoutError, type HubEvent } from '../../src/client/index.js';
import type { RunningHub } from '../../src/start.js';
import { FakeClock } from '../support/fake-clock.js';
import { startTestHub, freePort } from '../support/hub.js';
import { expiredToken } from '../support/tokens.js';
import { ClientLog, countingFetch, startAnswerDroppingProxy, startServer, until } from './support.js';

const PUBLISH_SECRET = 'publish-secret-publish-secret-publish-secret';

/** Every event stored on `topic` after `afterId`, read back from the hub's history. */
async function historyAfter(url: string, topic: string, afterId: string, expectAtLeast: number): Promise<HubEvent[]> {
  const events: HubEvent[] = [];
  const log = new ClientLog();
  const sub = subscribe({ url, topics: topic, lastEventId: afterId, onEvent: (event) => events.push(event), onStateChange: log.record });
  await log.waitForState('open');
  await until(() => events.length >= expectAtLeast);
  // Anything stored twice would already be in the replayed history; give live delivery a moment too.
  await new Promise((resolve) => setTimeout(resolve, 100));
  sub.close();
  return events;
}

describe('publish()', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub();
  });
  after(async () => {
    await hub.close();
  });

  test('one event: text as is, anything else as JSON, with its event name; resolves with its id', async () => {
    const marker = await publish({ topic: 'pub/one', data: 'marker' }, { url: hub.url });
    const text = await publish({ topic: 'pub/one', data: 'plain text', event: 'note' }, { url: hub.url });
    const json = await publish({ topic: 'pub/one', data: { n: 1, s: 'x' } }, { url: hub.url });
    assert.deepEqual({ ...text, id: '' }, { id: '', topic: 'pub/one', event: 'note', replayed: false });
    assert.equal(json.replayed, false);
    const events = await historyAfter(hub.url, 'pub/one', marker.id, 2);
    assert.deepEqual(
      events.map((event) => [event.id, event.type, event.data]),
      [
        [text.id, 'note', 'plain text'],
        [json.id, 'message', '{"n":1,"s":"x"}'],
      ],
    );
  });

  test('a batch is stored in order and resolves with the ids in order', async () => {
    const marker = await publish({ topic: 'pub/batch/a', data: 'marker' }, { url: hub.url });
    const batch = await publish(
      [
        { topic: 'pub/batch/a', data: 'first' },
        { topic: 'pub/batch/b', data: [1, 2], event: 'list' },
        { topic: 'pub/batch/a', data: 'third' },
      ],
      { url: hub.url },
    );
    assert.equal(batch.ids.length, 3);
    const events = await historyAfter(hub.url, 'pub/batch/*', marker.id, 3);
    assert.deepEqual(
      events.map((event) => [event.id, event.data]),
      [
        [batch.ids[0], 'first'],
        [batch.ids[1], '[1,2]'],
        [batch.ids[2], 'third'],
      ],
    );
  });

  test('answers lost after the hub stored the events: retried, stored once, the first ids returned', async () => {
    const marker = await publish({ topic: 'pub/lost', data: 'marker' }, { url: hub.url });
    const proxy = await startAnswerDroppingProxy(hub.url, 2);
    try {
      const retries: unknown[] = [];
      const result = await publish([{ topic: 'pub/lost', data: 'once' }, { topic: 'pub/lost', data: 'twice?' }], {
        url: proxy.url,
        backoff: { initialDelayMs: 10 },
        onRetry: ({ error }) => retries.push(error),
      });
      assert.equal(proxy.forwarded(), 3);
      assert.equal(retries.length, 2);
      assert.equal(result.replayed, true, 'the hub answered from the first attempt');
      const events = await historyAfter(hub.url, 'pub/lost', marker.id, 2);
      assert.deepEqual(
        events.map((event) => [event.id, event.data]),
        [
          [result.ids[0], 'once'],
          [result.ids[1], 'twice?'],
        ],
      );
    } finally {
      await proxy.close();
    }
  });

  test('without retries, a lost answer is reported (the caller cannot know it was stored)', async () => {
    const proxy = await startAnswerDroppingProxy(hub.url, 1);
    try {
      await assert.rejects(publish({ topic: 'pub/noretry', data: 'x' }, { url: proxy.url, retries: 0 }), TypeError);
    } finally {
      await proxy.close();
    }
  });

  test('503 from a proxy in front of the hub: retried no sooner than Retry-After (fake clock)', async () => {
    let answered = 0;
    const balancer = await startServer((req, res) => {
      if (answered++ < 2) {
        res.writeHead(503, { 'Retry-After': '2' });
        res.end('no upstream');
        return;
      }
      const upstream = request(`${hub.url}${req.url}`, { method: req.method, headers: req.headers }, (reply) => {
        res.writeHead(reply.statusCode!, reply.headers);
        reply.pipe(res);
      });
      req.pipe(upstream);
    });
    try {
      const clock = new FakeClock();
      const delays: number[] = [];
      const publishing = publish({ topic: 'pub/503', data: 'through' }, {
        url: balancer.url,
        clock,
        backoff: { random: () => 0.5 },
        onRetry: ({ delayMs }) => delays.push(delayMs),
      });
      await until(() => delays.length === 1);
      clock.advance(1999);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(answered, 1, 'not retried before Retry-After');
      clock.advance(1);
      await until(() => delays.length === 2);
      clock.advance(2000);
      const result = await publishing;
      assert.deepEqual(delays, [2000, 2000]);
      assert.equal(result.topic, 'pub/503');
      assert.equal(answered, 3);
    } finally {
      await balancer.close();
    }
  });

  test('the hub refusing (400, 422) is not retried', async () => {
    const fetch = countingFetch();
    await assert.rejects(
      publish({ topic: 'bad//topic', data: 'x' }, { url: hub.url, fetch }),
      (error: unknown) => error instanceof HubResponseError && error.status === 400 && error.code === 'invalid_topic',
    );
    await publish({ topic: 'pub/key', data: 'a' }, { url: hub.url, idempotencyKey: 'reused-key-1' });
    await assert.rejects(
      publish({ topic: 'pub/key', data: 'b' }, { url: hub.url, idempotencyKey: 'reused-key-1', fetch }),
      (error: unknown) => error instanceof HubResponseError && error.status === 422 && error.code === 'idempotency_key_reused',
    );
    assert.equal(fetch.calls(), 2);
  });

  test('a topic with "." or ".." segments is refused before anything is sent (a URL would resolve it elsewhere)', async () => {
    const fetch = countingFetch();
    await assert.rejects(publish({ topic: 'a/../b', data: 'x' }, { url: hub.url, fetch }), TypeError);
    assert.equal(fetch.calls(), 0);
  });

  test('the same key twice at once: one is stored, both get its id', async () => {
    const marker = await publish({ topic: 'pub/race', data: 'marker' }, { url: hub.url });
    const options = { url: hub.url, idempotencyKey: 'race-key-1', backoff: { initialDelayMs: 20 } };
    const [a, b] = await Promise.all([publish({ topic: 'pub/race', data: 'r' }, options), publish({ topic: 'pub/race', data: 'r' }, options)]);
    assert.equal(a.id, b.id);
    assert.deepEqual([a.replayed, b.replayed].sort(), [false, true]);
    assert.equal((await historyAfter(hub.url, 'pub/race', marker.id, 1)).length, 1);
  });

  test('an attempt that gets no answer times out and is retried, then the error is reported', async () => {
    let requests = 0;
    const silent = await startServer(() => {
      requests++; // never answers
    });
    try {
      await assert.rejects(
        publish({ topic: 'pub/slow', data: 'x' }, { url: silent.url, timeoutMs: 100, retries: 2, backoff: { initialDelayMs: 1 } }),
        TimeoutError,
      );
      assert.equal(requests, 3);
    } finally {
      await silent.close();
    }
  });

  test('an AbortSignal stops retrying at once', async () => {
    const port = await freePort();
    const controller = new AbortController();
    let backoffMs = 0;
    const publishing = publish({ topic: 'pub/abort', data: 'x' }, {
      url: `http://127.0.0.1:${port}`,
      signal: controller.signal,
      retries: 100,
      backoff: { initialDelayMs: 60_000, maxDelayMs: 60_000, random: () => 0.99 },
      onRetry: ({ delayMs }) => {
        backoffMs = delayMs;
        // Abort once the backoff's wait has begun, not before it.
        setImmediate(() => controller.abort(new Error('given up')));
      },
    });
    // Settling before this timer fires means the wait was cut short: the backoff alone is ~60 s,
    // so the bound cannot be reached by a slow machine, only by a wait that ignores the signal.
    let bound: NodeJS.Timeout | undefined;
    const tooLate = new Promise<never>((_, reject) => {
      bound = setTimeout(() => reject(new Error('still waiting out the backoff 5 s after the abort')), 5000);
    });
    try {
      await assert.rejects(Promise.race([publishing, tooLate]), /given up/);
    } finally {
      clearTimeout(bound);
    }
    assert.ok(backoffMs > 50_000, `the abort came during a long backoff (${backoffMs} ms)`);
  });

  test('a bearer token: 401 without, 201 with', async () => {
    const secured = await startTestHub({ jwtSecret: PUBLISH_SECRET });
    try {
      await assert.rejects(
        publish({ topic: 'pub/auth', data: 'x' }, { url: secured.url }),
        (error: unknown) => error instanceof HubResponseError && error.status === 401,
      );
      const token = await mintToken({ secret: PUBLISH_SECRET, subject: 'publisher', publish: ['pub/*'], lifetimeSeconds: 60 });
      const result = await publish({ topic: 'pub/auth', data: 'x' }, { url: secured.url, token: () => token });
      assert.equal(result.topic, 'pub/auth');
    } finally {
      await secured.close();
    }
  });

  test('401 token_expired: a token function is asked once more; a second expiry in a row, or a string token, is final', async () => {
    const secured = await startTestHub({ jwtSecret: PUBLISH_SECRET });
    try {
      const expired = await expiredToken(PUBLISH_SECRET, { publish: ['pub/*'] });
      const fresh = await mintToken({ secret: PUBLISH_SECRET, subject: 'publisher', publish: ['pub/*'], lifetimeSeconds: 60 });
      const fast = { initialDelayMs: 10, maxDelayMs: 10 };
      const handedOut = [expired, fresh];
      let asked = 0;
      const result = await publish({ topic: 'pub/renewed', data: 'x' }, { url: secured.url, token: () => handedOut[asked++], backoff: fast });
      assert.equal(result.topic, 'pub/renewed');
      assert.equal(asked, 2);

      for (const token of [() => expired, expired]) {
        const fetch = countingFetch();
        await assert.rejects(
          publish({ topic: 'pub/stale', data: 'x' }, { url: secured.url, token, fetch, backoff: fast }),
          (error: unknown) => error instanceof HubResponseError && error.code === 'token_expired',
        );
        assert.equal(fetch.calls(), typeof token === 'function' ? 2 : 1);
      }
    } finally {
      await secured.close();
    }
  });
});
