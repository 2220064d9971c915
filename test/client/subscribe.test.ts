import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mintToken } from '../../src/auth/tokens.js';
import { ContentTypeError, DecodeError, HubResponseError, IdleTimeoutError, publish, RevokedError, subscribe, type StateChange, type SubscriptionItem } from '../../src/client/index.js';
import type { RunningHub } from '../../src/start.js';
import { FakeClock } from '../support/fake-clock.js';
import { startTestHub, freePort } from '../support/hub.js';
import { expiredToken } from '../support/tokens.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { ClientLog, countingFetch, startServer, until } from './support.js';

const CLIENT_SECRET = 'client-secret-client-secret-client-secret';

describe('subscribe() against the hub', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub();
  });
  after(async () => {
    await hub.close();
  });

  test('for await yields typed, decoded events in order, with their ids', async () => {
    type Orders = { created: { id: number }; shipped: { id: number; carrier: string } };
    const log = new ClientLog();
    const sub = subscribe<Orders>({ url: hub.url, topics: ['orders/*'], decode: 'json', onStateChange: log.record });
    await log.waitForState('open');
    const first = await publish({ topic: 'orders/1', event: 'created', data: { id: 1 } }, { url: hub.url });
    await publish({ topic: 'orders/1', event: 'shipped', data: { id: 1, carrier: 'ups' } }, { url: hub.url });
    await publish({ topic: 'other', event: 'created', data: { id: 99 } }, { url: hub.url });
    const seen: string[] = [];
    for await (const item of sub) {
      assert.equal(item.kind, 'event');
      if (item.kind !== 'event') continue;
      if (item.type === 'created') seen.push(`created ${item.data.id} ${item.id}`);
      else if (item.type === 'shipped') seen.push(`shipped ${item.data.carrier}`);
      if (seen.length === 2) break; // leaving the loop closes the subscription
    }
    assert.deepEqual(seen, [`created 1 ${first.id}`, 'shipped ups']);
    assert.equal(sub.state, 'closed');
    await sub.done;
  });

  test('callbacks see events and state changes; close() ends it', async () => {
    const events: string[] = [];
    const log = new ClientLog();
    const sub = subscribe({
      url: hub.url,
      topics: 'cb',
      onEvent: (event) => events.push(`${event.type}:${event.data}`),
      onStateChange: log.record,
    });
    await log.waitForState('open');
    await publish({ topic: 'cb', data: 'one' }, { url: hub.url });
    await publish({ topic: 'cb', data: 'two', event: 'note' }, { url: hub.url });
    await until(() => events.length === 2);
    sub.close();
    await sub.done;
    assert.deepEqual(events, ['message:one', 'note:two']);
    assert.deepEqual(log.states, ['connecting', 'open', 'closed']);
  });

  test('an AbortSignal closes it', async () => {
    const controller = new AbortController();
    const log = new ClientLog();
    const sub = subscribe({ url: hub.url, topics: 'abort', signal: controller.signal, onStateChange: log.record });
    await log.waitForState('open');
    controller.abort();
    await sub.done;
    assert.equal(sub.state, 'closed');
    await until(() => hub.hub.stats().connections === 0);
  });

  test('lastEventId resumes after that event, and several topics merge in order', async () => {
    const a = await publish({ topic: 'merge/a', data: 'a1' }, { url: hub.url });
    await publish({ topic: 'merge/b', data: 'b1' }, { url: hub.url });
    await publish({ topic: 'merge/a', data: 'a2' }, { url: hub.url });
    await publish({ topic: 'merge/c', data: 'c1' }, { url: hub.url });
    const sub = subscribe({ url: hub.url, topics: ['merge/a', 'merge/b'], lastEventId: a.id });
    const items = await take(sub, 2);
    assert.deepEqual(
      items.map((item) => item.kind === 'event' && item.data),
      ['b1', 'a2'],
    );
    sub.close();
  });

  test('the hub\'s reset becomes a typed signal, then history follows', async () => {
    await publish({ topic: 'reset/x', data: 'kept' }, { url: hub.url });
    const resets: string[] = [];
    const sub = subscribe({ url: hub.url, topics: 'reset/x', lastEventId: 'zzzz-1', onReset: (signal) => resets.push(signal.reason) });
    const items = await take(sub, 2);
    assert.deepEqual(items[0], { kind: 'reset', reason: 'unknown-id', lastEventId: 'zzzz-1' });
    assert.equal(items[1]!.kind === 'event' && items[1]!.data, 'kept');
    assert.deepEqual(resets, ['unknown-id']);
    sub.close();
  });

  test('a fresh subscription that received nothing still resumes without a gap (position marker)', async () => {
    const log = new ClientLog();
    const sub = subscribe({ url: hub.url, topics: 'quiet/topic', onStateChange: log.record });
    await log.waitForState('open');
    await until(() => sub.lastEventId !== '');
    const position = sub.lastEventId;
    sub.close();
    await publish({ topic: 'quiet/topic', data: 'while away' }, { url: hub.url });
    const resumed = subscribe({ url: hub.url, topics: 'quiet/topic', lastEventId: position });
    const [item] = await take(resumed, 1);
    assert.equal(item!.kind === 'event' && item!.data, 'while away');
    resumed.close();
  });

  test('data is the text as it arrived without decoding, and the parsed value with decode: "json", as typed', async () => {
    // The compiler checks the types (subscribe.types.ts); this checks that the values match them.
    const before = await publish({ topic: 'typed', data: 'before' }, { url: hub.url });
    await publish({ topic: 'typed', event: 'created', data: { id: 1 } }, { url: hub.url });
    const text = subscribe({ url: hub.url, topics: 'typed', lastEventId: before.id });
    const json = subscribe<{ created: { id: number } }>({ url: hub.url, topics: 'typed', lastEventId: before.id, decode: 'json' });
    const [asText] = await take(text, 1);
    const [asJson] = await take(json, 1);
    text.close();
    json.close();
    assert.ok(asText?.kind === 'event' && asJson?.kind === 'event');
    const textData: string = asText.data;
    assert.equal(textData, '{"id":1}');
    const jsonData: { id: number } = asJson.data;
    assert.deepEqual(jsonData, { id: 1 });
    assert.equal(asJson.raw, '{"id":1}', 'the text as it arrived is kept beside the decoded value');
  });

  test('decode: "json" with data that is not JSON ends it with a DecodeError naming the event', async () => {
    const log = new ClientLog();
    const sub = subscribe({ url: hub.url, topics: 'decode', decode: 'json', onStateChange: log.record });
    await log.waitForState('open');
    const sent = await publish({ topic: 'decode', data: 'not json' }, { url: hub.url });
    await assert.rejects(sub.done, (error: unknown) => error instanceof DecodeError && error.eventId === sent.id);
    await assert.rejects(async () => {
      for await (const _ of sub) void _;
    }, DecodeError);
  });

  test('lastEventId only moves past what the application took: breaking out early resumes at the next item', async () => {
    const first = await publish({ topic: 'taken', data: 't0' }, { url: hub.url });
    await publish([{ topic: 'taken', data: 't1' }, { topic: 'taken', data: 't2' }, { topic: 'taken', data: 't3' }], { url: hub.url });
    const sub = subscribe({ url: hub.url, topics: 'taken', lastEventId: first.id });
    const [item] = await take(sub, 1);
    await new Promise((resolve) => setTimeout(resolve, 50)); // t2 and t3 have arrived and wait in the queue
    sub.close();
    assert.equal(item!.kind === 'event' && item!.data, 't1');
    assert.equal(sub.lastEventId, (item as { id: string }).id);
    const again = subscribe({ url: hub.url, topics: 'taken', lastEventId: sub.lastEventId });
    const rest = await take(again, 2);
    assert.deepEqual(rest.map((entry) => entry.kind === 'event' && entry.data), ['t2', 't3']);
    again.close();
  });

  test('a callback that throws ends the subscription with its error instead of crashing the process', async () => {
    const boom = new Error('boom');
    const sub = subscribe({
      url: hub.url,
      topics: 'throws',
      onStateChange: (change) => {
        if (change.state === 'open') throw boom;
      },
    });
    await assert.rejects(sub.done, (error: unknown) => error === boom);
    assert.equal(sub.state, 'closed');
  });

  test('a URL that can never work is refused at once, not retried', () => {
    assert.throws(() => subscribe({ url: 'not a url', topics: 'a' }), TypeError);
  });

  test('a network drop reconnects with Last-Event-ID: nothing lost, nothing twice', async () => {
    const proxy = await startTcpProxy(hub.url);
    try {
      const received: string[] = [];
      const log = new ClientLog();
      const clock = new FakeClock(); // the client stays away until the test lets it reconnect
      const sub = subscribe({
        onStateChange: log.record,
        url: proxy.url,
        topics: 'drop',
        clock,
        onEvent: (event) => received.push(event.data),
      });
      await log.waitForState('open');
      for (let i = 0; i < 5; i++) await publish({ topic: 'drop', data: `e${i}` }, { url: hub.url });
      await until(() => received.length === 5);
      proxy.cutAll();
      const drop = await log.nextReconnect();
      for (let i = 5; i < 10; i++) await publish({ topic: 'drop', data: `e${i}` }, { url: hub.url });
      assert.equal(received.length, 5);
      clock.advance(drop.delayMs!);
      await until(() => received.length >= 10);
      assert.deepEqual(received, Array.from({ length: 10 }, (_, i) => `e${i}`));
      assert.ok(log.states.filter((state) => state === 'open').length >= 2, log.states.join());
      sub.close();
    } finally {
      await proxy.close();
    }
  });
});

describe('subscribe() stops when the server says no', () => {
  test('401 without a token and 403 outside the grants: one request, a clear error', async () => {
    const hub = await startTestHub({ jwtSecret: CLIENT_SECRET });
    try {
      const fetch = countingFetch();
      const unauthorized = subscribe({ url: hub.url, topics: 'secure/1', fetch });
      await assert.rejects(unauthorized.done, (error: unknown) => error instanceof HubResponseError && error.status === 401 && error.code === 'token_required');
      assert.equal(unauthorized.state, 'closed');

      const token = await mintToken({ secret: CLIENT_SECRET, subject: 'reader', subscribe: ['secure/1'], lifetimeSeconds: 60 });
      const forbidden = subscribe({ url: hub.url, topics: 'secure/2', token, fetch });
      await assert.rejects(forbidden.done, (error: unknown) => error instanceof HubResponseError && error.status === 403 && error.code === 'forbidden');
      assert.equal(fetch.calls(), 2);

      // The token function is asked before every connection.
      let asked = 0;
      const log = new ClientLog();
      const allowed = subscribe({ url: hub.url, topics: 'secure/1', token: async () => (asked++, token), onStateChange: log.record });
      await log.waitForState('open');
      assert.equal(asked, 1);
      allowed.close();
    } finally {
      await hub.close();
    }
  });

  test('a stream ended with ssehub.revoked is final: a RevokedError naming the criterion, and no reconnect', async () => {
    const hub = await startTestHub();
    try {
      const fetch = countingFetch();
      const log = new ClientLog();
      const sub = subscribe({ url: hub.url, topics: ['rooms/9', 'rooms/10'], fetch, onStateChange: log.record });
      await log.waitForState('open');
      // A topic's disconnect refuses nothing afterwards: a reconnect would be let in, so only the client's own choice stops it.
      const reply = await fetch(`${hub.url}/admin/disconnect`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"topic":"rooms/9"}' });
      assert.equal(reply.status, 202);
      await assert.rejects(sub.done, (error: unknown) => error instanceof RevokedError && error.code === 'revoked' && error.criterion.topic === 'rooms/9');
      assert.equal(fetch.calls(), 2, 'the stream and the disconnect, no reconnect');
      assert.deepEqual(log.states, ['connecting', 'open', 'closed']);
    } finally {
      await hub.close();
    }
  });

  test('401 token_expired: a token function is asked once more; a second expiry in a row, or a string token, is final', async () => {
    const hub = await startTestHub({ jwtSecret: CLIENT_SECRET });
    try {
      const expired = await expiredToken(CLIENT_SECRET, { subscribe: ['secure/**'] });
      const fresh = await mintToken({ secret: CLIENT_SECRET, subject: 'reader', subscribe: ['secure/**'], lifetimeSeconds: 60 });
      const fast = { initialDelayMs: 10, maxDelayMs: 10 };
      const handedOut = [expired, fresh];
      let asked = 0;
      const log = new ClientLog();
      const renewed = subscribe({ url: hub.url, topics: 'secure/1', token: () => handedOut[asked++], backoff: fast, onStateChange: log.record });
      await log.waitForState('open');
      assert.equal(asked, 2);
      renewed.close();

      for (const token of [() => expired, expired]) {
        const fetch = countingFetch();
        const stale = subscribe({ url: hub.url, topics: 'secure/1', token, fetch, backoff: fast });
        await assert.rejects(stale.done, (error: unknown) => error instanceof HubResponseError && error.code === 'token_expired');
        assert.equal(fetch.calls(), typeof token === 'function' ? 2 : 1);
      }
    } finally {
      await hub.close();
    }
  });

  test('404 (a wrong base URL) and 400 (a bad topic) are not retried', async () => {
    const hub = await startTestHub();
    try {
      const fetch = countingFetch();
      const notFound = subscribe({ url: `${hub.url}/not-the-hub/`, topics: 'a', fetch });
      await assert.rejects(notFound.done, (error: unknown) => error instanceof HubResponseError && error.status === 404);
      const badTopic = subscribe({ url: hub.url, topics: 'a//b', fetch });
      await assert.rejects(badTopic.done, (error: unknown) => error instanceof HubResponseError && error.code === 'invalid_topic');
      assert.equal(fetch.calls(), 2);
    } finally {
      await hub.close();
    }
  });

  test('a 200 that is not text/event-stream (a login page) stops at once', async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<html>please log in</html>');
    });
    try {
      const fetch = countingFetch();
      const sub = subscribe({ url: server.url, topics: 'a', fetch });
      await assert.rejects(sub.done, (error: unknown) => error instanceof ContentTypeError && error.contentType === 'text/html');
      assert.equal(fetch.calls(), 1);
    } finally {
      await server.close();
    }
  });

  test('204 means done: the subscription ends without an error', async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(204);
      res.end();
    });
    try {
      const changes: StateChange[] = [];
      const sub = subscribe({ url: server.url, topics: 'a', onStateChange: (change) => changes.push(change) });
      await sub.done;
      assert.deepEqual(changes.at(-1), { state: 'closed', reason: 'done' });
    } finally {
      await server.close();
    }
  });
});

describe('subscribe() reconnect timing (fake clock)', () => {
  test('backs off exponentially with full jitter, honours retry: and Retry-After, starts over after a healthy stream', async () => {
    const clock = new FakeClock();
    const port = await freePort();
    const log = new ClientLog();
    const sub = subscribe({
      url: `http://127.0.0.1:${port}`,
      topics: 'timing',
      clock,
      backoff: { initialDelayMs: 1000, maxDelayMs: 8000, random: () => 0.5, healthyAfterMs: 5000 },
      onStateChange: log.record,
    });
    // Nothing listens on the port: real connection errors, and the waits grow 500, 1000, 2000, 4000, then the cap.
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const change = await log.nextReconnect();
      delays.push(change.delayMs!);
      assert.equal(change.attempt, i + 1);
      assert.match(String((change.error as Error).cause ?? change.error), /ECONNREFUSED|fetch failed/);
      if (i < 4) clock.advance(change.delayMs!);
    }
    assert.deepEqual(delays, [500, 1000, 2000, 4000, 4000]);

    // The hub comes up (its retry: is 3 s); the next attempt opens a stream that stays up past healthyAfterMs.
    const hub = await startTestHub({ port, retryMs: 3000 });
    try {
      clock.advance(4000);
      await log.waitForState('open');
      await until(() => sub.lastEventId !== ''); // the retry: field and position marker were read
      clock.advance(6000);
      await hub.close();
      const afterHealthy = await log.nextReconnect();
      assert.equal(afterHealthy.attempt, 1);
      assert.equal(afterHealthy.delayMs, 1500); // 0.5 * the hub's 3000, not the grown curve
    } finally {
      sub.close();
    }
  });

  test('a 503 with Retry-After waits at least that long; 5xx are retried, the id is kept', async () => {
    const clock = new FakeClock();
    const seen: Array<string | undefined> = [];
    let answered = 0;
    const server = await startServer((req, res) => {
      seen.push(req.headers['last-event-id'] as string | undefined);
      answered++;
      if (answered === 1) {
        res.writeHead(200, { 'Content-Type': 'text/event-stream' });
        res.end('id: 7-1\ndata: x\n\n'); // one event, then the stream ends
      } else if (answered === 2) {
        res.writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '30' });
        res.end('{"error":{"code":"engine_unavailable","message":"down"}}');
      } else {
        res.writeHead(502);
        res.end();
      }
    });
    try {
      const log = new ClientLog();
      const sub = subscribe({ url: server.url, topics: 'a', clock, backoff: { initialDelayMs: 100, random: () => 0.5 }, onStateChange: log.record });
      const ended = await log.nextReconnect();
      assert.equal(ended.delayMs, 50);
      clock.advance(50);
      const unavailable = await log.nextReconnect();
      assert.equal(unavailable.delayMs, 30_000);
      assert.equal((unavailable.error as HubResponseError).code, 'engine_unavailable');
      clock.advance(29_999);
      assert.equal(answered, 2, 'no attempt before Retry-After has passed');
      clock.advance(1);
      const badGateway = await log.nextReconnect();
      assert.equal((badGateway.error as HubResponseError).status, 502);
      assert.deepEqual(seen, [undefined, '7-1', '7-1']);
      sub.close();
    } finally {
      await server.close();
    }
  });
});

// ---- helpers -------------------------------------------------------------------------------

async function take<M extends Record<string, unknown>>(sub: AsyncIterable<SubscriptionItem<M>>, n: number): Promise<SubscriptionItem<M>[]> {
  const iterator = sub[Symbol.asyncIterator]();
  const items: SubscriptionItem<M>[] = [];
  while (items.length < n) {
    const next = await withTimeout(iterator.next(), 5000, `item ${items.length + 1} of ${n}`);
    if (next.done) break;
    items.push(next.value);
  }
  return items;
}


function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms))),
  ]);
}

describe('subscribe() and a connection that goes silent (fake clock)', () => {
  test('nothing for three announced heartbeats: the connection is replaced, resuming after the last event', async () => {
    const clock = new FakeClock();
    const seen: Array<string | undefined> = [];
    // A server that announces a 1 s heartbeat, sends one event, then never writes again: to the
    // client, exactly what a connection dropped by a NAT or a proxy looks like.
    const server = await startServer((req, res) => {
      seen.push(req.headers['last-event-id'] as string | undefined);
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write(': ok\n: heartbeat=1000\n\n');
      if (seen.length === 1) res.write('id: 1\ndata: a\n\n');
    });
    try {
      const log = new ClientLog();
      const received: string[] = [];
      const sub = subscribe({ url: server.url, topics: 'quiet', clock, onStateChange: log.record, onEvent: (event) => received.push(event.data), backoff: { initialDelayMs: 100, random: () => 0.5 } });
      await until(() => received.length === 1);
      clock.advance(2999);
      await new Promise((resolve) => setTimeout(resolve, 50)); // room for a reconnect, were one under way
      assert.equal(log.changes.filter((change) => change.state === 'reconnecting').length, 0, 'still open before three heartbeats');
      clock.advance(1);
      const dropped = await log.nextReconnect();
      assert.ok(dropped.error instanceof IdleTimeoutError, String(dropped.error));
      assert.equal((dropped.error as IdleTimeoutError).code, 'idle_timeout');
      clock.advance(dropped.delayMs!);
      await log.waitForState('open');
      await until(() => seen.length === 2);
      assert.deepEqual(seen, [undefined, '1'], 'the new connection resumes after the last event');
      sub.close();
    } finally {
      await server.close();
    }
  });

  test('anything received starts the wait over; idleTimeoutMs overrides the announcement, 0 turns it off', async () => {
    const clock = new FakeClock();
    let send: ((text: string) => void) | undefined;
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write(': ok\n: heartbeat=1000\n\n');
      send = (text) => res.write(text);
    });
    try {
      const log = new ClientLog();
      const received: string[] = [];
      const sub = subscribe({ url: server.url, topics: 'chatty', clock, idleTimeoutMs: 500, onStateChange: log.record, onEvent: (event) => received.push(event.data) });
      await log.waitForState('open');
      await until(() => send !== undefined);
      for (let i = 0; i < 4; i++) {
        clock.advance(400);
        send!(`data: ${i}\n\n`);
        await until(() => received.length === i + 1);
      }
      assert.equal(log.changes.filter((change) => change.state === 'reconnecting').length, 0, '1.6 s in 400 ms steps, each followed by data');
      clock.advance(500);
      assert.ok((await log.nextReconnect()).error instanceof IdleTimeoutError);
      sub.close();

      const never = subscribe({ url: server.url, topics: 'never', clock, idleTimeoutMs: 0, onStateChange: log.record });
      await until(() => log.changes.filter((change) => change.state === 'open').length === 2);
      const before = log.changes.length;
      clock.advance(3_600_000);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(log.changes.slice(before), [], 'an hour of silence, no reconnect');
      never.close();
    } finally {
      await server.close();
    }
  });

  test('against the hub: its announced heartbeat sets the wait, and its heartbeats keep the stream open', async () => {
    const hub = await startTestHub({ heartbeatMs: 200 });
    try {
      const clock = new FakeClock();
      const log = new ClientLog();
      const sub = subscribe({ url: hub.url, topics: 'beat', clock, onStateChange: log.record });
      await log.waitForState('open');
      await until(() => clock.scheduled.includes(600), 5000, 'the wait re-armed at three announced heartbeats');
      // A quiet stream gets a heartbeat at least every 400 ms (real time); the client's clock moves
      // 150 ms (of its 600) per 500 real ms, so only heartbeats keep the stream from timing out.
      for (let i = 0; i < 6; i++) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        clock.advance(150);
      }
      assert.equal(log.changes.filter((change) => change.state === 'reconnecting').length, 0);
      sub.close();
    } finally {
      await hub.close();
    }
  });

  test('a hub with heartbeats off says so, and its quiet streams are never cut', async () => {
    const hub = await startTestHub({ heartbeatMs: 0 });
    try {
      const clock = new FakeClock();
      const log = new ClientLog();
      const sub = subscribe({ url: hub.url, topics: 'silent', clock, onStateChange: log.record });
      await log.waitForState('open');
      await until(() => sub.lastEventId !== '', 5000, 'the preamble and position were read'); // after the announcement
      assert.equal(clock.pending, 0, 'no watchdog timer once the hub announced heartbeat=0');
      clock.advance(3_600_000);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(log.changes.filter((change) => change.state === 'reconnecting').length, 0);
      sub.close();
    } finally {
      await hub.close();
    }
  });
});

describe('subscribe() and topics that end', () => {
  test('the iteration ends after the last event once every topic has ended; a pattern hears each end and goes on', async () => {
    const hub = await startTestHub();
    try {
      const ends: string[] = [];
      const states: StateChange[] = [];
      const sub = subscribe({ url: hub.url, topics: ['gen/a', 'gen/b'], onEnd: (topic) => ends.push(topic), onStateChange: (change) => void states.push(change) });
      const watching: string[] = [];
      let patternOpen = false;
      const pattern = subscribe({ url: hub.url, topics: ['gen/*'], onEnd: (topic) => watching.push(topic), onStateChange: (change) => void (patternOpen ||= change.state === 'open') });
      await until(() => patternOpen && states.some((change) => change.state === 'open'), 5000, 'both open');
      await publish({ topic: 'gen/a', data: 'a1' }, { url: hub.url });
      const lastOfA = await publish({ topic: 'gen/a', data: 'a2', end: true }, { url: hub.url });
      assert.equal(typeof lastOfA.end, 'string', 'publish() gives the id of the end');
      const lastOfB = await publish([{ topic: 'gen/b', data: 'b1', end: true }], { url: hub.url });
      assert.deepEqual(Object.keys(lastOfB.ends ?? {}), ['gen/b']);
      const seen: string[] = [];
      for await (const item of sub) if (item.kind === 'event') seen.push(item.data);
      assert.deepEqual(seen, ['a1', 'a2', 'b1'], 'every event, then the iteration ended by itself');
      assert.deepEqual(ends, ['gen/a', 'gen/b']);
      assert.equal(states.at(-1)!.reason, 'done');
      assert.ok(!states.some((change) => change.state === 'reconnecting'), 'no reconnect after the end');
      await sub.done;
      await until(() => watching.length === 2, 5000, 'both ends on the pattern');
      assert.equal(pattern.state, 'open', 'a pattern subscription stays open');
      pattern.close();
    } finally {
      await hub.close();
    }
  });
});
