/**
 * What every served example must do, run against the example itself on a real port: its session
 * authorizes the stream, the app's in-process publish and an HTTP publish through the app both
 * arrive, Last-Event-ID resumes, the hub stays under its prefix, and a failing authorize() opens
 * nothing. Each framework's test file runs this suite and adds what is its own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CreateHubOptions, EmbeddedHub } from '../../src/index.js';
import { httpRequest, openStream, type OpenStream } from '../support/http.js';
import { connectWs, refusedUpgrade } from '../support/ws.js';

export interface RunningExample {
  url: string;
  hub: EmbeddedHub;
  close(): Promise<void>;
}

export type StartExample = (port: number, options?: CreateHubOptions) => Promise<RunningExample>;

/** Logs in through the app's POST /login; returns the Cookie header value for the session. */
export async function login(url: string, user: string): Promise<string> {
  const reply = await httpRequest(`${url}/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user }) });
  assert.equal(reply.status, 200, reply.text);
  const setCookie = reply.headers['set-cookie']?.[0] ?? '';
  assert.match(setCookie, /HttpOnly/);
  const pair = /^sid=[^;]+/.exec(setCookie)?.[0];
  assert.ok(pair, `a sid cookie: ${setCookie}`);
  return pair;
}

/** The stream a signed-in user's page opens. */
export function userStreamPath(user: string): string {
  return `/realtime/events?topic=${encodeURIComponent(`users/${user}/**`)}&topic=${encodeURIComponent('news/**')}`;
}

/** Resolves once the stream's first bytes are in: the hub has registered its subscriber by then. */
export async function started(stream: OpenStream): Promise<OpenStream> {
  await stream.waitUntil(() => stream.comments.includes('ok'), 5000, 'the stream to start');
  return stream;
}

/** Waits, with a bounded poll, until the hub has no subscriber left. */
export async function waitForNoConnections(hub: EmbeddedHub, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (hub.hub.stats().connections !== 0) {
    if (Date.now() > deadline) throw new Error(`${hub.hub.stats().connections} subscribers still open after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** `cycles` streams opened and dropped by the client, `concurrency` at a time. */
export async function churn(open: () => Promise<{ close(): void }>, cycles: number, concurrency: number): Promise<void> {
  for (let done = 0; done < cycles; done += concurrency) {
    const batch = Math.min(concurrency, cycles - done);
    const streams = await Promise.all(Array.from({ length: batch }, open));
    for (const stream of streams) stream.close();
  }
}

export function servedExampleSuite(name: string, start: StartExample, { websocket = false } = {}): void {
  describe(`the ${name} example`, () => {
    let app: RunningExample;
    before(async () => {
      app = await start(0, { logLevel: 'silent' });
    });
    after(() => app.close());

    if (websocket) {
      it('serves WebSockets at /realtime/ws to the session: subscribe, the app\'s publish arrives, a page of another site is refused', async () => {
        const cookie = await login(app.url, 'alice');
        const ws = await connectWs(app.url, { path: '/realtime/ws', headers: { cookie, origin: app.url } });
        assert.equal((await ws.next((m) => m.type === 'ready', 'ready')).subject, 'alice');
        ws.send({ type: 'subscribe', topics: ['users/alice/**'], ref: 's' });
        await ws.next((m) => m.event === 'ssehub.position', 'the position');
        const paid = await httpRequest(`${app.url}/orders/7/pay`, { method: 'POST', headers: { Cookie: cookie, Origin: app.url } });
        const order = await ws.next((m) => m.event === 'order', 'the order event');
        assert.deepEqual([order.id, order.topic, JSON.parse(order.data)], [paid.json().id, 'users/alice/orders', { order: '7', status: 'paid' }]);
        ws.close();
        assert.deepEqual(await refusedUpgrade(connectWs(app.url, { path: '/realtime/ws', headers: { cookie, origin: 'https://evil.example' } })), { status: 403, code: 'origin_not_allowed' });
      });
    }

    it('streams to the session: an in-process publish and an HTTP publish arrive, and Last-Event-ID resumes', async () => {
      const cookie = await login(app.url, 'alice');
      const stream = await started(await openStream(`${app.url}${userStreamPath('alice')}`, { Cookie: cookie }));

      const paid = await httpRequest(`${app.url}/orders/42/pay`, { method: 'POST', headers: { Cookie: cookie, Origin: app.url } });
      assert.equal(paid.status, 200, paid.text);
      assert.equal(paid.json().topic, 'users/alice/orders');
      // A browser's same-origin POST: the session cookie, and the app's own Origin.
      const noted = await httpRequest(`${app.url}/realtime/topics/users/alice/notes?event=note`, {
        method: 'POST',
        headers: { Cookie: cookie, Origin: app.url, 'Content-Type': 'application/json' },
        body: '{"text":"hello"}',
      });
      assert.equal(noted.status, 201, noted.text);

      const events = await stream.waitForEvents(2);
      assert.deepEqual(
        events.map((event) => [event.type, event.data, event.lastEventId]),
        [
          ['order', '{"order":"42","status":"paid"}', paid.json().id],
          ['note', '{"text":"hello"}', noted.json().id],
        ],
      );

      stream.close();
      const missed = await httpRequest(`${app.url}/orders/43/pay`, { method: 'POST', headers: { Cookie: cookie } });
      assert.equal(missed.status, 200, missed.text);
      const resumed = await openStream(`${app.url}${userStreamPath('alice')}`, { Cookie: cookie, 'Last-Event-ID': noted.json().id });
      const [replayed] = await resumed.waitForEvents(1);
      assert.deepEqual([replayed!.type, replayed!.data, replayed!.lastEventId], ['order', '{"order":"43","status":"paid"}', missed.json().id]);
      resumed.close();
    });

    it('serves the hub under /realtime only: other paths are the app’s', async () => {
      assert.equal((await httpRequest(`${app.url}/realtime/livez`)).status, 200);
      const page = await httpRequest(`${app.url}/`);
      assert.equal(page.status, 200);
      assert.match(page.text, /EventSource\('\/realtime\/events/);
      for (const path of ['/livez', '/events?topic=news/x', '/realtimex/livez', '/topics/news/x']) {
        const reply = await httpRequest(`${app.url}${path}`);
        assert.equal(reply.status, 404, `${path}: ${reply.text}`);
        assert.doesNotMatch(reply.text, /"not_found"/, `${path} is answered by the app, not the hub`);
      }
    });

    it('refuses a stream without a session (401 token_required) and another user’s topics (403 forbidden)', async () => {
      await assert.rejects(openStream(`${app.url}${userStreamPath('alice')}`), (error: { status: number; body: string }) => {
        assert.equal(error.status, 401);
        assert.equal(JSON.parse(error.body).error.code, 'token_required');
        return true;
      });
      const cookie = await login(app.url, 'bob');
      await assert.rejects(openStream(`${app.url}${userStreamPath('alice')}`, { Cookie: cookie }), (error: { status: number; body: string }) => {
        assert.equal(error.status, 403);
        assert.equal(JSON.parse(error.body).error.code, 'forbidden');
        return true;
      });
    });

    it('refuses a publish with the session cookie from another site (403 cross_site_request)', async () => {
      const cookie = await login(app.url, 'alice');
      const reply = await httpRequest(`${app.url}/realtime/topics/users/alice/notes`, {
        method: 'POST',
        headers: { Cookie: cookie, Origin: 'https://elsewhere.example', 'Content-Type': 'text/plain' },
        body: 'forged',
      });
      assert.equal(reply.status, 403, reply.text);
      assert.equal(reply.json().error.code, 'cross_site_request');
    });
  });

  describe(`the ${name} example, when authorize() throws`, () => {
    let app: RunningExample;
    before(async () => {
      app = await start(0, {
        logLevel: 'silent',
        authorize: () => {
          throw new Error('the session store is down');
        },
      });
    });
    after(() => app.close());

    it('answers 500 authorize_failed and opens no stream', async () => {
      const cookie = await login(app.url, 'alice');
      await assert.rejects(openStream(`${app.url}${userStreamPath('alice')}`, { Cookie: cookie }), (error: { status: number; body: string }) => {
        assert.equal(error.status, 500);
        assert.equal(JSON.parse(error.body).error.code, 'authorize_failed');
        return true;
      });
      assert.equal(app.hub.hub.stats().connections, 0);
    });
  });
}
