/**
 * createHub, the library API an app embeds: publish in process, the node:http door (hub.handle)
 * and the Fetch door (hub.fetch), close(). The per-framework behaviour is in test/examples/.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { createHub, HubError, type CreateHubOptions, type EmbeddedHub } from '../src/index.js';
import { httpRequest, openStream } from './support/http.js';
import { readResponseStream } from './support/response-stream.js';

const quiet = { logLevel: 'silent' } as const;

/** A node:http server where the hub answers what it has a route for and the app answers "app" to the rest. */
async function serveWithApp(hub: EmbeddedHub): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => hub.handle(req, res, () => res.writeHead(404, { 'Content-Type': 'text/plain' }).end('app')));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function code(error: unknown): string {
  assert.ok(error instanceof HubError, `a HubError, not ${String(error)}`);
  return error.code;
}

describe('hub.publish', () => {
  let hub: EmbeddedHub;
  before(async () => {
    hub = await createHub({ ...quiet, publishRate: 1, publishBurst: 3, rateLimitSubjects: true });
  });
  after(() => hub.close());

  it('delivers data as the stream’s text: a string as it is, anything else as its JSON, with the event name', async () => {
    const stream = readResponseStream(await hub.fetch(new Request('http://app.test/events?topic=orders/**')));
    const first = await hub.publish('orders/1', 'plain text', { subject: 'orders-a' });
    const second = await hub.publish('orders/2', { status: 'paid', total: 12.5 }, { event: 'order', subject: 'orders-a' });
    const third = await hub.publish('orders/3', [1, null, 'x'], { subject: 'orders-b' });
    assert.deepEqual(first, { id: first.id, topic: 'orders/1', replayed: false });
    assert.deepEqual(second, { id: second.id, topic: 'orders/2', event: 'order', replayed: false });
    const events = await stream.waitForEvents(3);
    assert.deepEqual(
      events.map((event) => [event.lastEventId, event.type, event.data]),
      [
        [first.id, 'message', 'plain text'],
        [second.id, 'order', '{"status":"paid","total":12.5}'],
        [third.id, 'message', '[1,null,"x"]'],
      ],
    );
  });

  it('publishes once per idempotency key: the retry gets the first id, replayed', async () => {
    const first = await hub.publish('orders/7', { n: 1 }, { idempotencyKey: 'pay-7', subject: 'keys' });
    const retry = await hub.publish('orders/7', { n: 1 }, { idempotencyKey: 'pay-7', subject: 'keys' });
    assert.equal(first.replayed, false);
    assert.deepEqual(retry, { ...first, replayed: true });
  });

  it('rejects an invalid topic, a $ topic and data that is not JSON, with the HubError code', async () => {
    await assert.rejects(hub.publish('orders//7', 'x', { subject: 'bad' }), (error) => code(error) === 'invalid_topic');
    await assert.rejects(hub.publish('orders/*', 'x', { subject: 'bad' }), (error) => code(error) === 'invalid_topic');
    await assert.rejects(hub.publish('$ssehub/stats', 'x', { subject: 'bad' }), (error) => code(error) === 'invalid_topic');
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    await assert.rejects(hub.publish('orders/8', circular, { subject: 'bad' }), (error) => code(error) === 'invalid_data');
    await assert.rejects(hub.publish('orders/8', 10n, { subject: 'bad' }), (error) => code(error) === 'invalid_data');
    await assert.rejects(hub.publish('orders/8', undefined, { subject: 'bad' }), (error) => code(error) === 'invalid_data');
    await assert.rejects(hub.publish('orders/8', () => 1, { subject: 'bad' }), (error) => code(error) === 'invalid_data');
  });

  it('charges the publish rates to the subject (default "app")', async () => {
    for (let i = 0; i < 3; i += 1) await hub.publish('orders/9', 'x');
    await assert.rejects(hub.publish('orders/9', 'x'), (error) => code(error) === 'rate_limited' && (error as HubError).status === 429);
    await hub.publish('orders/9', 'x', { subject: 'someone-else' });
  });
});

describe('createHub defaults', () => {
  it('serves no dashboard and no demos: those paths are the app’s', async () => {
    const hub = await createHub(quiet);
    const { url, server } = await serveWithApp(hub);
    try {
      assert.equal(hub.config.dashboard, false);
      assert.equal(hub.config.demos, false);
      for (const [method, path] of [
        ['GET', '/'],
        ['GET', '/demos/chat'],
        ['GET', '/assets/app.js'],
        ['POST', '/demos/api/jobs'],
      ] as const) {
        const reply = await httpRequest(`${url}${path}`, { method });
        assert.deepEqual([reply.status, reply.text], [404, 'app'], `${method} ${path}`);
      }
      assert.equal((await httpRequest(`${url}/livez`)).status, 200);
      assert.equal((await hub.fetch(new Request('http://app.test/'))).status, 404);
    } finally {
      await hub.close();
      await closeServer(server);
    }
  });

  it('close() ends the open streams, on either door', async () => {
    const hub = await createHub(quiet);
    const { url, server } = await serveWithApp(hub);
    try {
      const onNode = await openStream(`${url}/topics/news/today`);
      const onFetch = readResponseStream(await hub.fetch(new Request('http://app.test/topics/news/today')));
      assert.equal(hub.hub.stats().connections, 2);
      await hub.close();
      await onNode.ended;
      await onFetch.ended;
      assert.equal(hub.hub.stats().connections, 0);
    } finally {
      await closeServer(server);
    }
  });
});

describe('retention rules, as a library option', () => {
  it('keeps what a topic\'s rule says, and history says what it dropped', async () => {
    const hub = await createHub({ ...quiet, retention: [{ pattern: 'feed/*', maxEvents: 2 }] });
    try {
      const first = await hub.publish('feed/a', '0');
      for (let i = 1; i < 4; i++) await hub.publish('feed/a', String(i));
      await hub.publish('other', 'kept');
      await hub.publish('other', 'too');
      const feed = await hub.history({ topics: ['feed/a'], after: first.id });
      assert.deepEqual(feed.events.map((event) => event.data), ['2', '3']);
      assert.deepEqual([feed.complete, feed.reason], [false, 'history-exceeded']);
      const other = await hub.history({ topics: ['other'] });
      assert.deepEqual(other.events.map((event) => event.data), ['kept', 'too']);
    } finally {
      await hub.close();
    }
  });

  it('a bad rule is a clear invalid_config when the hub is made', async () => {
    await assert.rejects(
      createHub({ ...quiet, retention: [{ pattern: 'feed/*', maxEvents: -5 }] }),
      (error: unknown) => error instanceof HubError && error.code === 'invalid_config' && /retention rule for "feed\/\*": maxEvents must be a whole number/.test(error.message),
    );
  });
});

describe('hub.handle behind the app’s middleware', () => {
  it('says so when a body parser in front of it read the publish body (500 body_already_read)', async () => {
    const hub = await createHub(quiet);
    const app = express();
    app.use(express.json()); // mounted before the hub: it reads every JSON body first
    app.use('/realtime', hub.handle);
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/realtime`;
    try {
      const json = await httpRequest(`${url}/topics/news/x`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"a":1}' });
      assert.equal(json.status, 500, json.text);
      assert.equal(json.json().error.code, 'body_already_read');
      const chunked = await httpRequest(`${url}/topics/news/x`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' }, body: '{"a":1}' });
      assert.equal(chunked.json().error.code, 'body_already_read');
      // What the parser leaves alone reaches the hub whole.
      const text = await httpRequest(`${url}/topics/news/x`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'hello' });
      assert.equal(text.status, 201, text.text);
    } finally {
      await hub.close();
      await closeServer(server);
    }
  });
});

describe('publish rates by default', () => {
  it('trusts the app and the subjects its authorize() vouches for: hub.publish and an authorized publisher are not rate-limited', async () => {
    const hub = await createHub({ ...quiet, publishRate: 1, publishBurst: 3, authorize: () => ({ subject: 'backend', publish: ['feed/**'] }) });
    try {
      for (let i = 0; i < 10; i += 1) await hub.publish('feed/1', 'x');
      for (let i = 0; i < 10; i += 1) {
        const response = await hub.fetch(new Request('http://app.test/topics/feed/1', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'x' }));
        assert.equal(response.status, 201, `publish ${i + 1}`);
      }
    } finally {
      await hub.close();
    }
  });
});

describe('authorize()', () => {
  it('gets the door’s own request: node’s IncomingMessage for handle, the Fetch Request for fetch', async () => {
    const seen: unknown[] = [];
    const hub = await createHub({ ...quiet, authorize: (request: unknown) => (seen.push(request), { subject: 'u', subscribe: ['news/**'] }) });
    const { url, server } = await serveWithApp(hub);
    try {
      (await openStream(`${url}/topics/news/today`)).close();
      const request = new Request('http://app.test/topics/news/today');
      const response = await hub.fetch(request);
      await response.body!.cancel();
      assert.equal(seen.length, 2);
      assert.equal((seen[0] as IncomingMessage).url, '/topics/news/today');
      assert.equal(seen[1], request);
    } finally {
      await hub.close();
      await closeServer(server);
    }
  });

  it('throwing is a 500 authorize_failed on either door, and opens nothing', async () => {
    const hub = await createHub({
      ...quiet,
      authorize: () => {
        throw new Error('the session store is down');
      },
    });
    const { url, server } = await serveWithApp(hub);
    try {
      await assert.rejects(openStream(`${url}/topics/news/today`), (error: { status: number; body: string }) => {
        assert.equal(error.status, 500);
        assert.equal(JSON.parse(error.body).error.code, 'authorize_failed');
        return true;
      });
      const response = await hub.fetch(new Request('http://app.test/topics/news/today'));
      assert.equal(response.status, 500);
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'authorize_failed');
      assert.equal(hub.hub.stats().connections, 0);
    } finally {
      await hub.close();
      await closeServer(server);
    }
  });
});

describe('hub.fetch', () => {
  let hub: EmbeddedHub;
  const options: CreateHubOptions = { ...quiet, basePath: '/realtime/', maxBodyBytes: 1024, maxStreamsPerIp: 1, corsOrigins: ['https://app.example'] };
  before(async () => {
    hub = await createHub(options);
  });
  after(() => hub.close());

  it('serves the paths below basePath only', async () => {
    assert.equal((await hub.fetch(new Request('http://app.test/realtime/livez'))).status, 200);
    assert.equal((await hub.fetch(new Request('http://app.test/realtime/livez?x=1'))).status, 200);
    for (const path of ['/livez', '/realtimelivez', '/other/realtime/livez']) {
      const response = await hub.fetch(new Request(`http://app.test${path}`));
      assert.equal(response.status, 404, path);
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'not_found');
    }
  });

  it('answers HEAD without a body and OPTIONS as a CORS preflight', async () => {
    const head = await hub.fetch(new Request('http://app.test/realtime/events?topic=news/x', { method: 'HEAD' }));
    assert.equal(head.status, 405);
    assert.equal(head.headers.get('allow'), 'GET');
    assert.equal(await head.text(), '');
    const preflight = await hub.fetch(
      new Request('http://app.test/realtime/topics/news/x', { method: 'OPTIONS', headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST' } }),
    );
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.equal(await preflight.text(), '');
  });

  it('refuses a body over --max-body with 413, declared or streamed', async () => {
    const declared = await hub.fetch(new Request('http://app.test/realtime/topics/news/x', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'x'.repeat(1025) }));
    assert.equal(declared.status, 413);
    assert.equal(((await declared.json()) as { error: { code: string } }).error.code, 'body_too_large');
    const chunks = [new Uint8Array(600).fill(120), new Uint8Array(600).fill(120)];
    const body = new ReadableStream<Uint8Array>({ pull: (controller) => (chunks.length > 0 ? controller.enqueue(chunks.shift()!) : controller.close()) });
    const streamed = await hub.fetch(
      new Request('http://app.test/realtime/topics/news/x', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body, duplex: 'half' } as RequestInit),
    );
    assert.equal(streamed.status, 413);
    const fits = await hub.fetch(new Request('http://app.test/realtime/topics/news/x', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'x'.repeat(1024) }));
    assert.equal(fits.status, 201);
  });

  it('counts streams per client by the clientAddress it is given', async () => {
    const open = (clientAddress?: string) => hub.fetch(new Request('http://app.test/realtime/topics/news/x'), clientAddress === undefined ? undefined : { clientAddress });
    const first = await open('203.0.113.1');
    assert.equal(first.status, 200);
    const again = await open('203.0.113.1');
    assert.equal(again.status, 429);
    assert.equal(((await again.json()) as { error: { code: string } }).error.code, 'too_many_streams');
    const other = await open('203.0.113.2');
    assert.equal(other.status, 200);
    // Without an address, every such client is one: "unknown".
    const unknown = await open();
    assert.equal(unknown.status, 200);
    assert.equal((await open()).status, 429);
    for (const response of [first, other, unknown]) await response.body!.cancel();
  });
});

describe('hub.disconnect', () => {
  it('ends the streams of a subject the app authorized, through the same path as POST /admin/disconnect', async () => {
    const hub = await createHub({
      ...quiet,
      authorize: (req: IncomingMessage) => {
        const user = req.headers['x-user'];
        return typeof user === 'string' ? { subject: user, subscribe: ['inbox/*'] } : null;
      },
    });
    const { url, server } = await serveWithApp(hub);
    try {
      const alice = await openStream(`${url}/topics/inbox/alice`, { 'X-User': 'alice' });
      const bob = await openStream(`${url}/topics/inbox/bob`, { 'X-User': 'bob' });
      const result = await hub.disconnect({ subject: 'alice' });
      assert.deepEqual(result.disconnect, { subject: 'alice' });
      await alice.waitUntil(() => alice.events.some((event) => event.type === 'ssehub.revoked'), 5000, 'ssehub.revoked');
      await alice.ended;
      assert.deepEqual(JSON.parse(alice.events.at(-1)!.data), { reason: 'revoked', subject: 'alice' });
      // Bob's stream is untouched: an event still reaches it.
      await hub.publish('inbox/bob', 'still here');
      await bob.waitUntil(() => bob.events.some((event) => event.data === 'still here'), 5000, "bob's event");
      bob.close();
      // The app's session is asked again on a reconnect: the deny-list is for tokens only.
      const again = await openStream(`${url}/topics/inbox/alice`, { 'X-User': 'alice' });
      again.close();
      await assert.rejects(hub.disconnect({} as never), (error) => code(error) === 'invalid_disconnect');
      await assert.rejects(hub.disconnect({ subject: 'a', topic: 'b' } as never), (error) => code(error) === 'invalid_disconnect');
    } finally {
      await closeServer(server);
      await hub.close();
    }
  });
});
